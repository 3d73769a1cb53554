#!/usr/bin/env bash
# The search behind conf/train.yaml, on validation speakers only: trained on the speakers of
# folds 3..$folds, scored by the EER of every pair of the fold-2 speakers' non-overlapping
# segments; fold 1 (the test speakers of run.sh) is never read. Tables: $exp/<stage>.md/.json/.png
# (committed copies in search/). Each stage varies some keys with the others fixed.

corpus=data/LibriSpeech/train-clean-100
data=data/speakers-search   # segmentations with statistics from folds 3..$folds
exp=exp/speakers-search
folds=5
segment=2.0                 # training segments, every $hop s
hop=1.0
prep_opts="--n-mels 40 --cmn true --kind fbank"
extra_speakers=data/speech_commands  # stages 33-35: a Speech Commands corpus's speakers

. "$(dirname "$0")/../_common/stages.sh" "$@"
prep=(--corpus "$corpus" --folds "$folds" --train-folds $(seq 3 "$folds") $prep_opts)
common=(--config "$recipe_dir/conf/search.yaml" --set data.cache_dir="$data/train/features-fbank"
        --metric eer --eval-folds 2)

stage 1 prepare python "$repo_root/data_prep/speakers.py" "${prep[@]}" --out "$data/train" \
  --segment "$segment" --hop "$hop"
stage 2 prepare_eval python "$repo_root/data_prep/speakers.py" "${prep[@]}" --out "$data/eval2s" \
  --segment 2.0
stage 3 prepare_eval3 python "$repo_root/data_prep/speakers.py" "${prep[@]}" \
  --out "$data/eval3s" --segment 3.0
# thin ResNet, learning rate (scored on 2 s validation segments)
stage 4 resnet_lr audiocs search "${common[@]}" --eval-cache "$data/eval2s/features-fbank" \
  --set model.name=resnet18_thin --set model.kwargs.width=16 --space optim.lr=0.001,0.003 \
  --exp-dir "$exp/spk1" --out "$exp/spk1"
# ECAPA-TDNN (C = 128), SpecAugment (scored on 3 s validation segments, as the test protocol)
stage 5 ecapa_specaugment audiocs search "${common[@]}" --eval-cache "$data/eval3s/features-fbank" \
  --set model.name=ecapa_tdnn --set model.kwargs.channels=128 --set optim.lr=0.003 \
  --space augment.specaugment=false,true --exp-dir "$exp/spk2" --out "$exp/spk2"
# ECAPA-TDNN (C = 128, 15 epochs, no SpecAugment): CS-Softmax's margin and weight update factor,
# then the peer's loss (AAM-softmax, scale 30, margin 0.2) and softmax at the same setup
ecapa=(--eval-cache "$data/eval3s/features-fbank" --set model.name=ecapa_tdnn
       --set model.kwargs.channels=128 --set optim.lr=0.003)
stage 6 ecapa_cs_params audiocs search "${common[@]}" "${ecapa[@]}" \
  --space "loss.margin+loss.params.weight_update=[0.25,0.5],[0.4,0],[0.4,0.5]" \
  --exp-dir "$exp/spk3" --out "$exp/spk3"
stage 7 ecapa_losses audiocs search "${common[@]}" "${ecapa[@]}" \
  --space "loss={name: aam_softmax, scale: 30, margin: 0.2},{name: softmax, scale: null, margin: null}" \
  --exp-dir "$exp/spk4" --out "$exp/spk4"
# 30 epochs against 15 at the chosen setting (the training budget is 15 minutes per model)
stage 8 ecapa_epochs audiocs search "${common[@]}" "${ecapa[@]}" --space train.epochs=15,30 \
  --exp-dir "$exp/spk5" --out "$exp/spk5"

# speed perturbation (0.9 and 1.1 as new speakers; training folds only) against none, 15 epochs,
# two training seeds per point: one validation run moves by more than a point (spk3 against spk5)
stage 9 prepare_speed python "$repo_root/data_prep/speakers.py" "${prep[@]}" \
  --out "$data/train_speed" --segment "$segment" --hop "$hop" --speed 0.9 1.1
