"""``facexpr web``: a Gradio page for transfer, AU editing, animation and analysis.

Needs the ``web`` extra (``pip install 'facexpr[web]'``; ``make install`` installs it). The page is
a layout (:mod:`facexpr.web.app`) over plain handlers (:mod:`facexpr.web.handlers`) that use only
the public API.
"""
from __future__ import annotations

from .app import WebConfig, build, launch

__all__ = ["WebConfig", "build", "launch"]
