"""`audiocs search`: a resumable hyper-parameter search over any config keys, on validation data.

A search is a base config, fixed `--set` overrides and a space of `key=v1,v2,...` choices. It
runs the full grid, or `--trials N` settings drawn from the grid without replacement with a
seeded generator, each for every seed in `--seeds`. Each run is an ordinary training
experiment in `EXP/<run name>`; its score is written to `EXP/<run name>/search.json` when it
is finished, so a re-run skips finished runs and resumes an interrupted one from its last
checkpoint. After every run the table (`OUT.md`, also `OUT.json`) and the plot (`OUT.png`) are
rewritten atomically.

With `--folds k1 k2 ...` every (setting, seed) is trained once per outer fold k (test fold k,
as `audiocs train --fold k`; the validation split comes from the other folds, e.g.
`data.valid_split=previous_fold`). The table ranks settings by their mean validation score over
folds and seeds, and a nested cross-validation table chooses, for each fold separately, the
setting with the best validation score and only then evaluates that fold's test split with it:
the test fold never takes part in any choice.

Scores are taken on validation data only:

- `valid_acc` (default): the best validation accuracy over the epochs (the split is the
  config's `data.valid_split`; test folds are never read);
- `last_valid_acc`: the last epoch's validation accuracy, for a recipe that keeps its last
  epoch rather than its best (the nested test then reads `last.pt`);
- `eer`: the equal error rate of every pair of clips of `--eval-folds` (target = same speaker,
  or same label with `--eer-by label`), embedded with the run's best checkpoint from
  `--eval-cache` (default: the training cache). Give folds that training does not use.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from audiocs.errors import AudiocsError
from audiocs.fileio import atomic_write

RESULT_FILE = "search.json"
METRICS = {"valid_acc": True, "last_valid_acc": True, "eer": False}  # name -> higher is better


@dataclass(frozen=True)
class Setting:
    """One point of the search space: dotted key -> value, in the order the keys were given."""

    values: tuple[tuple[str, Any], ...]

    def overrides(self) -> list[str]:
        """Dotted `key=value` overrides; a joined key `a+b` with value [x, y] sets a=x and b=y."""
        out = []
        for key, value in self.values:
            keys = key.split("+")
            values = value if len(keys) > 1 else [value]
            out += [f"{k}={json.dumps(v)}" for k, v in zip(keys, values)]
        return out

    def name(self) -> str:
        """A readable, file-system-safe run name with a short digest of the exact values."""
        text = "_".join(f"{key.split('.')[-1]}{_short(value)}" for key, value in self.values)
        digest = hashlib.sha1(json.dumps(self.values).encode()).hexdigest()[:6]
        safe = "".join(c if c.isalnum() or c in "-.+" else "_" for c in text)[:80]
        return f"{safe}_{digest}" if safe else digest


def _short(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def parse_space(items: Sequence[str]) -> list[tuple[str, list[Any]]]:
    """`key=v1,v2,...` -> [(key, [values])]; values are parsed as YAML (numbers, bools, lists).

    Keys that must move together are joined with `+` and take lists, one entry per key:
    `data.crop_frames+train.epochs=[128,40],[400,13]`."""
    space = []
    for item in items:
        key, sep, rest = item.partition("=")
        if not sep or not key or not rest:
            raise AudiocsError(f"search space {item!r}: expected key=v1,v2,...")
        if key in dict(space):
            raise AudiocsError(f"search space: {key} is given twice")
        try:
            values = [_value(v) for v in _split_values(rest)]
        except yaml.YAMLError as err:
            raise AudiocsError(f"search space {item!r}: {str(err).splitlines()[0]}") from None
        width = len(key.split("+"))
        if width > 1 and not all(isinstance(v, list) and len(v) == width for v in values):
            raise AudiocsError(f"search space {item!r}: each value of a joined key needs "
                               f"{width} entries, e.g. [a,b]")
        space.append((key, values))
    return space


def _value(text: str) -> Any:
    """A YAML value; `3e-3` (a string to YAML 1.1) is read as the number it means."""
    value = yaml.safe_load(text)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return value
    return value


def _split_values(text: str) -> list[str]:
    """Split on commas outside brackets, so `[1,2],[3,4]` gives two list values."""
    parts, depth, current = [], 0, ""
    for char in text:
        depth += char in "[{"
        depth -= char in "]}"
        if char == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += char
    return parts + [current]


def settings(space: list[tuple[str, list[Any]]], trials: int | None = None,
             seed: int = 0) -> list[Setting]:
    """The grid in order, or `trials` distinct grid points drawn with `numpy` seed `seed`."""
    keys = [key for key, _ in space]
    grid = [Setting(tuple(zip(keys, combo)))
            for combo in itertools.product(*(values for _, values in space))]
    if trials is None or trials >= len(grid):
        return grid
    pick = np.random.default_rng(seed).choice(len(grid), size=trials, replace=False)
    return [grid[i] for i in pick]


def verification_eer(exp_dir: Path, cache_dir: str | Path, folds: Sequence[int],
                     by: str = "speaker") -> float:
    """EER (%) of all pairs of the clips of `folds`, embedded with the run's best checkpoint."""
    from audiocs.embed import embed_cache
    from audiocs.scoring.metrics import equal_error_rate

    es = embed_cache(exp_dir, cache_dir, exp_dir / "search_embeddings", folds=list(folds),
                     progress=False)
    keys = np.asarray(es.keys(by), dtype=object)
    x = es.vectors / np.maximum(np.linalg.norm(es.vectors, axis=1, keepdims=True), 1e-12)
    i, j = np.triu_indices(len(x), k=1)
    scores = np.einsum("kd,kd->k", x[i], x[j])
    eer, _ = equal_error_rate(scores, (keys[i] == keys[j]).astype(np.int8))
    return 100.0 * float(eer)


