"""Coordinate-wise sweep of CS-Softmax's (scale, margin, weight_update) on validation data.

Each stage varies one parameter with the others at the best values so far, chosen by the best
validation accuracy over epochs (the test fold is never read). Every run is an ordinary
`audiocs train` experiment; a finished run is skipped and an interrupted one resumed, and the
table is rewritten (atomically) after each run, so the sweep can be stopped and restarted.

    python recipes/cs_softmax_sweep/sweep.py --config recipes/cs_softmax_sweep/conf/fsdd.yaml \
        --exp-dir exp/cs_sweep --out recipes/cs_softmax_sweep/results_fsdd.md
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

from audiocs.fileio import atomic_write
from audiocs.train.checkpoint import CHECKPOINT_DIR, LAST
from audiocs.train.evaluate import read_history

STAGES = (
    ("weight_update", "loss.params.weight_update", [0.0, 0.25, 0.5, 0.75, 1.0]),
    ("margin", "loss.margin", [0.1, 0.25, 0.4]),
    ("scale", "loss.scale", [16.0, 30.0, 64.0]),
)
START = {"weight_update": 0.5, "margin": 0.25, "scale": 30.0}
KEYS = {name: key for name, key, _ in STAGES}


def run_name(params: dict[str, float], seed: int) -> str:
    return f"s{params['scale']:g}_m{params['margin']:g}_lam{params['weight_update']:g}_seed{seed}"


def run(config: Path, exp: Path, params: dict[str, float], seed: int, epochs: int,
        overrides: list[str]) -> list[dict]:
    """Train one setting (skipped when finished, resumed when interrupted); its history."""
    done = read_history(exp)
    if len(done) >= epochs:
        return done
    sets = [f"train.seed={seed}", f"train.epochs={epochs}", "train.progress=false", *overrides]
    sets += [f"{KEYS[name]}={value}" for name, value in params.items()]
    cmd = [sys.executable, "-m", "audiocs", "train", "--config", str(config), "--exp-dir", str(exp)]
    cmd += [arg for item in sets for arg in ("--set", item)]
    if (exp / CHECKPOINT_DIR / LAST).exists():
        cmd.append("--resume")
    print(" ".join(cmd), flush=True)
    subprocess.run(cmd, check=True)
    return read_history(exp)


def best_valid(hist: list[dict]) -> float:
    return max(h["valid_acc"] for h in hist)


def write_table(out: Path, rows: list[tuple[str, dict[str, float], int, list[dict]]], command: str) -> None:
    lines = [
        "# CS-Softmax sweep (validation accuracy; the test fold is never used)",
        "",
        f"Command: `{command}`",
        "",
        "| stage | scale | margin | weight_update | seed | best valid acc (epoch) | last valid acc |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for stage, params, seed, hist in rows:
        best = max(range(len(hist)), key=lambda i: hist[i]["valid_acc"])
        lines.append(
            f"| {stage} | {params['scale']:g} | {params['margin']:g} | {params['weight_update']:g} | {seed} "
            f"| {hist[best]['valid_acc']:.4f} ({best + 1}) | {hist[-1]['valid_acc']:.4f} |"
        )
    with atomic_write(out) as f:
        f.write("\n".join(lines) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", type=Path, required=True)
    parser.add_argument("--exp-dir", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--set", nargs="*", default=[], help="more key=value config overrides")
    args = parser.parse_args()
    command = "python " + " ".join([os.path.relpath(__file__)] + sys.argv[1:])
    best = dict(START)
    rows = []
    for stage, _, values in STAGES:
        scores = {}
        for value in values:
            params = {**best, stage: value}
            accs = []
            for seed in args.seeds:
                hist = run(args.config, args.exp_dir / run_name(params, seed), params, seed, args.epochs, args.set)
                rows.append((stage, params, seed, hist))
                accs.append(best_valid(hist))
                write_table(args.out, rows, command)
            scores[value] = sum(accs) / len(accs)
        best[stage] = max(values, key=lambda v: scores[v])  # first of equals wins
        print(f"stage {stage}: {scores} -> {best[stage]}", flush=True)
    chosen = ", ".join(f"{k}={v:g}" for k, v in best.items())
    with atomic_write(args.out) as f:
        f.write(args.out.read_text() + f"\nChosen on validation: {chosen}\n")


if __name__ == "__main__":
    main()
