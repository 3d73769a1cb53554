"""UrbanSound8K -> manifest.csv + feature cache.

Layout: CORPUS/audio/fold1..fold10/*.wav and CORPUS/metadata/UrbanSound8K.csv; label = classID,
fold = the official fold 1..10. Slices are kept at their own length (at most 4 s): no padding is
stored, training crops/pads to a fixed number of frames. The corpus cannot be downloaded here
(it is distributed on request); place it under --corpus.

Example: python data_prep/urbansound8k.py --corpus data/UrbanSound8K --out data/us8k
"""

from __future__ import annotations

import sys

from audiocs.prep.cli import corpus_parser, run_corpus
from audiocs.prep.urbansound8k import prepare_urbansound8k


def main(argv: list[str] | None = None) -> int:
    """Run the UrbanSound8K preparation; returns the exit code."""
    parser = corpus_parser(__doc__)

    def prepare(args):
        return prepare_urbansound8k(args.corpus, args.out, strict=args.strict, force=args.force)

    return run_corpus(parser, prepare, argv)


if __name__ == "__main__":
    sys.exit(main())
