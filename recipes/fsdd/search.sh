#!/usr/bin/env bash
# The search behind conf/train.yaml: FSDD digits, speaker-independent, one outer fold per
# speaker. In fold k the speaker before k is the validation set and the other four train, and
# each fold's setting is chosen on its validation speaker before its test speaker is read
# (nested cross-validation table at the end of each table). Both losses search the same space.

corpus=data/fsdd
data=data/fsdd-search
exp=exp/fsdd-search
prep_opts="--cmn true --hop-length 80 --win-length 200 --n-fft 256 --n-mels 40"
extra=data/speech_commands   # a Speech Commands corpus (stages 21-22: its digit words)

. "$(dirname "$0")/../_common/stages.sh" "$@"
export E=$exp
common=(--config "$recipe_dir/conf/search.yaml" --set data.cache_dir="$data/features-logmel"
        --set train.epochs=20 --folds 1 2 3 4 5 6)

stage 1 prepare python "$repo_root/data_prep/fsdd.py" --corpus "$corpus" --out "$data" \
  --task digits $prep_opts
stage 2 search_cs_softmax audiocs search "${common[@]}" --set loss.name=cs_softmax \
  --space "model.kwargs={width: 8, dropout: 0.1},{width: 16, dropout: 0.1}" \
  --exp-dir "$exp/cs_softmax" --out "$exp/cs_softmax"
stage 3 search_softmax audiocs search "${common[@]}" --set loss.name=softmax \
  --set loss.scale=null --set loss.margin=null \
  --space "model.kwargs={width: 8, dropout: 0.1},{width: 16, dropout: 0.1}" \
  --exp-dir "$exp/softmax" --out "$exp/softmax"
# the same runs read back per width (cached, no training): leave-one-speaker-out at one width
stage 4 tables_by_width bash -c 'for w in 8 16; do for loss in cs_softmax softmax; do
  extra=(); [ $loss = softmax ] && extra=(--set loss.scale=null --set loss.margin=null)
  audiocs search "$@" --set loss.name=$loss "${extra[@]}" \
    --space "model.kwargs={width: $w, dropout: 0.1}" --exp-dir "$E/$loss" --out "$E/${loss}_w$w"
done; done' _ "${common[@]}"
# frequency warping (augment.freq_warp) at width 8, CS-Softmax, every outer fold
stage 5 freq_warp audiocs search "${common[@]}" --set loss.name=cs_softmax \
  --set "model.kwargs={width: 8, dropout: 0.1}" --space augment.freq_warp=0,0.1,0.2 \
  --exp-dir "$exp/warp_w8" --out "$exp/warp_w8"
# ECAPA-TDNN (C = 128) in place of vgg_small: the speaker recipe's backbone, same training
stage 6 ecapa audiocs search "${common[@]}" --set loss.name=cs_softmax --set model.name=ecapa_tdnn \
  --space "model.kwargs={channels: 128}" --exp-dir "$exp/ecapa" --out "$exp/ecapa"
# mel bands: fewer, wider bands smooth out the pitch harmonics that tell speakers apart (width 8,
# CS-Softmax, every outer fold; 40 bands is the recipe's front-end)
stage 7 prepare_bands bash -c 'for m in 23 32; do
  python "$0/data_prep/fsdd.py" --corpus "$1" --out "$2-mels$m" --task digits $3 --n-mels $m
done' "$repo_root" "$corpus" "$data" "$prep_opts"
w8=(--set loss.name=cs_softmax --set "model.kwargs={width: 8, dropout: 0.1}")
bands=(--space "data.cache_dir=$data-mels23/features-logmel,$data-mels32/features-logmel,$data/features-logmel"
       --exp-dir "$exp/bands_w8")
