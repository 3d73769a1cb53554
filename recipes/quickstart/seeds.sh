#!/usr/bin/env bash
# `audiocs quickstart` with its defaults, once per seed (the seed changes the generated corpus
# and the training run), and one table over the seeds: how far one quickstart run can be
# trusted. Output: $exp/results.md / results.json (mean +- std per loss over the seeds),
# $exp/train_acc.md (training accuracy per epoch) and $exp/seed<k>/report.md (stage times).

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
# training accuracy per epoch (mean over the seeds): does CS-Softmax learn as fast as softmax?
hist = {loss: [[json.loads(x) for x in (exp / f"seed{s}" / "runs" / loss / "metrics.jsonl")
                .read_text().splitlines()] for s in seeds] for loss in losses}
epochs = len(hist[losses[0]][0])
marks = sorted({1, 2, 3, 5, 10, 15, 20, epochs} & set(range(1, epochs + 1)))
curve = ["| loss | " + " | ".join(f"ep {e}" for e in marks) + " |",
         "| --- |" + " ---: |" * len(marks)]
for loss in losses:
    means = [sum(h[e - 1]["train_acc"] for h in hist[loss]) / len(seeds) for e in marks]
    curve.append(f"| {loss} | " + " | ".join(f"{m:.3f}" for m in means) + " |")
with atomic_write(exp / "train_acc.md") as f:
    f.write("Training accuracy per epoch, mean over seeds " + " ".join(seeds) + "\n\n"
            + "\n".join(curve) + "\n")
print(table + "\n" + "\n".join(curve))
PY
