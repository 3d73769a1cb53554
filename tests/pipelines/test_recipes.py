"""Every recipes/<task>/run.sh end to end with a smoke configuration on tiny data: generated
ESC-50 / UrbanSound8K layouts shaped by the real metadata, a real FSDD subset, a real
LibriSpeech-mini subset; then a re-run that must skip every stage."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import yaml
from helpers import ROOT

from audiocs.scoring import read_embeddings


# A model and schedule small enough for a few seconds per training on 2 cores.
SMOKE = ("train.epochs=1 train.progress=false train.device=cpu train.checkpoint_every_steps=0 "
         "model.name=vgg_small model.embed_dim=16 model.kwargs.width=4 model.kwargs.num_blocks=2 "
         "model.kwargs.dropout=0.0 data.crop_frames=32 data.batch_size=16 augment.mixup_alpha=0.0 "
         "margin_schedule.start_epoch=0 margin_schedule.ramp_epochs=0 schedule.warmup_epochs=0")
PREP = "--workers 1 --n-mels 32"
# The speaker recipe's ECAPA-TDNN at a smoke size (its config's kwargs are ECAPA's)
SMOKE_ECAPA = SMOKE.replace("model.name=vgg_small model.embed_dim=16 model.kwargs.width=4 "
                            "model.kwargs.num_blocks=2 model.kwargs.dropout=0.0",
                            "model.embed_dim=16 model.kwargs.channels=8 model.kwargs.scale=4 "
                            "model.kwargs.se_channels=4 model.kwargs.attention_channels=4")


def run_recipe(task: str, cwd: Path, *args: str) -> subprocess.CompletedProcess:
    """Run recipes/<task>/run.sh in `cwd` with the venv's python/audiocs first on PATH."""
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    proc = subprocess.run(["bash", str(ROOT / "recipes" / task / "run.sh"), *args], cwd=cwd,
                          env=env, capture_output=True, text=True, timeout=1800)
    assert proc.returncode == 0, f"{task} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc


def assert_all_skipped(task: str, cwd: Path, exp: Path, *args: str) -> None:
    """A second run skips every stage and leaves every output file untouched."""
    before = {p: p.stat().st_mtime_ns for p in exp.rglob("*") if p.is_file()}
    markers = sorted((exp / ".stages").glob("*.done"))
    proc = run_recipe(task, cwd, *args)
    assert proc.stderr.count(": skipped (finished") == len(markers) > 0
    assert "done in" not in proc.stderr
    after = {p: p.stat().st_mtime_ns for p in exp.rglob("*") if p.is_file()}
    assert after == before


def _class_tone(target: int, seconds: float, sr: int, rng: np.random.Generator) -> np.ndarray:
    """A noisy harmonic tone whose pitch encodes the class (learnable in one epoch)."""
    t = np.arange(max(int(seconds * sr), 1)) / sr
    f0 = 150.0 * 1.35 ** target * rng.uniform(0.97, 1.03)
    wave = sum(np.sin(2 * np.pi * k * f0 * t) / k for k in (1, 2, 3))
    return (0.2 * wave + 0.02 * rng.standard_normal(t.size)).astype(np.float32)


def _write_wav(path: Path, target: int, seconds: float, seed: int, sr: int = 16000) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, _class_tone(target, seconds, sr, np.random.default_rng(seed)), sr,
             subtype="PCM_16")


def _read_csv(path: Path) -> list[dict]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def _write_csv(path: Path, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)


def _per_class_fold(rows: list[dict], cls: str, fold: str, classes: set[str], k: int) -> list[dict]:
    """The first `k` rows of each (class, fold) among `classes`, in file order."""
    seen: dict[tuple[str, str], int] = {}
    out = []
    for r in rows:
        key = (r[cls], r[fold])
        if r[cls] in classes and seen.get(key, 0) < k:
            seen[key] = seen.get(key, 0) + 1
            out.append(r)
    return out


def make_esc50(real_data: Path, root: Path, classes: int = 4, per_fold: int = 2) -> Path:
    """ESC-50 layout: real metadata rows of targets 0..classes-1, `per_fold` per class and fold,
    1 s generated audio."""
    rows = _read_csv(real_data / "esc50-meta" / "esc50.csv")
    rows = _per_class_fold(rows, "target", "fold", {str(t) for t in range(classes)}, per_fold)
    for i, r in enumerate(rows):
        _write_wav(root / "audio" / r["filename"], int(r["target"]), 1.0, i)
    _write_csv(root / "meta" / "esc50.csv", rows)
    return root


