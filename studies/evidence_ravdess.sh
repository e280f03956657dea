#!/usr/bin/env bash
# The RAVDESS evidence (issue 24): the shipped studies on the 20 RAVDESS actors, one MLflow
# store per profile (docs/results/ravdess-PROFILE.db; STORE=... writes elsewhere).
#
#   studies/evidence_ravdess.sh RAVDESS_ROOT PROFILE [TIME_LIMIT_S]
#   SEEDS=1,2,3 studies/evidence_ravdess.sh RAVDESS_ROOT cpu
#   SEEDS=2 STUDIES=pe_vs_coord,patch_shape studies/evidence_ravdess.sh RAVDESS_ROOT cpu
#
# STUDIES (default: all) names the studies to run, by file name without .yaml; a study's
# log is runs/ravdess-PROFILE/<study>-seeds<SEEDS>.log (a resumed run appends to it).
#
# PROFILE cpu: speaker 5-fold over the 20 actors (4 test actors a fold, every other actor
#   trains: no validation split), 64x64 log-Mel (hop 512), each study with SEEDS (default
#   1,2: seeds the recipe search did not use) in one run; two single-threaded lanes of
#   studies, one per core. About 2.2 hours on a quiet 2-core CPU with two seeds
#   (docs/results/ravdess-plan.md); every test speaker's score, one per actor, is the unit
#   when the statistics read per-speaker scores of k-fold studies, else the 5 folds.
# PROFILE loso: the same, leave-one-speaker-out (20 folds, 19 training actors each):
#   4.75x the cpu profile's training (about 10 hours quiet with two seeds).
# PROFILE smoke: the wiring in minutes (speaker 3-fold, its first fold, 1 epoch a stage,
#   a 1-epoch teacher); any RAVDESS root with 4 or more actors; its numbers mean nothing.
#
# Every arm shares the RAVDESS data handling of studies/recipe_ravdess_nested.yaml (silence
# trimmed, windows over the whole utterance, per-speaker normalisation, a fixed schedule
# ending with the EMA weights); the students take its training recipe and model sizes (the
# nested search's winner; studies/recipe_ravdess.yaml, found later, is the recipe to train),
# the CNN studies/recipe_cnn_ravdess.yaml's.
# Studies: pe_vs_coord (with rope and alibi), patch_shape, distillation from the paper's ViT
# teacher (distillation.yaml) and from the CNN (distillation_cnn.yaml), the CNN alone
# (reference_cnn.yaml: the presets' CNN; the paper's teacher is distillation's teacher
# arm, its student pe_vs_coord's `none`), and the openSMILE baseline
# (baseline_opensmile.yaml; needs `pip install -e ".[opensmile]"`, else skipped with a
# line in its log). Then: python3 -m ablate.tracking.bundle docs/results/ravdess-cpu.db
set -euo pipefail
root=$1
profile=$2
limit=${3:-100000}
seeds=${SEEDS:-1,2}
studies=${STUDIES:-}
known=pe_vs_coord,baseline_opensmile,reference_cnn,distillation_cnn,patch_shape,distillation
listed() { [[ ",$1," == *",$2,"* ]]; }  # LIST (comma-separated) holds NAME
for name in ${studies//,/ }; do
  listed "$known" "$name" || { echo "STUDIES: unknown study '$name'; known: $known" >&2; exit 2; }
done
store=${STORE:-docs/results/ravdess-$profile.db}
runs=runs/ravdess-$profile
ablate=(python3 -m ablate)
mkdir -p "$runs" "$(dirname "$store")"

# KEY=VALUE lines of FILE's SECTIONS (dotted prefixes), leaving out the keys in SKIP
overrides() {
  python3 - "$@" <<'EOF'
import json, sys
from ablate.identity import flatten
from ablate.yaml_file import load_yaml
path, prefixes, skip = sys.argv[1], sys.argv[2].split(","), sys.argv[3].split(",")
for key, value in flatten(load_yaml(path)).items():
    if key.startswith(tuple(prefixes)) and key not in skip:
        print(f"{key}={value if isinstance(value, str) else json.dumps(value)}")
EOF
}
# (assigned first: a failing helper stops the script, where `mapfile < <(...)` went on)
text=$(overrides studies/recipe_ravdess_nested.yaml \
  data.n_mels,data.frames,data.hop_length,data.trim_db,data.max_frames,data.norm "")
mapfile -t handling <<< "$text"
text=$(overrides studies/recipe_ravdess_nested.yaml data.,train.,model. \
  data.dataset,data.root,model.preset,model.patching,model.pos_encoding,model.stem)
mapfile -t student <<< "$text"
text=$(overrides studies/recipe_cnn_ravdess.yaml data.,train. data.dataset,data.root)
mapfile -t cnn <<< "$text"

case "$profile" in
cpu) protocol=(protocol.split=speaker_kfold protocol.folds=5 protocol.max_folds=0) ;;
loso) protocol=(protocol.split=loso protocol.max_folds=0) ;;
smoke) protocol=(protocol.split=speaker_kfold protocol.folds=3 protocol.max_folds=1) ;;
*) echo "PROFILE must be cpu, loso or smoke" >&2; exit 2 ;;
esac
# what every arm shares; the networks also end each stage with the EMA weights of a
# fixed schedule (the baseline keeps its own plain logistic regression)
shared=(data.dataset=ravdess "data.root=$root" "${handling[@]}" "${protocol[@]}"
  protocol.val_fraction=0 train.threads=1 "optuna.seeds=[$seeds]")
