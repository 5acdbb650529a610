"""What every benchmark module shares: figures, goals, the run context, statistics.

A benchmark module (registered in ``bench/run.py``) has a ``TITLE`` and an
``async def run(ctx: Context) -> None`` that calls ``ctx.report(Figure(...))`` for every
figure it measures, as soon as it has it, and ``ctx.log(...)`` for context. It runs on
asyncio, and bounds every wait with a deadline.
"""

from __future__ import annotations

import math
import random
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Goal:
    """``value <op> target``, e.g. ``Goal("<=", 1.05)``."""

    op: str
    target: float

    def __post_init__(self) -> None:
        if self.op not in ("<=", ">="):
            raise ValueError(f"goal operator must be <= or >=, not {self.op!r}")

    def met(self, value: float) -> bool:
        return value <= self.target if self.op == "<=" else value >= self.target


def format_value(value: float, unit: str) -> str:
    """``1.02x``, ``412 µs``, ``123,456 msg/s``, ``1.31 s``, ``0.08``."""
    if unit == "x":
        return f"{value:.2f}x"
    if unit in ("µs", "msg/s", "msgs"):
        return f"{value:,.0f} {unit}"
    if unit == "s":
        return f"{value:.2f} s"
    return f"{value:.2f}" + (f" {unit}" if unit else "")


@dataclass(frozen=True, slots=True)
class Figure:
    """One measured number: ``name: value unit (goal ...)`` when printed."""

    name: str
    value: float
    unit: str = ""
    goal: Goal | None = None
    # Extra context for the reader, printed after the goal (a confidence interval, ...).
    note: str = ""

    @property
    def met(self) -> bool | None:
        return None if self.goal is None else self.goal.met(self.value)

    def line(self) -> str:
        if self.goal is None:
            verdict = "no goal"
        else:
            target = format_value(self.goal.target, self.unit)
            verdict = f"goal {self.goal.op} {target}: {'met' if self.met else 'NOT MET'}"
        if self.note:
            verdict += f"; {self.note}"
        return f"{self.name}: {format_value(self.value, self.unit)} ({verdict})"


@dataclass
class Context:
    """What a benchmark module gets: the mode, and where its figures go."""

    quick: bool
    sink: Callable[[Figure], None]
    log_sink: Callable[[str], None]
    figures: list[Figure] = field(default_factory=list)

    def report(self, figure: Figure) -> None:
        self.figures.append(figure)
        self.sink(figure)

    def log(self, text: str) -> None:
        """Context for the reader (what is being measured, how), printed as a # line."""
        self.log_sink(text)


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def bootstrap(
    samples: Sequence[Sequence[float]],
    statistic: Callable[[list[list[float]]], float],
    resamples: int = 400,
    seed: int = 0,
) -> tuple[float, float]:
    """A 95% percentile-bootstrap interval of ``statistic`` over paired samples:
    ``samples`` are parallel lists (one per client, element ``i`` of each measured in the
    same round), resampled by round so that pairing (and drift) is kept. Resamples where
    the statistic is not finite are left out; (nan, nan) if most are."""
    rng = random.Random(seed)
    n = len(samples[0])
    values = []
    for _ in range(resamples):
        idx = [rng.randrange(n) for _ in range(n)]
        value = statistic([[s[i] for i in idx] for s in samples])
        if math.isfinite(value):  # a statistic may be undefined for some resamples
            values.append(value)
    if len(values) < resamples // 2:
        return math.nan, math.nan
    values.sort()
    return values[int(0.025 * len(values))], values[int(0.975 * len(values)) - 1]
