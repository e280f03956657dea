"""The embedded default corpus, generated into ROOT (or the cache) on first use."""

from __future__ import annotations

import re
from pathlib import Path

from ablate.contracts import DatasetAdapter
from ablate.corpus import Utterance
from ablate.data.cache import cache_root
from ablate.data.synthetic import CLASSES, generate, speaker_voice
from ablate.errors import AblateError


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
