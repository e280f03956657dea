"""Any corpus: one subfolder per label (``ROOT/<label>/[<speaker>/]x.wav``) or a CSV
manifest (``path,label[,speaker]``)."""

from __future__ import annotations

import csv
import os
from pathlib import Path

from ablate.contracts import DatasetAdapter
from ablate.corpus import ScanResult, Utterance, finish_scan, readable
from ablate.errors import AblateError


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
