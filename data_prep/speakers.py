"""Speaker folders (VoxCeleb layout) or LibriSpeech -> manifest.csv + feature cache.

Layout: CORPUS/<speaker>/**/*.wav|flac, or files named {speaker}-{chapter}-{utt}.flac anywhere
(LibriSpeech). Label = speaker index. --speed 0.9 1.1 adds speed-perturbed copies of the speakers
of --train-folds (all speakers without it) as new speakers sp0.9-<speaker>, sp1.1-<speaker>.
--segment S cuts utterances into S-second segment files under OUT/segments (every --hop seconds;
a tail under --min-segment, default S/2, is dropped). --extra-speakers DIR adds the speakers of
another corpus (any of these layouts, or Speech Commands) as training speakers extra-<speaker> in
fold 0, which every fold trains on and none tests on; they are cut and perturbed like the rest.
--noise LOW HIGH adds one noisy copy of each segment of those speakers (not of their speed
copies): white, pink or brown noise at an SNR drawn from LOW..HIGH dB, the same speaker.

Example:
  python data_prep/speakers.py --corpus LibriSpeech/train-clean-100 --out data/libri --segment 3
"""

from __future__ import annotations

import sys
from pathlib import Path

from audiocs.prep.cli import add_noise_option, corpus_parser, run_corpus
from audiocs.prep.speakers import LAYOUTS, prepare_speakers


def main(argv: list[str] | None = None) -> int:
    """Run the speaker-corpus preparation; returns the exit code."""
    parser = corpus_parser(__doc__)
    parser.add_argument("--layout", choices=LAYOUTS, default="auto", help="where the speaker is")
    parser.add_argument("--folds", type=int, default=0,
                        help="put whole speakers into this many folds (default 0: no folds)")
    parser.add_argument("--segment", type=float, default=None, help="segment length in seconds")
    parser.add_argument("--hop", type=float, default=None, help="segment hop (default: --segment)")
    parser.add_argument("--min-segment", type=float, default=None,
                        help="shortest final segment kept (default: half a segment)")
    parser.add_argument("--speed", type=float, nargs="*", default=None, metavar="FACTOR",
                        help="speed perturbation factors (e.g. 0.9 1.1): new speakers, made "
                             "from the --train-folds speakers only")
    add_noise_option(parser, "segment")
    parser.add_argument("--extra-speakers", type=Path, default=None, metavar="DIR",
                        help="another speaker corpus whose speakers join every fold's training")

    def prepare(args):
        return prepare_speakers(args.corpus, args.out, layout=args.layout, n_folds=args.folds,
                                segment=args.segment, hop=args.hop, min_segment=args.min_segment,
                                speed=args.speed, perturb_folds=args.train_folds,
                                extra_speakers=args.extra_speakers, noise=args.noise,
                                strict=args.strict, force=args.force)

    return run_corpus(parser, prepare, argv)


if __name__ == "__main__":
    sys.exit(main())
