#!/usr/bin/env bash
# Reproduce the README's results: the shipped studies on real EmoDB, one MLflow store.
#
#   studies/evidence.sh EMODB_ROOT PROFILE [TIME_LIMIT_S] [PHASE]
#
# PROFILE gpu (with the recipe of issue 16 since; not yet rerun on a GPU): the paper's
#   128x128 features and model sizes (student dim 256, depth 3,
#   heads 5; teacher depth 6 with the conv stem), leave-one-speaker-out (8 folds), 20
#   epochs per stage, seed 0; pe_vs_coord, presets and distillation run at once, one
#   worker process per trial, on one GPU; plus the leak demonstration (pe_vs_coord on
#   random 8-fold splits of a corpus augmented before splitting); then patch_shape; then
#   pe_vs_coord again with seeds 0, 1 and 2. The paper's settings, every study with three
#   seeds (about 33 minutes of one H200 by `python studies/paper_gpu.py ROOT --dry-run`,
#   which also runs them as one resumable script):
#     EPOCHS=50 SEEDS=0,1,2 studies/evidence.sh EMODB_ROOT gpu
#   (feature matching runs EPOCHS / 2 epochs, the other stages EPOCHS).
# PROFILE cpu: the recipe (issue 16; studies/recipe_emodb.yaml, the winner of
#   studies/recipe.yaml) at sizes a 2-core CPU finishes in under an hour: 64x64 features
#   (hop 512 keeps the 2 s), leave-one-speaker-out (8 folds), seed 1 (SEEDS=..., a seed
#   the recipe search did not use), dim-64 students (depth 3, 4 heads of 16), the teacher
#   at dim 128, depth 4, conv stem at quarter width; every arm with per-speaker
#   normalisation, every training speaker (no validation split), a fixed schedule (30
#   epochs; the CNN and the strong ViT 40) and weight EMA 0.995; every ViT without the
#   LayerNorm on its raw patches (model.patch_norm=false). The CNN (reference_cnn.yaml)
#   and the strong ViT (strong_vit.yaml) add their augmentation; distillation runs from
#   the paper's ViT teacher (distillation.yaml) and from the CNN (distillation_cnn.yaml),
#   30 teacher + 5 feature-matching + 30 fine-tuning epochs. Two single-threaded lanes of
#   studies, one per core (docs/results.md).
#   LEAK=1 adds the leak demonstration (random 4-fold splits of an augmented corpus).
# Every trial lands in ./mlflow.db; the tables come from `ablate compare`.
set -euo pipefail
root=$1
profile=$2
limit=${3:-100000}
phase=${4:-all}  # gpu only: main (four studies at once), patch, seeds, all
ablate=(python3 -m ablate)
epochs=${EPOCHS:-20}  # gpu only: epochs per stage (the paper: 50)

case "$profile" in
gpu)
  seeds=${SEEDS:-0}  # the seeds of every study but the seeds phase
  common=(data.dataset=emodb "data.root=$root" data.n_mels=128 data.frames=128 data.hop_length=256
    protocol.split=loso protocol.max_folds=0 "train.epochs=$epochs" train.lr=5.0e-4
    "optuna.seeds=[$seeds]" data.norm=speaker protocol.val_fraction=0 train.select=last
    train.ema=0.995)
  vit=(model.dim=256 model.depth=3 model.heads=5 model.dim_head=64 model.mlp_dim=512)
  teacher=(distill.teacher.dim=256 distill.teacher.depth=6 distill.teacher.heads=5
    distill.teacher.dim_head=64 distill.teacher.mlp_dim=512 "distill.teacher_epochs=$epochs"
    "distill.feature_epochs=$((epochs / 2))" "distill.finetune_epochs=$epochs")
  ;;
