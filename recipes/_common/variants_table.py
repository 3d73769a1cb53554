"""Table of variants measured on several models: one metric of each variant, per model and as
the mean, from RUN/<sub>/<variant>/metrics.json (written by `audiocs score` or `audiocs evaluate`).

Usage: python variants_table.py --out OUT --sub backend --key eer --scale 100 --lower \
         --also min_dcf_0.01 --title "Scoring back-ends: EER %" RUN [RUN ...]
Writes OUT.md and OUT.json, best mean first; every run must hold every variant of the first.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path

import numpy as np

from audiocs.errors import AudiocsError
from audiocs.fileio import atomic_write


def collect(runs: list[Path], sub: str) -> dict[str, list[dict]]:
    """Variant name -> its metrics.json of every run (in run order)."""
    names = sorted(p.parent.name for p in (runs[0] / sub).glob("*/metrics.json"))
    if not names:
        raise AudiocsError(f"{runs[0] / sub}: no */metrics.json")
    table = {}
    for name in names:
        rows = []
        for run in runs:
            path = run / sub / name / "metrics.json"
            if not path.is_file():
                raise AudiocsError(f"{path}: missing (every run needs the same variants)")
            rows.append(json.loads(path.read_text()))
        table[name] = rows
    return table


def value(metrics: dict, key: str, path: str) -> float:
    if key not in metrics:
        raise AudiocsError(f"{path}: no {key!r} in metrics.json")
    return float(metrics[key])


def markdown(table: dict[str, list[dict]], runs: list[Path], args: argparse.Namespace,
             command: str) -> str:
    """The table, best mean first."""
    sign = 1.0 if args.lower else -1.0
    values = {n: [args.scale * value(m, args.key, n) for m in rows] for n, rows in table.items()}
    order = sorted(table, key=lambda n: sign * float(np.mean(values[n])))
    lines = [f"# {args.title} ({'lower' if args.lower else 'higher'} is better)", "",
             f"Command: `{command}`", "", "Models: " + ", ".join(f"`{r.name}`" for r in runs), "",
             "| rank | variant | " + " | ".join(f"model {k + 1}" for k in range(len(runs)))
             + f" | {args.key} mean |" + "".join(f" {a} mean |" for a in args.also),
             "| ---: | --- | " + " | ".join("---:" for _ in runs) + " | ---: |"
             + "".join(" ---: |" for _ in args.also)]
    for rank, name in enumerate(order, 1):
        also = "".join(f" {np.mean([value(m, a, name) for m in table[name]]):.3f} |" for a in args.also)
        lines.append(f"| {rank} | {name} | " + " | ".join(f"{v:.{args.digits}f}" for v in values[name])
                     + f" | {np.mean(values[name]):.{args.digits + 1}f} |" + also)
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", type=Path, required=True, help="output prefix (OUT.md, OUT.json)")
    p.add_argument("--sub", required=True, help="folder of each run holding <variant>/metrics.json")
    p.add_argument("--key", required=True, help="the metric that ranks the variants")
    p.add_argument("--scale", type=float, default=1.0, help="factor for the shown metric (100: percent)")
    p.add_argument("--digits", type=int, default=3, help="decimals of the per-model values")
    p.add_argument("--lower", action="store_true", help="lower is better (default: higher)")
    p.add_argument("--also", action="append", default=[], help="another metric shown as its mean (repeatable)")
    p.add_argument("--title", default="Variants")
    p.add_argument("runs", type=Path, nargs="+", help="model folders")
    args = p.parse_args(argv)
    try:
        table = collect(args.runs, args.sub)
        command = "python recipes/_common/variants_table.py " + shlex.join(sys.argv[1:] if argv is None else argv)
        text = markdown(table, args.runs, args, command)
    except AudiocsError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(args.out.with_suffix(".md"), encoding="utf-8") as f:
        f.write(text)
    keys = [args.key, *args.also]
    summary = {name: {k: [m[k] for m in rows] for k in keys} for name, rows in table.items()}
    with atomic_write(args.out.with_suffix(".json"), encoding="utf-8") as f:
        json.dump({"runs": [str(r) for r in args.runs], "variants": summary}, f, indent=1)
    print(args.out.with_suffix(".md"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
