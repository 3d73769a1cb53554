"""The tables and figures of the loss comparison (`python -m audiocs.compare report`).

For each task and loss: the setting chosen on each fold's validation data, mean +- std over
folds x seeds, a 95% bootstrap interval (over folds x seeds; for EER over folds x seeds and
trials), then CS-Softmax against every other loss on the same (fold, seed) runs: wins / ties /
losses and the exact Wilcoxon signed-rank p-value. Figures: the decision boundaries of the
chosen settings, and the target / non-target cosines of the trained models on test data.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from audiocs.compare_plan import HIGHER_IS_BETTER, KINDS, Plan
from audiocs.errors import AudiocsError
from audiocs.fileio import atomic_write
from audiocs.search import Setting, _short
from audiocs.significance import bootstrap_ci, bootstrap_eer_ci, paired_comparison

REFERENCE = "cs_softmax"
EER_RESAMPLES = 300
LABELS = {"accuracy": "accuracy", "macro_f1": "macro-F1", "eer": "EER %",
          "min_dcf": "minDCF(0.01)", "eer_asnorm": "EER % AS-norm",
          "min_dcf_asnorm": "minDCF(0.01) AS-norm"}
PAIRED = {"classification": ("accuracy", "macro_f1"), "verification": ("eer", "eer_asnorm")}


def loss_params(setting: dict[str, Any]) -> dict[str, Any]:
    """The loss keyword parameters of a searched setting ({"loss.margin": 0.2} -> margin)."""
    out = {}
    for item in Setting(tuple(setting.items())).overrides():
        key, _, value = item.partition("=")
        name = key.removeprefix("loss.").removeprefix("params.")
        out[name] = json.loads(value)
    return out


def _setting_text(setting: dict[str, Any]) -> str:
    params = loss_params(setting)
    return ", ".join(f"{k}={_short(v)}" for k, v in params.items()) or "-"


def _cells(units: list[dict]) -> dict[tuple[int, int], dict]:
    """(fold, seed) -> test record of one loss's units."""
    return {(u["fold"], t["seed"]): t for u in units for t in u["tests"]}


def _run_dirs(exp_root: Path, unit: dict) -> dict[int, Path]:
    base = exp_root / unit["task"] / f"fold{unit['fold']}" / unit["loss"]
    return {r["seed"]: base / r["run"] for r in unit["runs"]}


def _eer_runs(exp_root: Path, units: list[dict], key: str) -> list[tuple[np.ndarray, np.ndarray]]:
    runs = []
    for u in units:
        for path in _run_dirs(exp_root, u).values():
            with np.load(path / "test_scores.npz") as z:
                runs.append((z["asnorm" if key == "eer_asnorm" else "scores"], z["labels"]))
    return runs


def summarize_task(kind: str, by_loss: dict[str, list[dict]], exp_root: Path) -> dict[str, Any]:
    """Per-loss statistics and the paired comparisons of one task."""
    rows = {}
    for loss, units in by_loss.items():
        cells = _cells(units)
        row: dict[str, Any] = {"runs": len(cells), "folds": sorted({u["fold"] for u in units}),
                               "chosen": {u["fold"]: u["chosen"] for u in units}}
        for metric in KINDS[kind]:
            values = np.array([c[metric] for c in cells.values()], float)
            if metric in ("eer", "eer_asnorm"):
                low, high = bootstrap_eer_ci(_eer_runs(exp_root, units, metric),
                                             resamples=EER_RESAMPLES)
                low, high = 100 * low, 100 * high
            else:
                low, high = bootstrap_ci(values)
            row[metric] = {"mean": float(values.mean()), "std": float(values.std()),
                           "ci95": [low, high]}
        rows[loss] = row
    paired = {}
    if REFERENCE in by_loss:
        ref = _cells(by_loss[REFERENCE])
        for loss, units in by_loss.items():
            if loss == REFERENCE:
                continue
            other = _cells(units)
            keys = sorted(set(ref) & set(other))
            if not keys:
                continue
            paired[loss] = {}
            for metric in PAIRED[kind]:
                r = paired_comparison([ref[k][metric] for k in keys], [other[k][metric] for k in keys],
                                      higher_is_better=HIGHER_IS_BETTER[metric])
                paired[loss][metric] = {"pairs": len(keys), "wins": r.wins, "ties": r.ties,
                                        "losses": r.losses, "mean_difference": r.mean_difference,
                                        "p_value": r.p_value, "verdict": r.verdict}
    return {"losses": rows, "paired": paired}


def _fmt(metric: str, stats: dict) -> tuple[str, str]:
    digits = 2 if metric.startswith("eer") else 3
    low, high = stats["ci95"]
    return (f"{stats['mean']:.{digits}f} ± {stats['std']:.{digits}f}",
            f"[{low:.{digits}f}, {high:.{digits}f}]")


def _chosen_text(chosen: dict) -> str:
    counts = Counter(_setting_text(s) for s in chosen.values())
    return "; ".join(f"{text} ({n}×)" if len(counts) > 1 else text
                     for text, n in counts.most_common())


def training_hours(units: list[dict]) -> tuple[int, float]:
    """Distinct runs of `units` and their training wall time summed, in hours."""
    runs = {(u["task"], u["fold"], u["loss"], r["run"]): r["train_seconds"]
            for u in units for r in u["tuning"] + u["runs"]}
    return len(runs), sum(runs.values()) / 3600


