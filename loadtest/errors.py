"""Errors the CLI turns into one-line messages: UsageError exits 2, HarnessError exits 1."""


class UsageError(Exception):
    """A bad command-line value; the message names it."""


class HarnessError(Exception):
    """The run could not go on (a lock held elsewhere, an unusable path); the message says
    what and names the path or process involved."""