# the stages from here on: ECAPA-TDNN as above, two training seeds per point
seeds2=(--config "$recipe_dir/conf/search.yaml" --metric eer --eval-folds 2 "${ecapa[@]}"
        --seeds 0 1)
stage 10 ecapa_speed audiocs search "${seeds2[@]}" \
  --space data.cache_dir="$data/train/features-fbank,$data/train_speed/features-fbank" \
  --exp-dir "$exp/spk6" --out "$exp/spk6"
# SpecAugment (2 frequency and 2 time masks) on the speed-perturbed training data, two seeds;
# against spk6's speed point (SpecAugment off)
stage 11 ecapa_speed_specaugment audiocs search "${seeds2[@]}" \
  --set data.cache_dir="$data/train_speed/features-fbank" --space augment.specaugment=true \
  --exp-dir "$exp/spk7" --out "$exp/spk7"
# six speed factors (0.85-1.15, 900 more training speakers) against spk6's two, for the same
# number of training examples within the 15-minute budget: 6 epochs of seven times the segments
stage 12 prepare_speed6 python "$repo_root/data_prep/speakers.py" "${prep[@]}" \
  --out "$data/train_speed6" --segment "$segment" --hop "$hop" --speed 0.85 0.9 0.95 1.05 1.1 1.15
stage 13 ecapa_speed6 audiocs search "${seeds2[@]}" \
  --set data.cache_dir="$data/train_speed6/features-fbank" --space train.epochs=6 \
  --exp-dir "$exp/spk8" --out "$exp/spk8"
# weight decay 1e-3 against search.yaml's 1e-4, on the speed-perturbed data (two seeds; against spk6)
stage 14 ecapa_speed_wd audiocs search "${seeds2[@]}" \
  --set data.cache_dir="$data/train_speed/features-fbank" --space optim.weight_decay=1.0e-3 \
  --exp-dir "$exp/spk9" --out "$exp/spk9"
# 80 fbank bands (the usual ECAPA-TDNN front-end) against 40, on the speed-perturbed training
# data (two seeds; against spk6's speed point); only the first layer grows
stage 15 prepare_80 bash -c 'python "$0/data_prep/speakers.py" "${@:2}" --n-mels 80 \
  --out "$1/train_speed80" --segment "'"$segment"'" --hop "'"$hop"'" --speed 0.9 1.1 &&
  python "$0/data_prep/speakers.py" "${@:2}" --n-mels 80 --out "$1/eval3s80" --segment 3.0' \
  "$repo_root" "$data" "${prep[@]}"
stage 16 ecapa_speed_80 audiocs search "${seeds2[@]}" --eval-cache "$data/eval3s80/features-fbank" \
  --space data.cache_dir="$data/train_speed80/features-fbank" --exp-dir "$exp/spk10" --out "$exp/spk10"
# a moving average of the weights (train.ema_decay 0.998: over about 500 of the 2,490 steps) on
# the speed-perturbed data (two seeds; against spk6's speed point)
stage 17 ecapa_speed_ema audiocs search "${seeds2[@]}" \
  --set data.cache_dir="$data/train_speed/features-fbank" --space train.ema_decay=0.998 \
  --exp-dir "$exp/spk11" --out "$exp/spk11"
# longer training segments (3 s every 1 s; 80 bands, speed-perturbed as spk10): random 2 s crops
# of them (more positions of the same speech at the same cost a step) and whole 3 s crops (the
# test segments' length); two seeds each, against spk10's 2 s segments
stage 18 prepare_80_3s python "$repo_root/data_prep/speakers.py" "${prep[@]}" --n-mels 80 \
  --out "$data/train_speed80_3s" --segment 3.0 --hop "$hop" --speed 0.9 1.1
