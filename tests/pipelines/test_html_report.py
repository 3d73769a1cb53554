"""`audiocs report`: the HTML page of a small trained run opened in headless Chromium (numbers
equal the metrics files, every figure decodes, every audio link resolves), and the page builder
on hand-written run folders (escaping, runs side by side, cross-validation folds, errors)."""

from __future__ import annotations

import base64
import csv
import io
import json
from pathlib import Path
from urllib.parse import unquote

import pytest
from PIL import Image
from browser import Page, chromium
from helpers import write_config

from audiocs.cli import main
from audiocs.errors import AudiocsError
from audiocs.html_report import build_html, read_run_view, write_html_report

@pytest.fixture(scope="module")
def trained_run(tmp_path_factory, tone_cache: Path) -> Path:  # noqa: F811
    """2 epochs at a tiny learning rate (some test clips stay wrong), evaluated and scored."""
    root = tmp_path_factory.mktemp("report")
    config = write_config(root / "conf.yaml", tone_cache, optim={"name": "sgd", "lr": 1e-4},
                          train={"epochs": 2, "checkpoint_every_steps": 0},
                          augment={"mixup_alpha": 0.0})
    exp = root / "exp"
    assert main(["train", "--config", str(config), "--fold", "1", "--exp-dir", str(exp)]) == 0
    assert main(["evaluate", "--exp-dir", str(exp)]) == 0
    assert main(["embed", "--exp-dir", str(exp), "--cache", str(tone_cache), "--out",
                 str(exp / "embeddings"), "--folds", "1"]) == 0
    assert main(["trials", "--embeddings", str(exp / "embeddings"), "--out",
                 str(exp / "trials.txt"), "--by", "label"]) == 0
    assert main(["score", "--embeddings", str(exp / "embeddings"), "--trials",
                 str(exp / "trials.txt"), "--out", str(exp / "scores")]) == 0
    return exp


