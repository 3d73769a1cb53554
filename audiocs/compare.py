"""The loss comparison: every loss tuned with the same budget on validation data, then trained
with several seeds on every outer fold and tested once (`python -m audiocs.compare`).

A plan (YAML) names the losses with their search spaces (`key=v1,v2` as in `audiocs search`;
the same number of settings for every loss that has parameters), the seeds and the tasks. A
task is `classification` (test accuracy and macro-F1 of the test fold) or `verification`
(cosine EER and minDCF(0.01) of all pairs of the test fold's speakers, plain and with AS-norm
against the training speakers' segments).

For each (task, outer fold k, loss) -- one *unit* -- `run`:

1. trains every setting of the loss's space with the first seed, and scores it on validation
   data only: classification validates on the fold before k (`data.valid_split =
   previous_fold`; best validation accuracy); verification trains on the folds other than k
   and k-1 and takes the EER of the speakers of fold k-1, unseen in training;
2. chooses the best setting, trains it with the other seeds;
3. tests those runs on fold k (the first time fold k is read), writes `unit.json`.

Runs are `audiocs search` runs (each finished one is skipped on a re-run, an interrupted one
resumes); `--shard i/n` runs every n-th unit, so n processes share the work. `report` reads
every finished unit and writes `results.md`, `results.json` and the figures: per loss mean +-
std, a 95% bootstrap interval over folds x seeds (and, for EER, over trials), and CS-Softmax
against every baseline on the same folds and seeds (wins / ties / losses, exact Wilcoxon
signed-rank p). A difference with p >= 0.05 is reported as no difference.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from audiocs.compare_plan import Plan, Task, load_plan
from audiocs.errors import AudiocsError
from audiocs.fileio import atomic_write
from audiocs.search import METRICS, Search, Setting, parse_space, settings
from audiocs.splits import previous_fold

UNIT_FILE = "unit.json"
TEST_FILE = "test.json"
ASNORM_TOP_K = 100


def verification_folds(task: Task, fold: int) -> tuple[int, list[int]]:
    """A verification unit's validation fold (the one before `fold`) and training folds."""
    valid = previous_fold(task.folds, fold)
    return valid, [k for k in task.folds if k not in (fold, valid)]


def _search(task: Task, fold: int, loss: str, exp_dir: Path) -> tuple[Search, int | None]:
    """The search of one unit and the `fold` argument of its runs."""
    fixed = [f"data.cache_dir={task.cache}", f"loss.name={loss}", *task.fixed]
    if task.kind == "classification":
        fixed.append("data.valid_split=previous_fold")
        return Search(task.config, exp_dir, fixed, metric="valid_acc"), fold
    valid, train = verification_folds(task, fold)
    fixed += [f"data.train_folds={json.dumps(train)}", f"data.test_folds=[{fold}]"]
    return Search(task.config, exp_dir, fixed, metric="eer", eval_cache=task.eval_cache,
                  eval_folds=(valid,), eer_by="speaker"), None


def _choose(records: list[dict], metric: str) -> dict:
    """The record with the best validation score (the first of equal ones)."""
    sign = 1.0 if METRICS[metric] else -1.0
    return max(records, key=lambda r: sign * r[metric])


def run_unit(plan: Plan, task: Task, fold: int, loss: str, exp_root: Path,
             log=print) -> dict:
    """Tune, train the other seeds and test one (task, fold, loss); returns the unit record."""
    unit_dir = exp_root / task.name / f"fold{fold}" / loss
    done = unit_dir / UNIT_FILE
    if done.is_file():
        return json.loads(done.read_text())
    search, fold_arg = _search(task, fold, loss, unit_dir)
    space = parse_space(plan.losses[loss])
    points = settings(space) if space else [Setting(())]
    tuning = []
    for point in points:
        log(f"[compare] {task.name} fold {fold} {loss}: tuning {' '.join(point.overrides()) or '-'}")
        tuning.append(search.run(point, plan.seeds[0], fold_arg))
    best = _choose(tuning, search.metric)
    chosen = Setting(tuple(best["setting"].items()))
    runs = [best]
    for seed in plan.seeds[1:]:
        log(f"[compare] {task.name} fold {fold} {loss}: seed {seed}")
        runs.append(search.run(chosen, seed, fold_arg))
    tests = [dict(evaluate_run(task, fold, unit_dir / r["run"]), seed=r["seed"]) for r in runs]
    record = {"task": task.name, "kind": task.kind, "fold": fold, "loss": loss,
              "chosen": best["setting"], "tuning": tuning, "runs": runs, "tests": tests}
    with atomic_write(done) as f:
        json.dump(record, f, indent=2)
    return record


def evaluate_run(task: Task, fold: int, exp: Path) -> dict[str, Any]:
    """Test one finished run on fold `fold` (cached in `exp/test.json`); also saves the test
    cosines (`test_cosines.npz`) for the distribution figure and, for verification, the trial
    scores (`test_scores.npz`) for the bootstrap over trials."""
    done = exp / TEST_FILE
    if done.is_file():
        return json.loads(done.read_text())
    if task.kind == "classification":
        result = _test_classification(exp)
    else:
        result = _test_verification(task, fold, exp)
    with atomic_write(done) as f:
        json.dump(result, f, indent=2)
    return result


