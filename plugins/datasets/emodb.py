"""Berlin EmoDB: ``03a01Fa.wav`` = speaker, text, emotion letter, version."""

from __future__ import annotations

import re
from pathlib import Path

from ablate.contracts import DatasetAdapter
from ablate.corpus import Utterance, audio_files

EMODB_EMOTIONS = {
    "W": "anger",
    "L": "boredom",
    "E": "disgust",
    "A": "fear",
    "F": "happiness",
    "T": "sadness",
    "N": "neutral",
}
EMODB_MALE = {"03", "10", "11", "12", "15"}
EMODB_FEMALE = {"08", "09", "13", "14", "16"}


class EmoDB(DatasetAdapter):
    name = "emodb"
    layout = "ROOT/wav/03a01Fa.wav or ROOT/03a01Fa.wav (speaker, text, emotion, version)"
    pattern = re.compile(r"^(\d\d)([a-z]\d\d)([WLEAFTN])([a-z])$")

    def files(self) -> list[Path]:
        folder = self.root / "wav" if (self.root / "wav").is_dir() else self.root
        return audio_files(folder, recursive=False)

    def parse(self, path: Path) -> Utterance | None:
        match = self.pattern.match(path.stem)
        if not match:
            return None
        speaker, text, emotion, version = match.groups()
        gender = "male" if speaker in EMODB_MALE else "female" if speaker in EMODB_FEMALE else ""
        meta = {"gender": gender, "text": text, "version": version}
        return Utterance(path, EMODB_EMOTIONS[emotion], speaker, meta)