stage 19 ecapa_speed_80_3s audiocs search "${seeds2[@]}" --eval-cache "$data/eval3s80/features-fbank" \
  --set data.cache_dir="$data/train_speed80_3s/features-fbank" --space data.crop_frames=200,300 \
  --exp-dir "$exp/spk12" --out "$exp/spk12"
# twice the channels (C = 256, SpeechBrain's and WeSpeaker's small ECAPA-TDNN) in bf16 autocast,
# which on an AVX512-BF16 CPU makes its step about as fast as C = 128 in float32 (so it fits
# the same 15-minute budget); two seeds, against spk10's C = 128 in float32
stage 20 ecapa256_bf16 audiocs search "${seeds2[@]}" --eval-cache "$data/eval3s80/features-fbank" \
  --set data.cache_dir="$data/train_speed80/features-fbank" \
  --space "model.kwargs.channels+train.amp=[256,bf16]" --exp-dir "$exp/spk13" --out "$exp/spk13"
# the learning rate of ECAPA-TDNN itself (3e-3 was chosen with the thin ResNet, stage 4): 1e-3
# and 6e-3 on the 80-band speed-perturbed data, two seeds each, against spk10's 3e-3
stage 21 ecapa_lr audiocs search "${seeds2[@]}" --eval-cache "$data/eval3s80/features-fbank" \
  --set data.cache_dir="$data/train_speed80/features-fbank" --space optim.lr=0.001,0.006 \
  --exp-dir "$exp/spk14" --out "$exp/spk14"
# shorter training segments, the other way from spk12: 1.5 s every 0.75 s (about a third more
# of them, each step a quarter cheaper), whole 1.5 s crops; two seeds, against spk10's 2 s
stage 22 prepare_80_1.5s python "$repo_root/data_prep/speakers.py" "${prep[@]}" --n-mels 80 \
  --out "$data/train_speed80_1.5s" --segment 1.5 --hop 0.75 --speed 0.9 1.1
stage 23 ecapa_speed_80_1.5s audiocs search "${seeds2[@]}" --eval-cache "$data/eval3s80/features-fbank" \
  --set data.cache_dir="$data/train_speed80_1.5s/features-fbank" --space data.crop_frames=150 \
  --exp-dir "$exp/spk15" --out "$exp/spk15"
# a third seed for the recipe's point (spk10) and for the 1.5 s segments (spk15), which two seeds
# left level, then seeds 3 and 4 (runs already made are reused); the two points run side by side
seed_pair() {  # seed_pair SUFFIX SEED...: both points at these seeds (tables spk*_SUFFIX)
  local suffix=$1 p r
  shift
  local s=("${seeds2[@]}" --seeds "$@" --eval-cache "$data/eval3s80/features-fbank")
  audiocs search "${s[@]}" --exp-dir "$exp/spk10" --out "$exp/spk10_$suffix" \
    --space data.cache_dir="$data/train_speed80/features-fbank" & p=$!
  audiocs search "${s[@]}" --exp-dir "$exp/spk15" --out "$exp/spk15_$suffix" --space data.crop_frames=150 \
    --set data.cache_dir="$data/train_speed80_1.5s/features-fbank"
  r=$?; wait $p && return $r
}
stage 24 three_seeds seed_pair 3seeds 0 1 2
stage 25 five_seeds seed_pair 5seeds 0 1 2 3 4
# on the 1.5 s segments, three seeds a point, against spk15_5seeds' seeds 0-2: 20 epochs in
# place of 15 (about 12 minutes a model on the recipe's data, inside its 15-minute budget), then
# SpeechBrain's and WeSpeaker's embedding size, 192 in place of 128
seg15=("${seeds2[@]}" --seeds 0 1 2 --eval-cache "$data/eval3s80/features-fbank"
       --set data.cache_dir="$data/train_speed80_1.5s/features-fbank" --set data.crop_frames=150)
