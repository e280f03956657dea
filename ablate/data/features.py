"""Audio decoding and fixed-size log-Mel features, the model's 128 x T input images.

Padding decision (``data.fit="pad"``): speech stays at the left and the image is padded
at the right with the log floor, the value digital silence produces; that is exactly
zero-padding the *signal*, so padding never adds an artificial edge to the image.
Long utterances are cropped. ``data.fit="resize"`` instead interpolates the whole
utterance to ``frames`` (bilinear), keeping all of it at the cost of a variable time scale.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import soundfile as sf
import torch
import torch.nn.functional as F
import torchaudio
from omegaconf import DictConfig

from ablate.data.trim import TRIM_VERSION, trim, trim_db
from ablate.errors import AblateError

#: Floor added before the log; also the value of padded frames.
LOG_FLOOR = 1e-6
#: Peak amplitude at or below which a file counts as silent.
SILENCE = 1e-4
#: Bumped whenever the extraction code changes what it outputs (invalidates the cache).
#: 2: channels that cancel when averaged are downmixed to the loudest one.
FEATURE_VERSION = 2
#: Averaging channels may fall to this share of the loudest channel's RMS level (a silent
#: second channel gives 0.5, uncorrelated ones 0.7); below it, the channels cancel
#: (anti-phase or wired-backwards stereo) and the loudest channel is used alone.
CANCELLATION = 0.25
FITS = ("pad", "resize")
_LFS_MAGIC = b"version https://git-lfs"
_AUDIO_MAGIC = (b"RIFF", b"RIFX", b"RF64", b"FORM", b"fLaC", b"OggS", b"ID3", b".snd")


#: sample rates audio can carry speech at (the telephone band and up); others are refused
#: (``bad-sample-rate``): a 2-sample file at 1 Hz is not speech however it is resampled
SAMPLE_RATES = (4000, 1_000_000)
_KINDS = {stat.S_IFDIR: "a directory", stat.S_IFIFO: "a FIFO", stat.S_IFSOCK: "a socket"}


class AudioError(AblateError):
    """A file that cannot be used as audio; ``reason`` is a short, countable tag and
    ``detail`` says more to a person (the message only)."""

    def __init__(self, reason: str, path: str | Path = "", detail: str = ""):
        message = f"{reason} ({detail})" if detail else reason
        super().__init__(f"{path}: {message}" if path else message)
        self.reason, self.detail = reason, detail


def open_regular(path: str | Path) -> BinaryIO:
    """``path`` opened for reading, when it is a regular file (through any symbolic links);
    else :class:`AudioError` ``missing-file``, ``broken-link``, ``symlink-loop``,
    ``not-a-regular-file`` or ``unreadable``. It never blocks: a FIFO named ``.wav`` hung
    whatever opened it, waiting for a writer."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError as exc:
        reason = "broken-link" if os.path.islink(path) else "missing-file"
        raise AudioError(reason, path) from exc
    except OSError as exc:
        reason = "symlink-loop" if exc.errno == errno.ELOOP else "unreadable"
        raise AudioError(reason, path) from exc
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        kind = _KINDS.get(stat.S_IFMT(mode), "a device")
        raise AudioError("not-a-regular-file", path, kind)
    return os.fdopen(fd, "rb")


def _wav_rate(head: bytes) -> int | None:
    """The sample rate in a canonical WAV header (``fmt `` chunk first), else None."""
    if head[:4] != b"RIFF" or head[8:16] != b"WAVEfmt " or len(head) < 28:
        return None
    return int.from_bytes(head[24:28], "little")


