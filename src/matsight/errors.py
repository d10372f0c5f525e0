"""User-facing errors.

Every mistake a user can make (a missing file, a malformed CSV row, an unknown option value)
raises a :class:`UserError` subclass whose message names the file, row or column and says how
to fix it. The CLI prints the message on one line and exits with status 2, never a traceback.
"""

from __future__ import annotations


class UserError(Exception):
    """A mistake in the user's input; the message says what is wrong and how to fix it."""

    exit_code = 2


class DataLayoutError(UserError):
    """A dataset folder does not follow the layout described in docs/data-layouts.md."""


class ImageReadError(UserError):
    """An image file cannot be decoded."""


class RunFolderError(UserError):
    """A run folder is missing, incomplete, or was made by an incompatible command."""


class ConfigError(UserError):
    """An option or configuration value is invalid."""
