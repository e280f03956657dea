"""CREMA-D: ``AudioWAV/1001_DFA_ANG_XX.wav``; sex from ``VideoDemographics.csv``."""

from __future__ import annotations

import csv
import re
from pathlib import Path

from ablate.contracts import DatasetAdapter
from ablate.corpus import Utterance, audio_files

CREMAD_EMOTIONS = {
    "ANG": "anger",
    "DIS": "disgust",
    "FEA": "fear",
    "HAP": "happiness",
    "NEU": "neutral",
    "SAD": "sadness",
}
CREMAD_LEVELS = {"LO": "low", "MD": "medium", "HI": "high", "XX": "unspecified", "X": "unspecified"}


class CremaD(DatasetAdapter):
    name = "cremad"
    layout = "ROOT/AudioWAV/1001_DFA_ANG_XX.wav (actor, sentence, emotion, level LO MD HI XX)"
    pattern = re.compile(r"^(\d{4})_([A-Z]{3})_([A-Z]{3})_(LO|MD|HI|XX|X)$")

    def __init__(self, root: Path | None):
        super().__init__(root)
        self.sex = self._demographics()

    def files(self) -> list[Path]:
        folder = self.root / "AudioWAV" if (self.root / "AudioWAV").is_dir() else self.root
        return audio_files(folder, recursive=False)

    def _demographics(self) -> dict[str, str]:
        """ActorID -> sex from ``VideoDemographics.csv`` when the corpus ships it."""
        table = self.root / "VideoDemographics.csv"
        if not table.is_file():
            return {}
        with table.open(newline="", encoding="utf-8-sig", errors="replace") as handle:
            rows = csv.DictReader(handle)
            return {
                row["ActorID"].strip(): row.get("Sex", "").strip().lower()
                for row in rows
                if row.get("ActorID")
            }

    def parse(self, path: Path) -> Utterance | None:
        match = self.pattern.match(path.stem)
        if not match or match.group(3) not in CREMAD_EMOTIONS:
            return None
        actor, sentence, emotion, level = match.groups()
        meta = {"text": sentence, "intensity": CREMAD_LEVELS[level]}
        if actor in self.sex:
            meta["gender"] = self.sex[actor]
        return Utterance(path, CREMAD_EMOTIONS[emotion], actor, meta)
