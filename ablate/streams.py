"""Output that never fails on encoding.

On an ASCII-only terminal (``LANG=C`` without UTF-8, ``PYTHONIOENCODING=ascii``, a pipe
with an old locale) printing a non-ASCII study name, label or file name raised
``UnicodeEncodeError`` and ended the command. Every process ablate starts writes
characters its stream cannot encode as ``\\xNN`` / ``\\uNNNN`` escapes instead.
"""

from __future__ import annotations

import sys


def tolerant_streams() -> None:
    """Make ``sys.stdout`` and ``sys.stderr`` escape what their encoding cannot hold."""
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            reconfigure(errors="backslashreplace")
