"""Sections of docs/RESULTS.md that separate commands own (``evaluate --task edit``, ``--task
read``): each is kept as its own file under ``docs/results/`` and appended when ``make results``
regenerates RESULTS.md (:func:`facexpr.evaluate.report.write_results_md`)."""
from __future__ import annotations

from pathlib import Path

from ..io import atomic_write_text


def write_section(section: str, heading: str, fragment_name: str, results_md: Path) -> Path:
    """A section of RESULTS.md kept as its own file ``docs/results/<fragment_name>`` (which
    :func:`write_results_md` appends when it regenerates RESULTS.md) and, when RESULTS.md has the
    section (found by ``heading``) already, replaced there in place."""
    results_md = Path(results_md)
    fragment = results_md.parent / "results" / fragment_name
    fragment.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(fragment, section)
    if results_md.is_file():
        text = results_md.read_text(encoding="utf-8")
        start = text.find(heading)
        if start >= 0:
            end = text.find("\n## ", start + len(heading))
            text = text[:start] + section.rstrip() + "\n" + (text[end:] if end >= 0 else "")
            atomic_write_text(results_md, text)
    return fragment
