"""`audiocs quickstart`: the whole path on the built-in generated corpus, in minutes on a CPU.

Stages (each skipped when finished, so a re-run after an interruption resumes):
generate the ESC-50-like corpus -> ESC-50 manifest + log-mel cache -> for each loss: train
(folds 1-3, best checkpoint chosen on fold 4), evaluate on fold 5, embed fold 5, score
class-verification trials among the fold-5 clips -> ``report.md`` with the table and plot links,
and ``report.html`` (`audiocs report` of the runs) beside it.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from audiocs.errors import AudiocsError
from audiocs.fileio import atomic_write

OPTIONS_FILE = "quickstart.json"
STAGES_DIR = ".stages"
TEST_FOLD = 5  # the held-out fold; fold 4 (the one before it) picks the checkpoint
# Each loss's own parameters, chosen on the validation fold by recipes/quickstart/search.sh
LOSS_PARAMS: dict[str, dict] = {
    "cs_softmax": {"scale": 30.0, "margin": 0.4, "params": {"weight_update": 0.0}},
}


@dataclass(frozen=True)
class QuickstartOptions:
    """Sizes of the quickstart; the defaults finish in about three minutes on 2 CPU cores.

    The training setup and the sizes were chosen by recipes/quickstart/search.sh on the
    validation fold (fold 4) within that time budget; the test fold is never read by it."""

    clips_per_class: int = 80
    duration: float = 4.0  # seconds per generated clip
    epochs: int = 50
    losses: list[str] = field(default_factory=lambda: ["cs_softmax", "softmax"])
    seed: int = 0
    workers: int = 2  # processes for generation and feature extraction

    def training(self, cache_dir: Path, loss: str) -> dict:
        """The training config (plain values, `audiocs train` sections) for one loss."""
        return {
            "data": {"cache_dir": str(cache_dir), "valid_split": "previous_fold",
                     "test_folds": [TEST_FOLD], "crop_frames": 128, "batch_size": 32},
            "model": {"name": "vgg_small", "embed_dim": 64, "kwargs": {"width": 8, "dropout": 0.1}},
            "loss": {"name": loss, **LOSS_PARAMS.get(loss, {})},
            "optim": {"name": "adamw", "lr": 0.003, "weight_decay": 1.0e-4},
            "schedule": {"warmup_epochs": 1, "warmup_start": 0.1, "decay": "cosine",
                         "min_lr": 1.0e-5},
            "margin_schedule": {"start_epoch": 0, "ramp_epochs": 0},
            "augment": {"specaugment": True, "mixup_alpha": 0.0, "freq_warp": 0.2},
            "train": {"epochs": self.epochs, "seed": self.seed, "device": "cpu"},
        }


def _overrides(values: dict, prefix: str = "") -> list[str]:
    """Nested plain values -> dotted `key=value` overrides for `load_config`."""
    out = []
    for key, value in values.items():
        if isinstance(value, dict):
            out += _overrides(value, f"{prefix}{key}.")
        else:
            out.append(f"{prefix}{key}={json.dumps(value)}")
    return out


class _Stages:
    """Runs named stages once: a marker file in ``out/.stages`` records each finished one."""

    def __init__(self, out: Path, log: Callable[[str], None]) -> None:
        self.dir, self.log, self.seconds = out / STAGES_DIR, log, {}

    def run(self, name: str, job: Callable[[], object]) -> None:
        marker = self.dir / f"{name}.done"
        if marker.is_file():
            self.log(f"[quickstart] {name}: finished earlier, skipped")
            self.seconds[name] = json.loads(marker.read_text())["seconds"]
            return
        self.log(f"[quickstart] {name} ...")
        start = time.perf_counter()
        job()
        self.seconds[name] = round(time.perf_counter() - start, 1)
        with atomic_write(marker) as f:
            json.dump({"seconds": self.seconds[name]}, f)


def _check_options(out: Path, options: QuickstartOptions) -> None:
    """Store the options in a new folder; refuse a folder made with other options."""
    stored = out / OPTIONS_FILE
    if stored.is_file():
        previous = json.loads(stored.read_text())
        if previous != asdict(options):
            raise AudiocsError(f"{stored}: this folder holds a quickstart with other options "
                               f"({previous}); choose another --out")
        return
    if out.exists() and any(out.iterdir()):
        raise AudiocsError(f"{out}: folder is not empty and was not made by audiocs quickstart")
    with atomic_write(stored) as f:
        json.dump(asdict(options), f, indent=2)


def quickstart(out_dir: str | Path = "quickstart", options: QuickstartOptions | None = None, *,
               log: Callable[[str], None] = print) -> Path:
    """Run (or resume) every stage into `out_dir`; returns the path of ``report.md``."""
    from audiocs.cache_build import build_cache
    from audiocs.config import load_config
    from audiocs.embed import embed_cache
    from audiocs.evaluate import evaluate_experiment
    from audiocs.experiment import EMBEDDINGS, SCORES, can_resume
    from audiocs.features import FeatureSettings
    from audiocs.html_report import write_html_report
    from audiocs.prep import prepare_esc50
    from audiocs.scoring.pipeline import run_score, run_trials
    from audiocs.synthetic import generate_esc50_like
    from audiocs.train.loop import train

    opts = options or QuickstartOptions()
    if not opts.losses or len(set(opts.losses)) != len(opts.losses):
        raise AudiocsError(f"quickstart losses {opts.losses}: give each loss once")
    out = Path(out_dir)
    _check_options(out, opts)
    corpus, prep, cache = out / "corpus", out / "prep", out / "prep" / "features-logmel"
    stages = _Stages(out, log)
    stages.run("synth", lambda: generate_esc50_like(
        corpus, clips_per_class=opts.clips_per_class, seed=opts.seed,
        duration=opts.duration, workers=opts.workers))
    stages.run("prepare", lambda: build_cache(
        prepare_esc50(corpus, prep), cache, FeatureSettings(), workers=opts.workers,
        train_folds=list(range(1, TEST_FOLD))))
    for loss in opts.losses:
        run = out / "runs" / loss
        cfg = load_config(None, _overrides(opts.training(cache, loss)))
        stages.run(f"train.{loss}", lambda: train(
            cfg, run, resume=can_resume(run)))
        stages.run(f"evaluate.{loss}", lambda: evaluate_experiment(run, split="test"))
        stages.run(f"embed.{loss}", lambda: embed_cache(
            run, cache, run / EMBEDDINGS, folds=[TEST_FOLD], progress=False))
        if loss == opts.losses[0]:  # one trial list for every model: the same fold-5 clips
            stages.run("trials", lambda: run_trials(run / EMBEDDINGS, out / "trials.txt",
                                                    by="label"))
        stages.run(f"score.{loss}", lambda: run_score(
            run / EMBEDDINGS, out / "trials.txt", run / SCORES))
    report = write_report(out, opts, stages.seconds)
    write_html_report([out / "runs" / loss for loss in opts.losses], out / "report.html",
                      title="audiocs quickstart")
    log(f"[quickstart] report: {report} (and report.html)")
    return report


def _loss_settings(losses: list[str]) -> str:
    """'cs_softmax: scale 30, margin 0.4, weight_update 0. ' for the losses with own values."""
    parts = []
    for loss in losses:
        p = LOSS_PARAMS.get(loss)
        if p:
            values = {k: v for k, v in p.items() if k != "params"} | p.get("params", {})
            parts.append(f"{loss}: " + ", ".join(f"{k} {v:g}" for k, v in values.items()))
    return ("; ".join(parts) + " (chosen on the validation fold). ") if parts else ""


def write_report(out: Path, opts: QuickstartOptions, seconds: dict[str, float]) -> Path:
    """``out/report.md``: settings, the accuracy / EER table, plot links and stage times."""
    from audiocs.report import read_run, results_table, wilson_interval

    runs = [read_run(out / "runs" / loss) for loss in opts.losses]
    trials = sum(1 for line in (out / "trials.txt").read_text().splitlines() if line.strip())
    classes = json.loads((out / "corpus" / ".synthetic.json").read_text())["classes"]
    lines = [
        "# audiocs quickstart",
        "",
        f"Generated ESC-50-like corpus: {len(classes)} classes x {opts.clips_per_class} clips "
        f"of {opts.duration:g} s (seed {opts.seed}). Training on folds 1-{TEST_FOLD - 2}, "
        f"checkpoint chosen on fold {TEST_FOLD - 1} (validation), tested once on fold "
        f"{TEST_FOLD}. Model vgg_small (width 8, 64-d embedding), {opts.epochs} epochs, AdamW "
        f"lr 3e-3. {_loss_settings(opts.losses)}"
        f"EER: {trials} class-verification trials (every pair of fold-{TEST_FOLD} clips; target "
        f"= same class), cosine scoring of L2-normalized embeddings. Chance accuracy "
        f"{1 / len(classes):.2f}.",
        "",
        results_table(runs),
        "## How far one seed can be trusted",
        "",
    ]
    clips = 0
    for loss, run in zip(opts.losses, runs):
        clips = json.loads((out / "runs" / loss / "eval/test/metrics.json").read_text())["clips"]
        low, high = wilson_interval(round(run.accuracy * clips), clips)
        lines.append(f"- {loss}: test accuracy {run.accuracy:.4f}, 95% interval {low:.2f}-"
                     f"{high:.2f} over the {clips} test clips (Wilson).")
    lines += [
        "",
        f"With {clips} test clips, one run's accuracy is known only to within those intervals, "
        "and a training seed moves it further (another initialization, crop and batch order): "
        "two losses whose intervals overlap are not ranked by one seed. The same quickstart "
        "over several seeds is in the repository's `recipes/quickstart/RESULTS.md`.",
        "",
        "## Training curves",
        "",
        "Loss and accuracy per epoch, and the cosine geometry: mean cosine of each embedding to "
        "its own class weight (target) and to the others (mean and largest), and the training "
        "logit gap (target logit minus the largest other logit, margins included).",
        "",
    ]
    lines += [f"![{loss} training curves](runs/{loss}/eval/curves.png)" for loss in opts.losses]
    lines += ["", "## Plots", ""]
    for loss in opts.losses:
        lines.append(f"- {loss}: [confusion matrix](runs/{loss}/eval/test/confusion.png), "
                     f"[DET curve](runs/{loss}/scores/det.png), "
                     f"[score histograms](runs/{loss}/scores/score_hist.png), "
                     f"[training curves](runs/{loss}/eval/curves.png)")
    lines += ["", "## Stage times (seconds, this folder's runs)", "",
              "| stage | seconds |", "| --- | ---: |"]
    lines += [f"| {name} | {s:.1f} |" for name, s in seconds.items()]
    lines.append(f"| total | {sum(seconds.values()):.1f} |")
    with atomic_write(out / "report.md") as f:
        f.write("\n".join(lines) + "\n")
    return out / "report.md"
