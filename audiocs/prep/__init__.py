"""Corpus preparation: a corpus layout -> manifest (``prepare_*``), archives (``download_*``).

Each ``prepare_<corpus>(corpus_dir, out_dir, ...)`` writes ``out_dir/manifest.csv`` and a
completion marker, and returns the manifest path; a re-run with the same options skips the work.
"""

from audiocs.prep.esc50 import download_esc50, parse_esc50, prepare_esc50
from audiocs.prep.folders import parse_folders, prepare_folders
from audiocs.prep.fsdd import download_fsdd, parse_fsdd, prepare_fsdd
from audiocs.prep.speakers import parse_speakers, prepare_speakers
from audiocs.prep.speech_commands import parse_speech_commands, prepare_speech_commands
from audiocs.prep.table import parse_table, prepare_table
from audiocs.prep.urbansound8k import parse_urbansound8k, prepare_urbansound8k

__all__ = [
    "download_esc50", "download_fsdd", "parse_esc50", "parse_folders", "parse_fsdd",
    "parse_speakers", "parse_speech_commands", "parse_table", "parse_urbansound8k",
    "prepare_esc50", "prepare_folders", "prepare_fsdd", "prepare_speakers",
    "prepare_speech_commands", "prepare_table", "prepare_urbansound8k",
]
