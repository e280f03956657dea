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
    """Every entry under ``root`` named as audio (by suffix, case-insensitive) that is not
    a folder, sorted for determinism. Symbolic links to folders are followed (a label
    folder linked in from elsewhere was dropped), each real folder once (a link to a
    parent ends there). A FIFO, a dangling or looping link named ``.wav`` is listed too:
    the pipeline skips it with its reason (:func:`ablate.data.features.open_regular`),
    counted with the other skips instead of vanishing."""
    found: list[Path] = []
    visited: set[tuple[int, int]] = set()

    def visit(folder: Path) -> None:
        try:
            info = folder.stat()
            entries = list(os.scandir(folder))
        except OSError:
            return
        if (info.st_dev, info.st_ino) in visited:
            return
        visited.add((info.st_dev, info.st_ino))
        for entry in entries:
            path = folder / entry.name
            try:
                is_dir = entry.is_dir()  # through links; False for a dangling one
            except OSError:  # a looping link
                is_dir = False
            if is_dir:
                if recursive:
                    visit(path)
            elif path.suffix.lower() in AUDIO_SUFFIXES:
                found.append(path)

    visit(root)
    return sorted(found)


def finish_scan(adapter: str, root: Path, layout: str, result: ScanResult) -> ScanResult:
    """Reject a scan that recognised nothing: the one-line 'no recognisable files' error."""
    if not result.utterances:
        extra = f" ({len(result.skipped)} unparsable files)" if result.skipped else ""
        raise AblateError(
            f"dataset '{adapter}': no recognisable audio files in {root}{extra}; expected {layout}"
        )
    result.utterances.sort(key=lambda u: str(u.path))
    return result
