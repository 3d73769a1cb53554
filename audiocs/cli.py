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


# (new subcommands: add an `_add_<name>` above this line and list it in _SUBCOMMANDS)

_SUBCOMMANDS: list[Callable[[argparse._SubParsersAction], None]] = [
    _add_loss_demo,
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
