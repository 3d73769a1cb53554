#!/usr/bin/env bash
# ESC-50 (Piczak, 2015): 5-fold cross-validation on the official folds with CS-Softmax.
# Output: $exp/crossval/crossval.md, one row a fold and the mean +- std accuracy / macro-F1;
# $exp/crossval/report.html, every fold's curves, tables and misclassified clips (one page).
#   recipes/esc50/run.sh --download true            # fetch ESC-50 into $corpus, then run
#   recipes/esc50/run.sh --stage 2 --overrides "loss.name=softmax" --exp exp/esc50_softmax

corpus=data/ESC-50          # the corpus: audio/*.wav + meta/esc50.csv
download=false              # true: stage 1 downloads the corpus into $corpus first
data=data/esc50             # manifest.csv and the feature cache (features-logmel)
exp=exp/esc50               # experiments, stage markers and logs
config=conf/train.yaml      # training config (relative to this recipe)

. "$(dirname "$0")/../_common/stages.sh" "$@"

stage 1 prepare python "$repo_root/data_prep/esc50.py" --corpus "$corpus" --out "$data" \
  $(flag download --download) $prep_opts
stage 2 crossval audiocs crossval --config "$(conf "$config")" \
  --set data.cache_dir="$data/features-logmel" "${set_args[@]}" --exp-dir "$exp/crossval"
stage 3 report audiocs report "$exp/crossval" --out "$exp/crossval/report.html"