stage 8 mel_bands audiocs search "${common[@]}" "${w8[@]}" "${bands[@]}" --out "$exp/bands_w8"
# mixup and twice the epochs, each against stage 8's 40-band point (width 8, CS-Softmax)
mixup=(--space augment.mixup_alpha=0.2 --exp-dir "$exp/mixup_w8")
epochs=(--space train.epochs=40 --exp-dir "$exp/epochs_w8")
stage 9 mixup audiocs search "${common[@]}" "${w8[@]}" "${mixup[@]}" --out "$exp/mixup_w8"
stage 10 epochs audiocs search "${common[@]}" "${w8[@]}" "${epochs[@]}" --out "$exp/epochs_w8"
# a moving average of the weights (train.ema_decay: over about 100 and 200 of the 1,240 steps),
# against stage 8's 40-band point (width 8, CS-Softmax)
ema=(--space train.ema_decay=0.99,0.995 --exp-dir "$exp/ema_w8")
stage 11 ema audiocs search "${common[@]}" "${w8[@]}" "${ema[@]}" --out "$exp/ema_w8"
# stages 8-11 read back (no training) by the last epoch's validation accuracy: run.sh's
# leave-one-speaker-out stage keeps the last epoch, not the best
last=(--metric last_valid_acc "${common[@]}" "${w8[@]}")
stage 12 bands_last audiocs search "${last[@]}" "${bands[@]}" --out "$exp/bands_w8_last"
stage 13 mixup_last audiocs search "${last[@]}" "${mixup[@]}" --out "$exp/mixup_w8_last"
stage 14 epochs_last audiocs search "${last[@]}" "${epochs[@]}" --out "$exp/epochs_w8_last"
stage 15 ema_last audiocs search "${last[@]}" "${ema[@]}" --out "$exp/ema_w8_last"
# the two winners of stages 12 and 15 together: 32 bands and train.ema_decay 0.99
stage 16 bands32_ema audiocs search "${last[@]}" --set train.ema_decay=0.99 \
  --space "data.cache_dir=$data-mels32/features-logmel" --exp-dir "$exp/bands32_ema_w8" \
  --out "$exp/bands32_ema_w8"
# stronger regularization, by the last epoch (width 8, CS-Softmax; against stage 12's 40 bands):
# dropout 0.3 before the embedding, SpecAugment frequency masks of up to 12 bands
stage 17 dropout_last audiocs search "${last[@]}" \
  --space "model.kwargs={width: 8, dropout: 0.3}" --exp-dir "$exp/dropout_w8" --out "$exp/dropout_w8"
stage 18 freqmask_last audiocs search "${last[@]}" --space augment.freq_width=12 \
  --exp-dir "$exp/freqmask_w8" --out "$exp/freqmask_w8"
# speed perturbation (0.9 and 1.1: copies of every speaker's clips, the same digit, training rows
# only; the copies of the validation and test speakers are never read) with the chosen weight
# average 0.99, by the last epoch (width 8, CS-Softmax; against stage 15's 0.99 point)
stage 19 prepare_speed python "$repo_root/data_prep/fsdd.py" --corpus "$corpus" --out "$data-speed" \
  --task digits $prep_opts --speed 0.9 1.1
stage 20 speed_last audiocs search "${last[@]}" --set train.ema_decay=0.99 \
  --space "data.cache_dir=$data-speed/features-logmel" --exp-dir "$exp/speed_ema_w8" \
  --out "$exp/speed_ema_w8"
# other voices: the spoken digits of a Speech Commands corpus (`extra`; 100 clips of 22 speakers
# in the shared sample), cut to their speech, join every fold's training rows and are never
# validated or tested on; with the chosen weight average 0.99, by the last epoch (width 8,
# CS-Softmax; against stage 15's 0.99 point)
stage 21 prepare_extra python "$repo_root/data_prep/fsdd.py" --corpus "$corpus" --out "$data-sc" \
  --task digits $prep_opts --extra-digits "$extra"
stage 22 extra_last audiocs search "${last[@]}" --set train.ema_decay=0.99 \
  --space "data.cache_dir=$data-sc/features-logmel" --exp-dir "$exp/extra_ema_w8" \
  --out "$exp/extra_ema_w8"
# stage 22's comparison again, seeds 0-2 for both points (stage 15's and stage 22's): on one seed
# the two differ on single validation speakers by up to 0.12 either way
stage 23 extra_seeds audiocs search "${last[@]}" --set train.ema_decay=0.99 --seeds 0 1 2 \
  --space "data.cache_dir=$data/features-logmel,$data-sc/features-logmel" \
  --exp-dir "$exp/extra_seeds_w8" --out "$exp/extra_seeds_w8"
