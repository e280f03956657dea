"""TESS: ``OAF_back_angry.wav``, flat or in its per-emotion folders; typos tolerated."""

from __future__ import annotations

import re
from pathlib import Path

from ablate.contracts import DatasetAdapter
from ablate.corpus import Utterance, readable

TESS_EMOTIONS = {
    "angry": "anger",
    "disgust": "disgust",
    "fear": "fear",
    "happy": "happiness",
    "neutral": "neutral",
    "ps": "surprise",
    "sad": "sadness",
}


class Tess(DatasetAdapter):
    name = "tess"
    layout = "ROOT/OAF_back_angry.wav, flat or in TESS's per-emotion folders (speaker OAF/YAF)"
    pattern = re.compile(
        r"^(OAF|YAF|OA|YA)_(.+)_(angry|disgust|fear|happy|neutral|ps|sad)$", re.IGNORECASE
    )

    def parse(self, path: Path) -> Utterance | None:
        match = self.pattern.match(path.stem)
        if not match:
            return None
        speaker, word, emotion = match.groups()
        speaker = speaker.upper()[0] + "AF"
        age = "old" if speaker == "OAF" else "young"
        meta = {"gender": "female", "age": age, "text": readable(word)}
        return Utterance(path, TESS_EMOTIONS[emotion.lower()], speaker, meta)
