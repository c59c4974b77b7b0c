"""Errors that the CLI turns into messages and exit codes instead of tracebacks."""
from __future__ import annotations


class HipkgError(Exception):
    """Base class: something the user can act on, with a message that names it."""

    exit_code = 2


class InputError(HipkgError):
    """Bad input (unreadable file, malformed code, unknown key): exit code 2."""
