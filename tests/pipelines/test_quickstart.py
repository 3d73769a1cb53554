"""`audiocs quickstart` at a reduced size: the report, both losses above chance, resuming."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from audiocs.cache import FeatureCache
from audiocs.cli import main
from audiocs.errors import AudiocsError
from audiocs.quickstart import QuickstartOptions, quickstart
from audiocs.synthetic import CLASS_NAMES

# 30 optimizer steps (15 epochs) left the validation fold at chance; 50 steps learn
SMALL = QuickstartOptions(clips_per_class=15, duration=2.0, epochs=25, workers=1)


@pytest.fixture(scope="module")
def small_run(tmp_path_factory) -> tuple[Path, list[str]]:
    out = tmp_path_factory.mktemp("qs") / "quickstart"
    messages: list[str] = []
    quickstart(out, SMALL, log=messages.append)
    return out, messages


def _table_rows(report: str) -> dict[str, list[str]]:
    """loss -> cells of the results table in report.md."""
    rows = {}
    for line in report.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 6 and cells[0] in ("cs_softmax", "softmax"):
            rows[cells[0]] = cells[1:]
    return rows


@pytest.mark.slow
def test_report_table_links_and_above_chance(small_run):
    out, _ = small_run
    report = (out / "report.md").read_text()
    rows = _table_rows(report)
    assert set(rows) == {"cs_softmax", "softmax"}
    for loss, (runs, acc, f1, eer, dcf) in rows.items():
        metrics = json.loads((out / "runs" / loss / "eval/test/metrics.json").read_text())
        scores = json.loads((out / "runs" / loss / "scores/metrics.json").read_text())
        assert runs == "1" and acc == f"{metrics['accuracy']:.4f}"
        assert eer == f"{100 * scores['eer']:.2f}%"
        assert metrics["clips"] == 30  # fold 5: 3 clips of each of the 10 classes
        assert metrics["accuracy"] > 0.1, f"{loss} at or below chance (10 classes)"
        assert scores["eer"] < 0.5, f"{loss}: class-verification EER no better than chance"
    links = re.findall(r"\]\(([^)]+\.png)\)", report)
    assert len(links) == 2 * 5 and all((out / link).is_file() for link in links)
    assert "95% interval" in report and report.count("](runs/") == 2 * 5
    assert "confusion.png" in report and "det.png" in report and "curves.png" in report
    trials = json.loads((out / "runs/softmax/scores/metrics.json").read_text())["scored"]
    assert trials == 30 * 29 // 2 and f"{trials} class-verification trials" in report
    page = (out / "report.html").read_text()  # beside report.md: both runs, audio linked
    assert page.count('<section id="run-') == 2 and 'src="runs/softmax/' not in page
    assert "<audio controls" in page and 'src="corpus/audio/' in page


@pytest.mark.slow
def test_validation_is_a_separate_fold_and_labels_are_contiguous(small_run):
    out, _ = small_run
    cache = FeatureCache(out / "prep" / "features-logmel")  # ESC-50 parser: label = target
    assert cache.class_names == list(CLASS_NAMES) and set(cache.labels.tolist()) == set(range(10))
    for loss in ("cs_softmax", "softmax"):
        config = (out / "runs" / loss / "config.yaml").read_text()
        assert "valid_split: previous_fold" in config and "- 5" in config
        history = [json.loads(line) for line in
                   (out / "runs" / loss / "metrics.jsonl").read_text().splitlines()]
        assert len(history) == SMALL.epochs and all("valid_acc" in h for h in history)


@pytest.mark.slow
def test_rerun_skips_and_resumes_a_removed_stage(small_run):
    out, first = small_run
    assert not any("skipped" in m for m in first)
    report = (out / "report.md").read_text()
    again: list[str] = []
    quickstart(out, SMALL, log=again.append)
    stages = [m for m in again if m.startswith("[quickstart]") and "report:" not in m]
    assert stages and all("finished earlier, skipped" in m for m in stages)
    assert (out / "report.md").read_text() == report
    # an interrupted stage: its outputs and marker gone -> only it runs again
    shutil.rmtree(out / "runs/softmax/scores")
    (out / ".stages/score.softmax.done").unlink()
    third: list[str] = []
    quickstart(out, SMALL, log=third.append)
    ran = [m for m in third if m.endswith(" ...")]
    assert ran == ["[quickstart] score.softmax ..."]
    assert _table_rows((out / "report.md").read_text()) == _table_rows(report)


def test_other_options_or_foreign_folder_are_refused(tmp_path):
    out = tmp_path / "qs"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    with pytest.raises(AudiocsError, match="not made by audiocs quickstart"):
        quickstart(out, SMALL)
    (tmp_path / "qs2").mkdir()
    (tmp_path / "qs2" / "quickstart.json").write_text(json.dumps({"clips_per_class": 3}))
    assert main(["quickstart", "--out", str(tmp_path / "qs2"), "--epochs", "1"]) == 2
    with pytest.raises(AudiocsError, match="each loss once"):
        quickstart(tmp_path / "qs3", QuickstartOptions(losses=["softmax", "softmax"]))
    assert not (tmp_path / "qs3").exists()


@pytest.mark.slow
def test_report_html_in_headless_chromium(small_run, tmp_path):
    """The quickstart's report.html as a browser renders it: both runs' numbers equal their
    metrics files, every figure decodes, every audio element points to an existing clip."""
    import base64
    import io
    from urllib.parse import unquote

    from browser import Page, chromium
    from PIL import Image

    out, _ = small_run
    page = Page(chromium(tmp_path, "--dump-dom", (out / "report.html").as_uri()).stdout)
    summary = {row[0]: row for row in page.rows("summary")}
    assert set(summary) == {"cs_softmax", "softmax"}
    for loss, row in summary.items():
        metrics = json.loads((out / "runs" / loss / "eval/test/metrics.json").read_text())
        scores = json.loads((out / "runs" / loss / "scores/metrics.json").read_text())
        assert row[5] == str(metrics["clips"]) == "30"
        assert row[6] == f"{metrics['accuracy']:.4f}" and row[8] == f"{100 * scores['eer']:.2f}%"
    assert len(page.images) >= 2 * 3  # curves, confusion, DET and histograms of each run
    for src in page.images:
        image = Image.open(io.BytesIO(base64.b64decode(src.split(",", 1)[1])))
        assert image.width > 0 and image.height > 0
    assert page.audio and all((out / unquote(src)).is_file() for src in page.audio)
    shot = tmp_path / "quickstart-report.png"
    chromium(tmp_path, f"--screenshot={shot}", "--window-size=1280,900",
             (out / "report.html").as_uri())
    assert shot.stat().st_size > 0
