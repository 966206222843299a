"""Errors the CLI turns into one-line messages and exit code 2."""


class UsageError(Exception):
    """A bad command-line value; the message names it."""
