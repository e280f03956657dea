#!/usr/bin/env bash
# Regenerate the result tables and figures from the MLflow stores that
# studies/evidence.sh wrote: every number in docs/results.md comes from here.
#   bash docs/results/make.sh [recipe|gpu|cpu|ravdess|all]
# recipe: emodb-recipe-cpu.db (issue 16's recipe, leave-one-speaker-out, 64x64, this
#      project's 2-core CPU) -> tables-recipe.md, *-recipe.png and the README's results
#      block; before the recipe: gpu: emodb-h200.db (paper sizes, one H200) -> tables.md,
#      *.png; cpu: emodb-cpu.db (reduced, 3 seeds, speaker 4-fold) -> tables-cpu.md,
#      *-cpu.png; ravdess: ravdess-cpu.db (studies/evidence_ravdess.sh, speaker 5-fold
#      over 20 actors) and ravdess-search-cpu.db -> tables-ravdess.md, and with the
#      recipe store, tables-across.md (one table per claim, both corpora combined).
# Every table is over test folds (seeds averaged within a fold first), with 95% intervals,
# paired t-tests against the named reference arm, Holm's correction and a verdict per arm
# (better, worse, equivalent within MARGIN, inconclusive; docs/studies.md).
#   MARGIN=0.03 (default): the smallest difference in UA that the tables treat as mattering
set -euo pipefail
cd "$(dirname "$0")"
which=${1:-all}
margin=${MARGIN:-0.03}
compare() { python3 -m ablate compare "$@" --tracking-uri "$uri" --format markdown --margin "$margin"; }

if [ "$which" = recipe ] || [ "$which" = all ]; then
  # artifacts beside the store, relative, so `ablate ui` shows them on any clone
  python3 -m ablate.tracking.bundle emodb-recipe-cpu.db
  # the 480 fold weights (about 220 MB) stay out of git; studies/evidence.sh makes them again
  find emodb-recipe-cpu-artifacts -name model.pt -delete
  uri=sqlite:///emodb-recipe-cpu.db
  # each study run once per seed by studies/evidence.sh (SEEDS=1, 0, then 2), pooled by name
  ref=preset=cnn
  pooled() { compare "$@" --pool-seeds; }
  {
    echo "### The recipe search: TPE over the student's training levers (studies/recipe.yaml), seed 0"
    compare recipe-f3d7f17e7d
    echo
    echo "### The same levers searched nested (studies/recipe_emodb_search.yaml): the selection bias of choosing by test UA"
    echo '```'
    python3 -m ablate compare recipe_emodb_search --nested --tracking-uri "$uri"
    echo '```'
    echo
    echo "### Positional encoding (vertical patches) beside the reference CNN and the strong ViT, recipe, leave-one-speaker-out, 3 seeds"
    pooled pe_vs_coord reference_cnn strong_vit --reference $ref --plot pe_vs_coord-recipe.png
    echo
    echo "### Does an encoding help? Each against no encoding, paired over the 8 speakers"
    pooled pe_vs_coord --reference pos_encoding=none
    echo
    echo "### Patch shape (no positional encoding) beside the reference CNN, recipe, leave-one-speaker-out, 3 seeds"
    pooled patch_shape reference_cnn --reference $ref --plot patch_shape-recipe.png
    echo
    echo "### Is vertical the best patch? Each shape against vertical, paired over the 8 speakers"
    pooled patch_shape --reference patching=vertical
    echo
    echo "### Distillation from the paper's ViT teacher and from the CNN, beside the reference CNN, recipe, 3 seeds"
    pooled distillation distillation_cnn reference_cnn --reference $ref --plot distillation-recipe.png
    echo
    echo "### Does distillation help? Each against the student alone, paired over the 8 speakers"
    pooled distillation distillation_cnn --reference loss=none
  } > tables-recipe.md
  # The README shows the same tables between its results markers.
  python3 - <<'PY'
import re
from pathlib import Path

