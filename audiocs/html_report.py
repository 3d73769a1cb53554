"""`audiocs report`: one self-contained HTML page of one or several trained runs.

Read from each run folder: ``config.yaml``, ``metrics.jsonl`` (training curves), what
`audiocs evaluate` wrote under ``eval/<split>/`` (``metrics.json``, ``confusion.csv``,
``predictions.csv``) and what `audiocs score` wrote into a scores folder (``metrics.json``,
``det.png``, ``score_hist.png``; by default ``<run>/scores``). Figures are embedded as PNG data
URIs; the audio players of misclassified clips link to the audio files by paths relative to the
page, so the page opens from disk in any browser, with no network and no server.
"""

from __future__ import annotations

import base64
import csv
import html
import json
import math
import os
import re
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

import numpy as np

from audiocs.errors import AudiocsError
from audiocs.experiment import (CONFIG, EVAL_DIR, METRICS_JSON, PREDICTIONS, SCORES, eval_dir,
                                read_history)
from audiocs.fileio import atomic_write

OPEN_CLIPS = 24  # the misclassified-clips list starts folded when it is longer


@dataclass
class ClassTable:
    """Class names (C,) and the confusion matrix (C, C) of ``confusion.csv`` (rows: true)."""

    names: list[str]
    matrix: np.ndarray

    def rows(self) -> list[tuple[str, int, float, float, float]]:
        """(class, clips, precision, recall, F1); precision and F1 are 0 where undefined (as
        sklearn's zero_division=0), recall is NaN for a class without clips."""
        m = self.matrix.astype(np.float64)
        hits, support, predicted = np.diag(m), m.sum(axis=1), m.sum(axis=0)
        out = []
        for i, name in enumerate(self.names):
            p = hits[i] / predicted[i] if predicted[i] else 0.0
            r = hits[i] / support[i] if support[i] else math.nan
            f1 = 2 * p * r / (p + r) if support[i] and p + r > 0 else 0.0
            out.append((name, int(support[i]), p, r, f1))
        return out


@dataclass
class RunView:
    """What the report shows of one run; None where the run has no such file."""

    name: str
    folder: Path
    split: str
    config_text: str | None = None
    config: dict = field(default_factory=dict)
    history: list[dict] = field(default_factory=list)
    metrics: dict | None = None
    classes: ClassTable | None = None
    predictions: list[dict] | None = None
    scores_dir: Path | None = None
    scores: dict | None = None


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise AudiocsError(f"{path}: unreadable ({err})") from None


def _read_csv(path: Path) -> list[list[str]]:
    try:
        with open(path, newline="", encoding="utf-8") as f:
            return list(csv.reader(f))
    except OSError as err:
        raise AudiocsError(f"{path}: unreadable ({err})") from None


def _read_confusion(path: Path) -> ClassTable:
    if not path.is_file():
        raise AudiocsError(f"{path}: not found (written by `audiocs evaluate`; run it again)")
    rows = _read_csv(path)
    try:
        names = rows[0][1:]
        matrix = np.array([[int(v) for v in r[1:]] for r in rows[1:]], dtype=np.int64)
    except (IndexError, ValueError) as err:
        raise AudiocsError(f"{path}: not a confusion matrix ({err})") from None
    if matrix.shape != (len(names), len(names)):
        raise AudiocsError(f"{path}: {matrix.shape} counts for {len(names)} classes")
    return ClassTable(names, matrix)


def _read_predictions(path: Path) -> list[dict]:
    rows = _read_csv(path)
    missing = {"id", "path", "label", "top1", "score1"} - set(rows[0] if rows else [])
    if missing:
        raise AudiocsError(f"{path}: columns {', '.join(sorted(missing))} missing")
    return [dict(zip(rows[0], r)) for r in rows[1:]]


