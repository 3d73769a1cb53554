"""Your own corpus as class folders -> manifest.csv + feature cache.

Layout: CORPUS/<class>/**/*.wav|flac|ogg|mp3, one folder a class (label = class index in natural
order, id = the path below CORPUS without its suffix). Folds: dealt into --folds K stratified
folds, or whole groups with --group-regex, or read from --fold-file. The clips per class and
fold are printed; files outside a class folder, unreadable audio and files without a group or
fold are reported and skipped (an error with --strict).

Fold file: a CSV or TSV (tab for .tsv, else the delimiter is sniffed) with a header holding the
columns path and fold; path is relative to CORPUS (e.g. dog/take1.wav), fold a number >= 1 or
train/valid/test (folds 1, 2, 3). Every audio file of the corpus must be listed.

Examples:
  python data_prep/folders.py --corpus path/to/corpus --out data/mine --folds 5
  python data_prep/folders.py --corpus path/to/corpus --out data/mine --group-regex '_(\\w+)_'
  python data_prep/folders.py --corpus path/to/corpus --out data/mine --fold-file folds.csv
"""

from __future__ import annotations

import sys
from pathlib import Path

from audiocs.prep.cli import add_fold_options, corpus_parser, run_corpus
from audiocs.prep.folders import prepare_folders


def main(argv: list[str] | None = None) -> int:
    """Run the class-folder preparation; returns the exit code."""
    parser = corpus_parser(__doc__)
    folds = add_fold_options(parser)
    folds.add_argument("--fold-file", type=Path, default=None,
                       help="read the folds from this CSV/TSV (columns path,fold; see above)")

    def prepare(args):
        return prepare_folders(args.corpus, args.out, n_folds=args.folds,
                               group_regex=args.group_regex, fold_file=args.fold_file,
                               seed=args.seed, strict=args.strict, force=args.force)

    return run_corpus(parser, prepare, argv)


if __name__ == "__main__":
    sys.exit(main())
