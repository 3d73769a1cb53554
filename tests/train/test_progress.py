"""Progress bars on a terminal only; a training log holds one line per epoch."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from audiocs.progress import bars_wanted, progress_bar
from helpers import write_config


class _Stream:
    def __init__(self, tty: bool) -> None:
        self.tty = tty

    def isatty(self) -> bool:
        return self.tty

    def write(self, text: str) -> int:
        return len(text)

    def flush(self) -> None:
        pass


@pytest.mark.parametrize(("tty", "env", "wanted"), [
    (True, None, True), (False, None, False), (False, "1", True), (True, "0", False)])
def test_bars_follow_the_terminal_unless_forced(monkeypatch, tty, env, wanted) -> None:
    monkeypatch.setattr(sys, "stderr", _Stream(tty))
    if env is None:
        monkeypatch.delenv("AUDIOCS_PROGRESS", raising=False)
    else:
        monkeypatch.setenv("AUDIOCS_PROGRESS", env)
    assert bars_wanted() is wanted
    assert progress_bar(range(3), enabled=True).disable is (not wanted)
    assert progress_bar(range(3), enabled=False).disable  # a caller's "off" always wins


def test_a_training_log_has_one_line_per_epoch_and_no_bar(tmp_path: Path, tone_cache) -> None:
    config = write_config(tmp_path / "c.yaml", tone_cache, data={"test_folds": [5]},
                          train={"epochs": 2, "progress": True})
    env = {k: v for k, v in os.environ.items() if k != "AUDIOCS_PROGRESS"}
    done = subprocess.run([sys.executable, "-m", "audiocs", "train", "--config", str(config),
                           "--exp-dir", str(tmp_path / "exp")], capture_output=True, text=True,
                          env={**env, "OMP_NUM_THREADS": "1"}, timeout=300)
    assert done.returncode == 0, done.stderr
    log = done.stdout + done.stderr
    assert "\r" not in log and "it/s" not in log
    epochs = [line for line in log.splitlines() if line.startswith("epoch=")]
    assert [line.split()[0] for line in epochs] == ["epoch=1", "epoch=2"]