def read_run_view(exp: str | Path, *, split: str = "test", scores: str | Path | None = None,
                  name: str | None = None) -> RunView:
    """Collect a run's files. The run needs `audiocs evaluate` outputs or a scores folder
    (`scores`, default ``exp/scores`` when present)."""
    folder = Path(exp)
    if not folder.is_dir():
        raise AudiocsError(f"{folder}: experiment folder not found")
    view = RunView(name or folder.name, folder, split)
    config = folder / CONFIG
    if config.is_file():
        import yaml

        view.config_text = config.read_text(encoding="utf-8")
        try:
            loaded = yaml.safe_load(view.config_text)
        except yaml.YAMLError as err:
            raise AudiocsError(f"{config}: unreadable ({str(err).splitlines()[0]})") from None
        view.config = loaded if isinstance(loaded, dict) else {}
    view.history = read_history(folder)
    if scores is not None:
        view.scores_dir = Path(scores)
        if not (view.scores_dir / METRICS_JSON).is_file():
            raise AudiocsError(f"{view.scores_dir / METRICS_JSON}: not found (run `audiocs "
                               f"score ... --out {view.scores_dir}` first)")
    elif (folder / SCORES / METRICS_JSON).is_file():
        view.scores_dir = folder / SCORES
    if view.scores_dir is not None:
        view.scores = _read_json(view.scores_dir / METRICS_JSON)
    evaluated = eval_dir(folder, split)
    if (evaluated / METRICS_JSON).is_file():
        view.metrics = _read_json(evaluated / METRICS_JSON)
        view.classes = _read_confusion(evaluated / "confusion.csv")
        if (evaluated / PREDICTIONS).is_file():
            view.predictions = _read_predictions(evaluated / PREDICTIONS)
    elif view.scores is None:
        raise AudiocsError(f"{evaluated / METRICS_JSON}: not found (run `audiocs evaluate "
                           f"--exp-dir {folder} --split {split}` first)")
    return view


def expand_runs(paths: Sequence[str | Path], split: str = "test") -> list[Path]:
    """The run folders of `paths`: a cross-validation folder (no eval/ of its own, fold<k>/
    subfolders) stands for its folds, in fold order."""
    out = []
    for p in map(Path, paths):
        folds = sorted((f for f in p.glob("fold*") if re.fullmatch(r"fold\d+", f.name)
                        and eval_dir(f, split).is_dir()), key=lambda f: int(f.name[4:]))
        out += folds if folds and not (p / EVAL_DIR).exists() else [p]
    return out


def short_names(folders: Sequence[Path]) -> list[str]:
    """The fewest trailing path parts that tell the folders apart ('seed0', 'softmax/seed0'),
    at least two for a cross-validation fold ('crossval/fold1'); '#k' marks a repeated run."""
    parts = [Path(os.path.abspath(f)).parts for f in folders]
    least = [2 if re.fullmatch(r"fold\d+", p[-1]) else 1 for p in parts]
    for k in range(1, max(len(p) for p in parts) + 1):
        names = ["/".join(p[-max(k, m):]) for p, m in zip(parts, least)]
        if len(set(names)) == len(names):
            return names
    return [f"{Path(f).name} #{i}" for i, f in enumerate(folders, 1)]


# --- figures ---------------------------------------------------------------------------


