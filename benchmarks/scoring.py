"""Cosine scoring throughput: the `audiocs score` scorer against a per-trial scikit-learn loop.

    python benchmarks/scoring.py            # 1,000,000 trials over 20,000 embeddings (D=256)

Times (best of --repeats): the scoring kernel on row indices (`cosine_scores`), the whole
`score_trials` call that `audiocs score` makes (string ids -> rows -> scores), a per-trial
loop of `sklearn.metrics.pairwise.cosine_similarity` on --sample trials (extrapolated), and
AS-norm against a --cohort-size cohort (top-k), all in one run.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from collections.abc import Callable

import numpy as np
import torch
from sklearn.metrics.pairwise import cosine_similarity

from audiocs.scoring import EmbeddingSet, Trials, cosine_scores, write_embeddings, write_trials
from audiocs.scoring.pipeline import run_score, score_trials


def wall_and_cpu(fn: Callable[[], object], repeats: int) -> tuple[float, float]:
    """(wall seconds, CPU seconds of this process over all threads) of the fastest of `repeats` calls."""
    runs = []
    for _ in range(repeats):
        wall, cpu = time.perf_counter(), time.process_time()
        fn()
        runs.append((time.perf_counter() - wall, time.process_time() - cpu))
    return min(runs)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--trials", type=int, default=1_000_000)
    ap.add_argument("--embeddings", type=int, default=20_000)
    ap.add_argument("--dim", type=int, default=256)
    ap.add_argument("--cohort-size", type=int, default=5_000)
    ap.add_argument("--top-k", type=int, default=300)
    ap.add_argument("--sample", type=int, default=2_000, help="trials timed in the per-trial loop")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    rng = np.random.default_rng(0)
    x = rng.standard_normal((args.embeddings, args.dim)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    ids = [f"utt{i:06d}" for i in range(args.embeddings)]
    es = EmbeddingSet(ids, x, np.zeros(len(ids), np.int64), [""] * len(ids), [""] * len(ids))
    cohort = EmbeddingSet(ids[: args.cohort_size], rng.standard_normal((args.cohort_size, args.dim)).astype(np.float32),
                          np.zeros(args.cohort_size, np.int64), [""] * args.cohort_size, [""] * args.cohort_size)
    e = rng.integers(0, args.embeddings, args.trials)
    t = rng.integers(0, args.embeddings, args.trials)
    trials = Trials([ids[i] for i in e], [ids[i] for i in t], rng.integers(0, 2, args.trials).astype(np.int8),
                    np.arange(1, args.trials + 1))

    sample = slice(0, args.sample)
    t_loop = wall_and_cpu(lambda: [cosine_similarity(x[a][None], x[b][None])[0, 0]
                                   for a, b in zip(e[sample], t[sample])], 1)
    ref = np.array([cosine_similarity(x[a][None], x[b][None])[0, 0] for a, b in zip(e[sample], t[sample])])
    got = cosine_scores(x, e, t)
    max_diff = float(np.abs(got[sample] - ref).max())
    t_loop = (t_loop[0] * args.trials / args.sample, t_loop[1] * args.trials / args.sample)

    t_kernel = wall_and_cpu(lambda: cosine_scores(x, e, t), args.repeats)
    t_call = wall_and_cpu(lambda: score_trials(es, trials), args.repeats)
    t_asnorm = wall_and_cpu(lambda: score_trials(es, trials, cohort=cohort, norm="asnorm", top_k=args.top_k), 1)
    with tempfile.TemporaryDirectory() as tmp:
        write_embeddings(f"{tmp}/emb", es)
        write_trials(trials, f"{tmp}/trials.txt")
        t_files = wall_and_cpu(lambda: run_score(f"{tmp}/emb", f"{tmp}/trials.txt", f"{tmp}/out", plots=False), 1)

    n = args.trials
    print(f"load average (1, 5, 15 min): {', '.join(f'{v:.1f}' for v in os.getloadavg())} on {os.cpu_count()} CPUs")
    print(f"{n:,} trials over {args.embeddings:,} embeddings (D={args.dim}); torch threads {torch.get_num_threads()}; "
          f"max |audiocs - sklearn| on the sample {max_diff:.1e}")
    rows = [
        (f"sklearn cosine_similarity per-trial loop ({args.sample:,} timed, extrapolated)", t_loop),
        ("audiocs cosine_scores (row indices -> scores)", t_kernel),
        ("audiocs score_trials (string ids -> scores, as `audiocs score`)", t_call),
        (f"audiocs score_trials + AS-norm (cohort {args.cohort_size:,}, top-k {args.top_k})", t_asnorm),
        ("run_score = `audiocs score --no-plots` (read files, score, metrics, write)", t_files),
    ]
    print(f"| {'method':<78} | {'wall s':>7} | {'trials/s':>8} | {'vs loop':>7} | {'CPU s':>7} | {'trials/CPU-s':>12} |")
    print(f"|{'-' * 80}|{'-' * 8}:|{'-' * 9}:|{'-' * 8}:|{'-' * 8}:|{'-' * 13}:|")
    for name, (wall, cpu) in rows:
        print(f"| {name:<78} | {wall:7.3f} | {n / wall:8.3g} | {t_loop[0] / wall:6.0f}x | {cpu:7.3f} | {n / cpu:12.3g} |")
    print(f"AS-norm cost over plain scoring: {t_asnorm[0] - t_call[0]:.2f} s wall ({t_asnorm[0] / t_call[0]:.1f}x)")


if __name__ == "__main__":
    main()
