"""Typed errors. Each carries the one-line message a user sees; the CLI prints it and exits 2.

Code raises these for anything the *user* can fix (bad file, no face, …); genuine bugs stay
ordinary exceptions so they are not hidden behind a friendly line.
"""
from __future__ import annotations


class FacexprError(Exception):
    """Base class: ``str(err)`` is the complete user-facing message."""

    exit_code = 2


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
