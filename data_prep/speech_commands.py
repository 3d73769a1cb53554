"""Speech Commands -> manifest.csv + feature cache.

Layout: CORPUS/<word>/<speakerhash>_nohash_<n>.wav (folders starting with "_" are skipped).
Split from validation_list.txt / testing_list.txt, or the corpus's SHA-1 rule when they are
absent; fold = 1 train, 2 validation, 3 test. --task words (label = word) or speakers.

Example: python data_prep/speech_commands.py --corpus data/speech_commands_v0.01 --out data/sc
"""

from __future__ import annotations

import sys

from audiocs.prep.cli import corpus_parser, run_corpus
from audiocs.prep.speech_commands import TASKS, prepare_speech_commands


def main(argv: list[str] | None = None) -> int:
    """Run the Speech Commands preparation; returns the exit code."""
    parser = corpus_parser(__doc__)
    parser.add_argument("--task", choices=TASKS, default="words", help="what the label is")

    def prepare(args):
        return prepare_speech_commands(args.corpus, args.out, task=args.task,
                                       strict=args.strict, force=args.force)

    return run_corpus(parser, prepare, argv)


if __name__ == "__main__":
    sys.exit(main())
