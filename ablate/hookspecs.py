"""Hook specifications: ablate's public plugin API.

Every hook receives a ``register`` callback and calls it once per component::

    register(name, factory, description)

``factory`` is a class or function. Its first positional argument is the build context
of its kind (see below); every further keyword argument with a type hint and a default
is a *parameter* that configs and studies can set and sweep. ``description`` is one line.
The contexts and the base classes the built objects honour are in
:mod:`ablate.contracts`; where each kind is chosen in the config is :mod:`ablate.slots`.

A plugin is a module (or object) that implements one or more of these hooks with
``@ablate.hookimpl`` and is announced through the ``ablate`` entry-point group. These
names and signatures are the public API; ``docs/plugins.md`` describes each of them (a
test keeps the two in step) and how a plugin is written, tested and published. Adding a
kind is one more hook spec here, its entry in :data:`KINDS`, its contract and the config
field that names it.
"""

import pluggy

PROJECT = "ablate"

hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def register_patchings(register):
    """Register patch layouts.

    Factory: ``factory(shape: ModelShape, **params) -> Patching``. A patching cuts a
    ``(B, C, H, W)`` image into ``(B, num_patches, patch_dim)`` tokens.
    """


@hookspec
def register_pos_encodings(register):
    """Register positional encodings.

    Factory: ``factory(shape: ModelShape, **params) -> PositionalEncoding``.
    An encoding may add image channels before patching (``extra_channels`` and
    ``image``), act on the token sequence, CLS included (``tokens``), and/or act inside
    every attention layer: ``rotate(q, k)`` on the queries and keys and
    ``attention_bias(n_tokens)`` added to the scores.
    """


@hookspec
def register_stems(register):
    """Register stems: image-to-image modules run before patching.

    Factory: ``factory(shape: ModelShape, **params) -> Stem`` with ``out_channels``.
    """


@hookspec
def register_distill_losses(register):
    """Register knowledge-distillation losses.

    Factory: ``factory(shape: DistillShape, **params) -> DistillLoss``, a module called as
    ``loss(student_feature, teacher_feature, student_logits, teacher_logits)`` that
    returns a scalar; a plain ``nn.Module`` gets ``note = None``, ``active = True`` and
    ``needs = {"feature", "logits"}``. A loss whose ``needs`` name tokens, layers or
    attention is called ``loss(student, teacher)`` with two ``Intermediates``.
    """


@hookspec
def register_datasets(register):
    """Register corpus adapters.

    Factory: ``factory(root: Path | None, **params) -> DatasetAdapter`` whose ``scan()``
    returns the utterances (path, label, speaker, metadata) and the skipped files.
    """


@hookspec
def register_augments(register):
    """Register augmentations, applied to training folds only.

    Factory: ``factory(stage_context: None, **params) -> Augment`` with ``stage`` one of
    ``"wave"``, ``"feature"``, ``"batch"``, which says how it is called.
    """


#: Plugin kind -> the hook that registers it: the one list of kinds every floor reads.
KINDS: dict[str, str] = {
    "patching": "register_patchings",
    "pos_encoding": "register_pos_encodings",
    "stem": "register_stems",
    "distill_loss": "register_distill_losses",
    "dataset": "register_datasets",
    "augment": "register_augments",
}