def _rendered(plot: Callable[[Path], object]) -> bytes:
    """PNG bytes of a figure that `plot(path)` writes."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "figure.png"
        plot(path)
        return path.read_bytes()


def _img(png: bytes, alt: str) -> str:
    data = base64.b64encode(png).decode("ascii")
    return f'<img src="data:image/png;base64,{data}" alt="{html.escape(alt)}">'


def _figure(png: bytes | None, caption: str) -> str:
    if png is None:
        return ""
    return f"<figure>{_img(png, caption)}<figcaption>{html.escape(caption)}</figcaption></figure>"


def _file_png(path: Path) -> bytes | None:
    return path.read_bytes() if path.is_file() else None


# --- HTML pieces -----------------------------------------------------------------------

e = html.escape


def _num(value: object, digits: int = 4, percent: bool = False) -> str:
    """A number as the tables print it ('-' for missing or NaN)."""
    if not isinstance(value, (int, float)) or isinstance(value, bool) or math.isnan(value):
        return "-"
    return f"{100 * value:.2f}%" if percent else f"{value:.{digits}f}"


def _table(head: Sequence[str], rows: Sequence[Sequence[str]], cls: str = "") -> str:
    """A table in a horizontally scrolling box; `head` is escaped, cells are HTML."""
    th = "".join(f"<th>{e(h)}</th>" for h in head)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in r) + "</tr>" for r in rows)
    return (f'<div class="scroll"><table class="{cls}"><thead><tr>{th}</tr></thead>'
            f"<tbody>{body}</tbody></table></div>")


def _get(config: dict, dotted: str) -> object:
    value: object = config
    for key in dotted.split("."):
        value = value.get(key) if isinstance(value, dict) else None
    return value


def _flat(config: dict, prefix: str = "") -> dict[str, str]:
    out = {}
    for key, value in config.items():
        if isinstance(value, dict):
            out |= _flat(value, f"{prefix}{key}.")
        else:
            out[f"{prefix}{key}"] = ("-" if value is None else value if isinstance(value, str)
                                     else json.dumps(value))
    return out


def _summary(runs: Sequence[RunView]) -> str:
    head = ["run", "model", "loss", "epochs", "best epoch", "clips", "accuracy", "macro-F1",
            "EER", "minDCF(0.01)"]
    rows = []
    for i, r in enumerate(runs):
        m, s = r.metrics or {}, r.scores or {}
        rows.append([f'<a href="#{_anchor(i)}">{e(r.name)}</a>',
                     e(str(_get(r.config, "model.name") or "-")),
                     e(str(_get(r.config, "loss.name") or "-")),
                     str(len(r.history) or "-"), str(m.get("epoch", "-")),
                     str(m.get("clips", "-")), _num(m.get("accuracy")),
                     _num(m.get("macro_f1")), _num(s.get("eer"), percent=True),
                     _num(s.get("min_dcf_0.01"))])
    return _table(head, rows, "summary")


def _differences(runs: Sequence[RunView]) -> str:
    """The config keys whose values differ between the runs (one column a run)."""
    flat = [_flat(r.config) for r in runs]
    keys = sorted({k for f in flat for k in f})
    differ = [k for k in keys if len({f.get(k, "-") for f in flat}) > 1]
    if len(runs) < 2 or not differ:
        return ""
    rows = [[f"<code>{e(k)}</code>", *(e(f.get(k, "-")) for f in flat)] for k in differ]
    return ("<h2>Settings that differ</h2>"
            + _table(["key", *(r.name for r in runs)], rows, "settings"))


def _anchor(position: int) -> str:
    return f"run-{position + 1}"


def _class_section(run: RunView) -> str:
    m, classes = run.metrics, run.classes
    if m is None or classes is None:
        return ""
    rows = [[e(name), str(n), _num(p, 3), _num(r, 3), _num(f1, 3)]
            for name, n, p, r, f1 in classes.rows()]
    confusion = _rendered(lambda path: _plot_confusion(classes, path, run.split, m))
    tables = (_table(["clips", "accuracy", "macro-F1", "best epoch"],
                     [[str(m.get("clips", "-")), _num(m.get("accuracy")),
                       _num(m.get("macro_f1")), str(m.get("epoch", "-"))]], "metrics")
              + _table(["class", "clips", "precision", "recall", "F1"], rows, "per-class"))
    layout = "pair" if len(classes.names) <= 20 else "stack"  # many classes: figure below
    return (f"<h3>{e(run.split)} results</h3><div class=\"{layout}\"><div>{tables}</div>"
            f'<div class="scroll zoom">'
            f'{_figure(confusion, "confusion matrix (rows: true class)")}</div></div>')


def _plot_confusion(classes: ClassTable, path: Path, split: str, m: dict) -> None:
    from audiocs.plots import plot_confusion

    plot_confusion(classes.matrix, classes.names, path,
                   title=f"{split}: accuracy {m.get('accuracy', math.nan):.3f}")


def _scores_section(run: RunView, out_dir: Path) -> str:
    s = run.scores
    if s is None or run.scores_dir is None:
        return ""
    keys = [("scored", "trials scored"), ("eer", "EER"), ("eer_threshold", "EER threshold"),
            ("min_dcf_0.01", "minDCF(0.01)"), ("min_dcf_0.05", "minDCF(0.05)")]
    rows = [[e(title), str(s[k]) if k == "scored" else _num(s[k], percent=k == "eer")]
            for k, title in keys if k in s]
    for group in ("retrieval", "few_shot"):
        for k, v in (s.get(group) or {}).items():
            if isinstance(v, (int, float)) and not isinstance(v, bool):
                rows.append([e(f"{group} {k}"), _num(v) if isinstance(v, float) else str(v)])
    figs = (_figure(_file_png(run.scores_dir / "det.png"), "DET curve")
            + _figure(_file_png(run.scores_dir / "score_hist.png"), "score histograms"))
    where = e(_relative(run.scores_dir, out_dir))
    return (f"<h3>Verification scores</h3><p class=\"note\">from <code>{where}</code></p>"
            + _table(["metric", "value"], rows, "scores")
            + (f'<div class="figs">{figs}</div>' if figs else ""))


def _relative(path: Path, out_dir: Path) -> str:
    """`path` relative to the page's folder, '/'-separated (absolute across drives)."""
    try:
        return Path(os.path.relpath(os.path.abspath(path), os.path.abspath(out_dir))).as_posix()
    except ValueError:
        return Path(os.path.abspath(path)).as_uri()


