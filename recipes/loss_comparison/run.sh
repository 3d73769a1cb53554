#!/usr/bin/env bash
# The CS-Softmax paper's experiment: every loss x several seeds on one ESC-50-layout corpus,
# each run tested on fold $test_fold, its checkpoint picked on the fold before it, trained on the
# others; one table of mean +- std test accuracy, macro-F1 and class-verification EER.
# Stage 0 generates the built-in corpus into $corpus; for the real ESC-50 start at stage 1:
#   recipes/loss_comparison/run.sh --stage 1 corpus=data/ESC-50
# Output: $exp/results.md (+ results.json); runs in $exp/<loss>/seed<k>.

corpus=data/synth           # an ESC-50 layout: audio/*.wav + meta/esc50.csv
clips_per_class=40          # stage 0 only: size of the generated corpus
duration=5.0                # stage 0 only: seconds per generated clip
data=data/loss_comparison   # manifest.csv and the feature cache (features-logmel)
cache=""                    # the feature cache to train on (default: $data/features-logmel)
exp=exp/loss_comparison     # runs, trial list, table, stage markers and logs
config=conf/train.yaml      # the shared training config; loss.name is set per run
losses="softmax norm_softmax am_softmax aam_softmax a_softmax circle cs_softmax"
seeds="0 1 2"
test_fold=5
stage=0

. "$(dirname "$0")/../_common/stages.sh" "$@"
cache=${cache:-$data/features-logmel}
first_run=$exp/${losses%% *}/seed${seeds%% *}

stage 0 synth audiocs synth --out "$corpus" --clips-per-class "$clips_per_class" \
  --duration "$duration" --workers 2
stage 1 prepare python "$repo_root/data_prep/esc50.py" --corpus "$corpus" --out "$data" $prep_opts
for loss in $losses; do for seed in $seeds; do
  stage 2 "train.$loss.$seed" audiocs train --config "$(conf "$config")" \
    --set data.cache_dir="$cache" --set loss.name="$loss" --set train.seed="$seed" \
    "${set_args[@]}" --fold "$test_fold" --exp-dir "$exp/$loss/seed$seed" --resume
done; done
for loss in $losses; do for seed in $seeds; do
  stage 3 "evaluate.$loss.$seed" audiocs evaluate --exp-dir "$exp/$loss/seed$seed"
done; done
for loss in $losses; do for seed in $seeds; do
  stage 4 "embed.$loss.$seed" audiocs embed --exp-dir "$exp/$loss/seed$seed" --cache "$cache" \
    --out "$exp/$loss/seed$seed/embeddings" --folds "$test_fold"
done; done
stage 5 trials audiocs trials --embeddings "$first_run/embeddings" --out "$exp/trials.txt" \
  --by label
for loss in $losses; do for seed in $seeds; do
  stage 6 "score.$loss.$seed" audiocs score --embeddings "$exp/$loss/seed$seed/embeddings" \
    --trials "$exp/trials.txt" --out "$exp/$loss/seed$seed/scores"
done; done
stage 7 table python -m audiocs.report --root "$exp"