def load_audio(path: str | Path, max_seconds: float | None = None) -> tuple[torch.Tensor, int]:
    """Decode ``path`` to a mono float32 waveform and its sample rate.

    Raises :class:`AudioError` with a reason of :func:`open_regular`, or ``empty``,
    ``lfs-pointer``, ``not-audio``, ``corrupt``, ``bad-sample-rate`` (0 Hz, or outside
    :data:`SAMPLE_RATES`), ``too-long`` (over
    ``max_seconds``, judged from the header before decoding), ``zero-length``,
    ``non-finite`` or ``silent``.
    The file name is passed to libsndfile as bytes, so any name the OS can open decodes.
    """
    path = Path(path)
    try:
        with open_regular(path) as handle:
            head = handle.read(64)
    except OSError as exc:
        raise AudioError("unreadable", path) from exc
    if not head:
        raise AudioError("empty", path)
    if head.startswith(_LFS_MAGIC):
        raise AudioError("lfs-pointer", path)
    try:
        info = sf.info(os.fsencode(path))
        if info.samplerate <= 0:
            raise AudioError("bad-sample-rate", path)
        low, high = SAMPLE_RATES
        if not low <= info.samplerate <= high:
            raise AudioError(
                "bad-sample-rate", path, f"{info.samplerate} Hz; expected {low} to {high} Hz"
            )
        if max_seconds and info.frames > max_seconds * info.samplerate:
            raise AudioError("too-long", path)
        data, rate = sf.read(os.fsencode(path), dtype="float32", always_2d=True)
    except AudioError:
        raise
    except Exception as exc:
        reason = "corrupt" if head.startswith(_AUDIO_MAGIC) else "not-audio"
        if _wav_rate(head) == 0:  # libsndfile refuses the header without saying why
            reason = "bad-sample-rate"
        raise AudioError(reason, path) from exc
    if rate <= 0:
        raise AudioError("bad-sample-rate", path)
    if data.shape[0] == 0:
        raise AudioError("zero-length", path)
    if not np.isfinite(data).all():
        raise AudioError("non-finite", path)
    wave = torch.from_numpy(downmix(data))
    if not torch.isfinite(wave).all():
        raise AudioError("non-finite", path)
    if wave.abs().max() <= SILENCE:
        raise AudioError("silent", path)
    return wave, int(rate)


def downmix(data: np.ndarray) -> np.ndarray:
    """``(samples, channels)`` -> mono: the channel mean, unless averaging cancels the
    signal (its RMS level under :data:`CANCELLATION` times the loudest channel's, as in
    anti-phase stereo, left = -right): then the loudest channel alone."""
    mean = data.mean(axis=1)
    if data.shape[1] == 1:
        return np.ascontiguousarray(mean)
    levels = np.sqrt(np.mean(np.square(data, dtype=np.float64), axis=0))
    if np.sqrt(np.mean(np.square(mean, dtype=np.float64))) < CANCELLATION * levels.max():
        return np.ascontiguousarray(data[:, int(levels.argmax())])
    return np.ascontiguousarray(mean)


def image_width(data: DictConfig) -> int:
    """Frames kept per utterance: ``data.max_frames`` when set above ``data.frames``."""
    return max(int(data.frames), int(data.get("max_frames", 0) or 0))


