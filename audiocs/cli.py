"""The `audiocs` command: one small function per subcommand; the work lives in the library."""

from __future__ import annotations

import argparse
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
    p = sub.add_parser("train", help="train a model on a feature cache (see README, training)")
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
    p.add_argument("--exp-dir", required=True, help="experiment folder of `audiocs train`")
    p.add_argument("--fold", type=int, default=None, help="evaluate exp-dir/fold<k> (crossval)")
    p.add_argument("--split", default="test", choices=["test", "valid", "train"])
    p.add_argument("--cache-dir", default=None, help="another cache with the same classes")
    p.add_argument("--device", default="cpu")
    p.set_defaults(func=cmd_evaluate)


def cmd_evaluate(args: argparse.Namespace) -> int:
    from audiocs.train.evaluate import evaluate_experiment

    r = evaluate_experiment(args.exp_dir, split=args.split, fold=args.fold,
                            cache_dir=args.cache_dir, device=args.device)
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


# (new subcommands: add an `_add_<name>` above this line and list it in _SUBCOMMANDS)

_SUBCOMMANDS: list[Callable[[argparse._SubParsersAction], None]] = [
    _add_loss_demo,
    _add_train,
    _add_evaluate,
    _add_crossval,
    _add_synth,
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="audiocs", description=__doc__)
    parser.add_argument("--version", action="version", version=f"audiocs {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    for add in _SUBCOMMANDS:
        add(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        code = args.func(args)
    except AudiocsError as err:
        print(f"audiocs {args.command}: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"audiocs {args.command}: interrupted", file=sys.stderr)
        return 130
    return int(code or 0)


if __name__ == "__main__":
    sys.exit(main())
