"""One ``ablate train`` per ``--out`` folder at a time.

Two trainings into one folder both passed the "already holds a model" check before
training and both saved, the second silently replacing the first; the folder is now
claimed from that check to the save.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

from ablate.errors import AblateError
from ablate.locks import LockHeld, file_lock


@contextmanager
def claimed(out: Path) -> Iterator[None]:
    """``out`` for this process alone, through a lock beside it (``.NAME.lock``, removed
    at the end; the kernel releases it however the process ends): a second ``ablate
    train --out`` the same folder is refused at once, not left to replace the first's
    model silently."""
    target = out.resolve()  # every spelling of the folder (links, ..) takes one lock
    held = ExitStack()
    try:
        held.enter_context(
            file_lock(target.parent / f".{target.name}.lock", wait=False, remove=True)
        )
    except LockHeld:
        raise AblateError(
            f"--out {out}: another `ablate train` is writing a model there now; wait for it "
            "to finish (then --force replaces its model) or give another folder"
        ) from None
    except OSError as exc:
        raise AblateError(f"--out {out}: cannot write beside it ({exc.strerror or exc})") from None
    with held:
        yield
