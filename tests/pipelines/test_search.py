"""`audiocs search`: space parsing, grid and seeded random points, resumable runs, results files."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import write_config

from audiocs.errors import AudiocsError
from audiocs.search import Search, Setting, parse_space, run_search, settings, summarize


def test_parse_space_reads_yaml_values() -> None:
    space = parse_space(["optim.lr=0.001,3e-3", "model.kwargs={width: 8},{width: 16}",
                         "augment.specaugment=true,false", "data.train_folds=[1,2],[3]"])
    assert space == [("optim.lr", [0.001, 0.003]),
                     ("model.kwargs", [{"width": 8}, {"width": 16}]),
                     ("augment.specaugment", [True, False]),
                     ("data.train_folds", [[1, 2], [3]])]
    for bad in ("optim.lr", "=1,2", "optim.lr="):
        with pytest.raises(AudiocsError, match="expected key=v1,v2"):
            parse_space([bad])
    with pytest.raises(AudiocsError, match="twice"):
        parse_space(["a=1", "a=2"])


def test_grid_and_seeded_random_points() -> None:
    space = parse_space(["a=1,2,3", "b=x,y"])
    grid = settings(space)
    assert [dict(s.values) for s in grid][:3] == [{"a": 1, "b": "x"}, {"a": 1, "b": "y"},
                                                 {"a": 2, "b": "x"}]
    assert len(grid) == 6 and len({s.name() for s in grid}) == 6
    picked = settings(space, trials=4, seed=3)
    assert len(picked) == 4 and len(set(picked)) == 4 and set(picked) <= set(grid)
    assert picked == settings(space, trials=4, seed=3)
    assert any(settings(space, trials=4, seed=s) != picked for s in range(4, 10))
    assert settings(space, trials=10) == grid  # more trials than points: the whole grid


def test_summary_ranks_by_metric_direction() -> None:
    runs = [{"setting": {"a": a}, "seed": s, "eer": e, "train_seconds": 1.0,
             "final_train_acc": 0.5} for a, s, e in ((1, 0, 5.0), (1, 1, 7.0), (2, 0, 3.0))]
    rows = summarize(runs, "eer")
    assert [r["setting"]["a"] for r in rows] == [2, 1]  # lower EER first
    assert rows[1]["mean"] == pytest.approx(6.0) and rows[1]["std"] == pytest.approx(1.0)
    assert rows[1]["seeds"] == [0, 1]


def test_eer_metric_needs_folds() -> None:
    with pytest.raises(AudiocsError, match="eval-folds"):
        Search(None, Path("x"), [], metric="eer")
    with pytest.raises(AudiocsError, match="metric"):
        Search(None, Path("x"), [], metric="loss")


def test_search_runs_writes_results_and_resumes(tmp_path: Path, tone_cache: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    import audiocs.train.loop as loop

    config = write_config(tmp_path / "c.yaml", tone_cache, data={"test_folds": [5]},
                          train={"epochs": 2})
    space = parse_space(["optim.lr=0.05,0.0001"])
    search = Search(str(config), tmp_path / "runs", ["augment.mixup_alpha=0"], metric="eer",
                    eval_folds=(5,), eer_by="label")
    out = tmp_path / "res" / "table"
    records = run_search(search, space, out, "audiocs search ...", seeds=[0], log=lambda s: None)
    assert [r["setting"]["optim.lr"] for r in records] == [0.05, 0.0001]
    for r in records:
        assert r["epochs"] == 2 and 0.0 <= r["eer"] <= 100.0 and 0.0 <= r["valid_acc"] <= 1.0
    table = (tmp_path / "res" / "table.md").read_text()
    assert "| 1 | " in table and "| 2 | " in table and "Best on validation: optim.lr=" in table
    assert "`augment.mixup_alpha=0`" in table
    stored = json.loads((tmp_path / "res" / "table.json").read_text())
    assert stored["runs"] == records
    assert (tmp_path / "res" / "table.png").stat().st_size > 5_000
    # the EER is that of the toolkit's trial list and scorer on the same embeddings
    from audiocs.scoring.pipeline import run_score, run_trials

    emb = tmp_path / "runs" / records[0]["run"] / "search_embeddings"
    run_trials(emb, tmp_path / "trials.txt", by="label")
    metrics = run_score(emb, tmp_path / "trials.txt", tmp_path / "scores", plots=False)
    assert records[0]["eer"] == pytest.approx(100 * metrics["eer"], abs=1e-4)

    calls = []
    monkeypatch.setattr(loop, "train", lambda *a, **k: calls.append(a))
    again = run_search(search, space, out, "audiocs search ...", seeds=[0], log=lambda s: None)
    assert again == records and calls == []  # finished runs are read back, not retrained


def test_interrupted_run_resumes_from_its_checkpoint(tmp_path: Path, tone_cache: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    from audiocs.train.loop import Trainer

    config = write_config(tmp_path / "c.yaml", tone_cache, data={"test_folds": [5]},
                          train={"epochs": 2})
    search = Search(str(config), tmp_path / "runs", [])
    setting = Setting((("optim.lr", 0.05),))
    exp = tmp_path / "runs" / f"{setting.name()}_seed0"
    real_step, steps = Trainer.train_step, []

    def stop_in_epoch_two(self, batch, seed):
        if len(steps) == 9:  # 6 batches an epoch, last.pt every 2: stopped after step 8
            raise KeyboardInterrupt
        steps.append(seed)
        return real_step(self, batch, seed)

    monkeypatch.setattr(Trainer, "train_step", stop_in_epoch_two)
    with pytest.raises(KeyboardInterrupt):
        search.run(setting, 0)
    assert not (exp / "search.json").exists()
    assert len((exp / "metrics.jsonl").read_text().splitlines()) == 1
    monkeypatch.setattr(Trainer, "train_step", real_step)
    record = search.run(setting, 0)
    assert record["epochs"] == 2 and (exp / "search.json").is_file()
    assert len((exp / "metrics.jsonl").read_text().splitlines()) == 2


def test_cli_search_grid(tmp_path: Path, tone_cache: Path) -> None:
    config = write_config(tmp_path / "c.yaml", tone_cache, data={"test_folds": [5]},
                          train={"epochs": 1})
    out = tmp_path / "s"
    cmd = [sys.executable, "-m", "audiocs", "search", "--config", str(config),
           "--space", "data.batch_size=4,8", "--exp-dir", str(tmp_path / "runs"),
           "--out", str(out), "--set", "augment.specaugment=false"]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    table = out.with_suffix(".md").read_text()
    assert "| valid_acc mean |" in table and "Command: `audiocs search --config" in table
    assert "Best on validation: data.batch_size=" in table
    assert len(json.loads(out.with_suffix(".json").read_text())["runs"]) == 2
    bad = subprocess.run(cmd[:-2] + ["--space", "optim.lr"], capture_output=True, text=True)
    assert bad.returncode != 0 and "expected key=v1,v2" in bad.stderr


def test_outer_folds_choose_per_fold_on_validation_only(tmp_path: Path, tone_cache: Path) -> None:
    from audiocs.evaluate import evaluate_experiment

    config = write_config(tmp_path / "c.yaml", tone_cache, train={"epochs": 1},
                          augment={"mixup_alpha": 0.0})
    search = Search(str(config), tmp_path / "runs", [])
    space = parse_space(["optim.lr=0.05,0.00001"])
    out = tmp_path / "nested"
    records = run_search(search, space, out, "cmd", folds=[3, 5], log=lambda s: None)
    assert sorted((r["setting"]["optim.lr"], r["fold"]) for r in records) == [
        (1e-05, 3), (1e-05, 5), (0.05, 3), (0.05, 5)]
    nested = json.loads(out.with_suffix(".json").read_text())["nested"]
    assert [n["fold"] for n in nested] == [3, 5]
    for n in nested:
        fold_runs = [r for r in records if r["fold"] == n["fold"]]
        best = max(fold_runs, key=lambda r: r["valid_acc"])  # ties: the first listed wins
        assert n["setting"] == best["setting"]
        test = evaluate_experiment(tmp_path / "runs" / best["run"], split="test")
        assert n["test_accuracy"] == pytest.approx(test.accuracy)
    assert "## Nested cross-validation" in out.with_suffix(".md").read_text()


def test_joined_keys_move_together() -> None:
    space = parse_space(["data.crop_frames+train.epochs=[128,40],[400,13]", "optim.lr=0.01"])
    points = settings(space)
    assert [p.overrides() for p in points] == [
        ["data.crop_frames=128", "train.epochs=40", "optim.lr=0.01"],
        ["data.crop_frames=400", "train.epochs=13", "optim.lr=0.01"]]
    with pytest.raises(AudiocsError, match="2 entries"):
        parse_space(["a+b=[1,2],[3]"])


def test_last_epoch_metric_ranks_by_the_last_epoch_and_tests_last_pt(tmp_path: Path,
                                                                    tone_cache: Path) -> None:
    from audiocs.evaluate import evaluate_experiment

    config = write_config(tmp_path / "c.yaml", tone_cache, train={"epochs": 3},
                          augment={"mixup_alpha": 0.0})
    search = Search(str(config), tmp_path / "runs", [], metric="last_valid_acc")
    space = parse_space(["optim.lr=0.05,0.5"])
    out = tmp_path / "last"
    records = run_search(search, space, out, "cmd", folds=[2], log=lambda s: None)
    for r in records:
        history = [json.loads(line) for line in
                   (tmp_path / "runs" / r["run"] / "metrics.jsonl").read_text().splitlines()]
        assert r["last_valid_acc"] == history[-1]["valid_acc"]
        assert r["valid_acc"] == max(h["valid_acc"] for h in history)
    best = max(records, key=lambda r: r["last_valid_acc"])
    nested = json.loads(out.with_suffix(".json").read_text())["nested"]
    assert nested[0]["setting"] == best["setting"]
    test = evaluate_experiment(tmp_path / "runs" / best["run"], split="test", checkpoint="last.pt")
    assert nested[0]["test_accuracy"] == pytest.approx(test.accuracy)
    written = json.loads((test.out_dir / "metrics.json").read_text())
    assert written["checkpoint"].endswith("last.pt")
    assert out.with_suffix(".md").read_text().startswith("# Search: last epoch's valid accuracy")
    # a record written before the metric existed gets it from the run's history
    done = tmp_path / "runs" / best["run"] / "search.json"
    old = json.loads(done.read_text())
    del old["last_valid_acc"]
    done.write_text(json.dumps(old))
    again = run_search(search, space, out, "cmd", folds=[2], log=lambda s: None)
    assert {r["run"]: r["last_valid_acc"] for r in again} == \
        {r["run"]: r["last_valid_acc"] for r in records}