def _clips_section(run: RunView, out_dir: Path) -> str:
    if run.metrics is None:
        return ""
    if run.predictions is None:
        return ("<h3>Misclassified clips</h3><p class=\"note\">No predictions.csv: run "
                "<code>audiocs evaluate</code> again to list the clips.</p>")
    wrong = [p for p in run.predictions if p.get("top1") != p.get("label")]
    wrong.sort(key=lambda p: -float(p.get("score1") or 0.0))  # most confident mistakes first
    kind = "logit" if _get(run.config, "loss.name") == "softmax" else "cosine"
    cards = [_clip_card(p, out_dir) for p in wrong]
    opened = " open" if len(wrong) <= OPEN_CLIPS else ""
    return (f"<h3>Misclassified clips</h3><details{opened}><summary>{len(wrong)} of "
            f"{len(run.predictions)} clips, most confident first; top-3 classes with their "
            f"{kind} scores, the true class in green</summary>"
            f"<div class=\"clips\">{''.join(cards)}</div></details>")


def _clip_card(p: dict, out_dir: Path) -> str:
    src = _relative(Path(p["path"]), out_dir)
    href = src if src.startswith("file:") else quote(src)
    missing = "" if Path(p["path"]).is_file() else '<p class="note">audio file not found</p>'
    tops = []
    for i in range(1, 4):
        if p.get(f"top{i}"):
            cls = ' class="true"' if p[f"top{i}"] == p["label"] else ""
            tops.append(f"<li{cls}>{e(p[f'top{i}'])} <span>{float(p[f'score{i}']):.3f}</span>"
                        "</li>")
    return (f'<div class="clip"><div class="id">{e(p["id"])}</div>'
            f'<div>true: <b>{e(p["label"])}</b></div>'
            f'<audio controls preload="none" src="{e(href)}"></audio>{missing}'
            f"<ol>{''.join(tops)}</ol></div>")


def _run_section(run: RunView, position: int, out_dir: Path) -> str:
    parts = [f'<section id="{_anchor(position)}"><h2>{e(run.name)}</h2>',
             f'<p class="note">folder <code>{e(_relative(run.folder, out_dir))}</code></p>']
    if run.history:
        from audiocs.plots import plot_training_curves

        curves = _rendered(lambda path: plot_training_curves(run.history, path))
        parts.append(f"<h3>Training curves</h3><div class=\"scroll zoom curves\">"
                     f"{_figure(curves, 'training curves (metrics.jsonl)')}</div>")
    parts += [_class_section(run), _scores_section(run, out_dir), _clips_section(run, out_dir)]
    if run.config_text is not None:
        parts.append(f"<details><summary>config.yaml</summary><pre>{e(run.config_text)}</pre>"
                     "</details>")
    return "".join(parts) + "</section>"