stage 26 ecapa_1.5s_epochs audiocs search "${seg15[@]}" --space train.epochs=20 \
  --exp-dir "$exp/spk16" --out "$exp/spk16"
stage 27 ecapa_1.5s_embed192 audiocs search "${seg15[@]}" --space model.embed_dim=192 \
  --exp-dir "$exp/spk17" --out "$exp/spk17"
# the scoring back-end, on the five validation models of spk15_5seeds (no training): cosine and
# AS-norm (top 100), each alone and after WCCN fitted on the training speakers' 3 s segments
# (shrinkage towards the identity 0.25-1; 1 only centres); the cohort is the same segments
embed_valid() {  # embed_valid RUN: the validation speakers' 3 s segments into RUN/backend/valid
  audiocs embed --exp-dir "$1" --cache "$data/eval3s80/features-fbank" --out "$1/backend/valid" \
    --folds 2
}
embed_train() {  # embed_train RUN: the original training segments into RUN/backend/train
  audiocs embed --exp-dir "$1" --cache "$data/train_speed80_1.5s/features-fbank" \
    --out "$1/backend/train" --folds $(seq 3 "$folds") --originals
}
backend() {  # backend RUN: embed the validation and cohort segments, score every back-end
  local b=$1/backend cache=$data/eval3s80/features-fbank a n
  embed_valid "$1" &&
  audiocs embed --exp-dir "$1" --cache "$cache" --out "$b/cohort" --folds $(seq 3 "$folds") &&
  audiocs trials --embeddings "$b/valid" --out "$b/trials.txt" --by speaker || return
  local as=(--cohort "$b/cohort" --norm asnorm --top-k 100)
  for n in cosine asnorm; do
    local opts=(); [ $n = asnorm ] && opts=("${as[@]}")
    audiocs score --embeddings "$b/valid" --trials "$b/trials.txt" "${opts[@]}" --no-plots \
      --out "$b/$n" || return
    for a in 0.25 0.5 0.75 1; do
      audiocs score --embeddings "$b/valid" --trials "$b/trials.txt" "${opts[@]}" --no-plots \
        --wccn "$b/cohort" --wccn-shrink $a --out "$b/wccn$a+$n" || return
    done
  done
}
backend_table() {  # backend_table TABLE RUN...: $exp/TABLE.md over every back-end scored so far
  python "$recipe_dir/../_common/variants_table.py" --out "$exp/$1" --sub backend --key eer \
    --scale 100 --digits 2 --lower --also min_dcf_0.01 --title "Scoring back-ends: EER %" "${@:2}"
}
over_runs() {  # over_runs FUNC TABLE RUN...: FUNC on every run, then the table $exp/TABLE.md
  local r
  for r in "${@:3}"; do "$1" "$r" || return; done
  backend_table "${@:2}"
}
stage 28 backends over_runs backend backend "$exp"/spk15/crop_frames150_*_seed[0-4]
# WCCN fitted on the training segments themselves (1.5 s, the originals of folds 3..$folds, not
# their speed-perturbed copies: 2,447 rows against the 627 3 s segments), then AS-norm as above
backend_train() {  # backend_train RUN: embed the training segments, score with WCCN fitted on them
  local b=$1/backend a
  embed_train "$1" || return
  for a in 0.1 0.25 0.5; do
    audiocs score --embeddings "$b/valid" --trials "$b/trials.txt" --cohort "$b/cohort" \
      --norm asnorm --top-k 100 --no-plots --wccn "$b/train" --wccn-shrink $a \
      --out "$b/wccn_train$a+asnorm" || return
  done
}
stage 29 backends_train over_runs backend_train backend "$exp"/spk15/crop_frames150_*_seed[0-4]
# CS-Softmax's margin 0.35 in place of the spec's 0.25 on the 1.5 s segments, three seeds (against
# spk15_5seeds' seeds 0-2): tighter speaker classes, the within-speaker spread that WCCN removes
stage 30 ecapa_1.5s_margin035 audiocs search "${seg15[@]}" --space loss.margin=0.35 \
  --exp-dir "$exp/spk18" --out "$exp/spk18"
