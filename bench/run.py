"""Run kernelbridge's benchmarks and print one line per figure.

    .venv/bin/python bench/run.py [--quick] [--only NAME ...] [--strict]

Each line reads ``name: value unit (goal ...)``. Lines starting with ``#`` are context
(machine, load, progress). A missed goal is reported, not fatal (the exit status is 0)
unless ``--strict``; a benchmark that fails to run is fatal.

A benchmark is a module with ``TITLE`` and ``async def run(ctx: Context)`` (see
``bench/_common.py``), registered in ``BENCHMARKS`` below.
"""

from __future__ import annotations

import argparse
import importlib
import os
import platform
import sys
import time
from pathlib import Path

import anyio

if __package__ in (None, ""):  # run as a script: make ``bench`` importable as a package
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import Context, Figure

# name -> module. Everything runs on asyncio: the daemon does (pygls), and
# jupyter_client's async client needs it.
BENCHMARKS: dict[str, str] = {
    "jupyter": "bench._jupyter",
    "daemon": "bench._daemon",
    "output": "bench._output",
}


def _print(line: str) -> None:
    print(line, flush=True)


def _context_line() -> str:
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    return (
        f"# python {platform.python_version()}, {os.cpu_count()} cpus, "
        f"load average {load}"
    )


async def _main(names: list[str], quick: bool) -> list[Figure]:
    figures: list[Figure] = []
    for name in names:
        module = importlib.import_module(BENCHMARKS[name])
        _print(f"# {name}: {module.TITLE}{' (quick)' if quick else ''}")
        ctx = Context(quick, sink=lambda f: _print(f.line()), log_sink=lambda t: _print(f"# {t}"))
        t0 = time.monotonic()
        await module.run(ctx)
        figures += ctx.figures
        _print(f"# {name}: done in {time.monotonic() - t0:.0f} s; {_context_line()[2:]}")
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="run briefly (under a minute)")
    parser.add_argument(
        "--only", action="append", choices=sorted(BENCHMARKS), metavar="NAME",
        help=f"run only this benchmark (repeatable; one of {', '.join(sorted(BENCHMARKS))})",
    )
    parser.add_argument("--strict", action="store_true", help="exit 1 if a goal is missed")
    args = parser.parse_args(argv)
    names = args.only or list(BENCHMARKS)
    _print(_context_line())
    figures = anyio.run(_main, names, args.quick, backend="asyncio")
    missed = [f.name for f in figures if f.met is False]
    with_goal = sum(f.goal is not None for f in figures)
    _print(f"# goals: {with_goal - len(missed)} of {with_goal} met"
           + (f"; missed: {', '.join(missed)}" if missed else ""))
    return 1 if args.strict and missed else 0


if __name__ == "__main__":
    sys.exit(main())
