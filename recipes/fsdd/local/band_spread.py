"""How much each speaker's log-mel bands move within a recording, as a markdown table.

For every clip of a feature cache (original rows only, not augmented copies): the standard
deviation over its frames of each band; then, per speaker, the mean over his clips within three
frequency ranges (below 1 kHz, 1-2 kHz, above 2 kHz) and the clips' mean length in frames. A
recording with a high noise floor or a narrow band has small spreads where speech is weak.
Example: python recipes/fsdd/local/band_spread.py --cache data/fsdd/digits/features-logmel
"""

from __future__ import annotations

import argparse
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np

from audiocs.cache import FeatureCache
from audiocs.errors import AudiocsError

RANGES = ((0.0, 1000.0), (1000.0, 2000.0), (2000.0, float("inf")))


def band_spread(cache: FeatureCache) -> dict[str, tuple[list[float], float, int]]:
    """speaker -> (mean band spread in each of RANGES, mean frames, clips)."""
    hz = np.asarray(cache.settings.band_centres())
    masks = [(hz >= lo) & (hz < hi) for lo, hi in RANGES]
    spreads, frames = defaultdict(list), defaultdict(list)
    for i, row in enumerate(cache.rows):
        if cache.copies[i]:
            continue
        clip = np.asarray(cache[i], dtype=np.float64)
        spreads[row.speaker].append([float(clip.std(axis=0)[m].mean()) for m in masks])
        frames[row.speaker].append(clip.shape[0])
    return {s: (np.mean(spreads[s], axis=0).tolist(), float(np.mean(frames[s])), len(frames[s]))
            for s in sorted(spreads)}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--cache", type=Path, required=True, help="a feature cache folder")
    p.add_argument("--speakers", nargs="*", default=None, help="only these speakers")
    args = p.parse_args(argv)
    try:
        stats = band_spread(FeatureCache(args.cache))
    except AudiocsError as err:
        print(f"{p.prog}: error: {err}", file=sys.stderr)
        return 2
    print("| speaker | clips | frames | spread < 1 kHz | 1-2 kHz | > 2 kHz |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for speaker, (spread, frames, n) in stats.items():
        if args.speakers is None or speaker in args.speakers:
            print(f"| {speaker} | {n} | {frames:.0f} | " + " | ".join(f"{v:.1f}" for v in spread) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
