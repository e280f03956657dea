#!/usr/bin/env bash
# Regenerate the result tables and figures from the MLflow stores that
# studies/evidence.sh wrote: every number in docs/results.md comes from here.
#   bash docs/results/make.sh [gpu|cpu|all]
# gpu: emodb-h200.db (paper sizes, leave-one-speaker-out, one H200) -> tables.md, *.png and
#      the README's results block; cpu: emodb-cpu.db (reduced, 3 seeds, this project's
#      2-core CPU) -> tables-cpu.md, *-cpu.png.
set -euo pipefail
cd "$(dirname "$0")"
which=${1:-all}
compare() { python3 -m ablate compare "$@" --tracking-uri "$uri" --format markdown; }

if [ "$which" = gpu ] || [ "$which" = all ]; then
  uri=sqlite:///emodb-h200.db
  {
    echo "### Positional encoding (vertical patches), leave-one-speaker-out, 3 seeds"
    compare pe_vs_coord-630e2cfed6 presets-ffcf6905e6 --plot pe_vs_coord.png
    echo
    echo "### The encodings against the best encoding, paired over 24 (seed, fold) pairs"
    compare pe_vs_coord-630e2cfed6
    echo
    echo "### Patch shape x positional encoding, leave-one-speaker-out"
    compare patch_shape-a731e92086 presets-ffcf6905e6 --plot patch_shape.png
    echo
    echo "### Distillation (teacher -> student), leave-one-speaker-out"
    compare distillation-3e9a90321a presets-ffcf6905e6 --plot distillation.png
    echo
    echo "### The leak: random 8-fold splits of a corpus augmented before splitting"
    compare pe_vs_coord-3dc61054b4 --plot leak.png
  } > tables.md
  # The README shows the same tables between its results markers.
  python3 - <<'PY'
import re
from pathlib import Path

readme = Path("../../README.md")
tables = Path("tables.md").read_text().replace("### ", "#### ")
block = f"<!-- results:start -->\n{tables}<!-- results:end -->"
text = re.sub(r"<!-- results:start -->.*<!-- results:end -->", lambda _: block,
              readme.read_text(), flags=re.S)
readme.write_text(text)
PY
  echo "wrote $(pwd)/tables.md, its PNG figures and the README's results block"
fi

if [ "$which" = cpu ] || [ "$which" = all ]; then
  uri=sqlite:///emodb-cpu.db
  cnn=reference_cnn-7f416da94c
  {
    echo "### Positional encoding (vertical patches), speaker 4-fold, 3 seeds"
    compare pe_vs_coord-d3d2edfc1d $cnn --plot pe_vs_coord-cpu.png
    echo
    echo "### The encodings against the best encoding, paired over 12 (seed, fold) pairs"
    compare pe_vs_coord-d3d2edfc1d
    echo
    echo "### Patch shape x positional encoding, speaker 4-fold, 3 seeds"
    compare patch_shape-8248dffca3 $cnn --plot patch_shape-cpu.png
    echo
    echo "### Distillation (teacher -> student), speaker 4-fold, 3 seeds"
    compare distillation-cb87e16ef7 $cnn --plot distillation-cpu.png
    echo
    echo "### The leak: random 4-fold splits of a corpus augmented before splitting, seed 0"
    compare pe_vs_coord-f54ba04b99 --plot leak-cpu.png
  } > tables-cpu.md
  echo "wrote $(pwd)/tables-cpu.md and its PNG figures"
fi