readme = Path("../../README.md")
# the search's 24-trial table stays on the results page
text = Path("tables-recipe.md").read_text()
tables = text[text.index("### Positional"):].replace("### ", "#### ")
block = f"<!-- results:start -->\n{tables}<!-- results:end -->"
text = re.sub(r"<!-- results:start -->.*<!-- results:end -->", lambda _: block,
              readme.read_text(), flags=re.S)
readme.write_text(text)
PY
  echo "wrote $(pwd)/tables-recipe.md, its PNG figures and the README's results block"
fi

if [ "$which" = gpu ] || [ "$which" = all ]; then
  # artifacts beside the store, relative, so `ablate ui` shows them on any clone
  python3 -m ablate.tracking.bundle emodb-h200.db
  uri=sqlite:///emodb-h200.db
  pe=pe_vs_coord-630e2cfed6 presets=presets-ffcf6905e6 cnn=preset=cnn
  {
    echo "### Positional encoding (vertical patches) beside the reference CNN, leave-one-speaker-out, 3 seeds"
    compare $pe $presets --reference $cnn --plot pe_vs_coord.png
    echo
    echo "### Does an encoding help? Each against no encoding, paired over the 8 speakers"
    compare $pe --reference pos_encoding=none
    echo
    echo "### Patch shape x positional encoding beside the reference CNN, leave-one-speaker-out, 1 seed"
    compare patch_shape-a731e92086 $presets --reference $cnn --plot patch_shape.png --effects
    echo
    echo "### Distillation (teacher -> student) beside the reference CNN, leave-one-speaker-out, 1 seed"
    compare distillation-3e9a90321a $presets --reference $cnn --plot distillation.png
    echo
    echo "### Does distillation help? Each loss against none, paired over the 8 speakers"
    compare distillation-3e9a90321a --reference loss=none
    echo
    echo "### The leak: the same study on random 8-fold splits of a corpus augmented before splitting"
    compare $pe pe_vs_coord-3dc61054b4 --plot leak.png
  } > tables.md
  echo "wrote $(pwd)/tables.md and its PNG figures"
fi

if [ "$which" = cpu ] || [ "$which" = all ]; then
  python3 -m ablate.tracking.bundle emodb-cpu.db
  uri=sqlite:///emodb-cpu.db
  ref=reference_cnn-7f416da94c cnn=preset=cnn
  {
    echo "### Positional encoding (vertical patches) beside the reference CNN, speaker 4-fold, 3 seeds"
    compare pe_vs_coord-d3d2edfc1d $ref --reference $cnn --plot pe_vs_coord-cpu.png
    echo
    echo "### Does an encoding help? Each against no encoding, paired over the 4 folds"
    compare pe_vs_coord-d3d2edfc1d --reference pos_encoding=none
    echo
    echo "### Patch shape x positional encoding beside the reference CNN, speaker 4-fold, 3 seeds"
    compare patch_shape-8248dffca3 $ref --reference $cnn --plot patch_shape-cpu.png --effects
    echo
    echo "### Distillation (teacher -> student) beside the reference CNN, speaker 4-fold, 3 seeds"
    compare distillation-cb87e16ef7 $ref --reference $cnn --plot distillation-cpu.png
    echo
    echo "### Does distillation help? Each loss against none, paired over the 4 folds"
    compare distillation-cb87e16ef7 --reference loss=none
    echo
    echo "### The leak: the same study on random 4-fold splits of a corpus augmented before splitting, seed 0"
    compare pe_vs_coord-d3d2edfc1d pe_vs_coord-f54ba04b99 --plot leak-cpu.png
  } > tables-cpu.md
  echo "wrote $(pwd)/tables-cpu.md and its PNG figures"
fi

