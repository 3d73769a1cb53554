#!/usr/bin/env bash
# The search behind conf/train.yaml: FSDD digits, speaker-independent, one outer fold per
# speaker. In fold k the speaker before k is the validation set and the other four train, and
# each fold's setting is chosen on its validation speaker before its test speaker is read
# (nested cross-validation table at the end of each table). Both losses search the same space.

corpus=data/fsdd
data=data/fsdd-search
exp=exp/fsdd-search
prep_opts="--cmn true --hop-length 80 --win-length 200 --n-fft 256 --n-mels 40"

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
