"""The `audiocs` command: one small function per subcommand; the work lives in the library."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence

from audiocs import __version__
from audiocs.errors import AudiocsError

Handler = Callable[[argparse.Namespace], int | None]


# --- subcommands -----------------------------------------------------------------------
# Each subcommand is a pair: `_add_<name>(sub)` declares its arguments, `cmd_<name>(args)` runs
# it by calling library code (imported inside the function, so `audiocs --help` stays fast).


def _add_loss_demo(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("loss-demo", help="train a tiny model on generated clusters with each loss")
    p.add_argument("--losses", nargs="*", default=None, help="loss names (default: all)")
    p.add_argument("--classes", type=int, default=8)
    p.add_argument("--steps", type=int, default=300)
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=cmd_loss_demo)


def cmd_loss_demo(args: argparse.Namespace) -> int:
    from audiocs.losses.demo import run_demo

    run_demo(args.losses, num_classes=args.classes, steps=args.steps, seed=args.seed)
    return 0


def _add_train(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="train a model on a feature cache (see docs/training.md)")
    p.add_argument("--config", required=True, help="YAML config (recipes/conf_examples/...)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="dotted override, e.g. --set optim.lr=0.01 (repeatable)")
    p.add_argument("--fold", type=int, default=None, help="test on fold k, train on the others")
    p.add_argument("--exp-dir", default=None, help="experiment folder (default exp/<config>)")
    p.add_argument("--resume", action="store_true", help="continue from checkpoints/last.pt")
    p.set_defaults(func=cmd_train)


def cmd_train(args: argparse.Namespace) -> int:
    from audiocs.train.loop import train_command

    train_command(args.config, args.overrides, fold=args.fold, exp_dir=args.exp_dir,
                  resume=args.resume)
    return 0


def _add_evaluate(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("evaluate", help="accuracy, macro-F1, confusion matrix of a trained model")
    p.add_argument("--exp-dir", required=True, nargs="+",
                   help="experiment folder of `audiocs train`; several: an ensemble (their class "
                        "scores averaged)")
    p.add_argument("--fold", type=int, default=None, help="evaluate exp-dir/fold<k> (crossval)")
    p.add_argument("--split", default="test", choices=["test", "valid", "train"])
    p.add_argument("--cache-dir", default=None, help="another cache with the same classes")
    p.add_argument("--device", default="cpu")
    p.add_argument("--checkpoint", default="best.pt", choices=["best.pt", "last.pt"])
    p.add_argument("--adapt-bn", action=argparse.BooleanOptionalAction, default=None,
                   help="re-estimate BatchNorm statistics on the split's clips first "
                        "(default: the config's eval.adapt_bn)")
    p.add_argument("--out", default=None, help="output folder (default EXP/eval/<split>, "
                   "an ensemble's FIRST/eval/<split>_ensemble)")
    p.set_defaults(func=cmd_evaluate)


def cmd_evaluate(args: argparse.Namespace) -> int:
    from audiocs.evaluate import evaluate_experiment

    r = evaluate_experiment(args.exp_dir, split=args.split, fold=args.fold, cache_dir=args.cache_dir,
                            device=args.device, checkpoint=args.checkpoint, adapt_bn=args.adapt_bn,
                            out_dir=args.out)
    print(f"{r.split}: {r.num_clips} clips, accuracy {r.accuracy:.4f}, macro-F1 "
          f"{r.macro_f1:.4f} (written to {r.out_dir})")
    return 0


def _add_crossval(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("crossval", help="train and test every fold; mean +- std accuracy table")
    p.add_argument("--config", required=True)
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    p.add_argument("--exp-dir", required=True, help="folds go to exp-dir/fold<k>")
    p.add_argument("--folds", type=int, nargs="*", default=None, help="default: every fold")
    p.set_defaults(func=cmd_crossval)


def cmd_crossval(args: argparse.Namespace) -> int:
    from audiocs.train.crossval import run_crossval

    run_crossval(args.config, args.overrides, args.exp_dir, folds=args.folds)
    return 0


def _add_synth(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("synth", help="generate the built-in corpus (ESC-50 layout, 10 classes)")
    p.add_argument("--out", required=True, help="corpus folder (audio/ and meta/esc50.csv)")
    p.add_argument("--clips-per-class", type=int, default=40)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--sample-rate", type=int, default=16000)
    p.add_argument("--duration", type=float, default=5.0, help="seconds per clip")
    p.add_argument("--workers", type=int, default=1, help="worker processes")
    p.set_defaults(func=cmd_synth)


def cmd_synth(args: argparse.Namespace) -> int:
    from audiocs.synthetic import generate_esc50_like

    out = generate_esc50_like(args.out, clips_per_class=args.clips_per_class, seed=args.seed,
                              sample_rate=args.sample_rate, duration=args.duration,
                              workers=args.workers)
    print(f"corpus in {out} (meta/esc50.csv, audio/)")
    return 0


def _add_trials(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("trials", help="generate a verification trial list from an embeddings folder")
    p.add_argument("--embeddings", required=True, help="folder with embeddings.npy + index.csv")
    p.add_argument("--out", required=True, help="trial list to write ('1|0 enroll test' lines)")
    p.add_argument("--by", default="speaker", choices=["speaker", "label"], help="what a target pair shares")
    p.add_argument("--num-trials", type=int, default=None, help="balanced seeded sample (default: all pairs)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--include", nargs="*", default=None, help="only these speakers/label names (held out)")
    p.add_argument("--exclude-from", default=None,
                   help="CSV (training manifest or index.csv): leave out every speaker/label_name it holds")
    p.set_defaults(func=cmd_trials)


def cmd_trials(args: argparse.Namespace) -> int:
    from audiocs.scoring.pipeline import run_trials

    t = run_trials(args.embeddings, args.out, by=args.by, num_trials=args.num_trials, seed=args.seed,
                   include=args.include, exclude_from=args.exclude_from)
    print(f"{len(t)} trials ({int(t.labels.sum())} target) written to {args.out}")
    return 0


def _add_score(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("score", help="cosine-score a trial list: EER, minDCF, DET curve, score histograms")
    p.add_argument("--embeddings", required=True, help="folder with embeddings.npy + index.csv")
    p.add_argument("--trials", required=True, help="trial list ('1 enroll test' or 'enroll test target')")
    p.add_argument("--out", default="scores", help="folder for scores.txt, metrics.json, det.png, score_hist.png")
    p.add_argument("--cohort", default=None, help="embeddings folder of the S-norm/AS-norm cohort")
    p.add_argument("--norm", default="none", choices=["none", "snorm", "asnorm"])
    p.add_argument("--top-k", type=int, default=300, help="AS-norm cohort size per side")
    p.add_argument("--cohort-by", default=None, choices=["speaker", "label"],
                   help="cohort members are these classes' mean embeddings (default: each embedding)")
    p.add_argument("--mean-from", default=None, help="embeddings folder whose mean is subtracted first")
    p.add_argument("--wccn", default=None, metavar="DIR",
                   help="embeddings folder of other speakers (e.g. the cohort) that fits within-class "
                        "covariance normalization, applied before scoring")
    p.add_argument("--wccn-by", default="speaker", choices=["speaker", "label"], help="WCCN's classes")
    p.add_argument("--wccn-shrink", type=float, default=None, metavar="A",
                   help="shrinkage of the within-class covariance towards the identity, 0-1 (default 0.5)")
    p.add_argument("--skip-missing", action="store_true", help="skip trials whose ids have no embedding")
    p.add_argument("--by", default=None, choices=["speaker", "label"],
                   help="also report retrieval metrics (P@1, mAP@R) grouping rows by this key")
    p.add_argument("--few-shot", type=int, default=None, metavar="K",
                   help="with --by: nearest-centroid accuracy from K enrollment rows per class")
    p.add_argument("--episodes", type=int, default=10)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-plots", action="store_true")
    p.set_defaults(func=cmd_score)


def cmd_score(args: argparse.Namespace) -> int:
    from audiocs.scoring.pipeline import run_score

    m = run_score(args.embeddings, args.trials, args.out, cohort=args.cohort, norm=args.norm, top_k=args.top_k,
                  mean_from=args.mean_from, wccn_from=args.wccn, wccn_by=args.wccn_by,
                  wccn_shrink=args.wccn_shrink, cohort_by=args.cohort_by,
                  skip_missing=args.skip_missing, by=args.by,
                  few_shot=args.few_shot, episodes=args.episodes, seed=args.seed, plots=not args.no_plots)
    if m["skipped_missing"]:
        print(f"skipped {m['skipped_missing']} trial(s) with ids missing from {args.embeddings}")
    if "eer" in m:
        print(f"{m['scored']} trials: EER {100 * m['eer']:.2f}% (threshold {m['eer_threshold']:.4f}), "
              f"minDCF(0.01) {m['min_dcf_0.01']:.4f}, minDCF(0.05) {m['min_dcf_0.05']:.4f}")
    for key in ("retrieval", "few_shot"):
        if key in m:
            print(f"{key}: " + ", ".join(f"{k} {v:.4f}" if isinstance(v, float) else f"{k} {v}"
                                         for k, v in m[key].items()))
    print(f"written to {args.out}")
    return 0


def _add_embed(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("embed", help="L2-normalized embeddings of a cache's clips from a checkpoint")
    p.add_argument("--exp-dir", required=True, help="experiment folder (or a .pt checkpoint)")
    p.add_argument("--cache", required=True, help="feature cache folder (same feature settings as training)")
    p.add_argument("--out", required=True, help="folder for embeddings.npy + index.csv")
    p.add_argument("--folds", type=int, nargs="*", default=None, help="only clips of these folds")
    p.add_argument("--indices", type=int, nargs="*", default=None, help="only these cache rows")
    p.add_argument("--originals", action="store_true",
                   help="leave out augmented copies (speed perturbation, noise) of the selected clips")
    p.add_argument("--window", type=int, default=None, help="sliding windows of N frames (default: whole clip)")
    p.add_argument("--hop", type=int, default=None, help="window hop in frames (default: window / 2)")
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--checkpoint", default="best.pt", choices=["best.pt", "last.pt"])
    p.add_argument("--device", default="cpu", help="cpu, cuda or auto (torchrun: one rank per device)")
    p.add_argument("--ark", action="store_true", help="also write Kaldi embeddings.ark/.scp (kaldiio)")
    p.set_defaults(func=cmd_embed)


def cmd_embed(args: argparse.Namespace) -> int:
    from audiocs.embed import embed_cache

    es = embed_cache(args.exp_dir, args.cache, args.out, folds=args.folds, indices=args.indices,
                     window=args.window, hop=args.hop, batch_size=args.batch_size, device=args.device,
                     checkpoint=args.checkpoint, ark=args.ark, originals=args.originals)
    if es is not None:
        print(f"{len(es)} embeddings of dimension {es.vectors.shape[1]} written to {args.out}")
    return 0


def _add_fuse(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("fuse", help="one embedding per clip from several models' embeddings of the same "
                                    "clips (cosine score = mean of the models' scores)")
    p.add_argument("--embeddings", required=True, nargs="+", metavar="DIR",
                   help="embedding folders of the same ids, one per model")
    p.add_argument("--out", required=True, help="folder for the fused embeddings.npy + index.csv")
    p.set_defaults(func=cmd_fuse)


def cmd_fuse(args: argparse.Namespace) -> int:
    from audiocs.scoring.io import fuse_embeddings, read_embeddings, write_embeddings

    es = fuse_embeddings([read_embeddings(d) for d in args.embeddings])
    write_embeddings(args.out, es)
    print(f"{len(es)} embeddings of dimension {es.vectors.shape[1]} ({len(args.embeddings)} models) "
          f"written to {args.out}")
    return 0


def _add_quickstart(sub: argparse._SubParsersAction) -> None:
    from audiocs.quickstart import QuickstartOptions  # light: no torch

    d = QuickstartOptions()
    p = sub.add_parser("quickstart", help="generated corpus -> features -> CS-Softmax and softmax "
                       "models -> accuracy, EER, report.md and report.html (about 3 minutes on 2 CPU cores)")
    p.add_argument("--out", default="quickstart", help="output folder (re-running resumes it)")
    p.add_argument("--clips-per-class", type=int, default=d.clips_per_class)
    p.add_argument("--duration", type=float, default=d.duration, help="seconds per generated clip")
    p.add_argument("--epochs", type=int, default=d.epochs)
    p.add_argument("--losses", nargs="+", default=list(d.losses))
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--workers", type=int, default=d.workers,
                   help="processes for generation and features")
    p.set_defaults(func=cmd_quickstart)


def cmd_quickstart(args: argparse.Namespace) -> int:
    from audiocs.quickstart import QuickstartOptions, quickstart

    opts = QuickstartOptions(clips_per_class=args.clips_per_class, duration=args.duration,
                             epochs=args.epochs, losses=args.losses, seed=args.seed,
                             workers=args.workers)
    report = quickstart(args.out, opts)
    print(report.read_text(), end="")
    return 0


def _add_predict(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("predict", help="top-k classes of audio files (wav/flac, any rate/channels) from a trained model")
    p.add_argument("--exp-dir", required=True, help="experiment folder (or a .pt checkpoint)")
    p.add_argument("inputs", nargs="+", metavar="FILE_OR_FOLDER", help="audio files; folders are searched for .wav/.flac")
    p.add_argument("--top-k", type=int, default=5)
    p.add_argument("--out", default=None, help="also write every row to this CSV")
    p.add_argument("--window-seconds", type=float, default=None,
                   help="score longer files in sliding windows of S seconds (default: the training crop; 0: whole files)")
    p.add_argument("--hop-seconds", type=float, default=None, help="window hop (default: half a window)")
    p.add_argument("--checkpoint", default="best.pt", choices=["best.pt", "last.pt"])
    p.add_argument("--device", default="cpu")
    p.set_defaults(func=cmd_predict)


def cmd_predict(args: argparse.Namespace) -> int:
    from audiocs.predict import predict_command

    return predict_command(args.exp_dir, args.inputs, top_k=args.top_k, out=args.out,
                           window_seconds=args.window_seconds, hop_seconds=args.hop_seconds,
                           checkpoint=args.checkpoint, device=args.device)


def _add_export(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("export", help="the embedding model as ONNX or TorchScript (dynamic batch and time)")
    p.add_argument("--exp-dir", required=True, help="experiment folder (or a .pt checkpoint)")
    p.add_argument("--format", required=True, choices=["onnx", "torchscript"])
    p.add_argument("--out", required=True, help="file to write (.onnx / .pt)")
    p.add_argument("--from-waveform", action="store_true",
                   help="input mono waveforms at the model's sample rate (log-mel front-end folded in)")
    p.add_argument("--checkpoint", default="best.pt", choices=["best.pt", "last.pt"])
    p.set_defaults(func=cmd_export)


def cmd_export(args: argparse.Namespace) -> int:
    from audiocs.export import export_model

    out = export_model(args.exp_dir, args.out, args.format, from_waveform=args.from_waveform,
                       checkpoint=args.checkpoint)
    print(f"{args.format} model ({'waveform' if args.from_waveform else 'features'} -> embedding) written to {out}")
    return 0


def _add_search(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("search", help="resumable grid / seeded random search over config keys, "
                       "scored on validation data (table + plot)")
    p.add_argument("--config", default=None, help="base YAML config")
    p.add_argument("--set", dest="fixed", action="append", default=[], metavar="KEY=VALUE",
                   help="fixed override for every run (repeatable)")
    p.add_argument("--space", action="append", default=[], required=True, metavar="KEY=V1,V2",
                   help="a searched key and its values (repeatable)")
    p.add_argument("--exp-dir", required=True, help="folder of the runs (re-running resumes)")
    p.add_argument("--out", required=True, help="results path without suffix: .md, .json, .png")
    p.add_argument("--trials", type=int, default=None,
                   help="random search: this many grid points (default: the whole grid)")
    p.add_argument("--sample-seed", type=int, default=0, help="seed of the random search")
    p.add_argument("--seeds", type=int, nargs="+", default=[0], help="training seeds per point")
    p.add_argument("--folds", type=int, nargs="+", default=None,
                   help="outer folds: each point trained with --fold k; nested CV table")
    p.add_argument("--metric", default="valid_acc", choices=["valid_acc", "last_valid_acc", "eer"],
                   help="valid_acc: best epoch's; last_valid_acc: last epoch's; eer: --eval-folds")
    p.add_argument("--eval-cache", default=None, help="eer: cache to embed (default: training's)")
    p.add_argument("--eval-folds", type=int, nargs="+", default=[], help="eer: folds to verify")
    p.add_argument("--eer-by", default="speaker", choices=["speaker", "label"])
    p.set_defaults(func=cmd_search)


def cmd_search(args: argparse.Namespace) -> int:
    import shlex
    from pathlib import Path

    from audiocs.search import Search, parse_space, run_search

    search = Search(args.config, Path(args.exp_dir), args.fixed, args.metric, args.eval_cache,
                    tuple(args.eval_folds), args.eer_by)
    command = "audiocs " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    run_search(search, parse_space(args.space), Path(args.out), command, seeds=args.seeds,
               trials=args.trials, sample_seed=args.sample_seed, folds=args.folds)
    return 0


def _add_plot_margins(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("plot-margins", help="decision boundaries of losses in the (non-target "
                       "cosine, target cosine) plane")
    p.add_argument("losses", nargs="+", metavar="LOSS[:KEY=V,...]",
                   help="a loss and its parameters, e.g. am_softmax:margin=0.2 "
                        "cs_softmax:margin=0.25,weight_update=0.5")
    p.add_argument("--out", required=True, help="PNG to write")
    p.set_defaults(func=cmd_plot_margins)


def cmd_plot_margins(args: argparse.Namespace) -> int:
    from audiocs.losses.geometry import parse_loss_spec, plot_margins

    try:
        losses = [parse_loss_spec(spec) for spec in args.losses]
    except (KeyError, ValueError) as err:
        raise AudiocsError(f"plot-margins: {err}") from None
    print(plot_margins(losses, args.out))
    return 0


def _add_report(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("report", help="one self-contained HTML page of trained runs: curves, "
                       "test tables, confusion matrix, DET curve, misclassified clips")
    p.add_argument("exps", nargs="+", metavar="EXP",
                   help="experiment folders (a cross-validation folder stands for its folds)")
    p.add_argument("--out", required=True, help="HTML file to write (audio links are relative to it)")
    p.add_argument("--split", default="test", choices=["test", "valid", "train"],
                   help="the evaluated split to show (eval/<split>/)")
    p.add_argument("--scores", nargs="+", default=None, metavar="DIR",
                   help="scores folder of `audiocs score`, one per run (default: EXP/scores if present)")
    p.add_argument("--names", nargs="+", default=None, help="run names, one per run")
    p.add_argument("--title", default="audiocs report")
    p.set_defaults(func=cmd_report)


def cmd_report(args: argparse.Namespace) -> int:
    from audiocs.html_report import write_html_report

    out = write_html_report(args.exps, args.out, split=args.split, scores=args.scores,
                            names=args.names, title=args.title)
    print(f"report written to {out}")
    return 0


# (new subcommands: add an `_add_<name>` above this line and list it in _SUBCOMMANDS)

_SUBCOMMANDS: list[Callable[[argparse._SubParsersAction], None]] = [
    _add_loss_demo,
    _add_train,
    _add_evaluate,
    _add_crossval,
    _add_synth,
    _add_trials,
    _add_fuse,
    _add_score,
    _add_embed,
    _add_quickstart,
    _add_predict,
    _add_export,
    _add_search,
    _add_plot_margins,
    _add_report,
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="audiocs", description=__doc__)
    parser.add_argument("--version", action="version", version=f"audiocs {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    for add in _SUBCOMMANDS:
        add(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one subcommand; returns its exit code (0 done, 2 a user error, 130 interrupted).

    Under torchrun (``WORLD_SIZE`` > 1) a rank does not return: once the command has finished
    and left the process group, it flushes its output and ends with ``os._exit(code)``. PyTorch
    keeps a gloo process group used by DDP alive after ``destroy_process_group`` until the
    interpreter tears down, where gloo now and then aborted a rank that had finished cleanly
    ("terminate called without an active exception", SIGABRT), and torchrun then reported a
    successful run as failed; skipping that teardown avoids it. Every file is already closed.
    """
    args = build_parser().parse_args(argv)
    try:
        code = int(args.func(args) or 0)
    except AudiocsError as err:
        print(f"audiocs {args.command}: error: {err}", file=sys.stderr)
        code = 2
    except KeyboardInterrupt:
        print(f"audiocs {args.command}: interrupted", file=sys.stderr)
        code = 130
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    return code


if __name__ == "__main__":
    sys.exit(main())
