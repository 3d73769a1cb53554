"""Exact resume: SIGKILL training in the middle of an epoch, resume, and get the same weights as
a run that was never interrupted (same seed). Also: resume refuses a changed config."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from helpers import write_config

from audiocs.checkpoint import load_checkpoint
from audiocs.cli import main
from audiocs.config import load_config
from audiocs.errors import AudiocsError
from audiocs.train.loop import train

# 48 training clips / batch 4 = 12 batches per epoch; last.pt every 3 batches
SECTIONS = {"data": {"batch_size": 4}, "train": {"epochs": 3, "checkpoint_every_steps": 3}}


def _position(last: Path) -> tuple[int, int] | None:
    try:
        state = load_checkpoint(last)
    except AudiocsError:
        return None
    return state["epoch"], state["step"]


@pytest.mark.slow
def test_sigkill_mid_epoch_then_resume_matches_uninterrupted(tmp_path: Path,
                                                              tone_cache: Path) -> None:
    config = write_config(tmp_path / "conf.yaml", tone_cache, **SECTIONS)
    cmd = [sys.executable, "-m", "audiocs", "train", "--config", str(config), "--fold", "1",
           "--exp-dir", str(tmp_path / "killed")]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    last = tmp_path / "killed" / "checkpoints" / "last.pt"
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    seen = None
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        if last.is_file() and (seen := _position(last)) and seen[0] >= 1 and seen[1] >= 3:
            proc.send_signal(signal.SIGKILL)  # in epoch 2, after its batch 3 (or later)
            break
        time.sleep(0.01)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, proc.stdout.read().decode()
    epoch, step = _position(last)
    assert epoch < 3 and 0 < step < 12  # the checkpoint left behind is mid-epoch

    resumed = subprocess.run(cmd + ["--resume"], env=env, capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr
    assert f"resuming at epoch {epoch + 1}, batch {step}" in resumed.stdout

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the same arithmetic as the OMP_NUM_THREADS=1 subprocesses
    try:
        train(load_config(config, ["data.test_folds=[1]"]), tmp_path / "straight")
    finally:
        torch.set_num_threads(threads)
    a = load_checkpoint(last)
    b = load_checkpoint(tmp_path / "straight" / "checkpoints" / "last.pt")
    assert (a["epoch"], a["step"]) == (b["epoch"], b["step"]) == (3, 0)
    diff = max(float((a[part][key].double() - b[part][key].double()).abs().max())
               for part in ("model", "classifier") for key in b[part])
    print(f"killed at epoch {epoch + 1} batch {step}; max weight difference {diff:.3g}")
    assert diff < 1e-5
    history_a = (tmp_path / "killed" / "metrics.jsonl").read_text().splitlines()
    history_b = (tmp_path / "straight" / "metrics.jsonl").read_text().splitlines()
    assert len(history_a) == len(history_b) == 3


def test_resume_refuses_a_changed_config_and_a_fresh_start_refuses_old_runs(
        tmp_path: Path, tone_cache: Path, capsys) -> None:
    config = write_config(tmp_path / "conf.yaml", tone_cache,
                          train={"epochs": 1, "checkpoint_every_steps": 0})
    exp = ["--exp-dir", str(tmp_path / "exp"), "--fold", "1", "--config", str(config)]
    assert main(["train", *exp]) == 0
    assert main(["train", *exp]) == 2
    assert "already holds a training run" in capsys.readouterr().err
    assert main(["train", *exp, "--resume", "--set", "optim.lr=0.5"]) == 2
    err = capsys.readouterr().err
    assert "--resume with a different config (optim.lr)" in err and err.count("\n") == 1
    assert main(["train", *exp, "--resume"]) == 0  # finished: nothing left to do
    assert "resuming at epoch 2, batch 0" in capsys.readouterr().out