common=("${shared[@]}" train.select=last train.ema=0.995)
teacher=(distill.teacher_epochs=30 distill.feature_epochs=5 distill.finetune_epochs=30)
vit_teacher=(distill.teacher.dim=128 distill.teacher.depth=4 distill.teacher.heads=4
  distill.teacher.dim_head=32 distill.teacher.mlp_dim=256 distill.teacher.stem_args.width=0.25
  distill.teacher.patch_norm=false)
epochs=() cnn_epochs=() baseline_epochs=()
if [ "$profile" = smoke ]; then
  epochs=(train.epochs=1) cnn_epochs=(train.epochs=1)
  baseline_epochs=(train.epochs=2)
  teacher=(distill.teacher_epochs=1 distill.feature_epochs=1 distill.finetune_epochs=1)
fi

wanted() { [ -z "$studies" ] || listed "$studies" "$1"; }
run() {
  local study=$1 name
  name=$(basename "$study" .yaml)
  wanted "$name" || return 0
  local log=$runs/$name-seeds$seeds.log
  shift
  # appended: a resumed study keeps the log of the run that stopped (and why)
  timeout --signal=INT "$limit" "${ablate[@]}" run "$study" "$@" --tracking-uri "sqlite:///$store" \
    --run-dir "$runs/$name" >> "$log" 2>&1 || echo "$study: see $log" >&2
}
students=("${common[@]}" "${student[@]}")  # the recipe's model sizes too
# the paper's three claims first (a run cut short by its time limit still answers them)
{
  run studies/pe_vs_coord.yaml "${students[@]}" "${epochs[@]}"
  if python3 -c "import opensmile" 2>/dev/null; then
    run studies/baseline_opensmile.yaml "${shared[@]}" "${baseline_epochs[@]}"
  elif wanted baseline_opensmile; then
    echo 'baseline_opensmile skipped: opensmile not installed: pip install -e ".[opensmile]"' >&2
  fi
  run studies/reference_cnn.yaml "${common[@]}" "${cnn[@]}" "${cnn_epochs[@]}"
  run studies/distillation_cnn.yaml "${students[@]}" "${teacher[@]}" "${epochs[@]}"
} &
{
  run studies/patch_shape.yaml "${students[@]}" "${epochs[@]}"
  run studies/distillation.yaml "${students[@]}" "${teacher[@]}" "${vit_teacher[@]}" "${epochs[@]}"
} &
wait
echo "store: $store; tables: ablate compare pe_vs_coord reference_cnn baseline_opensmile --tracking-uri sqlite:///$store"
