"""What a dataset adapter returns: utterances with label, speaker and metadata, plus skips.

Adapters share one label vocabulary (:data:`LABELS`) so that studies can compare corpora
and remap labels (``data.label_map``) the same way everywhere.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from ablate.errors import AblateError

#: The common emotion vocabulary every built-in adapter maps its corpus' codes onto.
LABELS = (
    "anger",
    "boredom",
    "calm",
    "disgust",
    "fear",
    "happiness",
    "neutral",
    "sadness",
    "surprise",
)

#: File suffixes an adapter treats as audio when it walks a folder.
AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".aiff", ".aif")

#: Skip reason for a file whose name the adapter cannot parse.
UNPARSABLE = "unparsable-name"


@dataclass(frozen=True)
class Utterance:
    """One audio file with its emotion label, speaker and any extra metadata."""

    path: Path
    label: str
    speaker: str
    meta: dict = field(default_factory=dict, hash=False, compare=False)


@dataclass
class ScanResult:
    """Utterances an adapter recognised and the files it skipped, as ``(path, reason)``."""

    utterances: list[Utterance]
    skipped: list[tuple[str, str]] = field(default_factory=list)


def readable(name: str) -> str:
    """A file or folder name as text (a label, a speaker): itself when it is valid UTF-8,
    else its bytes with each undecodable one written as ``\\xNN``: stable, printable, and
    never a guessed encoding (``fr\\xf6hlich`` for Latin-1 ``fröhlich``)."""
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return os.fsencode(name).decode("utf-8", "backslashreplace")
    return name


def count_reasons(skipped: Iterable[tuple[str, str]]) -> dict[str, int]:
    """``{reason: count}``, most frequent first."""
    return dict(Counter(reason for _, reason in skipped).most_common())


def require_dir(adapter: str, root: Path | str | None, layout: str) -> Path:
    """``root`` as a directory, or a one-line error naming the adapter and its layout."""
    if root is None:
        raise AblateError(f"dataset '{adapter}': data.root is not set; expected {layout}")
    path = Path(root).expanduser()
    if not path.is_dir():
        raise AblateError(f"dataset '{adapter}': no such directory {path}; expected {layout}")
    return path


def audio_files(root: Path, recursive: bool = True) -> list[Path]:
    """Audio files under ``root`` (by suffix, case-insensitive), sorted for determinism."""
    pattern = "**/*" if recursive else "*"
    return sorted(
        p for p in root.glob(pattern) if p.is_file() and p.suffix.lower() in AUDIO_SUFFIXES
    )


def finish_scan(adapter: str, root: Path, layout: str, result: ScanResult) -> ScanResult:
    """Reject a scan that recognised nothing: the one-line 'no recognisable files' error."""
    if not result.utterances:
        extra = f" ({len(result.skipped)} unparsable files)" if result.skipped else ""
        raise AblateError(
            f"dataset '{adapter}': no recognisable audio files in {root}{extra}; expected {layout}"
        )
    result.utterances.sort(key=lambda u: str(u.path))
    return result
