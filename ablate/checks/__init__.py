"""The engine's checks of what plugins build: each kind's object run once on a small batch
and held to its contract (:mod:`ablate.contracts`), failing in one line that names the
config key, the plugin and its package. Model parts (:mod:`.parts`), distillation losses
(:mod:`.losses`), augmentations (:mod:`.augments`) and corpus scans (:mod:`.scans`) are
checked the same way when a model is built, before a study's first trial, by `ablate
check`, and by plugin authors' own tests (:mod:`ablate.testing`)."""