@dataclass
class Search:
    """What every run of a search shares; `run(setting, seed)` trains and scores one run."""

    config: str | None
    exp_dir: Path
    fixed: list[str]
    metric: str = "valid_acc"
    eval_cache: str | None = None
    eval_folds: tuple[int, ...] = ()
    eer_by: str = "speaker"

    def __post_init__(self) -> None:
        if self.metric not in METRICS:
            raise AudiocsError(f"--metric {self.metric!r}: expected one of {sorted(METRICS)}")
        if self.metric == "eer" and not self.eval_folds:
            raise AudiocsError("--metric eer needs --eval-folds (folds that training does not use)")

    def run(self, setting: Setting, seed: int, fold: int | None = None) -> dict[str, Any]:
        """Train (or resume, or skip when finished) one run; returns its result record."""
        from audiocs.config import load_config
        from audiocs.experiment import can_resume, read_history
        from audiocs.splits import apply_fold
        from audiocs.train.loop import train

        exp = self.exp_dir / (f"{setting.name()}_seed{seed}"
                              + ("" if fold is None else f"_fold{fold}"))
        done = exp / RESULT_FILE
        if done.is_file():
            record = json.loads(done.read_text())
            if "last_valid_acc" not in record and "valid_acc" in record:  # an older record
                record["last_valid_acc"] = _last_valid_acc(read_history(exp))
            return record
        cfg = load_config(self.config, [*self.fixed, *setting.overrides(), f"train.seed={seed}"])
        if fold is not None:
            apply_fold(cfg, fold)
        start = time.perf_counter()
        train(cfg, exp, resume=can_resume(exp))
        seconds = time.perf_counter() - start
        history = read_history(exp)
        record: dict[str, Any] = {
            "run": exp.name, "setting": dict(setting.values), "seed": seed, "fold": fold,
            "train_seconds": round(seconds, 1), "epochs": len(history),
            "final_train_acc": history[-1]["train_acc"],
        }
        if any("valid_acc" in h for h in history):
            best = max(range(len(history)), key=lambda k: history[k].get("valid_acc", -1.0))
            record.update(valid_acc=history[best]["valid_acc"], best_epoch=best + 1,
                          last_valid_acc=_last_valid_acc(history))
        if self.metric == "eer":
            record["eer"] = verification_eer(exp, self.eval_cache or cfg.data.cache_dir,
                                             self.eval_folds, self.eer_by)
        if self.metric not in record:
            raise AudiocsError(f"{exp}: the runs have no {self.metric} (is there a validation split?)")
        with atomic_write(done) as f:
            json.dump(record, f, indent=2)
        return record


