#!/usr/bin/env bash
# Speaker verification on speaker folders (VoxCeleb layout: root/<speaker>/**/*.wav) or LibriSpeech
# ({speaker}-{chapter}-{utt}.flac): whole speakers dealt into $folds folds; the model is trained
# on overlapping segments ($segment s every $hop s) of folds 2..$folds and verified on
# non-overlapping $test_segment s segments of the unseen speakers of fold 1: cosine scoring,
# AS-norm against the training speakers' segments, and WCCN fitted on the training segments
# before AS-norm. Both segmentations deal the speakers into the same folds; normalization statistics
# come from the training folds only. Outputs: $exp/scores{,_asnorm,_wccn_asnorm}/metrics.json
# (EER, minDCF), DET plots, and $exp/report.html with all three beside the training curves.

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
stage 3 train audiocs train --config "$(conf "$config")" --set data.cache_dir="$train_cache" \
  "${set_args[@]}" --fold 1 --exp-dir "$exp/model" --resume
stage 4 embed_test audiocs embed --exp-dir "$exp/model" --cache "$eval_cache" \
  --out "$exp/embeddings/test" --folds 1
stage 5 embed_cohort audiocs embed --exp-dir "$exp/model" --cache "$eval_cache" \
  --out "$exp/embeddings/cohort" --folds $(seq 2 "$folds")
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
stage 9 embed_train audiocs embed --exp-dir "$exp/model" --cache "$train_cache" \
  --out "$exp/embeddings/train" --folds $(seq 2 "$folds") --originals
stage 10 score_wccn_asnorm audiocs score --embeddings "$exp/embeddings/test" \
  --trials "$exp/trials.txt" --wccn "$exp/embeddings/train" --wccn-shrink 0.25 \
  --cohort "$exp/embeddings/train" --cohort-by speaker --norm asnorm --top-k 100 \
  --out "$exp/scores_wccn_asnorm"
stage 11 report audiocs report "$exp/model" "$exp/model" "$exp/model" \
  --names cosine as-norm wccn+as-norm \
  --scores "$exp/scores" "$exp/scores_asnorm" "$exp/scores_wccn_asnorm" --out "$exp/report.html"