class Extractor:
    """Waveform -> one utterance's features, from the data config: the shared steps.

    ``prepare`` resamples to ``data.sample_rate`` and trims leading and trailing silence
    (``data.trim_db``); ``features`` computes the subclass' features of a prepared wave;
    calling the extractor does both. ``kind`` names the features in the cache key and
    ``settings()`` everything that determines them.
    """

    kind = ""

    def __init__(self, data: DictConfig):
        self.sample_rate = int(data.sample_rate)
        self.trim_db = trim_db(data)
        #: a trimmed wave keeps at least one analysis window (when it has one)
        self.min_samples = int(data.n_fft)
        self._settings: dict[str, Any] = {}

    def _trim_settings(self) -> dict[str, Any]:
        """The trimming's part of the settings: none when it is off (older cache keys and
        saved models stay valid)."""
        if not self.trim_db:
            return {}
        return {"trim_db": self.trim_db, "trim_version": TRIM_VERSION}

    def settings(self) -> dict[str, Any]:
        """Everything that determines the output: the cache key and a saved model's input."""
        return dict(self._settings)

    def resample(self, wave: torch.Tensor, sample_rate: int) -> torch.Tensor:
        """``wave`` at the target rate (unchanged when it is already there)."""
        if sample_rate == self.sample_rate:
            return wave
        return torchaudio.functional.resample(wave, sample_rate, self.sample_rate)

    def prepare(self, wave: torch.Tensor, sample_rate: int) -> torch.Tensor:
        """``wave`` at the target rate, its leading and trailing silence trimmed when
        ``data.trim_db`` is set."""
        wave = self.resample(wave.float(), sample_rate)
        if self.trim_db:
            wave = trim(wave, self.sample_rate, self.trim_db, self.min_samples)
        return wave

    def features(self, wave: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def __call__(self, wave: torch.Tensor, sample_rate: int) -> torch.Tensor:
        """The features of ``wave`` (prepared first)."""
        return self.features(self.prepare(wave, sample_rate))


class FeatureExtractor(Extractor):
    """Waveform -> ``(n_mels, frames)`` float32 log-Mel image, from the data config."""

    kind = "logmel"

    def __init__(self, data: DictConfig):
        super().__init__(data)
        if data.fit not in FITS:
            raise AblateError(f"data.fit: expected one of {', '.join(FITS)}, got {data.fit!r}")
        self.frames = image_width(data)
        self.fit = str(data.fit)
        if self.frames > int(data.frames) and self.fit != "pad":
            raise AblateError("data.max_frames: sliding windows need data.fit=pad")
        self._settings = {
            "version": FEATURE_VERSION,
            "sample_rate": self.sample_rate,
            "n_mels": int(data.n_mels),
            "frames": self.frames,
            "n_fft": int(data.n_fft),
            "hop_length": int(data.hop_length),
            "win_length": None if data.win_length is None else int(data.win_length),
            "f_min": float(data.f_min),
            "f_max": None if data.f_max is None else float(data.f_max),
            "fit": self.fit,
            "log_floor": LOG_FLOOR,
            **self._trim_settings(),
        }
        try:
            self.mel = torchaudio.transforms.MelSpectrogram(
                sample_rate=self.sample_rate,
                n_fft=self._settings["n_fft"],
                win_length=self._settings["win_length"],
                hop_length=self._settings["hop_length"],
                f_min=self._settings["f_min"],
                f_max=self._settings["f_max"],
                n_mels=self._settings["n_mels"],
                power=2.0,
            )
        except (ValueError, AssertionError) as exc:
            raise AblateError(f"data: invalid Mel settings: {exc}") from None

    def features(self, wave: torch.Tensor) -> torch.Tensor:
        """The image of a prepared ``wave``; :class:`AudioError` ``too-short`` when it is
        shorter than one analysis window (``n_fft`` samples)."""
        n_fft = self._settings["n_fft"]
        if wave.shape[-1] < n_fft:
            seconds = wave.shape[-1] / self.sample_rate
            raise AudioError(
                "too-short", detail=f"{seconds:.3f} s, under one {n_fft}-sample analysis window"
            )
        with torch.no_grad():
            image = torch.log(self.mel(wave) + LOG_FLOOR)
        return self._fit(image).contiguous()

    def _fit(self, image: torch.Tensor) -> torch.Tensor:
        width = image.shape[-1]
        if self.fit == "resize":
            if width == self.frames:
                return image
            resized = F.interpolate(
                image[None, None], size=(image.shape[0], self.frames), mode="bilinear"
            )
            return resized[0, 0]
        if width >= self.frames:
            return image[:, : self.frames]
        return F.pad(image, (0, self.frames - width), value=float(np.log(LOG_FLOOR)))


def fit_normalizer(features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-Mel-bin mean and std, each ``(n_mels, 1)``, of ``(N, n_mels, frames)`` features.

    Call it on the training fold only, so no test statistics leak into the model input.
    """
    if features.ndim != 3 or features.shape[0] == 0:
        raise AblateError(
            f"fit_normalizer: expected (N>0, n_mels, frames), got {tuple(features.shape)}"
        )
    mean = features.mean(dim=(0, 2))[:, None]
    std = features.std(dim=(0, 2))[:, None].clamp_min(1e-5)
    return mean, std