def _last_valid_acc(history: list[dict]) -> float:
    return float(history[-1]["valid_acc"])


def summarize(records: list[dict], metric: str) -> list[dict]:
    """One row per setting: mean and std over its seeds, best first."""
    groups: dict[str, list[dict]] = {}
    for r in records:
        groups.setdefault(json.dumps(r["setting"], sort_keys=False), []).append(r)
    rows = []
    for key, runs in groups.items():
        values = np.array([r[metric] for r in runs], float)
        rows.append({"setting": json.loads(key), "seeds": sorted({r["seed"] for r in runs}),
                     "folds": sorted({r["fold"] for r in runs if r.get("fold") is not None}),
                     "runs": len(runs),
                     "mean": float(values.mean()), "std": float(values.std()),
                     "train_seconds": float(np.mean([r["train_seconds"] for r in runs])),
                     "final_train_acc": float(np.mean([r["final_train_acc"] for r in runs]))})
    rows.sort(key=lambda row: row["mean"], reverse=METRICS[metric])
    return rows


def nested_selection(records: list[dict], metric: str, exp_dir: Path) -> list[dict]:
    """For each outer fold: the setting with the best mean validation score over its seeds in
    that fold, then the test accuracy of those runs (evaluated after the choice) with the
    checkpoint the metric describes: the last epoch's for `last_valid_acc`, else the best."""
    from audiocs.evaluate import evaluate_experiment
    from audiocs.experiment import BEST, LAST

    checkpoint = LAST if metric == "last_valid_acc" else BEST
    rows = []
    for fold in sorted({r["fold"] for r in records if r.get("fold") is not None}):
        best = summarize([r for r in records if r.get("fold") == fold], metric)[0]
        runs = [r for r in records if r.get("fold") == fold and r["setting"] == best["setting"]]
        tests = [evaluate_experiment(exp_dir / r["run"], split="test", checkpoint=checkpoint)
                 for r in runs]
        rows.append({"fold": fold, "setting": best["setting"], "valid": best["mean"],
                     "test_accuracy": float(np.mean([t.accuracy for t in tests])),
                     "test_macro_f1": float(np.mean([t.macro_f1 for t in tests])),
                     "seeds": best["seeds"]})
    return rows