def make_urbansound8k(real_data: Path, root: Path, classes: int = 3) -> Path:
    """UrbanSound8K layout: one real metadata row per class and fold (classes 0..classes-1),
    generated audio of the slice's own length capped at 1 s."""
    rows = _read_csv(real_data / "urbansound8k-meta" / "UrbanSound8K.csv")
    rows = _per_class_fold(rows, "classID", "fold", {str(c) for c in range(classes)}, 1)
    for i, r in enumerate(rows):
        seconds = min(float(r["end"]) - float(r["start"]), 1.0)
        _write_wav(root / "audio" / f"fold{r['fold']}" / r["slice_file_name"], int(r["classID"]),
                   seconds, i)
    _write_csv(root / "metadata" / "UrbanSound8K.csv", rows)
    return root


def _crossval(path: Path) -> dict:
    summary = json.loads(path.read_text())
    for f in summary["folds"]:
        assert 0.0 <= f["accuracy"] <= 1.0 and f["clips"] > 0
    assert 0.0 <= summary["accuracy_mean"] <= 1.0
    return summary


@pytest.mark.slow
def test_esc50_recipe_stages_crossval_and_skip(real_data, tmp_path):
    corpus = make_esc50(real_data, tmp_path / "ESC-50")
    args = ("--corpus", str(corpus), "--prep_opts", PREP, "--overrides", SMOKE)
    first = run_recipe("esc50", tmp_path, "--stop_stage", "1", *args)
    assert "stage 1 prepare" in first.stderr and "crossval" not in first.stderr
    assert (tmp_path / "data/esc50/features-logmel").is_dir()
    assert not (tmp_path / "exp/esc50/crossval").exists()
    run_recipe("esc50", tmp_path, "--stage", "2", *args)
    summary = _crossval(tmp_path / "exp/esc50/crossval/crossval.json")
    assert [f["fold"] for f in summary["folds"]] == [1, 2, 3, 4, 5]
    assert all(f["clips"] == 8 for f in summary["folds"])  # 4 classes x 2 clips per fold
    table = (tmp_path / "exp/esc50/crossval/crossval.md").read_text()
    assert table.count("\n") == 2 + 5 + 1 and "mean +- std" in table
    assert_all_skipped("esc50", tmp_path, tmp_path / "exp/esc50", *args)


@pytest.mark.slow
def test_urbansound8k_recipe_ten_folds(real_data, tmp_path):
    corpus = make_urbansound8k(real_data, tmp_path / "UrbanSound8K")
    run_recipe("urbansound8k", tmp_path, f"corpus={corpus}", f"prep_opts={PREP}",
               f"overrides={SMOKE} data.crop_frames=40")
    summary = _crossval(tmp_path / "exp/urbansound8k/crossval/crossval.json")
    assert [f["fold"] for f in summary["folds"]] == list(range(1, 11))
    assert all(f["clips"] == 3 for f in summary["folds"])


def _link_subset(files: list[Path], folder: Path) -> None:
    folder.mkdir(parents=True)
    for f in files:
        (folder / f.name).symlink_to(f)