def test_evaluate_writes_top3_predictions(trained_run: Path) -> None:
    metrics = json.loads((trained_run / "eval/test/metrics.json").read_text())
    with open(trained_run / "eval/test/predictions.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == metrics["clips"] == 16
    assert list(rows[0]) == ["id", "path", "label", "top1", "score1", "top2", "score2", "top3",
                             "score3"]
    correct = sum(r["top1"] == r["label"] for r in rows)
    assert correct / len(rows) == pytest.approx(metrics["accuracy"])
    for r in rows:
        assert Path(r["path"]).is_absolute() and Path(r["path"]).is_file()
        assert len({r["top1"], r["top2"], r["top3"]}) == 3
        assert float(r["score1"]) >= float(r["score2"]) >= float(r["score3"])


def test_report_in_headlesschromium(trained_run: Path, tmp_path: Path) -> None:
    out = trained_run.parent / "pages" / "report.html"  # audio links lead out of its folder
    assert main(["report", str(trained_run), "--out", str(out)]) == 0
    dom = chromium(tmp_path, "--dump-dom", out.as_uri()).stdout
    page = Page(dom)
    metrics = json.loads((trained_run / "eval/test/metrics.json").read_text())
    scores = json.loads((trained_run / "scores/metrics.json").read_text())

    (summary,) = page.rows("summary")
    assert summary[0] == "exp" and summary[5] == "16"
    assert summary[6] == f"{metrics['accuracy']:.4f}" and summary[7] == f"{metrics['macro_f1']:.4f}"
    assert summary[8] == f"{100 * scores['eer']:.2f}%"
    assert summary[9] == f"{scores['min_dcf_0.01']:.4f}"
    (row,) = page.rows("metrics")
    assert row[:3] == ["16", f"{metrics['accuracy']:.4f}", f"{metrics['macro_f1']:.4f}"]
    per_class = page.rows("per-class")
    assert [r[0] for r in per_class] == list(metrics["per_class_accuracy"])
    for name, clips, _, recall, _ in per_class:
        assert clips == "4" and recall == f"{metrics['per_class_accuracy'][name]:.3f}"
    mean_f1 = sum(float(r[4]) for r in per_class) / len(per_class)
    assert mean_f1 == pytest.approx(metrics["macro_f1"], abs=6e-4)
    values = dict(page.rows("scores"))
    assert values["EER"] == f"{100 * scores['eer']:.2f}%"
    assert values["trials scored"] == str(scores["scored"]) == str(16 * 15 // 2)

    assert len(page.images) == 4  # training curves, confusion matrix, DET curve, histograms
    for src in page.images:
        head, data = src.split(",", 1)
        assert head == "data:image/png;base64"
        image = Image.open(io.BytesIO(base64.b64decode(data)))
        image.load()
        assert image.width > 0 and image.height > 0
    wrong = round((1 - metrics["accuracy"]) * metrics["clips"])
    assert wrong > 0 and len(page.audio) == wrong
    for src in page.audio:
        assert not src.startswith(("/", "file:")) and (out.parent / unquote(src)).is_file()

    for width, height in ((1280, 900), (390, 844)):  # a laptop and a phone
        shot = tmp_path / f"report-{width}.png"
        chromium(tmp_path, f"--screenshot={shot}", f"--window-size={width},{height}",
                  _framed(out, width, height, tmp_path))
        assert shot.stat().st_size > 0
        assert Image.open(shot).size == (width, height)


def _framed(page: Path, width: int, height: int, tmp: Path) -> str:
    """A file URI showing `page` in a width x height frame: headless Chromium lays a page out
    at least 500 pixels wide whatever the window size, a frame has the width it is given."""
    frame = tmp / f"frame-{width}.html"
    frame.write_text(f'<!DOCTYPE html><body style="margin:0"><iframe src="{page.as_uri()}" '
                     f'style="width:{width}px;height:{height}px;border:0"></iframe></body>')
    return frame.as_uri()


# --- the page builder on hand-written run folders ---------------------------------------------


def fake_run(folder: Path, classes: list[str], matrix: list[list[int]], loss: str = "softmax",
             eer: float | None = None) -> Path:
    """A run folder as `audiocs evaluate` (and optionally `audiocs score`) leave it."""
    out = folder / "eval" / "test"
    out.mkdir(parents=True)
    clips = sum(map(sum, matrix))
    accuracy = sum(matrix[i][i] for i in range(len(classes))) / clips
    recall = {c: matrix[i][i] / sum(matrix[i]) for i, c in enumerate(classes)}
    (out / "metrics.json").write_text(json.dumps({
        "split": "test", "clips": clips, "accuracy": accuracy, "macro_f1": 0.5, "epoch": 3,
        "per_class_accuracy": recall}))
    with open(out / "confusion.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["true\\predicted", *classes])
        writer.writerows([c, *row] for c, row in zip(classes, matrix))
    (folder / "config.yaml").write_text(f"model:\n  name: vgg_small\nloss:\n  name: {loss}\n")
    if eer is not None:
        (folder / "scores").mkdir()
        (folder / "scores/metrics.json").write_text(json.dumps({"scored": 10, "eer": eer}))
    return folder


def test_names_and_classes_are_escaped(tmp_path: Path) -> None:
    odd = 'a<b & "c"'
    run = fake_run(tmp_path / "run", [odd, "plain"], [[2, 1], [0, 3]])
    view = read_run_view(run, name=odd)
    text = build_html([view], tmp_path)
    assert odd not in text and "a&lt;b &amp; &quot;c&quot;" in text
    page = Page(text)
    assert page.rows("summary")[0][0] == odd and page.rows("per-class")[0][0] == odd
    assert page.rows("per-class")[0][2:] == ["1.000", "0.667", "0.800"]  # P, R, F1 of class 0
    assert "<script" not in text and "<link" not in text and "http" not in text  # nothing fetched


def test_two_runs_side_by_side(tmp_path: Path) -> None:
    a = fake_run(tmp_path / "cs" / "seed0", ["x", "y"], [[3, 0], [1, 2]], "cs_softmax", 0.125)
    b = fake_run(tmp_path / "sm" / "seed0", ["x", "y"], [[2, 1], [1, 2]], "softmax")
    out = write_html_report([a, b], tmp_path / "report.html")
    page = Page(out.read_text())
    summary = page.rows("summary")
    assert [r[0] for r in summary] == ["cs/seed0", "sm/seed0"]
    assert [r[6] for r in summary] == ["0.8333", "0.6667"] and [r[8] for r in summary] == [
        "12.50%", "-"]
    assert page.rows("settings") == [["loss.name", "cs_softmax", "softmax"]]
    assert page.text.count("No predictions.csv: run ") == 2  # an older evaluation: a note
    # one model, two scores folders (plain and normalized): the same folder twice
    (a / "asnorm").mkdir()
    (a / "asnorm/metrics.json").write_text(json.dumps({"scored": 10, "eer": 0.1}))
    again = Page(write_html_report([a, a], out, scores=[a / "scores", a / "asnorm"]).read_text())
    assert [(r[0], r[8]) for r in again.rows("summary")] == [("seed0 #1", "12.50%"),
                                                             ("seed0 #2", "10.00%")]


def test_crossval_folder_stands_for_its_folds(tmp_path: Path) -> None:
    for k in (2, 10, 1):
        fake_run(tmp_path / "cv" / f"fold{k}", ["x", "y"], [[1, 0], [0, 1]])
    out = write_html_report([tmp_path / "cv"], tmp_path / "r.html", names=None)
    names = [r[0] for r in Page(out.read_text()).rows("summary")]
    assert names == ["cv/fold1", "cv/fold2", "cv/fold10"]
    with pytest.raises(AudiocsError, match="--names: 1 given for 3 runs"):
        write_html_report([tmp_path / "cv"], tmp_path / "r.html", names=["one"])


def test_missing_metrics_is_a_one_line_error(tmp_path: Path, capsys) -> None:
    (tmp_path / "run").mkdir()
    out = tmp_path / "report.html"
    assert main(["report", str(tmp_path / "run"), "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and str(tmp_path / "run/eval/test/metrics.json") in err
    assert "audiocs evaluate" in err and not out.exists()
    fake_run(tmp_path / "ok", ["x"], [[1]])
    with pytest.raises(AudiocsError, match=r"nowhere/metrics\.json: not found"):
        write_html_report([tmp_path / "ok"], out, scores=[tmp_path / "nowhere"])
    (tmp_path / "ok/eval/test/predictions.csv").write_text("id,path\nx,x.wav\n")
    with pytest.raises(AudiocsError, match=r"predictions\.csv: columns label, score1, top1 "):
        write_html_report([tmp_path / "ok"], out)
    (tmp_path / "ok/eval/test/metrics.json").write_text("{not json")
    with pytest.raises(AudiocsError, match=r"ok/eval/test/metrics\.json: unreadable"):
        write_html_report([tmp_path / "ok"], out)
    with pytest.raises(AudiocsError, match="missing: experiment folder not found"):
        write_html_report([tmp_path / "missing"], out)
