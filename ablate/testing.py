"""Testing a plugin as the engine will use it: for plugin authors' own test suites.

:func:`check_plugin` builds one component through its slot and runs the checks the engine
runs before any training (:mod:`ablate.checks`), so a package's tests fail on what
`ablate run` would refuse::

    from ablate.testing import check_plugin

    def test_my_patching():
        check_plugin("patching", "overlapping", {"width": 4, "stride": 2})

    def test_my_corpus(tmp_path):
        make_a_few_files(tmp_path)
        result = check_plugin("dataset", "my_corpus", root=tmp_path)
        assert len(result.utterances) == 3
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ablate.checks.augments import check_augments
from ablate.checks.losses import check_loss
from ablate.checks.parts import build_parts
from ablate.checks.scans import check_scan
from ablate.config import make_config, resolve_model
from ablate.contracts import DistillShape
from ablate.errors import AblateError
from ablate.hookspecs import KINDS
from ablate.plugins import get_registry
from ablate.registry import Registry
from ablate.slots import build_slot, describe, lookup

#: the small student a model part is checked in (a 32 x 16 input)
SMALL_MODEL = dict(preset="student", dim=32, depth=1, heads=2, dim_head=16, mlp_dim=64)
HEIGHT, WIDTH = 32, 16


def check_plugin(
    kind: str,
    name: str,
    args: Mapping[str, Any] | None = None,
    *,
    registry: Registry | None = None,
    root: str | Path | None = None,
    height: int = HEIGHT,
    width: int = WIDTH,
    num_classes: int = 4,
) -> Any:
    """Build plugin ``name`` of ``kind`` with ``args`` and run the engine's checks on it;
    returns what was built (a dataset returns its scan). A failure is the
    :class:`ablate.errors.AblateError` the engine would stop with.

    ``registry`` defaults to the process's (built-ins and installed entry points). Model
    parts are checked inside a small student of ``height`` x ``width`` inputs (the other
    parts from the student preset); a distillation loss with a 32-d student, a 48-d
    teacher and ``num_classes`` classes; an augmentation on a batch of that input shape;
    a dataset by scanning ``root``.
    """
    registry = registry or get_registry()
    if kind not in KINDS:
        raise AblateError(f"unknown plugin kind '{kind}'; known: {', '.join(KINDS)}")
    args = dict(args or {})
    if kind in ("patching", "pos_encoding", "stem"):
        model = resolve_model({**SMALL_MODEL, kind: name, f"{kind}_args": args})
        return build_parts(model, height, width, registry)[kind]
    if kind == "distill_loss":
        shape = DistillShape(32, 48, num_classes)
        loss = build_slot("distill.loss", name, args, shape, registry)
        check_loss(loss, shape, f"distill.loss: {describe(lookup('distill.loss', name, registry))}")
        return loss
    if kind == "augment":
        data = make_config(
            {"data": {"augment": [name], "augment_args": {name: args}}},
            dotlist=[f"data.n_mels={height}", f"data.frames={width}"],
        ).data
        check_augments(data, (height, width), num_classes, registry)
        return build_slot("data.augment", name, args, None, registry)
    if kind == "dataset":
        adapter = build_slot(
            "data.dataset", name, args, Path(root) if root is not None else None, registry
        )
        plugin = describe(lookup("data.dataset", name, registry))
        return check_scan(adapter.scan(), plugin)
    raise AblateError(f"no engine check for plugins of kind '{kind}'")
