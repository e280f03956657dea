"""Corpus adapters: parse labels, speakers and metadata from each corpus' own layout.

Every adapter maps its emotion codes onto the common vocabulary of
:data:`ablate.data.corpus.LABELS`; files it cannot parse are skipped, not fatal.
"""

from __future__ import annotations

import csv
import os
import re
from pathlib import Path

from ablate import hookimpl
from ablate.contracts import DatasetAdapter
from ablate.data.cache import cache_root
from ablate.data.corpus import (
    ScanResult,
    Utterance,
    audio_files,
    finish_scan,
    readable,
)
from ablate.data.synthetic import CLASSES, generate, speaker_voice
from ablate.errors import AblateError

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
RAVDESS_CHANNELS = {"01": "speech", "02": "song"}
RAVDESS_INTENSITY = {"01": "normal", "02": "strong"}


class Ravdess(DatasetAdapter):
    name = "ravdess"
    layout = (
        "ROOT/Actor_01/03-01-06-01-02-01-01.wav "
        "(modality-channel-emotion-intensity-statement-repetition-actor)"
    )
    pattern = re.compile(r"^(\d\d)-(0[12])-(0[1-8])-(0[12])-(\d\d)-(\d\d)-(\d\d)$")

    def __init__(self, root: Path | None, channel: str = "all"):
        super().__init__(root)
        if channel not in ("all", *RAVDESS_CHANNELS.values()):
            raise AblateError(
                f"data.dataset_args.channel: expected all, speech or song, got {channel!r}"
            )
        self.channel = channel

    def scan(self) -> ScanResult:
        result = super().scan()
        if self.channel != "all":
            result.utterances = [u for u in result.utterances if u.meta["channel"] == self.channel]
        return result

    def parse(self, path: Path) -> Utterance | None:
        match = self.pattern.match(path.stem)
        if not match:
            return None
        _, channel, emotion, intensity, statement, repetition, actor = match.groups()
        meta = {
            "gender": "male" if int(actor) % 2 else "female",
            "channel": RAVDESS_CHANNELS[channel],
            "intensity": RAVDESS_INTENSITY[intensity],
            "text": statement,
            "repetition": repetition,
        }
        return Utterance(path, RAVDESS_EMOTIONS[emotion], actor, meta)


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


class Folder(DatasetAdapter):
    """One subfolder per label (``ROOT/<label>/[<speaker>/]x.wav``) or a CSV manifest."""

    name = "folder"
    layout = "ROOT/<label>/[<speaker>/]*.wav, or a CSV manifest with columns path,label[,speaker]"

    def __init__(self, root: Path | None, manifest: str = ""):
        super().__init__(root)
        self.manifest = (self.root / manifest) if manifest else None
        if self.manifest is not None and not self.manifest.is_file():
            raise AblateError(f"data.dataset_args.manifest: no such file {self.manifest}")

    def scan(self) -> ScanResult:
        if self.manifest is None:
            return super().scan()
        result = ScanResult([])
        # undecodable bytes stay as the same escapes the file system gives: a path written
        # in any encoding still finds its file
        with self.manifest.open(
            newline="", encoding="utf-8-sig", errors="surrogateescape"
        ) as handle:
            reader = csv.DictReader(handle)
            columns = set(reader.fieldnames or ())
            if not {"path", "label"} <= columns:
                raise AblateError(
                    f"dataset 'folder': {self.manifest} needs columns path,label[,speaker]; "
                    f"found {', '.join(sorted(columns)) or 'none'}"
                )
            for row in reader:
                path = self.root / row["path"].strip()
                label, speaker = row["label"].strip(), (row.get("speaker") or "").strip()
                if not os.path.lexists(path):  # a FIFO or a dangling link: skipped later,
                    result.skipped.append((str(path), "missing-file"))  # with its reason
                elif not label:
                    result.skipped.append((str(path), "missing-label"))
                else:
                    speaker = readable(speaker) or "unknown"
                    result.utterances.append(Utterance(path, readable(label), speaker, {}))
        return finish_scan(self.name, self.root, self.layout, result)

    def parse(self, path: Path) -> Utterance | None:
        parts = [readable(part) for part in path.relative_to(self.root).parts]
        if len(parts) == 2:
            return Utterance(path, parts[0], "unknown", {})
        if len(parts) == 3:
            return Utterance(path, parts[0], parts[1], {})
        return None


class Synthetic(DatasetAdapter):
    """The embedded default corpus, generated into ROOT (or the cache) on first use."""

    name = "synthetic"
    layout = "generated sNN_<class>_NNN.wav files"
    pattern = re.compile(rf"^s(\d\d)_({'|'.join(CLASSES)})_(\d{{3}})$")

    def __init__(
        self,
        root: Path | None,
        speakers: int = 6,
        per_class: int = 10,
        classes: int = 6,
        seconds: float = 2.0,
        sample_rate: int = 16000,
        seed: int = 0,
    ):
        where = "data.dataset_args"
        if not 2 <= classes <= len(CLASSES):
            raise AblateError(f"{where}.classes: expected 2 to {len(CLASSES)}, got {classes}")
        if speakers < 1 or per_class < 1 or seconds <= 0.1 or sample_rate < 4000:
            raise AblateError(
                f"{where}: need speakers >= 1, per_class >= 1, seconds > 0.1, "
                f"sample_rate >= 4000; got {speakers}, {per_class}, {seconds}, {sample_rate}"
            )
        folder = Path(root) if root is not None else cache_root() / "synthetic"
        self.speakers = speakers
        try:
            self.root = generate(folder, speakers, per_class, classes, seconds, sample_rate, seed)
        except OSError as exc:
            way_out = (
                "give a writable data.root"
                if root is not None
                else "set ABLATE_CACHE_DIR to a writable folder (the cache, default "
                "~/.cache/ablate), or give data.root"
            )
            raise AblateError(
                f"dataset 'synthetic': cannot write the generated corpus in {folder} "
                f"({exc.strerror or exc}); {way_out}"
            ) from None

    def parse(self, path: Path) -> Utterance | None:
        match = self.pattern.match(path.stem)
        if not match:
            return None
        number, label, _ = match.groups()
        f0, scale = speaker_voice(int(number) - 1, self.speakers)
        meta = {"f0": round(f0, 1), "formant_scale": round(scale, 3)}
        return Utterance(path, label, f"s{number}", meta)


ADAPTERS = {
    "emodb": (EmoDB, "Berlin EmoDB: 10 speakers, 7 emotions (German)"),
    "savee": (Savee, "SAVEE: 4 male speakers, 7 emotions (British English)"),
    "cremad": (CremaD, "CREMA-D: 91 actors, 6 emotions, 4 intensity levels"),
    "ravdess": (Ravdess, "RAVDESS: 24 actors, 8 emotions, speech and song"),
    "tess": (Tess, "TESS: 2 female speakers (OAF, YAF), 7 emotions"),
    "folder": (Folder, "Any corpus: one subfolder per label, or a CSV manifest"),
    "synthetic": (Synthetic, "Generated default: 6 speakers, classes differing in time order"),
}


@hookimpl
def register_datasets(register):
    for name, (factory, description) in ADAPTERS.items():
        register(name, factory, description)
