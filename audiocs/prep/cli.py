"""The command line shared by the ``data_prep/<corpus>.py`` scripts: options and the run.

Every script parses its corpus into ``OUT/manifest.csv`` and then builds the feature cache in
``OUT/features-<kind>`` (``--no-features`` stops after the manifest).
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from audiocs.errors import AudiocsError

Prepare = Callable[[argparse.Namespace], Path]
Download = Callable[..., Path]

# Feature settings that take a plain value on the command line ("none" clears an optional one).
def _boolean(text: str) -> bool:
    if text.lower() not in ("true", "false", "1", "0", "yes", "no"):
        raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")
    return text.lower() in ("true", "1", "yes")


_boolean.__name__ = "bool"
_VALUE_TYPES = {"int": int, "float": float, "str": str, "float | None": float, "bool": _boolean}


def _optional(kind: type) -> Callable[[str], object]:
    def parse(text: str) -> object:
        return None if text.lower() == "none" else kind(text)

    parse.__name__ = kind.__name__
    return parse


def corpus_parser(
    description: str, *, download: bool = False, feature_defaults: dict | None = None,
    corpus_help: str = "corpus folder (the real layout)",
) -> argparse.ArgumentParser:
    """Parser with the options every corpus script shares (add corpus options to it).

    ``feature_defaults`` overrides FeatureSettings defaults for this corpus (e.g. sample_rate);
    ``corpus_help`` says what ``--corpus`` names (a folder, or a table).
    """
    from audiocs.features import FeatureSettings

    p = argparse.ArgumentParser(description=description,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--corpus", type=Path, required=True, help=corpus_help)
    p.add_argument("--out", type=Path, required=True,
                   help="output folder for manifest.csv and the features")
    p.add_argument("--strict", action="store_true",
                   help="fail on an incomplete corpus or any rejected clip (default: warn)")
    p.add_argument("--force", action="store_true",
                   help="redo the manifest even if already prepared")
    if download:
        p.add_argument("--download", action="store_true",
                       help="download the corpus into --corpus first (skipped when complete)")
        p.add_argument("--url", default=None, help="archive URL (default: the public archive)")
        p.add_argument("--sha256", default=None, help="expected sha256 of the archive")
    f = p.add_argument_group("features")
    f.add_argument("--no-features", action="store_true", help="stop after writing the manifest")
    f.add_argument("--cache", type=Path, default=None,
                   help="cache folder (default OUT/features-KIND)")
    f.add_argument("--workers", type=int, default=2, help="extraction processes (default 2)")
    f.add_argument("--train-folds", type=int, nargs="*", default=None,
                   help="folds whose frames give the normalization statistics (default: all)")
    defaults = feature_defaults or {}
    for fld in dataclasses.fields(FeatureSettings):
        kind = _VALUE_TYPES.get(str(fld.type))
        if kind is not None:
            flag = "--" + fld.name.replace("_", "-")
            f.add_argument(flag, dest=f"feat_{fld.name}", type=_optional(kind), default=None,
                           help=f"feature setting (default {defaults.get(fld.name, fld.default)})")
    p.set_defaults(feature_defaults=defaults)
    return p


def add_fold_options(parser: argparse.ArgumentParser) -> argparse._ArgumentGroup:
    """The fold options of the own-corpus scripts (class folders, a table); returns the group."""
    g = parser.add_argument_group("folds")
    g.add_argument("--folds", type=int, default=None, metavar="K",
                   help="deal the clips into K folds, stratified by class (default 5; 0: no "
                        "folds); with given folds, a fold above K is refused")
    g.add_argument("--group-regex", default=None, metavar="REGEX",
                   help="deal whole groups instead: the group is what REGEX (one capture group, "
                        "or one named 'group') finds in the path relative to the corpus, e.g. "
                        "'^[^/]+/([^/_]+)_' for a speaker before the first '_'; kept as speaker")
    g.add_argument("--seed", type=int, default=0, help="seed of the dealing order (default 0)")
    return g


def add_noise_option(parser: argparse.ArgumentParser, each: str) -> None:
    """``--noise LOW HIGH``: one noisy training copy of `each` (e.g. "clip")
    (:func:`audiocs.prep.common.add_noise`)."""
    parser.add_argument("--noise", type=float, nargs=2, default=None, metavar=("LOW", "HIGH"),
                        help=f"one noisy training copy per {each}: white, pink or brown noise at "
                             "an SNR drawn uniformly from LOW..HIGH dB")


def feature_settings(args: argparse.Namespace):
    """FeatureSettings from the corpus defaults overridden by the options given."""
    from audiocs.features import FeatureSettings

    values = dict(args.feature_defaults)
    for fld in dataclasses.fields(FeatureSettings):
        given = getattr(args, f"feat_{fld.name}", None)
        if given is not None:
            values[fld.name] = given
    return FeatureSettings(**values)


def run_corpus(
    parser: argparse.ArgumentParser, prepare: Prepare, argv: Sequence[str] | None = None, *,
    download: Download | None = None,
) -> int:
    """Parse `argv`, download (optional), prepare the manifest and build the cache; exit code."""
    args = parser.parse_args(argv)
    try:
        if download is not None and args.download:
            given = {"url": args.url, "sha256": args.sha256}
            corpus = args.corpus.resolve()
            download(corpus.parent, name=corpus.name, **{k: v for k, v in given.items() if v})
        manifest = prepare(args)
        if args.no_features:
            return 0
        from audiocs.cache_build import build_cache

        settings = feature_settings(args)
        cache_dir = args.cache or args.out / f"features-{settings.kind}"
        build_cache(manifest, cache_dir, settings, workers=args.workers, strict=args.strict,
                    train_folds=args.train_folds)
        print(f"{cache_dir}: feature cache ready")
    except AudiocsError as err:
        print(f"{parser.prog}: error: {err}", file=sys.stderr)
        return 2
    return 0