def task_markdown(name: str, kind: str, summary: dict, expected_units: int,
                  finished_units: int, units: list[dict]) -> list[str]:
    metrics = KINDS[kind]
    runs, hours = training_hours(units)
    lines = [f"## {name}", "", f"{runs} training runs, {hours:.2f} hours of training summed "
             "over them (one thread per process).", ""]
    if finished_units < expected_units:
        lines += [f"**Incomplete: {finished_units} of {expected_units} (fold, loss) units "
                  "finished.** Re-running `recipes/loss_comparison/run.sh` resumes.", ""]
    head = "| loss | chosen on validation | runs | " + " | ".join(
        f"{LABELS[m]} mean ± std | 95% CI" for m in metrics) + " |"
    lines += [head, "| --- | --- | ---: | " + " | ".join("---: | ---:" for _ in metrics) + " |"]
    for loss, row in summary["losses"].items():
        cells = " | ".join(" | ".join(_fmt(m, row[m])) for m in metrics)
        lines.append(f"| {loss} | {_chosen_text(row['chosen'])} | {row['runs']} | {cells} |")
    if summary["paired"]:
        lines += ["", "CS-Softmax against each loss on the same folds and seeds (wins / ties / "
                  "losses of CS-Softmax; exact two-sided Wilcoxon signed-rank; p ≥ 0.05 is "
                  "reported as no difference):", "",
                  "| against | " + " | ".join(f"{LABELS[m]}: W/T/L | mean CS − other | p | verdict"
                                            for m in PAIRED[kind]) + " |",
                  "| --- | " + " | ".join("---: | ---: | ---: | ---" for _ in PAIRED[kind]) + " |"]
        for loss, by_metric in summary["paired"].items():
            parts = []
            for m in PAIRED[kind]:
                r = by_metric[m]
                digits = 2 if m.startswith("eer") else 3
                p = "< 0.001" if r["p_value"] < 0.001 else f"{r['p_value']:.3f}"
                parts.append(f"{r['wins']}/{r['ties']}/{r['losses']} | "
                             f"{r['mean_difference']:+.{digits}f} | {p} | {r['verdict']}")
            lines.append(f"| {loss} | " + " | ".join(parts) + " |")
    return lines + [""]


def _most_chosen(chosen: dict) -> dict:
    texts = Counter(json.dumps(s, sort_keys=True) for s in chosen.values())
    return json.loads(texts.most_common(1)[0][0])


def write_figures(name: str, summary: dict, by_loss: dict[str, list[dict]], exp_root: Path,
                  out: Path) -> list[Path]:
    """figures/<task>_margins.png and figures/<task>_cosines.png."""
    from audiocs.losses import create_loss
    from audiocs.losses.geometry import (final_state, plot_cosine_distributions,
                                         plot_margins)

    curves = []
    for loss, row in summary["losses"].items():
        params = loss_params(_most_chosen(row["chosen"]))
        label = f"{loss} ({_setting_text(_most_chosen(row['chosen']))})"
        if loss == "softmax":
            label = "softmax (equal weight norms)"
        curves.append((label, final_state(create_loss(loss, **params))))
    figures = [plot_margins(curves, out / f"{name}_margins.png",
                            title=f"{name}: decision boundaries at the chosen settings")]
    groups = []
    rng = np.random.default_rng(0)
    for loss, units in by_loss.items():
        target, nontarget = [], []
        for u in units:
            for path in _run_dirs(exp_root, u).values():
                with np.load(path / "test_cosines.npz") as z:
                    target.append(z["target"])
                    nontarget.append(z["nontarget"])
        t, n = np.concatenate(target), np.concatenate(nontarget)
        if len(n) > 200_000:
            n = rng.choice(n, 200_000, replace=False)
        groups.append((loss, t, n))
    figures.append(plot_cosine_distributions(
        groups, out / f"{name}_cosines.png",
        title=f"{name}: cosines on test data (target vs non-target), all runs"))
    return figures


def write_report(plan: Plan, units: list[dict], exp_root: Path, out_dir: Path,
                 command: str, notes: Sequence[Path] = ()) -> dict[str, Any]:
    """results.md, results.json and figures/ in `out_dir` (the markdown files `notes` appended
    to results.md); returns the JSON content."""
    out_dir.mkdir(parents=True, exist_ok=True)
    lines = ["# Loss comparison", "", f"Command: `{command}`", "",
             f"Seeds {plan.seeds}; tuning per loss: "
             + "; ".join(f"{loss} {space or '(no parameters)'}" for loss, space in plan.losses.items()),
             ""]
    result: dict[str, Any] = {"command": command, "seeds": plan.seeds, "tasks": {}}
    for task in plan.tasks:
        mine = [u for u in units if u["task"] == task.name]
        by_loss = {loss: [u for u in mine if u["loss"] == loss] for loss in plan.losses}
        by_loss = {k: v for k, v in by_loss.items() if v}
        expected = len(task.folds) * len(plan.losses)
        if not by_loss:
            lines += [f"## {task.name}", "", "No unit finished yet.", ""]
            continue
        summary = summarize_task(task.kind, by_loss, exp_root)
        lines += task_markdown(task.name, task.kind, summary, expected, len(mine), mine)
        figures = write_figures(task.name, summary, by_loss, exp_root, out_dir / "figures")
        lines += [f"![{f.stem}](figures/{f.name})" for f in figures] + [""]
        result["tasks"][task.name] = {"kind": task.kind, "finished_units": len(mine),
                                      "expected_units": expected, **summary,
                                      "units": mine}
    for note in notes:
        try:
            lines += [note.read_text().rstrip(), ""]
        except OSError as err:
            raise AudiocsError(f"{note}: cannot read the notes to append ({err})") from None
    with atomic_write(out_dir / "results.md") as f:
        f.write("\n".join(lines) + "\n")
    with atomic_write(out_dir / "results.json") as f:
        json.dump(result, f, indent=2, default=str)
    return result
