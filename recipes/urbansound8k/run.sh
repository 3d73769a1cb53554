#!/usr/bin/env bash
# UrbanSound8K (Salamon et al., 2014): 10-fold cross-validation on the official folds, CS-Softmax.
# The corpus is distributed on request (https://urbansounddataset.weebly.com/urbansound8k.html);
# unpack it so that $corpus/audio/fold1..fold10 and $corpus/metadata/UrbanSound8K.csv exist.
# Output: $exp/crossval/crossval.md, one row a fold and the mean +- std accuracy / macro-F1;
# $exp/crossval/report.html, every fold's curves, tables and misclassified clips (one page).

corpus=data/UrbanSound8K    # the corpus: audio/fold*/*.wav + metadata/UrbanSound8K.csv
data=data/urbansound8k      # manifest.csv and the feature cache (features-logmel)
exp=exp/urbansound8k        # experiments, stage markers and logs
config=conf/train.yaml      # training config (relative to this recipe)

. "$(dirname "$0")/../_common/stages.sh" "$@"

stage 1 prepare python "$repo_root/data_prep/urbansound8k.py" --corpus "$corpus" \
  --out "$data" $prep_opts
stage 2 crossval audiocs crossval --config "$(conf "$config")" \
  --set data.cache_dir="$data/features-logmel" "${set_args[@]}" --exp-dir "$exp/crossval"
stage 3 report audiocs report "$exp/crossval" --out "$exp/crossval/report.html"