# stage 30's models with every back-end of stages 28-29 (compare with backend.md's models 1-3)
both_backends() { backend "$1" && backend_train "$1"; }  # both_backends RUN
stage 31 margin035_backends over_runs both_backends spk18_backend "$exp"/spk18/margin0.35_*_seed[0-2]
# large-margin fine-tuning: spk15_5seeds' models of seeds 0-2 trained on for 3 more epochs on 3 s
# segments (every 1 s, with the speed-perturbed copies; the test segments' length) with
# CS-Softmax's margin 0.4 in place of 0.25 and AdamW 3e-4 decaying to 1e-5 (`train.init_from`:
# their weights and input scaling, a fresh optimizer; no validation rows, so the last epoch is
# kept: the original models already classify all of them); every back-end of stages 28-29
lmft() {  # lmft RUN: fine-tune RUN into RUN/lmft, then score it with every back-end
  audiocs train --config "$1/config.yaml" --set train.init_from="$1" \
    --set data.cache_dir="$data/train_speed80_3s/features-fbank" --set data.crop_frames=300 \
    --set loss.margin=0.4 --set optim.lr=3e-4 --set train.epochs=3 \
    --set data.valid_split=folds --exp-dir "$1/lmft" \
    --resume && both_backends "$1/lmft"
}
lmft_runs() {  # lmft_runs RUN...: lmft on every run, then the table of the fine-tuned models
  local r
  for r in "$@"; do lmft "$r" || return; done
  backend_table lmft_backend "${@/%//lmft}"
}
stage 32 lmft lmft_runs "$exp"/spk15/crop_frames150_*_seed[0-2]
# other voices: the speakers of a Speech Commands corpus (`extra_speakers`; 41 speakers, 300 clips
# of 1 s in the shared sample) as training speakers of every fold (fold 0), with their speed-
# perturbed copies, on the 1.5 s segments; three seeds (against spk15_5seeds' seeds 0-2), scored
# with every back-end of stages 28-29 (WCCN still fitted on the LibriSpeech training segments)
stage 33 prepare_extra python "$repo_root/data_prep/speakers.py" "${prep[@]}" --n-mels 80 \
  --out "$data/train_speed80_1.5s_extra" --segment 1.5 --hop 0.75 --speed 0.9 1.1 \
  --extra-speakers "$extra_speakers"
stage 34 ecapa_extra audiocs search "${seg15[@]}" --set data.train_folds=[] \
  --space data.cache_dir="$data/train_speed80_1.5s_extra/features-fbank" \
  --exp-dir "$exp/spk19" --out "$exp/spk19"
stage 35 extra_backends over_runs both_backends spk19_backend "$exp"/spk19/cache_dir_*_seed[0-2]
# noise: one noisy copy of each training segment (white, pink or brown noise at 5-20 dB SNR, the
# same speaker; not of the speed-perturbed copies: a third more training segments and steps), on
# the 1.5 s segments; two seeds (against spk15_5seeds' seeds 0-1), scored with every back-end of stages 28-29. A noisy copy of a segment drawn for the
# checkpoint's validation rows is not trained on (`copy_of`).
stage 36 prepare_noise python "$repo_root/data_prep/speakers.py" "${prep[@]}" --n-mels 80 \
  --out "$data/train_speed80_1.5s_noise" --segment 1.5 --hop 0.75 --speed 0.9 1.1 --noise 5 20
stage 37 ecapa_noise audiocs search "${seg15[@]}" --seeds 0 1 \
  --space data.cache_dir="$data/train_speed80_1.5s_noise/features-fbank" \
  --exp-dir "$exp/spk20" --out "$exp/spk20"
