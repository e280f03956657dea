"""The one exception type a user ever sees: a one-line, actionable message."""


class AblateError(Exception):
    """Bad input or configuration; the CLI prints the message on one line and exits 2."""