def _test_classification(exp: Path) -> dict[str, Any]:
    import torch
    from torch import nn

    from audiocs.cache import FeatureCache
    from audiocs.evaluate import evaluate_experiment
    from audiocs.runner import clip_outputs, load_for_inference

    result = evaluate_experiment(exp, split="test")
    bundle = load_for_inference(exp)
    cfg = bundle.config
    cache = FeatureCache(cfg.data.cache_dir)
    rows = cache.splits(cfg.data, cfg.train.seed).test
    emb = clip_outputs(bundle.model, nn.Identity(), cache, rows, bundle.mean, bundle.std,
                      cfg.eval, torch.device("cpu"))
    weights = bundle.classifier.weight.detach().float()
    cos = (torch.nn.functional.normalize(emb, dim=1)
           @ torch.nn.functional.normalize(weights, dim=1).T).numpy()
    target = np.zeros(cos.shape, bool)
    target[np.arange(len(rows)), cache.labels[rows]] = True
    with atomic_write(exp / "test_cosines.npz", "wb") as f:
        np.savez(f, target=cos[target].astype(np.float32),
                 nontarget=cos[~target].astype(np.float32))
    return {"accuracy": result.accuracy, "macro_f1": result.macro_f1, "clips": result.num_clips}


def _test_verification(task: Task, fold: int, exp: Path) -> dict[str, Any]:
    from audiocs.embed import embed_cache
    from audiocs.scoring.metrics import verification_metrics
    from audiocs.scoring.pipeline import score_trials
    from audiocs.scoring.trials import generate_trials

    _, train = verification_folds(task, fold)
    cache = task.eval_cache or task.cache
    test = embed_cache(exp, cache, exp / "test_embeddings", folds=[fold], progress=False)
    cohort = embed_cache(exp, cache, exp / "cohort_embeddings", folds=train, progress=False)
    trials = generate_trials(test, by="speaker")
    plain = score_trials(test, trials)
    asnorm = score_trials(test, trials, cohort=cohort, norm="asnorm", top_k=ASNORM_TOP_K)
    labels = plain.labels.astype(np.int8)
    with atomic_write(exp / "test_scores.npz", "wb") as f:
        np.savez(f, scores=plain.scores, asnorm=asnorm.scores, labels=labels)
    with atomic_write(exp / "test_cosines.npz", "wb") as f:
        np.savez(f, target=plain.scores[labels == 1], nontarget=plain.scores[labels == 0])
    m, a = verification_metrics(plain.scores, labels), verification_metrics(asnorm.scores, labels)
    return {"eer": 100 * m["eer"], "min_dcf": m["min_dcf_0.01"],
            "eer_asnorm": 100 * a["eer"], "min_dcf_asnorm": a["min_dcf_0.01"],
            "trials": m["trials"], "targets": m["targets"]}


def run(plan: Plan, exp_root: Path, shard: tuple[int, int] = (0, 1), log=print) -> int:
    """Run this shard's units in order; returns how many it finished."""
    index, count = shard
    units = plan.units()[index::count]
    for n, (task, fold, loss) in enumerate(units, 1):
        log(f"[compare] shard {index}/{count}: unit {n}/{len(units)}: {task.name} fold {fold} {loss}")
        run_unit(plan, task, fold, loss, exp_root, log)
    return len(units)


def read_units(plan: Plan, exp_root: Path) -> list[dict]:
    """Every finished unit of the plan, in plan order."""
    out = []
    for task, fold, loss in plan.units():
        path = exp_root / task.name / f"fold{fold}" / loss / UNIT_FILE
        if path.is_file():
            out.append(json.loads(path.read_text()))
    return out


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m audiocs.compare", description=__doc__.split("\n")[0])
    p.add_argument("command", choices=["run", "report"])
    p.add_argument("--plan", required=True, help="the comparison plan (YAML)")
    p.add_argument("--exp", required=True, help="folder of the runs and unit records")
    p.add_argument("--cache", action="append", default=[], metavar="TASK=DIR",
                   help="feature cache of a task (repeat per task)")
    p.add_argument("--eval-cache", action="append", default=[], metavar="TASK=DIR",
                   help="test-segment cache of a verification task")
    p.add_argument("--shard", default="0/1", help="i/n: run every n-th unit from the i-th")
    p.add_argument("--out", help="report: output folder (default: --exp)")
    p.add_argument("--command", default=None,
                   help="report: the command shown in results.md (default: this one)")
    p.add_argument("--notes", action="append", default=[], metavar="FILE.md",
                   help="report: markdown appended to results.md (repeatable)")
    args = p.parse_args(argv)
    caches: dict[str, dict[str, str]] = {}
    for flag, key in ((args.cache, "cache"), (args.eval_cache, "eval_cache")):
        for item in flag:
            name, sep, value = item.partition("=")
            if not sep:
                raise AudiocsError(f"--{key.replace('_', '-')} {item!r}: expected TASK=DIR")
            caches.setdefault(name, {})[key] = value
    plan = load_plan(args.plan, caches)
    exp = Path(args.exp)
    if args.command == "run":
        try:
            i, n = (int(v) for v in args.shard.split("/"))
        except ValueError:
            raise AudiocsError(f"--shard {args.shard!r}: expected i/n, e.g. 0/2") from None
        if not 0 <= i < n:
            raise AudiocsError(f"--shard {args.shard!r}: i must be in [0, n)")
        run(plan, exp, (i, n))
    else:
        from audiocs.compare_report import write_report

        write_report(plan, read_units(plan, exp), exp, Path(args.out or exp),
                     command=args.command or " ".join(["python -m audiocs.compare",
                                                       *(argv or sys.argv[1:])]),
                     notes=[Path(n) for n in args.notes])
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except AudiocsError as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)
