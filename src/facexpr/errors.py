"""Typed errors. Each carries the one-line message a user sees; the CLI prints it and exits 2.

Code raises these for anything the *user* can fix (bad file, no face, …); genuine bugs stay
ordinary exceptions so they are not hidden behind a friendly line.
"""
from __future__ import annotations


class FacexprError(Exception):
    """Base class: ``str(err)`` is the complete user-facing message, always one line (line breaks in
    text it quotes, e.g. a file's content, become spaces)."""

    exit_code = 2

    def __init__(self, *args):
        if args and isinstance(args[0], str) and ("\n" in args[0] or "\r" in args[0]):
            args = (" ".join(args[0].splitlines()),) + args[1:]
        super().__init__(*args)


class InputError(FacexprError):
    """A file or argument the user gave cannot be used."""


class ImageNotFound(InputError):
    pass


class NotAnImage(InputError):
    """Readable file, but not an image we can decode (a video, text, truncated data…)."""


class ImageTooLarge(InputError):
    pass


class ImageTooSmall(InputError):
    pass


class OutputError(InputError):
    """The output path is unusable (equals an input, directory missing, not writable)."""


class FaceError(FacexprError):
    """Something about the faces in an image."""


class FaceNotFound(FaceError):
    pass


class FaceTooSmall(FaceError):
    pass


class FaceIndexError(FaceError):
    pass


class ModelError(FacexprError):
    """A model file is missing, corrupt, or fails its checksum."""

    exit_code = 3


class MethodNotFound(InputError):
    pass


class MethodCannot(InputError):
    """The chosen method does not declare the capability a request needs (``transfer``, ``edit``)."""


class EditSpecError(InputError):
    """An AU edit or emotion request the user can fix."""


class UnknownActionUnit(EditSpecError):
    pass


class MalformedAUSpec(EditSpecError):
    pass


class AUDeltaOutOfRange(EditSpecError):
    pass


class UnknownEmotion(EditSpecError):
    pass


class IntensityOutOfRange(EditSpecError):
    """``intensity`` outside [0, MAX_INTENSITY] (:mod:`facexpr.limits`): transfer and edit alike."""


class RegionError(InputError):
    """An unknown ``--regions`` name."""


class CacheError(InputError):
    """A prepared annotation cache that cannot be used."""


class ConfigError(InputError):
    """A training/evaluation config (YAML or ``key=value`` override) that cannot be used."""


class TaskNotFound(InputError):
    """An unknown training task (``task:`` in a config)."""


class MissingExtra(FacexprError):
    """An optional part of facexpr (generator methods, evaluation, training, the web page) whose
    packages are not installed; the message names the pip extra that brings them."""
