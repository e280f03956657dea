"""The one exception type a user ever sees: a one-line, actionable message."""

import os
import traceback


class AblateError(Exception):
    """Bad input or configuration; the CLI prints the message on one line and exits 2."""


def first_line(exc: BaseException) -> str:
    """The first line of an exception's message, or its type name when it has none: what a
    one-line error quotes of a library's multi-line failure."""
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


def origin(exc: BaseException) -> str:
    """``file:line`` where ``exc`` was raised (its deepest frame): what a one-line error
    about a plugin's exception points the author at."""
    frames = traceback.extract_tb(exc.__traceback__)
    if not frames:
        return ""
    frame = frames[-1]
    return f"{frame.filename}:{frame.lineno}"


def debug() -> bool:
    """``ABLATE_DEBUG=1``: show the traceback behind a one-line error."""
    return os.environ.get("ABLATE_DEBUG", "") not in ("", "0")


def full_traceback(exc: BaseException) -> str:
    """The traceback of ``exc`` with every exception it replaced, including those a
    one-line error hid with ``raise ... from None``."""
    seen, node = set(), exc
    while node is not None and id(node) not in seen:
        seen.add(id(node))
        node.__suppress_context__ = False
        node = node.__cause__ or node.__context__
    return "".join(traceback.format_exception(exc))
