"""Free Spoken Digit Dataset -> manifest.csv + feature cache (8 kHz features by default).

Layout: CORPUS/recordings/{digit}_{speaker}_{index}.wav. Column split = test for index 0-4 (the
conventional split), else train. --task digits: label = digit, fold = speaker 1..6 (leave one
speaker out); --task speakers: label = speaker, fold = 1 + index // 10. --speed 0.9 1.1 adds
speed-perturbed copies (of --train-folds, or of every fold), used only as training rows: the
same digit, or a new speaker sp0.9-<speaker>. --extra-digits SPEECH_COMMANDS (digits only) adds
the spoken digits zero..nine of a Speech Commands corpus, cut to their speech, as fold 0: other
voices that every fold trains on and none tests on (fold 0 is no fold). --noise LOW HIGH adds
one noisy copy of each clip (of --train-folds, or of every fold): white, pink or brown noise at
an SNR drawn from LOW..HIGH dB, the same digit, a training row only.

Example: python data_prep/fsdd.py --corpus data/fsdd --out data/fsdd-digits --download
"""

from __future__ import annotations

import sys
from pathlib import Path

from audiocs.prep.cli import add_noise_option, corpus_parser, run_corpus
from audiocs.prep.fsdd import TASKS, download_fsdd, prepare_fsdd


def main(argv: list[str] | None = None) -> int:
    """Run the FSDD preparation; returns the exit code."""
    parser = corpus_parser(__doc__, download=True, feature_defaults={"sample_rate": 8000})
    parser.add_argument("--task", choices=TASKS, default="digits", help="what the label is")
    parser.add_argument("--speed", type=float, nargs="*", default=None, metavar="FACTOR",
                        help="speed perturbation factors (e.g. 0.9 1.1): training copies")
    add_noise_option(parser, "clip")
    parser.add_argument("--extra-digits", type=Path, default=None, metavar="DIR",
                        help="Speech Commands corpus whose digit words join every fold's training rows")

    def prepare(args):
        return prepare_fsdd(args.corpus, args.out, task=args.task, speed=args.speed,
                            perturb_folds=args.train_folds, extra_digits=args.extra_digits,
                            noise=args.noise, strict=args.strict, force=args.force)

    return run_corpus(parser, prepare, argv, download=download_fsdd)


if __name__ == "__main__":
    sys.exit(main())
