"""Table of scoring back-ends over several models: EER and minDCF(0.01) of each back-end, per
model and as the mean, from RUN/backend/<back-end>/metrics.json (written by `audiocs score`).

Usage: python backend_table.py --out exp/speakers-search/backend RUN [RUN ...]
Writes OUT.md and OUT.json; back-ends are listed in the order of their first model's folders.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from audiocs.errors import AudiocsError
from audiocs.fileio import atomic_write


def collect(runs: list[Path]) -> dict[str, list[dict]]:
    """Back-end name -> its metrics.json of every run (in run order); every run must have them all."""
    names = sorted(p.parent.name for p in (runs[0] / "backend").glob("*/metrics.json"))
    if not names:
        raise AudiocsError(f"{runs[0] / 'backend'}: no */metrics.json")
    table = {}
    for name in names:
        rows = []
        for run in runs:
            path = run / "backend" / name / "metrics.json"
            if not path.is_file():
                raise AudiocsError(f"{path}: missing (every run needs the same back-ends)")
            rows.append(json.loads(path.read_text()))
        table[name] = rows
    return table


def markdown(table: dict[str, list[dict]], runs: list[Path], command: str) -> str:
    """The table, best mean EER first."""
    means = {n: float(np.mean([100 * m["eer"] for m in rows])) for n, rows in table.items()}
    lines = ["# Scoring back-ends: EER % (lower is better)", "", f"Command: `{command}`", "",
             "Models: " + ", ".join(f"`{r.name}`" for r in runs), "",
             "| rank | back-end | " + " | ".join(f"model {k + 1}" for k in range(len(runs)))
             + " | EER mean | minDCF(0.01) mean |",
             "| ---: | --- | " + " | ".join("---:" for _ in runs) + " | ---: | ---: |"]
    for rank, name in enumerate(sorted(table, key=means.get), 1):
        rows = table[name]
        dcf = float(np.mean([m["min_dcf_0.01"] for m in rows]))
        lines.append(f"| {rank} | {name} | " + " | ".join(f"{100 * m['eer']:.2f}" for m in rows)
                     + f" | {means[name]:.3f} | {dcf:.3f} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", type=Path, required=True, help="output prefix (OUT.md, OUT.json)")
    p.add_argument("runs", type=Path, nargs="+", help="model folders holding backend/<name>/metrics.json")
    args = p.parse_args(argv)
    try:
        table = collect(args.runs)
    except AudiocsError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    command = "python recipes/speakers/local/backend_table.py " + " ".join(sys.argv[1:] if argv is None else argv)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(args.out.with_suffix(".md"), encoding="utf-8") as f:
        f.write(markdown(table, args.runs, command))
    summary = {name: {"eer": [m["eer"] for m in rows], "min_dcf_0.01": [m["min_dcf_0.01"] for m in rows]}
               for name, rows in table.items()}
    with atomic_write(args.out.with_suffix(".json"), encoding="utf-8") as f:
        json.dump({"runs": [str(r) for r in args.runs], "backends": summary}, f, indent=1)
    print(args.out.with_suffix(".md"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
