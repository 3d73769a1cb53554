#!/usr/bin/env bash
# Speaker verification on speaker folders (VoxCeleb layout: root/<speaker>/**/*.wav) or LibriSpeech
# ({speaker}-{chapter}-{utt}.flac): whole speakers dealt into $folds folds; the model is trained
# on overlapping segments ($segment s every $hop s) of folds 2..$folds and verified on
# non-overlapping $test_segment s segments of the unseen speakers of fold 1: cosine scoring,
# AS-norm against the training speakers' segments, and WCCN fitted on the training segments
# before AS-norm. Both segmentations deal the speakers into the same folds; normalization statistics
# come from the training folds only. Outputs: $exp/scores{,_asnorm,_wccn_asnorm}/metrics.json
# (EER, minDCF), DET plots, and $exp/report.html with all three beside the training curves.
# With several $seeds, one model is trained per seed ($exp/model-seed<s>) and each clip's embedding
# is the fusion of theirs (`audiocs fuse`: a cosine score is the mean of the models' scores).

corpus=data/LibriSpeech/train-clean-100   # speaker folders or LibriSpeech
data=data/speakers          # manifest.csv, segments/ and the feature cache
exp=exp/speakers            # experiments, stage markers and logs
config=conf/train.yaml      # training config (relative to this recipe)
folds=5                     # speaker-disjoint folds; fold 1 is the test set
segment=1.5                 # seconds per training segment
hop=0.75                    # hop of the training segments
test_segment=3.0            # seconds per test segment (test segments do not overlap)
kind=fbank                  # front-end: fbank | logmel
prep_opts="--n-mels 80 --cmn true"  # extra data_prep/speakers.py options
speed="0.9 1.1"             # speed perturbation factors of the training speakers ("": none)
extra_speakers=""           # another speaker corpus (e.g. Speech Commands): training speakers
seeds="0 1"                 # training seeds, one model each, embeddings fused ("": one model,
                            # the config's seed, in $exp/model)
noise=""                    # "LOW HIGH": a noisy copy of every training segment at an SNR drawn
                            # from LOW..HIGH dB (data_prep/speakers.py --noise); "": none

. "$(dirname "$0")/../_common/stages.sh" "$@"
train_cache=$data/train/features-$kind eval_cache=$data/eval/features-$kind
prep=(--corpus "$corpus" --folds "$folds" --kind "$kind" --train-folds $(seq 2 "$folds"))

speed_opts=(); if [ -n "$speed" ]; then speed_opts=(--speed $speed); fi  # training segments only
if [ -n "$extra_speakers" ]; then speed_opts+=(--extra-speakers "$extra_speakers"); fi  # fold 0
if [ -n "$noise" ]; then speed_opts+=(--noise $noise); fi  # training segments only
stage 1 prepare python "$repo_root/data_prep/speakers.py" "${prep[@]}" --out "$data/train" \
  --segment "$segment" --hop "$hop" "${speed_opts[@]}" $prep_opts
stage 2 prepare_eval python "$repo_root/data_prep/speakers.py" "${prep[@]}" --out "$data/eval" \
  --segment "$test_segment" $prep_opts
seed_list=($seeds) models=("$exp/model")
if [ -n "$seeds" ]; then models=("${seed_list[@]/#/$exp/model-seed}"); fi
train_models() {  # the model, or one model per seed of $seeds; resumable
  local i seed_set
  for i in "${!models[@]}"; do
    seed_set=(); if [ -n "$seeds" ]; then seed_set=(--set "train.seed=${seed_list[i]}"); fi
    audiocs train --config "$(conf "$config")" --set data.cache_dir="$train_cache" "${set_args[@]}" \
      "${seed_set[@]}" --fold 1 --exp-dir "${models[i]}" --resume || return
  done
}
embed_models() {  # embed_models OUT ARGS...: `audiocs embed ARGS` of the model into OUT, or of each
  local out=$1 i parts=()  # model (into OUT's folder/<model>/) and their fusion into OUT
  shift
  if [ ${#models[@]} = 1 ]; then audiocs embed --exp-dir "${models[0]}" --out "$out" "$@"; return; fi
  for i in "${!models[@]}"; do
    parts+=("$(dirname "$out")/$(basename "${models[i]}")/$(basename "$out")")
    audiocs embed --exp-dir "${models[i]}" --out "${parts[i]}" "$@" || return
  done
  audiocs fuse --embeddings "${parts[@]}" --out "$out"
}
stage 3 train train_models
stage 4 embed_test embed_models "$exp/embeddings/test" --cache "$eval_cache" --folds 1
stage 5 embed_cohort embed_models "$exp/embeddings/cohort" --cache "$eval_cache" --folds $(seq 2 "$folds")
stage 6 trials audiocs trials --embeddings "$exp/embeddings/test" --out "$exp/trials.txt" \
  --by speaker
stage 7 score audiocs score --embeddings "$exp/embeddings/test" --trials "$exp/trials.txt" \
  --out "$exp/scores" --by speaker
stage 8 score_asnorm audiocs score --embeddings "$exp/embeddings/test" \
  --trials "$exp/trials.txt" --cohort "$exp/embeddings/cohort" --norm asnorm --top-k 100 \
  --out "$exp/scores_asnorm"
# WCCN fitted on the training segments (not their speed-perturbed copies), then AS-norm against
# the training speakers (each the mean embedding of its training segments): the back-end that
# search.sh chose on the validation speakers (stages 28-29 and 39)
stage 9 embed_train embed_models "$exp/embeddings/train" --cache "$train_cache" \
  --folds $(seq 2 "$folds") --originals
stage 10 score_wccn_asnorm audiocs score --embeddings "$exp/embeddings/test" \
  --trials "$exp/trials.txt" --wccn "$exp/embeddings/train" --wccn-shrink 0.25 \
  --cohort "$exp/embeddings/train" --cohort-by speaker --norm asnorm --top-k 100 \
  --out "$exp/scores_wccn_asnorm"
stage 11 report audiocs report "${models[0]}" "${models[0]}" "${models[0]}" \
  --names cosine as-norm wccn+as-norm \
  --scores "$exp/scores" "$exp/scores_asnorm" "$exp/scores_wccn_asnorm" --out "$exp/report.html"