@pytest.mark.slow
def test_fsdd_recipe_digits_and_speaker_verification(real_data, tmp_path):
    recordings = real_data / "fsdd" / "recordings"
    takes = {0, 12}  # 0: conventional test split and speaker fold 1; 12: train, speaker fold 2
    files = [p for p in sorted(recordings.glob("*.wav")) if int(p.stem.split("_")[2]) in takes]
    _link_subset(files, tmp_path / "fsdd" / "recordings")
    exp = tmp_path / "exp/fsdd"
    args = ("corpus=fsdd", f"prep_opts={PREP}", f"overrides={SMOKE}")
    run_recipe("fsdd", tmp_path, *args)
    split = json.loads((exp / "digits_split/eval/test/metrics.json").read_text())
    assert split["clips"] == 6 * 10 and 0.0 <= split["accuracy"] <= 1.0
    by_speaker = _crossval(exp / "digits_by_speaker/crossval.json")
    assert len(by_speaker["folds"]) == 6 and all(f["clips"] == 20 for f in by_speaker["folds"])
    adapted = [json.loads((exp / f"digits_by_speaker/fold{k}/eval/test_adapt_bn/metrics.json").read_text())
               for k in range(1, 7)]  # stage 6: the same models adapted to each test speaker
    assert all(m["adapt_bn"] and m["clips"] == 20 for m in adapted)
    rows = (exp / "digits_by_speaker/adapt_bn.md").read_text().splitlines()
    assert sorted(r.split(" | ")[1] for r in rows if r.startswith("| 1 |") or r.startswith("| 2 |")) == [
        "test", "test_adapt_bn"]
    for k in range(1, 7):  # stages 7-8: seeds 1 and 2 of every fold, and the three as one ensemble
        ensemble = json.loads((exp / f"digits_by_speaker/fold{k}/eval/test_ensemble/metrics.json").read_text())
        assert ensemble["clips"] == 20 and [Path(c).parents[2].name for c in ensemble["ensemble"]] == [
            "digits_by_speaker", "digits_by_speaker_seed1", "digits_by_speaker_seed2"]
        assert "seed: 2" in (exp / f"digits_by_speaker_seed2/fold{k}/config.yaml").read_text()
    assert "| test_ensemble |" in (exp / "digits_by_speaker/ensemble.md").read_text()
    index = _read_csv(exp / "speakers/embeddings/index.csv")
    assert len(index) == 6 * 10 and {r["speaker"] for r in index} == {
        "george", "jackson", "lucas", "nicolas", "theo", "yweweler"}
    scores = json.loads((exp / "speakers/scores/metrics.json").read_text())
    assert scores["scored"] == 60 * 59 // 2 and 0.0 <= scores["eer"] <= 1.0
    assert (exp / "speakers/scores/det.png").is_file()
    assert_all_skipped("fsdd", tmp_path, exp, *args)


def test_fsdd_recipe_extra_digits_join_the_digits_cache_as_fold_0(real_data, tmp_path):
    files = sorted((real_data / "fsdd" / "recordings").glob("*_3.wav"))  # take 3: 60 recordings
    _link_subset(files, tmp_path / "fsdd" / "recordings")
    run_recipe("fsdd", tmp_path, "corpus=fsdd", f"extra_digits={real_data / 'speech-commands-mini'}",
               "noise=5 20", "--stage", "1", "--stop_stage", "1", f"prep_opts={PREP}")
    rows = _read_csv(tmp_path / "data/fsdd/digits/manifest.csv")
    originals = [r for r in rows if not r["noise"]]
    extra = [r for r in originals if r["speaker"].startswith("sc-")]
    assert len(originals) == 160 and len(extra) == 100 and {r["fold"] for r in extra} == {"0"}
    assert {r["fold"] for r in originals if r not in extra} == {"1", "2", "3", "4", "5", "6"}
    # noise="5 20": one noisy copy of every clip, FSDD's and the extra digits' alike
    noisy = {r["id"]: r for r in rows if r["noise"]}
    assert sorted(noisy) == sorted(r["id"] + "-noise" for r in originals)
    assert all(5 <= float(r["noise"].split(":")[1]) <= 20 for r in noisy.values())


