"""The command line: ``exec`` and ``run`` drive a spawned daemon, like an editor would."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

CLI = [sys.executable, "-m", "kernelbridge"]


def run(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], input=stdin, capture_output=True, text=True,
                          timeout=120, check=False)


def test_exec_prints_output_and_result() -> None:
    done = run("exec", "print('hi'); 6 * 7")
    assert done.returncode == 0, done.stderr
    assert done.stdout == "hi\n42\n"


def test_run_executes_code_cells_until_one_fails(tmp_path: Path) -> None:
    script = tmp_path / "cells.py"
    script.write_text(
        "# %% [markdown]\n# Notes, never executed\n\n"
        "# %% Setup\nimport os\nprint(os.getcwd())\n\n"
        "# %%\nname = input('name? ')\nprint('hello', name)\n\n"
        "# %% Fail\n1 / 0\n\n"
        "# %%\nprint('unreachable')\n"
    )
    done = run("run", str(script), stdin="ada\n")
    assert done.returncode == 1
    # The prompt is written like a script's input() writes it, then the answer's output.
    assert done.stdout.splitlines() == [str(tmp_path), "name? hello ada"]
    assert "ZeroDivisionError" in done.stderr
    assert "\x1b[" not in done.stderr  # not a terminal: no colours


def test_run_a_file_without_cells_runs_it_whole(tmp_path: Path) -> None:
    script = tmp_path / "plain.py"
    script.write_text("x = 2\nprint(x * 21)\n")
    done = run("run", str(script))
    assert done.returncode == 0, done.stderr
    assert done.stdout == "42\n"


def test_run_missing_file() -> None:
    done = run("run", "/no/such/file.py")
    assert done.returncode == 2 and "no such file" in done.stderr


def test_readme_demo_runs() -> None:
    done = run("run", str(Path(__file__).parent / "data" / "demo.py"))
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith("hello from CPython")
    assert lines[1:] == ["step 0", "step 1", "step 2", "285"]
