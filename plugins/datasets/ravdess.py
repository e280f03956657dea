"""RAVDESS: ``Actor_05/03-01-06-02-01-02-05.wav`` = modality, vocal channel, emotion,
intensity, statement, repetition, actor (Livingstone & Russo 2018).

Only audio-only files (modality 03) are audio to use: modality 01 (audio-video) and 02
(video-only) are skipped as ``video-modality``. Speech (channel 01) is kept by default;
song files (channel 02) are skipped as ``song-channel`` unless ``channel`` asks for them.
"""

from __future__ import annotations

import re
from pathlib import Path

from ablate.contracts import DatasetAdapter
from ablate.corpus import ScanResult, Utterance
from ablate.errors import AblateError

RAVDESS_EMOTIONS = {
    "01": "neutral",
    "02": "calm",
    "03": "happiness",
    "04": "sadness",
    "05": "anger",
    "06": "fear",
    "07": "disgust",
    "08": "surprise",
}
RAVDESS_MODALITIES = {"01": "audio-video", "02": "video", "03": "audio"}
RAVDESS_CHANNELS = {"01": "speech", "02": "song"}
RAVDESS_INTENSITY = {"01": "normal", "02": "strong"}
RAVDESS_STATEMENTS = {"01": "Kids are talking by the door", "02": "Dogs are sitting by the door"}
CHANNELS = ("speech", "song", "all")


class Ravdess(DatasetAdapter):
    name = "ravdess"
    layout = (
        "ROOT/Actor_01/03-01-06-01-02-01-01.wav "
        "(modality-channel-emotion-intensity-statement-repetition-actor)"
    )
    pattern = re.compile(r"^(0[1-3])-(0[12])-(0[1-8])-(0[12])-(0[12])-(0[12])-(\d\d)$")

    def __init__(self, root: Path | None, channel: str = "speech"):
        super().__init__(root)
        if channel not in CHANNELS:
            raise AblateError(
                f"data.dataset_args.channel: expected {', '.join(CHANNELS)}, got {channel!r}"
            )
        self.channel = channel

    def _unwanted(self, utterance: Utterance) -> str | None:
        """Why a parsed file is not used: not audio-only, or the other vocal channel."""
        if utterance.meta["modality"] != "audio":
            return "video-modality"
        channel = utterance.meta["channel"]
        if self.channel not in ("all", channel):
            return f"{channel}-channel"
        return None

    def scan(self) -> ScanResult:
        result = super().scan()
        kept = []
        for utterance in result.utterances:
            reason = self._unwanted(utterance)
            if reason is None:
                kept.append(utterance)
            else:
                result.skipped.append((str(utterance.path), reason))
        if not kept:
            raise AblateError(
                f"dataset 'ravdess': no audio-only {self.channel} files in {self.root} "
                f"({len(result.skipped)} skipped); expected {self.layout}; "
                "data.dataset_args.channel chooses speech, song or all"
            )
        result.utterances = kept
        return result

    def parse(self, path: Path) -> Utterance | None:
        match = self.pattern.match(path.stem)
        if not match or match.group(7) == "00":
            return None
        modality, channel, emotion, intensity, statement, repetition, actor = match.groups()
        meta = {
            "gender": "male" if int(actor) % 2 else "female",
            "modality": RAVDESS_MODALITIES[modality],
            "channel": RAVDESS_CHANNELS[channel],
            "intensity": RAVDESS_INTENSITY[intensity],
            "statement": RAVDESS_STATEMENTS[statement],
            "repetition": repetition,
        }
        return Utterance(path, RAVDESS_EMOTIONS[emotion], actor, meta)