@pytest.mark.slow
def test_speakers_recipe_librispeech_subset(real_data, tmp_path):
    source = real_data / "librispeech-mini" / "train-clean-100"
    files = sorted(source.rglob("*.flac"))[:16]
    _link_subset(files, tmp_path / "libri")
    for word in ("yes", "no"):  # two words of the Speech Commands sample: extra training speakers
        (tmp_path / "sc").mkdir(exist_ok=True)
        (tmp_path / "sc" / word).symlink_to(real_data / "speech-commands-mini" / word)
    run_recipe("speakers", tmp_path, "corpus=libri", "folds=4", "speed=0.9", "extra_speakers=sc",
               "noise=5 20", "prep_opts=--workers 1 --n-mels 32", f"overrides={SMOKE_ECAPA}",
               "seeds=3 5")
    exp = tmp_path / "exp/speakers"
    test = {r["speaker"] for r in _read_csv(exp / "embeddings/test/index.csv")}
    cohort = {r["speaker"] for r in _read_csv(exp / "embeddings/cohort/index.csv")}
    assert test and cohort and not test & cohort  # unseen speakers are scored
    assert len(test | cohort) == 16
    # test segments are 3 s and never overlap; training segments overlap (1.5 s every 0.75 s)
    test_rows = _read_csv(tmp_path / "data/speakers/eval/manifest.csv")
    train_rows = _read_csv(tmp_path / "data/speakers/train/manifest.csv")
    assert max(float(r["duration"]) for r in test_rows) == pytest.approx(3.0)
    by_source: dict[str, list[tuple[float, float]]] = {}
    for r in test_rows:
        by_source.setdefault(r["source"], []).append((float(r["start"]), float(r["end"])))
    for spans in by_source.values():
        spans.sort()
        assert all(a[1] <= b[0] + 1e-6 for a, b in zip(spans, spans[1:]))
    starts = sorted(float(r["start"]) for r in train_rows if r["source"] == train_rows[0]["source"])
    assert len(starts) > 1 and starts[1] - starts[0] == pytest.approx(0.75)
    assert max(float(r["duration"]) for r in train_rows) == pytest.approx(1.5)
    # speed copies: new speakers made from the training speakers only, absent from scoring
    extra = {r["speaker"] for r in train_rows if r["fold"] == "0" and not r["speed"]}
    assert len(extra) > 5 and all(s.startswith("extra-") for s in extra)
    copies = {r["speaker"] for r in train_rows if r["speed"]}
    assert copies == {f"sp0.9-{s}" for s in cohort | extra} and not any(r.get("speed") for r in test_rows)
    # noise="5 20": one noisy copy of each original training segment (the extra speakers' too),
    # the same speaker; none of the speed copies, none to score
    noisy = sorted(r["copy_of"] for r in train_rows if r["noise"])
    plain = [r for r in train_rows if not r["speed"] and not r["noise"]]
    assert noisy == sorted(r["id"] for r in plain if r["fold"] != "1") and noisy
    assert not any(r.get("noise") for r in test_rows)
    for name in ("scores", "scores_asnorm", "scores_wccn_asnorm"):
        m = json.loads((exp / name / "metrics.json").read_text())
        assert m["scored"] > 0 and 0.0 <= m["eer"] <= 1.0
    assert m["wccn"]["from"].endswith("embeddings/train") and m["wccn"]["shrink"] == 0.25 and m["norm"] == "asnorm"
    assert m["cohort_by"] == "speaker" and json.loads(
        (exp / "scores_asnorm" / "metrics.json").read_text())["cohort_by"] is None
    fitted = {r["speaker"] for r in _read_csv(exp / "embeddings/train/index.csv")}
    assert fitted == cohort  # the training speakers' segments: not their copies, nor the extra ones
    assert len(_read_csv(exp / "embeddings/train/index.csv")) == sum(
        r["fold"] not in ("0", "1") for r in plain)
    raw, normed, whitened = ((exp / name / "scores.txt").read_text()
                             for name in ("scores", "scores_asnorm", "scores_wccn_asnorm"))
    assert raw.count("\n") == normed.count("\n") == whitened.count("\n") and len({raw, normed, whitened}) == 3
    assert (exp / "report.html").read_text().count("wccn+as-norm") >= 1
    # seeds="3 5": two models, each clip's embedding the fusion of theirs (mean of their cosines)
    assert not (exp / "model").exists()
    for seed in (3, 5):
        assert yaml.safe_load((exp / f"model-seed{seed}/config.yaml").read_text())["train"]["seed"] == seed
    fused, *members = (read_embeddings(exp / "embeddings" / d / "test")
                       for d in (".", "model-seed3", "model-seed5"))
    assert fused.vectors.shape[1] == 2 * 16 and all(m.ids == fused.ids for m in members)
    assert not np.allclose(members[0].vectors, members[1].vectors)
    np.testing.assert_allclose(fused.vectors @ fused.vectors.T,
                               sum(m.vectors @ m.vectors.T for m in members) / 2, atol=1e-5)