CSS = """
*{box-sizing:border-box}
body{margin:0;font:15px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1d2430;
background:#f4f5f7}
main{max-width:1100px;margin:0 auto;padding:16px}
h1{font-size:1.6em;margin:.4em 0 .2em}
h2{font-size:1.3em;margin:0 0 .3em;overflow-wrap:anywhere}
h3{font-size:1.05em;margin:1.4em 0 .5em;color:#34405a}
section{background:#fff;border:1px solid #dde1e7;border-radius:8px;padding:16px;margin:18px 0}
.note{color:#5a6475;font-size:.9em;margin:.2em 0 .6em;overflow-wrap:anywhere}
code{font:.88em ui-monospace,SFMono-Regular,Menlo,monospace;background:#eef0f4;padding:1px 4px;
border-radius:3px}
.scroll{overflow-x:auto;margin:.4em 0 1em;-webkit-overflow-scrolling:touch}
table{border-collapse:collapse;font-size:.92em;font-variant-numeric:tabular-nums}
th,td{padding:5px 10px;border-bottom:1px solid #e3e6eb;text-align:right;white-space:nowrap}
th{background:#f0f2f5;font-weight:600}
th:first-child,td:first-child{text-align:left;position:sticky;left:0}
td:first-child{background:inherit}
tbody tr{background:#fff}
tbody tr:nth-child(even){background:#fafbfc}
.figs{display:grid;grid-template-columns:repeat(auto-fit,minmax(300px,1fr));gap:14px}
.pair{display:flex;flex-wrap:wrap;gap:8px 24px;align-items:flex-start}
.pair>div{min-width:0;max-width:100%}
.pair>.zoom{flex:1 1 420px}
.zoom img{min-width:540px}
.curves img{max-width:min(100%,900px)}
figure{margin:0;text-align:center}
img{max-width:100%;height:auto;border:1px solid #eceef2;border-radius:4px;background:#fff}
figcaption{font-size:.85em;color:#5a6475}
details{margin:.4em 0}
summary{cursor:pointer;color:#34405a}
pre{overflow-x:auto;background:#f6f7f9;border:1px solid #e3e6eb;border-radius:6px;padding:10px;
font-size:.85em}
.clips{display:grid;grid-template-columns:repeat(auto-fill,minmax(250px,1fr));gap:10px;
margin-top:10px}
.clip{border:1px solid #e3e6eb;border-radius:6px;padding:8px 10px;background:#fbfbfc}
.clip .id{font-weight:600;overflow-wrap:anywhere}
.clip audio{width:100%;height:36px;margin:6px 0}
.clip ol{margin:0;padding-left:1.4em}
.clip li span{color:#5a6475;font-variant-numeric:tabular-nums}
.clip li.true{color:#0a7a36;font-weight:600}
nav a{margin-right:12px}
@media (max-width:600px){main{padding:8px}section{padding:10px}body{font-size:14px}
th,td{padding:4px 5px}}
"""


def build_html(runs: Sequence[RunView], out_dir: str | Path, title: str = "audiocs report"
               ) -> str:
    """The page of `runs`, with links relative to `out_dir` (the page's folder)."""
    from audiocs import __version__

    out = Path(out_dir)
    splits = sorted({r.split for r in runs})
    nav = "".join(f'<a href="#{_anchor(i)}">{e(r.name)}</a>' for i, r in enumerate(runs))
    body = (f"<h1>{e(title)}</h1><p class=\"note\">{len(runs)} run{'s' * (len(runs) > 1)}, "
            f"{e(', '.join(splits))} split; written by audiocs {e(__version__)}</p>"
            + (f"<nav>{nav}</nav>" if len(runs) > 1 else "")
            + "<section><h2>Summary</h2>" + _summary(runs) + _differences(runs) + "</section>"
            + "".join(_run_section(r, i, out) for i, r in enumerate(runs)))
    return ("<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            f"<title>{e(title)}</title><style>{CSS}</style></head>"
            f"<body><main>{body}</main></body></html>\n")


def write_html_report(exps: Sequence[str | Path], out: str | Path, *, split: str = "test",
                      scores: Sequence[str | Path] | None = None,
                      names: Sequence[str] | None = None,
                      title: str = "audiocs report") -> Path:
    """Write the report of the runs `exps` (cross-validation folders stand for their folds) to
    `out`; `scores` and `names`, when given, hold one entry per run."""
    folders = expand_runs(exps, split)
    if not folders:
        raise AudiocsError("report: no run folders given")
    for option, values in (("--scores", scores), ("--names", names)):
        if values is not None and len(values) != len(folders):
            raise AudiocsError(f"report {option}: {len(values)} given for {len(folders)} runs "
                               f"({', '.join(map(str, folders))})")
    labels = list(names) if names is not None else short_names(folders)
    runs = [read_run_view(f, split=split, name=n, scores=scores[i] if scores else None)
            for i, (f, n) in enumerate(zip(folders, labels))]
    path = Path(out)
    page = build_html(runs, path.parent, title)
    with atomic_write(path, encoding="utf-8") as f:
        f.write(page)
    return path