# BatchNorm statistics re-estimated on the validation speaker's own recordings (unlabelled, all
# 500 at once; `audiocs evaluate --adapt-bn`) against the training statistics, on stage 11's
# weight-average 0.99 models (width 8, CS-Softmax, last epoch); no training
adapt_valid() {  # adapt_valid TABLE RUN...: each run's validation split both ways, then the table
  local table=$1 r
  shift
  for r in "$@"; do
    audiocs evaluate --exp-dir "$r" --split valid --checkpoint last.pt --no-adapt-bn \
      --out "$r/adapt/training_statistics" &&
    audiocs evaluate --exp-dir "$r" --split valid --checkpoint last.pt --adapt-bn \
      --out "$r/adapt/adapt_bn" || return
  done
  python "$recipe_dir/../_common/variants_table.py" --out "$exp/$table" --sub adapt \
    --key accuracy --also macro_f1 --title "Validation speaker accuracy, last epoch" "$@"
}
stage 24 adapt_bn adapt_valid adapt_bn_w8 "$exp"/ema_w8/ema_decay0.99_*_seed0_fold[1-6]
# an ensemble of three models, seeds 0-2 of one setting with their class cosines averaged
# (`audiocs evaluate` with several experiment folders), against each seed alone; stage 23's
# models (width 8, weight average 0.99, last epoch), with and without the Speech Commands
# digits; no training
# ensemble_valid TABLE "SEEDS" "SIZES" RUN...: for each seed-0 RUN, each seed alone and, for each
# N of SIZES, the first N seeds as one ensemble (in RUN/TABLE/); then the table $exp/TABLE.md
ensemble_valid() {
  local table=$1 seeds=($2) sizes=($3) r s n members
  shift 3
  for r in "$@"; do
    members=()
    for s in "${seeds[@]}"; do
      members+=("${r/_seed0_fold/_seed${s}_fold}")
      audiocs evaluate --exp-dir "${members[-1]}" --split valid --checkpoint last.pt \
        --out "$r/$table/seed$s" || return
    done
    for n in "${sizes[@]}"; do
      audiocs evaluate --exp-dir "${members[@]:0:n}" --split valid --checkpoint last.pt \
        --out "$r/$table/seeds${seeds[0]}-${seeds[n - 1]}" || return
    done
  done
  python "$recipe_dir/../_common/variants_table.py" --out "$exp/$table" --sub "$table" \
    --key accuracy --also macro_f1 --title "Validation speaker accuracy, last epoch" "$@"
}
stage23_runs() {  # stage23_runs with|without: stage 23's seed-0 runs with/without the extra digits
  local r
  for r in "$exp"/extra_seeds_w8/*_seed0_fold[1-6]; do
    case $r in
      *-sc_features-*) if [ "$1" = with ]; then echo "$r"; fi ;;
      *) if [ "$1" = without ]; then echo "$r"; fi ;;
    esac
  done
}
ensemble_both() {  # ensemble_both: seeds 0-2 with the Speech Commands digits, then without
  ensemble_valid ensemble_extra_w8 "0 1 2" 3 $(stage23_runs with) &&
  ensemble_valid ensemble_w8 "0 1 2" 3 $(stage23_runs without)
}
stage 25 ensemble ensemble_both
# five models in place of three: seeds 3 and 4 of the recipe's setting (with the Speech Commands
# digits), then each seed alone, seeds 0-2 and seeds 0-4 as one ensemble each
stage 26 extra_seeds34 audiocs search "${last[@]}" --set train.ema_decay=0.99 --seeds 3 4 \
  --space "data.cache_dir=$data-sc/features-logmel" --exp-dir "$exp/extra_seeds_w8" \
  --out "$exp/extra_seeds34_w8"
stage 27 ensemble5 ensemble_valid ensemble5_extra_w8 "0 1 2 3 4" "3 5" $(stage23_runs with)
# additive noise (one copy of every clip with white, pink or brown noise at an SNR drawn from
# 5-20 dB, the same digit, training rows only; `data_prep/fsdd.py --noise 5 20`) with the
# Speech Commands digits and the weight average 0.99, by the last epoch (width 8, CS-Softmax;
# against stage 23's seeds 0-2 with the Speech Commands digits)
stage 28 prepare_noise python "$repo_root/data_prep/fsdd.py" --corpus "$corpus" \
  --out "$data-sc-noise" --task digits $prep_opts --extra-digits "$extra" --noise 5 20
stage 29 noise_last audiocs search "${last[@]}" --set train.ema_decay=0.99 --seeds 0 1 2 \
  --space "data.cache_dir=$data-sc-noise/features-logmel" --exp-dir "$exp/noise_w8" \
  --out "$exp/noise_w8"