@pytest.mark.slow
def test_loss_comparison_recipe_on_real_subsets(real_data, tmp_path):
    import yaml

    fsdd = [p for p in sorted((real_data / "fsdd/recordings").glob("*.wav"))
            if p.stem.endswith("_0")]  # take 0 of every digit and speaker: folds 1-6
    _link_subset(fsdd, tmp_path / "fsdd/recordings")
    _link_subset(sorted((real_data / "librispeech-mini/train-clean-100").rglob("*.flac"))[:15],
                 tmp_path / "libri")
    recipes = ROOT / "recipes"
    plan = {"losses": {"softmax": [], "cs_softmax": ["loss.margin=0.25,0.4"]}, "seeds": [0],
            "tasks": {"fsdd_digits": {"kind": "classification", "cache": "unused",
                                      "config": str(recipes / "fsdd/conf/train.yaml"),
                                      "folds": [1, 2, 3], "set": SMOKE.split()},
                      "librispeech_speakers": {"kind": "verification", "cache": "unused",
                                               "config": str(recipes / "speakers/conf/train.yaml"),
                                               "folds": [1, 2, 3],  # of 5
                                               "set": SMOKE_ECAPA.split()}}}
    (tmp_path / "plan.yaml").write_text(yaml.safe_dump(plan))
    args = ("fsdd=fsdd", "librispeech=libri",
            f"speech_commands={real_data / 'speech-commands-mini'}", f"plan={tmp_path / 'plan.yaml'}",
            "fsdd_opts=--cmn true --n-mels 32 --workers 1",
            "speaker_opts=--kind fbank --n-mels 32 --cmn true --folds 5 --workers 1")
    run_recipe("loss_comparison", tmp_path, *args)
    exp = tmp_path / "exp/loss_comparison"
    result = json.loads((exp / "results.json").read_text())
    digits, speakers = (result["tasks"][k] for k in ("fsdd_digits", "librispeech_speakers"))
    assert digits["finished_units"] == 3 * 2 and speakers["finished_units"] == 3 * 2
    for unit in digits["units"]:  # 10 clips of the test speaker, tested once per run
        assert [t["clips"] for t in unit["tests"]] == [10]
    for unit in speakers["units"]:  # 3 unseen speakers' 3 s segments, every pair
        t = unit["tests"][0]
        assert t["trials"] > t["targets"] > 0 and 0 <= t["eer"] <= 100
    text = (exp / "results.md").read_text()
    assert "## fsdd_digits" in text and "## librispeech_speakers" in text
    assert "Incomplete" not in text and "Wilcoxon" in text
    assert "300 clips of 30 words from 41 speakers" in text  # the Speech Commands section
    for name in ("fsdd_digits_margins", "fsdd_digits_cosines", "librispeech_speakers_cosines"):
        assert (exp / "figures" / f"{name}.png").stat().st_size > 1000
    page = (exp / "report.html").read_text()  # the seed-0 digits run of each loss on fold 1
    assert "<h2>cs_softmax" in page and "<h2>softmax" in page
    assert_all_skipped("loss_comparison", tmp_path, exp, *args)


def test_recipe_options_are_checked(tmp_path):
    """Unknown options and a non-integer stage are refused before any stage runs."""
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    script = str(ROOT / "recipes/esc50/run.sh")
    for bad, reason in ((["--corpsu", "x"], "unknown option 'corpsu'"),
                        (["--stage", "two"], "must be integers"), (["stray"], "unexpected")):
        proc = subprocess.run(["bash", script, *bad], cwd=tmp_path, env=env,
                              capture_output=True, text=True)
        assert proc.returncode == 2 and reason in proc.stderr
    assert not (tmp_path / "exp").exists()
    help_text = subprocess.run(["bash", script, "--help"], cwd=tmp_path, env=env,
                               capture_output=True, text=True).stdout
    assert "corpus" in help_text and "data/ESC-50" in help_text


def test_speakers_recipe_crop_is_one_whole_training_segment():
    """conf/train.yaml's crop matches run.sh's segment: every crop is one whole segment (the
    crop repeats at most 2 frames, as wrapping pads a clip shorter than the crop)."""
    import re

    from audiocs.config import load_config
    from audiocs.features import FeatureSettings

    run_sh = (ROOT / "recipes/speakers/run.sh").read_text()
    settings = {k: v for k, v in re.findall(r"^(\w+)=(\S+)", run_sh, flags=re.M)}
    fbank = FeatureSettings(kind=settings["kind"])  # run.sh's prep keeps the 16 kHz, 10 ms frames
    frames = fbank.num_frames(round(float(settings["segment"]) * fbank.sample_rate))
    crop = load_config(ROOT / "recipes/speakers/conf/train.yaml",
                       ["data.cache_dir=unused"]).data.crop_frames
    assert frames <= crop <= frames + 2, (frames, crop)
    assert float(settings["hop"]) == float(settings["segment"]) / 2  # half-overlapping segments