stage 38 noise_backends over_runs both_backends spk20_backend "$exp"/spk20/cache_dir_*_seed[0-1]
# the AS-norm cohort's members: one per training speaker (the mean of its unit-length embeddings,
# `--cohort-by speaker`, as WeSpeaker's score normalization) in place of one per segment, from
# the 3 s segments or from the 1.5 s training segments, top 25, 50 or 100 of the 150 speakers;
# after WCCN on the training segments (the recipe's back-end, stages 28-29), on the recipe's
# validation models of seeds 0-1 (stage 23, whose back-ends stage 28-29 score first)
backend_cohort() {  # backend_cohort RUN: speaker-mean cohorts, on RUN/backend's embeddings
  local b=$1/backend c k
  for c in cohort train; do
    for k in 25 50 100; do
      audiocs score --embeddings "$b/valid" --trials "$b/trials.txt" --no-plots --norm asnorm \
        --cohort "$b/$c" --cohort-by speaker --top-k $k --wccn "$b/train" --wccn-shrink 0.25 \
        --out "$b/wccn_train0.25+asnorm_${c}_speakers$k" || return
    done
  done
}
both_cohorts() { both_backends "$1" && backend_cohort "$1"; }  # both_cohorts RUN
stage 39 cohort_speakers over_runs both_cohorts backend_cohort "$exp"/spk15/crop_frames150_*_seed[0-1]
# two models in one system (embeddings fused, `audiocs fuse`: each member's unit-length embedding,
# concatenated, so a cosine score is the mean of the members' scores): members of 10 epochs, so
# that both train inside the 15-minute budget of one model; four seeds on the 1.5 s segments,
# fused in pairs (seeds 0+1 and 2+3) in stage 41
stage 40 ecapa_1.5s_epochs10 audiocs search "${seg15[@]}" --seeds 0 1 2 3 --space train.epochs=10 \
  --exp-dir "$exp/spk21" --out "$exp/spk21"
# stage 40's models, each alone and fused in pairs (`audiocs fuse`), scored with cosine and with
# the recipe's back-end (WCCN on the training segments, shrinkage 0.25, then AS-norm against the
# training speakers' means, top 100; stage 39); against backend_cohort.md's 15-epoch models
recipe_backend() {  # recipe_backend RUN: trials of RUN/backend/valid, cosine and the recipe's back-end
  local b=$1/backend
  audiocs trials --embeddings "$b/valid" --out "$b/trials.txt" --by speaker &&
  audiocs score --embeddings "$b/valid" --trials "$b/trials.txt" --no-plots --out "$b/cosine" &&
  audiocs score --embeddings "$b/valid" --trials "$b/trials.txt" --no-plots --norm asnorm \
    --cohort "$b/train" --cohort-by speaker --top-k 100 --wccn "$b/train" --wccn-shrink 0.25 \
    --out "$b/wccn_train0.25+asnorm_train_speakers100"
}
member_backend() {  # member_backend RUN: embed the validation and training segments, score them
  embed_valid "$1" && embed_train "$1" && recipe_backend "$1"
}
fused_backend() {  # fused_backend OUT RUN...: the runs' embeddings fused into OUT/backend, scored
  local out=$1 s
  shift
  for s in valid train; do
    audiocs fuse --embeddings "${@/%//backend/$s}" --out "$out/backend/$s" || return
  done
  recipe_backend "$out"
}
fusion() {  # every member alone, then the pairs of seeds 0+1 and 2+3 (tables spk21_members, _fused)
  local r=("$exp"/spk21/epochs10_*_seed[0-3])
  [ ${#r[@]} = 4 ] || { echo "expected 4 runs of stage 40, found ${#r[@]}" >&2; return 1; }
  over_runs member_backend spk21_members "${r[@]}" &&
  fused_backend "$exp/spk21/fused_seed0+1" "${r[0]}" "${r[1]}" &&
  fused_backend "$exp/spk21/fused_seed2+3" "${r[2]}" "${r[3]}" &&
  backend_table spk21_fused "$exp/spk21/fused_seed0+1" "$exp/spk21/fused_seed2+3"
}
stage 41 fusion fusion
