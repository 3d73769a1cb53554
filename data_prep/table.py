"""Your own corpus as a table (CSV or TSV, one row a clip) -> manifest.csv + feature cache.

--corpus is the table: a header, then one row a clip with a path column and a label column
(--path-column, --label-column); the delimiter is a tab for .tsv, else sniffed from the header.
Relative paths are resolved against --root (default: the table's folder). Optional columns:
--fold-column (a number >= 1, or train/valid/test for folds 1, 2, 3) and --group-column (e.g.
the speaker, kept as speaker). Without a fold column the folds are dealt: --folds K stratified
folds, or whole groups (the group column, or --group-regex on the path as written). Other
columns are kept in the manifest. Bad rows (empty path or label, missing or unreadable file,
path listed twice, unknown fold, no group) are reported with their line number and skipped
(an error with --strict). The clips per class and fold are printed.

Example:
  python data_prep/table.py --corpus path/to/clips.csv --out data/mine \
      --path-column file --label-column class --group-column speaker --folds 5
"""

from __future__ import annotations

import sys
from pathlib import Path

from audiocs.prep.cli import add_fold_options, corpus_parser, run_corpus
from audiocs.prep.table import prepare_table


def main(argv: list[str] | None = None) -> int:
    """Run the table preparation; returns the exit code."""
    parser = corpus_parser(__doc__, corpus_help="the table (CSV or TSV) listing the clips")
    parser.add_argument("--root", type=Path, default=None,
                        help="folder of relative paths (default: the table's folder)")
    columns = parser.add_argument_group("columns")
    columns.add_argument("--path-column", default="path", help="audio file column (default path)")
    columns.add_argument("--label-column", default="label", help="class column (default label)")
    columns.add_argument("--fold-column", default=None, help="fold column (default: deal folds)")
    columns.add_argument("--group-column", default=None,
                         help="group column (e.g. speaker): whole groups share a fold")
    add_fold_options(parser)

    def prepare(args):
        return prepare_table(args.corpus, args.out, root=args.root, path_column=args.path_column,
                             label_column=args.label_column, fold_column=args.fold_column,
                             group_column=args.group_column, n_folds=args.folds,
                             group_regex=args.group_regex, seed=args.seed, strict=args.strict,
                             force=args.force)

    return run_corpus(parser, prepare, argv)


if __name__ == "__main__":
    sys.exit(main())
