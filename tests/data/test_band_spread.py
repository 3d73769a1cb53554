"""recipes/fsdd/local/band_spread.py: per-speaker spread of the log-mel bands within a clip."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]


def _module():
    path = ROOT / "recipes" / "fsdd" / "local" / "band_spread.py"
    spec = importlib.util.spec_from_file_location("band_spread", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class _Settings:
    def band_centres(self):
        return [500.0, 1500.0, 2500.0, 3500.0]  # one band below 1 kHz, one in 1-2, two above


class _Cache:
    """What band_spread reads from a FeatureCache."""

    settings = _Settings()

    def __init__(self, rows, copies, clips):
        self.rows, self.copies, self.clips = rows, copies, clips

    def __getitem__(self, i):
        return self.clips[i]


def test_band_spread_closed_form(capsys):
    rng = np.random.default_rng(0)
    clips, rows = [], []
    for speaker, scale in (("a", [1.0, 2.0, 3.0, 5.0]), ("b", [4.0, 4.0, 0.0, 0.0])):
        for frames in (400, 600):  # a copy of b's is left out: it would lower his spread
            clips.append(rng.standard_normal((frames, 4)) * np.array(scale) + 7.0)
            rows.append(SimpleNamespace(speaker=speaker))
    clips.append(np.zeros((10, 4)))
    rows.append(SimpleNamespace(speaker="b"))
    cache = _Cache(rows, np.array([0, 0, 0, 0, 1], bool), clips)
    stats = _module().band_spread(cache)
    (a, frames_a, n_a), (b, frames_b, n_b) = stats["a"], stats["b"]
    assert n_a == n_b == 2 and frames_a == frames_b == 500
    assert a == pytest.approx([1.0, 2.0, 4.0], rel=0.1)  # above 2 kHz: the mean of 3 and 5
    assert b[:2] == pytest.approx([4.0, 4.0], rel=0.1) and b[2] == 0.0
