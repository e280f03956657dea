"""Study names: a name is the folder ``runs/NAME``, the MLflow experiment, and with a hash
the MLflow study run and the Optuna study; each store limits what it takes."""

from __future__ import annotations

from typing import Any

from ablate.errors import AblateError

#: a study name names the folder runs/NAME (255 bytes on Linux file systems) and, with
#: "-<10-hex hash>" appended, its MLflow study run (MLflow's run names: 250 characters,
#: enforced by PostgreSQL and MySQL stores) and its Optuna study (512)
MAX_NAME_BYTES, MAX_NAME_CHARS = 255, 239


def check_name(name: Any) -> None:
    """A name that can name a folder, an MLflow experiment and an Optuna study."""
    if (
        not isinstance(name, str)
        or not name.strip()
        or any(c in name for c in "/\\\0")
        or (".." in name or name.startswith("."))
    ):
        raise AblateError(
            "name: expected a study name that can name a folder (no '/', '\\' or '..', "
            f"not starting with '.'), got {name!r}"
        )
    if not name.isprintable():
        raise AblateError(f"name: {name!r} holds a control character (a newline, a tab, ...)")
    if "'" in name and '"' in name:
        raise AblateError(f"name: {name!r} holds both ' and \" (MLflow searches cannot match it)")
    size = len(name.encode("utf-8", "surrogateescape"))
    if size > MAX_NAME_BYTES or len(name) > MAX_NAME_CHARS:
        raise AblateError(
            f"name: {len(name)} characters ({size} bytes in UTF-8); at most {MAX_NAME_CHARS} "
            f"characters and {MAX_NAME_BYTES} bytes: it names the folder runs/NAME, the MLflow "
            f"study run and the Optuna study ({name[:20]!r}...)"
        )