def write_results(out: Path, records: list[dict], metric: str, command: str,
                  space: list[tuple[str, list[Any]]], fixed: list[str],
                  nested: list[dict] | None = None) -> None:
    """`out`.md (tables), `out`.json (every run) and `out`.png (score against each key)."""
    rows = summarize(records, metric)
    keys = [key for key, _ in space]
    label = {"eer": "EER % (lower is better)", "last_valid_acc": "last epoch's valid accuracy"
             }.get(metric, "best valid accuracy")
    lines = [f"# Search: {label}", "", f"Command: `{command}`", ""]
    if fixed:
        lines += ["Fixed: " + ", ".join(f"`{item}`" for item in fixed), ""]
    lines += ["Space: " + "; ".join(f"`{k}` in {v}" for k, v in space), "",
              "| rank | " + " | ".join(keys) + f" | seeds | folds | {metric} mean | std "
              "| final train acc | train s/run |",
              "| ---: | " + " | ".join("---" for _ in keys)
              + " | --- | --- | ---: | ---: | ---: | ---: |"]
    for rank, row in enumerate(rows, 1):
        values = " | ".join(_short(row["setting"][k]) for k in keys)
        folds = ",".join(map(str, row["folds"])) or "-"
        lines.append(f"| {rank} | {values} | {','.join(map(str, row['seeds']))} | {folds} "
                     f"| {row['mean']:.4f} | {row['std']:.4f} | {row['final_train_acc']:.3f} "
                     f"| {row['train_seconds']:.0f} |")
    if rows:
        chosen = ", ".join(f"{k}={_short(v)}" for k, v in rows[0]["setting"].items())
        lines += ["", f"Best on validation: {chosen} ({metric} {rows[0]['mean']:.4f})"]
    if nested:
        acc = np.array([n["test_accuracy"] for n in nested])
        f1 = np.array([n["test_macro_f1"] for n in nested])
        lines += ["", "## Nested cross-validation: each fold's setting chosen on its validation "
                  "split, then tested once", "",
                  "| test fold | chosen setting | valid | test accuracy | test macro-F1 |",
                  "| ---: | --- | ---: | ---: | ---: |"]
        lines += [f"| {n['fold']} | " + ", ".join(f"{k}={_short(v)}" for k, v in n["setting"].items())
                  + f" | {n['valid']:.4f} | {n['test_accuracy']:.4f} | {n['test_macro_f1']:.4f} |"
                  for n in nested]
        lines.append(f"| mean +- std | | | {acc.mean():.4f} +- {acc.std():.4f} "
                     f"| {f1.mean():.4f} +- {f1.std():.4f} |")
    out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(out.with_suffix(".md")) as f:
        f.write("\n".join(lines) + "\n")
    with atomic_write(out.with_suffix(".json")) as f:
        json.dump({"command": command, "metric": metric, "fixed": fixed,
                   "space": [[k, v] for k, v in space], "runs": records,
                   "nested": nested or []}, f, indent=2)
    plot_search(records, keys, metric, out.with_suffix(".png"))


def plot_search(records: list[dict], keys: list[str], metric: str, path: Path) -> Path:
    """One panel per searched key: every run's score against the key's value."""
    from matplotlib.figure import Figure

    from audiocs.plots import save_figure

    fig = Figure(figsize=(4 * max(len(keys), 1), 3.5))
    for n, key in enumerate(keys):
        ax = fig.add_subplot(1, max(len(keys), 1), n + 1)
        raw = [r["setting"][key] for r in records]
        if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in raw):
            raw = sorted(raw)  # numbers in increasing order along the axis
        order = list(dict.fromkeys(str(_short(v)) for v in raw))
        xs = [order.index(str(_short(r["setting"][key]))) for r in records]
        ax.scatter(xs, [r[metric] for r in records], alpha=0.7)
        ax.set_xticks(range(len(order)), labels=order, rotation=30)
        ax.set_xlabel(key)
        ax.set_ylabel(metric)
        ax.grid(alpha=0.3)
    fig.suptitle(f"search: {metric} of each run")
    return save_figure(fig, path)


def run_search(search: Search, space: list[tuple[str, list[Any]]], out: Path, command: str, *,
               seeds: Sequence[int] = (0,), trials: int | None = None, sample_seed: int = 0,
               folds: Sequence[int] | None = None,
               log: Callable[[str], None] = print) -> list[dict]:
    """Run every (setting, seed[, fold]) in order, rewriting the results after each; with
    `folds`, add the nested cross-validation table at the end. Returns the run records."""
    points = settings(space, trials, sample_seed)
    records: list[dict] = []
    outer: list[int | None] = list(folds) if folds else [None]
    total = len(points) * len(seeds) * len(outer)
    for setting in points:
        for seed in seeds:
            for fold in outer:
                where = "" if fold is None else f" fold={fold}"
                log(f"[search] run {len(records) + 1}/{total}: {' '.join(setting.overrides())} "
                    f"seed={seed}{where}")
                records.append(search.run(setting, seed, fold))
                write_results(out, records, search.metric, command, space, search.fixed)
    if folds:
        nested = nested_selection(records, search.metric, search.exp_dir)
        write_results(out, records, search.metric, command, space, search.fixed, nested)
    return records
