"""Corpus adapters, one module per corpus: each parses labels, speakers and metadata from
its corpus' own layout and maps its emotion codes onto the common vocabulary of
:data:`ablate.corpus.LABELS`; files it cannot parse are skipped, not fatal."""

from __future__ import annotations

from ablate_plugins.datasets.cremad import CremaD
from ablate_plugins.datasets.emodb import EmoDB
from ablate_plugins.datasets.folder import Folder
from ablate_plugins.datasets.ravdess import Ravdess
from ablate_plugins.datasets.savee import Savee
from ablate_plugins.datasets.synthetic import Synthetic
from ablate_plugins.datasets.tess import Tess

from ablate import hookimpl

ADAPTERS = {
    "emodb": (EmoDB, "Berlin EmoDB: 10 speakers, 7 emotions (German)"),
    "savee": (Savee, "SAVEE: 4 male speakers, 7 emotions (British English)"),
    "cremad": (CremaD, "CREMA-D: 91 actors, 6 emotions, 4 intensity levels"),
    "ravdess": (Ravdess, "RAVDESS: 24 actors, 8 emotions, 2 intensities (speech; song on request)"),
    "tess": (Tess, "TESS: 2 female speakers (OAF, YAF), 7 emotions"),
    "folder": (Folder, "Any corpus: one subfolder per label, or a CSV manifest"),
    "synthetic": (Synthetic, "Generated default: 6 speakers, classes differing in time order"),
}


@hookimpl
def register_datasets(register):
    for name, (factory, description) in ADAPTERS.items():
        register(name, factory, description)
