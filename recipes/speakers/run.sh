#!/usr/bin/env bash
# Speaker verification on speaker folders (VoxCeleb layout: root/<speaker>/**/*.wav) or LibriSpeech
# ({speaker}-{chapter}-{utt}.flac): utterances cut into segments, whole speakers dealt into
# $folds folds; the model is trained on folds 2..$folds and verified on the unseen speakers of
# fold 1 (cosine scoring, then AS-norm against the training speakers' embeddings).
# Outputs: $exp/scores/metrics.json and $exp/scores_asnorm/metrics.json (EER, minDCF), DET plots.

corpus=data/LibriSpeech/train-clean-100   # speaker folders or LibriSpeech
data=data/speakers          # manifest.csv, segments/ and the feature cache
exp=exp/speakers            # experiments, stage markers and logs
config=conf/train.yaml      # training config (relative to this recipe)
folds=5                     # speaker-disjoint folds; fold 1 is the test set
segment=3.0                 # seconds per training/test segment
kind=fbank                  # front-end: fbank | logmel
prep_opts="--n-mels 40"     # extra data_prep/speakers.py options

. "$(dirname "$0")/../_common/stages.sh" "$@"
cache=$data/features-$kind

stage 1 prepare python "$repo_root/data_prep/speakers.py" --corpus "$corpus" --out "$data" \
  --folds "$folds" --segment "$segment" --kind "$kind" $prep_opts
stage 2 train audiocs train --config "$(conf "$config")" --set data.cache_dir="$cache" \
  "${set_args[@]}" --fold 1 --exp-dir "$exp/model" --resume
stage 3 embed_test audiocs embed --exp-dir "$exp/model" --cache "$cache" \
  --out "$exp/embeddings/test" --folds 1
stage 4 embed_cohort audiocs embed --exp-dir "$exp/model" --cache "$cache" \
  --out "$exp/embeddings/cohort" --folds $(seq 2 "$folds")
stage 5 trials audiocs trials --embeddings "$exp/embeddings/test" --out "$exp/trials.txt" \
  --by speaker
stage 6 score audiocs score --embeddings "$exp/embeddings/test" --trials "$exp/trials.txt" \
  --out "$exp/scores" --by speaker
stage 7 score_asnorm audiocs score --embeddings "$exp/embeddings/test" \
  --trials "$exp/trials.txt" --cohort "$exp/embeddings/cohort" --norm asnorm --top-k 100 \
  --out "$exp/scores_asnorm"