cpu)
  seeds=${SEEDS:-1}  # seed 1: a seed the recipe search did not use
  common=(data.dataset=emodb "data.root=$root" data.n_mels=64 data.frames=64
    data.hop_length=512 data.norm=speaker protocol.split=loso protocol.max_folds=0
    protocol.val_fraction=0 train.select=last train.ema=0.995 train.epochs=30 train.lr=1.0e-3)
  vit=(model.dim=64 model.depth=3 model.heads=4 model.dim_head=16 model.mlp_dim=128
    model.patch_norm=false)
  teacher=(distill.teacher_epochs=30 distill.feature_epochs=5 distill.finetune_epochs=30)
  vit_teacher=(distill.teacher.dim=128 distill.teacher.depth=4 distill.teacher.heads=4
    distill.teacher.dim_head=32 distill.teacher.mlp_dim=256 distill.teacher.stem_args.width=0.25
    distill.teacher.patch_norm=false)
  ;;
*) echo "PROFILE must be gpu or cpu" >&2; exit 2 ;;
esac

run() { timeout --signal=INT "$limit" "${ablate[@]}" run "$@" || true; }
# ONLY="pe_vs_coord distillation": run just these studies (e.g. a study whose space grew,
# for the seeds that already ran the rest)
want() { [ -z "${ONLY:-}" ] || [[ " $ONLY " == *" $1 "* ]]; }

if [ "$profile" = gpu ]; then
  if [ "$phase" = main ] || [ "$phase" = all ]; then
    want pe_vs_coord && run studies/pe_vs_coord.yaml "${common[@]}" "${vit[@]}" --workers 4 > pe_vs_coord.log 2>&1 &
    run studies/presets.yaml "${common[@]}" --workers 3 > presets.log 2>&1 &
    want distillation && run studies/distillation.yaml "${common[@]}" "${vit[@]}" "${teacher[@]}" --workers 5 \
      > distillation.log 2>&1 &
    want pe_vs_coord && run studies/pe_vs_coord.yaml "${common[@]}" "${vit[@]}" protocol.split=random_kfold \
      protocol.folds=8 data.augment=[noise,time_shift] data.augment_copies=2 \
      protocol.augment_before_split=true --run-dir runs/leak --workers 4 > leak.log 2>&1 &
    wait
  fi
  if [ "$phase" = patch ] || [ "$phase" = all ]; then
    want patch_shape && run studies/patch_shape.yaml "${common[@]}" "${vit[@]}" --workers 12 > patch_shape.log 2>&1
  fi
  if [ "$phase" = seeds ] || [ "$phase" = all ]; then
    want pe_vs_coord && run studies/pe_vs_coord.yaml "${common[@]}" "${vit[@]}" "optuna.seeds=[0,1,2]" --workers 4 \
      > seeds.log 2>&1
  fi
else
  # Two lanes of single-threaded studies, one per core, into the same MLflow store.
  one=(train.threads=1 "optuna.seeds=[$seeds]")
  {
    want reference_cnn && run studies/reference_cnn.yaml "${common[@]}" "${one[@]}" train.epochs=40 \
      > reference_cnn.log 2>&1
    want distillation_cnn && run studies/distillation_cnn.yaml "${common[@]}" "${vit[@]}" "${teacher[@]}" "${one[@]}" \
      > distillation_cnn.log 2>&1
    want strong_vit && run studies/strong_vit.yaml "${common[@]}" "${vit[@]}" "${one[@]}" train.epochs=40 \
      > strong_vit.log 2>&1
  } &
  {
    want distillation && run studies/distillation.yaml "${common[@]}" "${vit[@]}" "${teacher[@]}" \
      "${vit_teacher[@]}" "${one[@]}" > distillation.log 2>&1
    want pe_vs_coord && run studies/pe_vs_coord.yaml "${common[@]}" "${vit[@]}" "${one[@]}" > pe_vs_coord.log 2>&1
    want patch_shape && run studies/patch_shape.yaml "${common[@]}" "${vit[@]}" "${one[@]}" > patch_shape.log 2>&1
    if [ "${LEAK:-0}" = 1 ]; then
      want pe_vs_coord && run studies/pe_vs_coord.yaml "${common[@]}" "${vit[@]}" train.threads=1 \
        protocol.split=random_kfold protocol.folds=4 data.augment=[noise,time_shift] \
        data.augment_copies=2 protocol.augment_before_split=true --run-dir runs/leak \
        > leak.log 2>&1
    fi
  } &
  wait
fi
