"""SAVEE: ``AudioData/DC/a01.wav`` or flat ``DC_a01.wav``; two-letter codes first."""

from __future__ import annotations

import re
from pathlib import Path

from ablate.contracts import DatasetAdapter
from ablate.corpus import Utterance

SAVEE_EMOTIONS = {
    "sa": "sadness",
    "su": "surprise",
    "a": "anger",
    "d": "disgust",
    "f": "fear",
    "h": "happiness",
    "n": "neutral",
}
_SAVEE_CODE = "(sa|su|a|d|f|h|n)"  # two-letter codes first: 'sa01' is sadness, never 's'


class Savee(DatasetAdapter):
    name = "savee"
    layout = (
        "ROOT/AudioData/DC/a01.wav or ROOT/DC_a01.wav (speaker DC JE JK KL, code a d f h n sa su)"
    )
    flat = re.compile(rf"^([A-Z]{{2}})_{_SAVEE_CODE}(\d\d)$")
    nested = re.compile(rf"^{_SAVEE_CODE}(\d\d)$")

    def parse(self, path: Path) -> Utterance | None:
        match = self.flat.match(path.stem)
        if match:
            speaker, code, number = match.groups()
        else:
            match = self.nested.match(path.stem)
            speaker = path.parent.name
            if not match or not re.fullmatch(r"[A-Z]{2}", speaker):
                return None
            code, number = match.groups()
        meta = {"gender": "male", "text": f"{code}{number}"}
        return Utterance(path, SAVEE_EMOTIONS[code], speaker, meta)
