"""The tone corpus that the training tests share (tests/helpers.py, fixture ``tone_cache``)."""

from __future__ import annotations

from pathlib import Path

from helpers import CLASSES

from audiocs.cache import FeatureCache


def test_tone_cache_layout(tone_cache: Path) -> None:
    cache = FeatureCache(tone_cache)
    assert len(cache) == 80 and cache.class_names == list(CLASSES)
    assert sorted(set(cache.folds.tolist())) == [1, 2, 3, 4, 5]
    assert cache[0].shape == (51, 32)
