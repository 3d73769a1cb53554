#!/usr/bin/env bash
# `audiocs quickstart` with its defaults, once per seed (the seed changes the generated corpus
# and the training run), and one table over the seeds: how far one quickstart run can be
# trusted. Output: $exp/results.md / results.json (mean +- std per loss over the seeds) and
# $exp/seed<k>/report.md with each run's wall time.

exp=exp/quickstart-seeds
seeds="0 1 2"

. "$(dirname "$0")/../_common/stages.sh" "$@"
for s in $seeds; do
  stage $((s + 1)) "quickstart_seed$s" audiocs quickstart --seed "$s" --out "$exp/seed$s"
done
python - "$exp" $seeds <<'PY'
import json, sys
from pathlib import Path
from audiocs.fileio import atomic_write
from audiocs.report import read_run, results_table, summarize
exp, seeds = Path(sys.argv[1]), sys.argv[2:]
losses = json.loads((exp / f"seed{seeds[0]}" / "quickstart.json").read_text())["losses"]
runs = [read_run(exp / f"seed{s}" / "runs" / loss, name=f"{loss}/seed{s}", group=loss)
        for loss in losses for s in seeds]
table = results_table(runs)
with atomic_write(exp / "results.md") as f:
    f.write(f"audiocs quickstart, seeds {' '.join(seeds)}: mean +- std over the seeds (ddof 0)\n\n"
            + table)
with atomic_write(exp / "results.json") as f:
    json.dump({"groups": summarize(runs), "runs": [r.__dict__ for r in runs]}, f, indent=2)
print(table)
PY
