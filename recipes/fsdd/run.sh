#!/usr/bin/env bash
# Free Spoken Digit Dataset: digit recognition on the conventional split (takes 0-4 test) and
# speaker-independent (leave one speaker out, 6 folds), then closed-set speaker verification
# (speaker model trained on takes 10-49, trials among takes 0-9 of the same 6 speakers).
# Outputs: $exp/digits_split/eval/test/metrics.json, $exp/digits_by_speaker/crossval.md (and
# adapt_bn.md: the same models adapted to each test speaker; ensemble.md: with seeds 1 and 2),
# $exp/speakers/scores/metrics.json (EER, minDCF); $exp/report.html, all three on one page.

corpus=data/fsdd            # the corpus: recordings/{digit}_{speaker}_{index}.wav
download=false              # true: stage 1 downloads FSDD into $corpus first
data=data/fsdd              # manifests and feature caches
exp=exp/fsdd                # experiments, stage markers and logs
config=conf/train.yaml      # training config of both tasks (relative to this recipe)
prep_opts="--cmn true --hop-length 80 --win-length 200 --n-fft 256 --n-mels 40"
extra_digits=""             # a Speech Commands corpus: its digit words join every digits fold's
                            # training rows (search.sh stage 23 chose them); "": FSDD alone
noise=""                    # "LOW HIGH": a noisy training copy of every digits clip at an SNR
                            # drawn from LOW..HIGH dB (data_prep/fsdd.py --noise); "": none
ensemble_seeds="1 2"        # seeds of more leave-one-speaker-out models: with stage 5's, one
                            # ensemble per fold (search.sh stages 25-27 chose three models)

. "$(dirname "$0")/../_common/stages.sh" "$@"
digits=$data/digits/features-logmel split=$data/digits-split speakers=$data/speakers/features-logmel
extra=(); if [ -n "$extra_digits" ]; then extra=(--extra-digits "$extra_digits"); fi
if [ -n "$noise" ]; then extra+=(--noise $noise); fi

stage 1 prepare_digits python "$repo_root/data_prep/fsdd.py" --corpus "$corpus" \
  --out "$data/digits" --task digits $(flag download --download) "${extra[@]}" $prep_opts
stage 2 split python "$recipe_dir/local/conventional_split.py" \
  --manifest "$data/digits/manifest.csv" --cache "$digits" --out "$split"
stage 3 train_split audiocs train --config "$(conf "$config")" \
  --set data.cache_dir="$split/features-logmel" "${set_args[@]}" --fold 1 \
  --exp-dir "$exp/digits_split" --resume
stage 4 evaluate_split audiocs evaluate --exp-dir "$exp/digits_split"
# leave one speaker out: the other five speakers train (the setting was chosen by search.sh on
# validation speakers); no validation rows, so the model is the last epoch's
stage 5 crossval_speakers audiocs crossval --config "$(conf "$config")" \
  --set data.cache_dir="$digits" --set data.valid_split=folds "${set_args[@]}" \
  --exp-dir "$exp/digits_by_speaker"
# the same models, each fold's BatchNorm statistics re-estimated on its test speaker's own
# recordings (unlabelled, all at once; search.sh stage 24 chose it on the validation speakers)
adapt_folds() {  # adapt_folds CROSSVAL_DIR: each fold's test speaker with --adapt-bn, then a table
  local f
  for f in "$1"/fold*; do
    audiocs evaluate --exp-dir "$f" --adapt-bn --out "$f/eval/test_adapt_bn" || return
  done
  python "$repo_root/recipes/_common/variants_table.py" --out "$1/adapt_bn" --sub eval \
    --key accuracy --also macro_f1 --title "Test speaker accuracy" "$1"/fold*
}
stage 6 adapt_bn_speakers adapt_folds "$exp/digits_by_speaker"
# an ensemble per fold: the same setting trained with more seeds, the class cosines of every
# seed's model averaged (audiocs evaluate with several experiment folders)
train_seeds() {  # train_seeds: one crossval folder per seed of $ensemble_seeds
  local s
  for s in $ensemble_seeds; do
    audiocs crossval --config "$(conf "$config")" --set data.cache_dir="$digits" \
      --set data.valid_split=folds "${set_args[@]}" --set train.seed="$s" \
      --exp-dir "$exp/digits_by_speaker_seed$s" || return
  done
}
stage 7 train_seeds train_seeds
ensemble_folds() {  # ensemble_folds CROSSVAL_DIR: each fold's models together, then a table
  local f s members
  for f in "$1"/fold*; do
    members=("$f"); for s in $ensemble_seeds; do members+=("$1_seed$s/$(basename "$f")"); done
    audiocs evaluate --exp-dir "${members[@]}" --out "$f/eval/test_ensemble" || return
  done
  python "$repo_root/recipes/_common/variants_table.py" --out "$1/ensemble" --sub eval \
    --key accuracy --also macro_f1 --title "Test speaker accuracy" "$1"/fold*
}
stage 8 ensemble_speakers ensemble_folds "$exp/digits_by_speaker"
stage 9 prepare_speakers python "$repo_root/data_prep/fsdd.py" --corpus "$corpus" \
  --out "$data/speakers" --task speakers $prep_opts
stage 10 train_speakers audiocs train --config "$(conf "$config")" \
  --set data.cache_dir="$speakers" "${set_args[@]}" --fold 1 --exp-dir "$exp/speakers" --resume
stage 11 embed audiocs embed --exp-dir "$exp/speakers" --cache "$speakers" \
  --out "$exp/speakers/embeddings" --folds 1
stage 12 trials audiocs trials --embeddings "$exp/speakers/embeddings" \
  --out "$exp/speakers/trials.txt" --by speaker
stage 13 score audiocs score --embeddings "$exp/speakers/embeddings" \
  --trials "$exp/speakers/trials.txt" --out "$exp/speakers/scores"
stage 14 report audiocs report "$exp/digits_split" "$exp/digits_by_speaker" "$exp/speakers" \
  --out "$exp/report.html"
