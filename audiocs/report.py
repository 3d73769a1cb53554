"""Result tables of trained runs: test accuracy, macro-F1 and class-verification EER per run,
mean +- std over the runs of a group (e.g. one loss over several seeds).

A run folder holds what `audiocs evaluate` and `audiocs score` wrote: ``eval/test/metrics.json``
(accuracy, macro_f1, epoch) and, optionally, ``scores/metrics.json`` (eer, min_dcf_0.01).
``python -m audiocs.report --root exp/runs`` finds every run below the root and
writes ``results.md`` + ``results.json`` there; the group of a run is the first folder of its
path below the root (``cs_softmax/seed0`` -> ``cs_softmax``).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from audiocs.errors import AudiocsError
from audiocs.experiment import METRICS_JSON, SCORES, eval_metrics_path
from audiocs.fileio import atomic_write

TEST_METRICS = eval_metrics_path("", "test")  # relative to a run folder
SCORE_METRICS = Path(SCORES) / METRICS_JSON
COLUMNS = (("accuracy", "test accuracy"), ("macro_f1", "macro-F1"),
           ("eer", "EER"), ("min_dcf", "minDCF(0.01)"))


@dataclass(frozen=True)
class RunResult:
    """Test metrics of one trained run (eer / min_dcf are NaN when the run was not scored)."""

    name: str
    group: str
    accuracy: float
    macro_f1: float
    eer: float
    min_dcf: float
    epoch: int


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as err:
        raise AudiocsError(f"{path}: unreadable metrics ({err})") from None


def read_run(run_dir: str | Path, *, name: str | None = None,
             group: str | None = None) -> RunResult:
    """The metrics of one run folder (see the module docstring for the files read)."""
    run = Path(run_dir)
    evaluated = run / TEST_METRICS
    if not evaluated.is_file():
        raise AudiocsError(f"{evaluated}: not found (run `audiocs evaluate --exp-dir {run}` first)")
    ev = _read_json(evaluated)
    scored = run / SCORE_METRICS
    sc = _read_json(scored) if scored.is_file() else {}
    try:
        return RunResult(name or run.name, group or run.name, float(ev["accuracy"]),
                         float(ev["macro_f1"]), float(sc.get("eer", math.nan)),
                         float(sc.get("min_dcf_0.01", math.nan)), int(ev.get("epoch", 0)))
    except KeyError as err:
        raise AudiocsError(f"{evaluated}: key {err} missing") from None


def find_runs(root: str | Path) -> list[RunResult]:
    """Every run below `root` (folders holding eval/test/metrics.json), sorted by path."""
    root = Path(root)
    found = sorted(p.parents[2] for p in root.rglob(str(TEST_METRICS)))
    runs = []
    for run in found:
        rel = run.relative_to(root)
        if not rel.parts:
            raise AudiocsError(f"{root}: is itself a run; pass the folder above it")
        runs.append(read_run(run, name=rel.as_posix(), group=rel.parts[0]))
    if not runs:
        raise AudiocsError(f"{root}: no evaluated runs below it (no */{TEST_METRICS.as_posix()})")
    return runs


def wilson_interval(correct: float, n: int, z: float = 1.96) -> tuple[float, float]:
    """Wilson score interval (95 % for z = 1.96) of an accuracy of `correct` out of `n` trials."""
    if n <= 0:
        raise ValueError(f"n={n}: need at least one trial")
    p = correct / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def _groups(runs: Sequence[RunResult]) -> dict[str, list[RunResult]]:
    """Runs by group, groups in first-seen order."""
    groups: dict[str, list[RunResult]] = {}
    for r in runs:
        groups.setdefault(r.group, []).append(r)
    return groups


def _values(runs: Sequence[RunResult], key: str) -> np.ndarray:
    """The metric `key` of `runs` (K,) float64, runs without it left out."""
    v = np.array([getattr(r, key) for r in runs], dtype=np.float64)
    return v[~np.isnan(v)]


def _cell(values: np.ndarray, percent: bool) -> str:
    """'0.8125' for one value, '0.8125 +- 0.0210' for several (std with ddof 0), '-' for none."""
    if values.size == 0:
        return "-"
    scale, digits, unit = (100.0, 2, "%") if percent else (1.0, 4, "")
    text = f"{scale * values.mean():.{digits}f}"
    if values.size > 1:
        text += f" +- {scale * values.std(ddof=0):.{digits}f}"
    return text + unit


def summarize(runs: Sequence[RunResult]) -> list[dict]:
    """Per group (in first-seen order): run count and mean / std of every metric."""
    out = []
    for group, members in _groups(runs).items():
        row: dict = {"group": group, "runs": len(members)}
        for key, _ in COLUMNS:
            v = _values(members, key)
            row[f"{key}_mean"] = float(v.mean()) if v.size else None
            row[f"{key}_std"] = float(v.std(ddof=0)) if v.size else None
        out.append(row)
    return out


def results_table(runs: Sequence[RunResult], *, group_title: str = "loss") -> str:
    """Markdown table, one row a group: runs, then mean (+- std over its runs) of each metric."""
    head = f"| {group_title} | runs | " + " | ".join(title for _, title in COLUMNS) + " |"
    lines = [head, "| --- | ---: |" + " ---: |" * len(COLUMNS)]
    for group, members in _groups(runs).items():
        cells = [_cell(_values(members, key), key == "eer") for key, _ in COLUMNS]
        lines.append(f"| {group} | {len(members)} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def write_results(root: str | Path, out_dir: str | Path | None = None, *,
                  group_title: str = "loss") -> Path:
    """Find the runs below `root`, write results.md and results.json to `out_dir` (default root)."""
    runs = find_runs(root)
    out = Path(out_dir or root)
    table = results_table(runs, group_title=group_title)
    with atomic_write(out / "results.md") as f:
        f.write(f"Runs below {Path(root)}: mean +- std over the runs of each {group_title} "
                "(std with ddof 0); EER of class-verification trials among test clips.\n\n")
        f.write(table)
    with atomic_write(out / "results.json") as f:
        json.dump({"groups": summarize(runs), "runs": [asdict(r) for r in runs]}, f, indent=2)
    return out / "results.md"


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m audiocs.report --root DIR [--out DIR]`: print and write the results table."""
    p = argparse.ArgumentParser(prog="python -m audiocs.report", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--root", required=True, help="folder with the runs (searched recursively)")
    p.add_argument("--out", default=None, help="folder for results.md/.json (default: --root)")
    p.add_argument("--group-title", default="loss", help="header of the group column")
    args = p.parse_args(argv)
    try:
        path = write_results(args.root, args.out, group_title=args.group_title)
    except AudiocsError as err:
        print(f"{p.prog}: error: {err}", file=sys.stderr)
        return 2
    print(path.read_text(), end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
