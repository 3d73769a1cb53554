"""ESC-50 -> manifest.csv + feature cache.

Layout: CORPUS/audio/*.wav and CORPUS/meta/esc50.csv; label = official target (0..49), fold = the
official fold 1..5. A completeness check (2000 rows, 50 classes of 40, every file present) warns
about what is missing (an error with --strict).

Example: python data_prep/esc50.py --corpus data/ESC-50 --out data/esc50 --download
"""

from __future__ import annotations

import sys

from audiocs.prep.cli import corpus_parser, run_corpus
from audiocs.prep.esc50 import download_esc50, prepare_esc50


def main(argv: list[str] | None = None) -> int:
    """Run the ESC-50 preparation; returns the exit code."""
    parser = corpus_parser(__doc__, download=True)
    parser.add_argument("--esc10", action="store_true", help="only the ESC-10 subset, labels 0..9")

    def prepare(args):
        return prepare_esc50(args.corpus, args.out, esc10=args.esc10, strict=args.strict,
                             force=args.force)

    return run_corpus(parser, prepare, argv, download=download_esc50)


if __name__ == "__main__":
    sys.exit(main())
