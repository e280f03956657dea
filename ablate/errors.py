"""The one exception type a user ever sees: a one-line, actionable message."""


class AblateError(Exception):
    """Bad input or configuration; the CLI prints the message on one line and exits 2."""


def first_line(exc: BaseException) -> str:
    """The first line of an exception's message, or its type name when it has none: what a
    one-line error quotes of a library's multi-line failure."""
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]