if [ "$which" = ravdess ] || [ "$which" = all ]; then
  # studies/evidence_ravdess.sh's store (speaker 5-fold over the 20 actors, per-actor
  # scores cluster-robust over folds) and the nested recipe search's
  python3 -m ablate.tracking.bundle ravdess-cpu.db
  find ravdess-cpu-artifacts -name model.pt -delete
  uri=sqlite:///ravdess-cpu.db
  # a study run once per seed (SEEDS=1, then SEEDS=2 STUDIES=...) is pooled by its name
  pooled() { compare "$@" --pool-seeds; }
  # the studies the store holds with every trial finished (a run cut short by its time
  # limit holds fewer; an unfinished study's trials stay in the store, untabled)
  have() {
    python3 - "$1" "$uri" <<'PY'
import sys
from ablate.tracking.mlflow_store import Store
store = Store(sys.argv[2], create=False)
runs = store.client.search_runs(
    [e.experiment_id for e in store.client.search_experiments()],
    f"tags.`ablate.study` = '{sys.argv[1]}' and attributes.status = 'FINISHED'",
)
sys.exit(0 if any("mlflow.parentRunId" not in r.data.tags for r in runs) else 1)
PY
  }
  {
    echo "### The nested recipe search (studies/recipe_ravdess_search.yaml), seed 0"
    echo '```'
    python3 -m ablate compare recipe_ravdess_search-2d0e8c03e4 --nested \
      --tracking-uri sqlite:///ravdess-search-cpu.db
    echo '```'
    if have ravdess_tokens_b; then
      echo
      echo "### The student's recipe found after the search (studies/recipe_ravdess.yaml is ravdess_tokens_b), beside the openSMILE baseline and the reference CNN, 20 actors"
      pooled ravdess_tokens_b ravdess_tokens_a baseline_opensmile reference_cnn --reference preset=linear
    fi
    for study in pe_vs_coord patch_shape reference_cnn distillation distillation_cnn; do
      have "$study" || continue
      echo
      case $study in
      pe_vs_coord) echo "### Positional encoding (vertical patches) beside the openSMILE baseline and the reference CNN, 20 actors"
        beside=() reference=()
        if have baseline_opensmile; then beside+=(baseline_opensmile) reference=(--reference preset=linear); fi
        if have reference_cnn; then beside+=(reference_cnn); fi
        pooled pe_vs_coord "${beside[@]}" "${reference[@]}" --plot pe_vs_coord-ravdess.png
        echo
        echo "### Does an encoding help? Each against no encoding, paired over the 20 actors"
        pooled pe_vs_coord --reference pos_encoding=none ;;
      patch_shape) echo "### Is vertical the best patch? Each shape against vertical, paired over the 20 actors"
        pooled patch_shape --reference patching=vertical --plot patch_shape-ravdess.png ;;
      reference_cnn) echo "### The reference CNN, 20 actors"
        pooled reference_cnn ;;
      distillation) echo "### Does distillation help? Each against the student alone, paired over the 20 actors"
        pooled distillation --reference loss=none --plot distillation-ravdess.png ;;
      distillation_cnn) echo "### Distillation from the CNN (and from the paper's teacher), against the student alone"
        if have distillation; then
          pooled distillation_cnn distillation --reference loss=none
        else
          pooled distillation_cnn  # the student alone is distillation.yaml's arm
        fi ;;
      esac
    done
  } > tables-ravdess.md
  # one table per claim, EmoDB (three seeds pooled) and RAVDESS combined (docs/studies.md)
  emodb=sqlite:///emodb-recipe-cpu.db
  across() { python3 -m ablate compare "$@" --across --pool-seeds --margin "$margin" --format markdown; }
  {
    if have patch_shape; then
      echo "### Claim 1: vertical patches against square and horizontal ones"
      across patch_shape@$emodb patch_shape@$uri --reference patching=vertical --arm square --arm horizontal
      echo
    fi
    if have pe_vs_coord; then
      echo "### Claim 2: coordinate encoding against none (vertical patches)"
      across pe_vs_coord@$emodb pe_vs_coord@$uri --reference pos_encoding=none --arm coordinate
      echo
    fi
    if have distillation; then
      echo "### Claim 3: feature distillation (L1) against the student alone"
      across distillation@$emodb distillation@$uri --reference loss=none --arm feature_l1
    fi
  } > tables-across.md
  echo "wrote $(pwd)/tables-ravdess.md, tables-across.md and their PNG figures"
fi