def _fake_run(root: Path, name: str, accuracy: float, eer: float | None) -> None:
    run = root / name
    (run / "eval/test").mkdir(parents=True)
    (run / "eval/test/metrics.json").write_text(json.dumps(
        {"accuracy": accuracy, "macro_f1": accuracy / 2, "epoch": 3}))
    if eer is not None:
        (run / "scores").mkdir()
        (run / "scores/metrics.json").write_text(json.dumps({"eer": eer, "min_dcf_0.01": 0.5}))


def test_report_table_mean_std_per_group(tmp_path):
    """results.md: mean +- population std over each group's runs; an unscored run shows '-'."""
    from audiocs.report import write_results

    _fake_run(tmp_path, "softmax/seed0", 0.5, 0.25)
    _fake_run(tmp_path, "softmax/seed1", 0.7, 0.15)
    _fake_run(tmp_path, "cs_softmax/seed0", 0.9, None)
    table = write_results(tmp_path).read_text()
    assert ("| softmax | 2 | 0.6000 +- 0.1000 | 0.3000 +- 0.0500 | 20.00 +- 5.00% | "
            "0.5000 +- 0.0000 |") in table
    assert "| cs_softmax | 1 | 0.9000 | 0.4500 | - | - |" in table
    groups = json.loads((tmp_path / "results.json").read_text())["groups"]
    assert groups[1]["eer_mean"] == pytest.approx(0.2) and groups[0]["eer_mean"] is None
    missing = [sys.executable, "-m", "audiocs.report", "--root", str(tmp_path / "none")]
    assert subprocess.run(missing, capture_output=True, text=True).returncode == 2


def test_variants_table_ranks_variants_by_their_mean(tmp_path, capsys):
    import importlib.util

    spec = importlib.util.spec_from_file_location("variants_table", ROOT / "recipes/_common/variants_table.py")
    table = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(table)
    eers = {"cosine": (0.05, 0.04), "asnorm": (0.03, 0.05), "wccn0.5+asnorm": (0.03, 0.035)}
    runs = [tmp_path / f"seed{k}" for k in range(2)]
    for k, run in enumerate(runs):
        for name, values in eers.items():
            (run / "backend" / name).mkdir(parents=True)
            metrics = {"eer": values[k], "min_dcf_0.01": 0.1 * (k + 1)}
            (run / "backend" / name / "metrics.json").write_text(json.dumps(metrics))
    out = tmp_path / "table" / "backend"
    args = ["--out", str(out), "--sub", "backend", "--key", "eer", "--scale", "100", "--digits", "2",
            "--also", "min_dcf_0.01"]
    assert table.main(args + ["--lower"] + [str(r) for r in runs]) == 0
    rows = [line for line in out.with_suffix(".md").read_text().splitlines() if line.startswith("| ")]
    assert rows[0].count("|") == rows[1].count("|") == rows[2].count("|") == 7
    assert [r.split(" | ")[1] for r in rows[2:]] == ["wccn0.5+asnorm", "asnorm", "cosine"]  # 3.25, 4.0, 4.5
    assert rows[2].endswith("| 3.00 | 3.50 | 3.250 | 0.150 |")
    summary = json.loads(out.with_suffix(".json").read_text())
    assert summary["variants"]["cosine"]["eer"] == [0.05, 0.04]
    assert table.main(args + [str(r) for r in runs]) == 0  # higher is better: the reverse order
    rows = [line for line in out.with_suffix(".md").read_text().splitlines() if line.startswith("| ")]
    assert [r.split(" | ")[1] for r in rows[2:]] == ["cosine", "asnorm", "wccn0.5+asnorm"]
    (runs[1] / "backend" / "asnorm" / "metrics.json").unlink()
    assert table.main(args + [str(r) for r in runs]) == 2
    assert "seed1/backend/asnorm/metrics.json: missing" in capsys.readouterr().err
