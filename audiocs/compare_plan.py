"""The loss comparison's plan (`audiocs.compare`): its tasks, losses with their search spaces,
seeds, and the metrics of each kind of task."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import yaml

from audiocs.errors import AudiocsError
from audiocs.search import parse_space, settings

KINDS = {"classification": ("accuracy", "macro_f1"),
         "verification": ("eer", "min_dcf", "eer_asnorm", "min_dcf_asnorm")}
HIGHER_IS_BETTER = {"accuracy": True, "macro_f1": True, "eer": False, "min_dcf": False,
                    "eer_asnorm": False, "min_dcf_asnorm": False}


@dataclass
class Task:
    """One dataset and protocol of the comparison."""

    name: str
    kind: str
    config: str
    cache: str
    folds: list[int]
    fixed: list[str] = field(default_factory=list)
    eval_cache: str | None = None  # verification: the test segments' cache

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise AudiocsError(f"task {self.name}: kind {self.kind!r} is not one of {list(KINDS)}")
        if len(self.folds) < 3:
            raise AudiocsError(f"task {self.name}: needs at least 3 folds, got {self.folds}")


@dataclass
class Plan:
    losses: dict[str, list[str]]  # loss name -> search space items
    seeds: list[int]
    tasks: list[Task]

    def units(self) -> list[tuple[Task, int, str]]:
        return [(t, k, loss) for t in self.tasks for k in t.folds for loss in self.losses]


def load_plan(path: str | Path, caches: dict[str, dict[str, str]] | None = None) -> Plan:
    """The plan in YAML at `path`; `caches` (task -> {"cache": ..., "eval_cache": ...}) override
    its cache paths. Relative config paths are taken from the plan's folder."""
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as err:
        raise AudiocsError(f"{path}: cannot read the comparison plan ({err})") from None
    try:
        tasks = []
        for name, spec in raw["tasks"].items():
            spec = {**spec, **(caches or {}).get(name, {})}
            config = Path(spec["config"])
            tasks.append(Task(name=name, kind=spec["kind"],
                              config=str(config if config.is_absolute() else path.parent / config),
                              cache=spec["cache"], folds=[int(k) for k in spec["folds"]],
                              fixed=list(spec.get("set", [])), eval_cache=spec.get("eval_cache")))
        losses = {name: list(space or []) for name, space in raw["losses"].items()}
        seeds = [int(s) for s in raw["seeds"]]
    except (KeyError, TypeError, AttributeError, ValueError) as err:
        raise AudiocsError(f"{path}: not a comparison plan ({type(err).__name__}: {err})") from None
    sizes = {name: len(settings(parse_space(space))) for name, space in losses.items() if space}
    if len(set(sizes.values())) > 1:
        raise AudiocsError(f"{path}: the losses' search spaces differ in size {sizes}; every "
                           "loss with parameters gets the same tuning budget")
    return Plan(losses, seeds, tasks)
