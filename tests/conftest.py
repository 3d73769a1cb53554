"""Shared fixtures: the real-data folder (AUDIOCS_DATA) and small generated audio."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from helpers import make_tone_cache

_DEFAULT = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def data_root() -> Path:
    """The folder of real audio (``AUDIOCS_DATA``, default ``../shared/data``)."""
    return Path(os.environ.get("AUDIOCS_DATA", str(_DEFAULT)))


@pytest.fixture(scope="session")
def real_data() -> Path:
    """Path to ../shared/data; skips the test with a reason when it is absent."""
    root = data_root()
    if not (root / "README.md").exists():
        pytest.skip(f"real data folder not found at {root} (set AUDIOCS_DATA)")
    return root


@pytest.fixture(scope="session")
def tone_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished cache of the tone corpus (80 clips), built once per session."""
    return make_tone_cache(tmp_path_factory.mktemp("tones"))
