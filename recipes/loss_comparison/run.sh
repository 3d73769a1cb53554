#!/usr/bin/env bash
# The loss comparison on real speech: every loss tuned with the same budget on validation data,
# then 3 seeds on every outer fold, tested once (see conf/compare.yaml and README.md).
#   FSDD digits, leave one speaker out (6 folds): accuracy and macro-F1.
#   LibriSpeech speakers, 5 folds of whole speakers: EER and minDCF(0.01), plain and AS-norm.
#   Speech Commands: whether the sample's speaker-disjoint split can rank losses (stage 2).
# Stage 3 runs `jobs` processes side by side (each every jobs-th unit, 1 thread each); every
# finished run is kept, so re-running the script resumes. Output: $exp/results.md,
# $exp/results.json, $exp/figures/ and $exp/report.html (every loss's digits model of fold 1,
# seed 0: curves, tables, misclassified clips).
#   recipes/loss_comparison/run.sh fsdd=../shared/data/fsdd \
#     librispeech=../shared/data/librispeech-mini/train-clean-100 \
#     speech_commands=../shared/data/speech-commands-mini

fsdd=data/fsdd                              # FSDD: recordings/{digit}_{speaker}_{index}.wav
librispeech=data/LibriSpeech/train-clean-100  # LibriSpeech speakers ({speaker}-{chapter}-{utt})
speech_commands=data/speech_commands        # Speech Commands (sample): <word>/<speaker>_nohash_<n>.wav
data=data/loss_comparison                   # manifests and feature caches
exp=exp/loss_comparison                     # runs, unit records, results, stage markers, logs
plan=conf/compare.yaml                      # losses, search spaces, seeds, tasks (this recipe's)
jobs=2                                      # processes of stage 3
fsdd_opts="--cmn true --hop-length 80 --win-length 200 --n-fft 256 --n-mels 40"
speaker_opts="--kind fbank --n-mels 40 --cmn true --folds 5"

RUN_COMMAND="recipes/loss_comparison/run.sh $*"  # shown in results.md
. "$(dirname "$0")/../_common/stages.sh" "$@"
digits=$data/fsdd-digits/features-logmel
spk_train=$data/speakers/train/features-fbank spk_eval=$data/speakers/eval/features-fbank
compare=(python -m audiocs.compare --plan "$(conf "$plan")" --exp "$exp"
         --cache "fsdd_digits=$digits" --cache "librispeech_speakers=$spk_train"
         --eval-cache "librispeech_speakers=$spk_eval")

run_shards() {  # every shard in the background, one thread each; fails if any shard fails
  local pids=() i
  for ((i = 0; i < jobs; i++)); do
    OMP_NUM_THREADS=1 "${compare[@]}" run --shard "$i/$jobs" > "$exp/logs/shard$i.log" 2>&1 &
    pids+=($!)
  done
  for i in "${pids[@]}"; do wait "$i"; done
}

stage 1 prepare_fsdd python "$repo_root/data_prep/fsdd.py" --corpus "$fsdd" \
  --out "$data/fsdd-digits" --task digits $fsdd_opts
stage 2 prepare_speakers python "$repo_root/data_prep/speakers.py" --corpus "$librispeech" \
  --out "$data/speakers/train" --segment 2 --hop 1 $speaker_opts
stage 2 prepare_speakers_eval python "$repo_root/data_prep/speakers.py" --corpus "$librispeech" \
  --out "$data/speakers/eval" --segment 3 $speaker_opts
stage 2 prepare_speech_commands python "$repo_root/data_prep/speech_commands.py" \
  --corpus "$speech_commands" --out "$data/speech_commands" --no-features
stage 2 speech_commands_split python "$recipe_dir/local/speech_commands_split.py" \
  "$data/speech_commands/manifest.csv" "$exp/speech_commands_split.md"
stage 3 compare run_shards
stage 4 report "${compare[@]}" report --notes "$exp/speech_commands_split.md" \
  --command "$RUN_COMMAND"
tested=() names=()  # the tested seed-0 run of every loss on fold 1 of the digits task
for m in "$exp"/fsdd_digits/fold1/*/*_seed0_fold1/eval/test/metrics.json; do
  if [ -f "$m" ]; then
    run=${m%/eval/test/metrics.json}
    tested+=("$run") names+=("$(basename "$(dirname "$run")")")
  fi
done
stage 5 report_html audiocs report "${tested[@]}" --names "${names[@]}" --out "$exp/report.html" \
  --title "loss comparison: FSDD digits, fold 1, seed 0"
