#!/usr/bin/env bash
# Regenerate the result tables and figures from the MLflow store the GPU run produced
# (studies/evidence.sh .../emodb gpu): every number in docs/results.md comes from here.
#   bash docs/results/make.sh [TRACKING_URI]
set -euo pipefail
cd "$(dirname "$0")"
uri=${1:-sqlite:///emodb-h200.db}
compare() { python3 -m ablate compare "$@" --tracking-uri "$uri" --format markdown; }
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
echo "wrote $(pwd)/tables.md, the PNG figures and the README's results block"
