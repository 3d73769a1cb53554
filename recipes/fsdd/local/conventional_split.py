"""FSDD's conventional split as folds: fold 1 = the test takes (index 0-4), fold 2 = the rest.

Reads the digits manifest of data_prep/fsdd.py (its `split` column), writes OUT/manifest.csv
with those folds and builds OUT/features-<kind> with the feature settings of --cache, the
normalization statistics from fold 2 only. Re-running over a finished cache does nothing.
Example: python recipes/fsdd/local/conventional_split.py --manifest data/fsdd/digits/manifest.csv \
    --cache data/fsdd/digits/features-logmel --out data/fsdd/digits-split
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

from audiocs.cache import FeatureCache
from audiocs.cache_build import build_cache
from audiocs.errors import AudiocsError
from audiocs.manifest import read_manifest, write_manifest

FOLDS = {"test": 1, "train": 2}


def main(argv: list[str] | None = None) -> int:
    """Write the split manifest and its cache; returns the exit code."""
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--manifest", type=Path, required=True, help="digits manifest with `split`")
    p.add_argument("--cache", type=Path, required=True, help="its cache (gives the settings)")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--workers", type=int, default=2)
    args = p.parse_args(argv)
    try:
        rows = read_manifest(args.manifest)
        bad = sorted({r.extra.get("split", "") for r in rows} - set(FOLDS))
        if bad:
            raise AudiocsError(f"{args.manifest}: split values {bad}, expected train or test")
        rows = [dataclasses.replace(r, fold=FOLDS[r.extra["split"]]) for r in rows]
        write_manifest(rows, args.out / "manifest.csv")
        settings = FeatureCache(args.cache).settings
        build_cache(args.out / "manifest.csv", args.out / f"features-{settings.kind}", settings,
                    workers=args.workers, train_folds=[FOLDS["train"]])
    except AudiocsError as err:
        print(f"{p.prog}: error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
