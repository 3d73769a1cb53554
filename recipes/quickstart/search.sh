#!/usr/bin/env bash
# The searches behind `audiocs quickstart`'s training config (audiocs/quickstart.py), on the
# generated ESC-50-like corpus: folds 1-3 train, fold 4 validates, fold 5 (the quickstart's test
# fold) is never read. Stage by stage, each loss with the same space:
#   1 seeded random search (10 of 96 points) over lr, epochs, batch, SpecAugment, mixup, ramp
#   2 corpus size and crop length with the epochs that fit the time budget
#   3 model width and epochs on the larger corpus (softmax)
#   4 CS-Softmax's (scale, margin, weight_update) at the chosen training setup
#   5 25 epochs for both losses (the 3-minute budget)
#   6 frequency warping (augment.freq_warp) at that setup, both losses
#   7 epochs with frequency warping 0.2, both losses
# plus local/classifier_init.py (the class weights' initial norm, CS-Softmax).

exp=exp/quickstart-search
seed=0

. "$(dirname "$0")/../_common/stages.sh" "$@"
base=(--config "$recipe_dir/conf/search.yaml")
q40=$exp/corpus40/prep/features-logmel q80=$exp/corpus80/prep/features-logmel
make_corpus() {  # make_corpus OUT CLIPS: generated corpus + ESC-50 manifest + log-mel cache
  python - "$1" "$2" "$seed" <<'PY'
import sys
from pathlib import Path
from audiocs.cache_build import build_cache
from audiocs.features import FeatureSettings
from audiocs.prep import prepare_esc50
from audiocs.synthetic import generate_esc50_like
out, clips, seed = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
generate_esc50_like(out / "corpus", clips_per_class=clips, seed=seed, duration=4.0, workers=2)
build_cache(prepare_esc50(out / "corpus", out / "prep"), out / "prep" / "features-logmel",
            FeatureSettings(), workers=2, train_folds=[1, 2, 3, 4])
PY
}
stage 1 corpus40 make_corpus "$exp/corpus40" 40
stage 2 corpus80 make_corpus "$exp/corpus80" 80
for loss in cs_softmax softmax; do
  stage 3 "random_$loss" audiocs search "${base[@]}" --set data.cache_dir="$q40" \
    --set loss.name=$loss --space optim.lr=0.003,0.01,0.02 --space train.epochs=30,45 \
    --space data.batch_size=16,32 --space augment.specaugment=true,false \
    --space augment.mixup_alpha=0,0.2 --space margin_schedule.ramp_epochs=0,5 --trials 10 \
    --sample-seed 0 --exp-dir "$exp/qs_$loss" --out "$exp/qs_$loss"
done
fixed=(--set optim.lr=0.003 --set data.batch_size=32 --set augment.specaugment=true
       --set augment.mixup_alpha=0)
for loss in softmax cs_softmax; do
  stage 4 "corpus_crop_$loss" audiocs search "${base[@]}" "${fixed[@]}" --set loss.name=$loss \
    --space "data.cache_dir+data.crop_frames+train.epochs=[$q40,128,40],[$q40,400,14],[$q80,128,20],[$q80,256,10]" \
    --exp-dir "$exp/qs2_$loss" --out "$exp/qs2_$loss"
done
# width and epochs, softmax only (its point at width 12 and 30 epochs is over the time budget)
stage 5 width_epochs_softmax audiocs search "${base[@]}" "${fixed[@]}" --set loss.name=softmax \
  --set data.cache_dir="$q80" --set data.crop_frames=128 --space train.epochs=20,30 \
  --space model.kwargs.width=8,12 --exp-dir "$exp/qs3_softmax" --out "$exp/qs3_softmax"
stage 6 cs_params audiocs search "${base[@]}" "${fixed[@]}" --set loss.name=cs_softmax \
  --set data.cache_dir="$q80" --set data.crop_frames=128 --set train.epochs=20 \
  --space "loss.scale+loss.margin+loss.params.weight_update=[30,0.25,0.5],[30,0.4,0],[30,0.4,0.5],[16,0.25,0.5]" \
  --exp-dir "$exp/qs4_cs_softmax" --out "$exp/qs4_cs_softmax"
# 25 epochs, the time budget's limit (CS-Softmax at the values of stage 6)
stage 7 epochs25_softmax audiocs search "${base[@]}" "${fixed[@]}" --set loss.name=softmax \
  --set data.cache_dir="$q80" --set data.crop_frames=128 --set model.kwargs.width=8 \
  --space train.epochs=25 --exp-dir "$exp/qs5_softmax" --out "$exp/qs5_softmax"
stage 8 epochs25_cs_softmax audiocs search "${base[@]}" "${fixed[@]}" --set loss.name=cs_softmax \
  --set loss.scale=30 --set loss.margin=0.4 --set loss.params.weight_update=0 \
  --set data.cache_dir="$q80" --set data.crop_frames=128 --set model.kwargs.width=8 \
  --space train.epochs=25,30 --exp-dir "$exp/qs5_cs_softmax" --out "$exp/qs5_cs_softmax"
stage 9 classifier_init python "$recipe_dir/local/classifier_init.py" --cache "$q40" \
  --exp-dir "$exp/classifier_init" --out "$exp/classifier_init.md"
# stages 10-11: the same search for both losses (CS-Softmax at the values of stage 6), at the
# setup of stages 7-8
cs_values=(--set loss.scale=30 --set loss.margin=0.4 --set loss.params.weight_update=0)
setup=(--set data.cache_dir="$q80" --set data.crop_frames=128 --set model.kwargs.width=8)
both_losses() {  # both_losses STAGE NAME EXP_PREFIX ARGS...
  local n=$1 name=$2 prefix=$3 loss extra
  shift 3
  for loss in softmax cs_softmax; do
    extra=(); [ $loss = cs_softmax ] && extra=("${cs_values[@]}")
    stage "$n" "${name}_$loss" audiocs search "${base[@]}" "${fixed[@]}" --set loss.name=$loss \
      "${extra[@]}" "${setup[@]}" "$@" --exp-dir "$exp/${prefix}_$loss" --out "$exp/${prefix}_$loss"
  done
}
both_losses 10 freq_warp qs6 --set train.epochs=25 --space augment.freq_warp=0,0.1,0.2
both_losses 11 epochs_warp qs7 --set augment.freq_warp=0.2 --space train.epochs=25,40,50
