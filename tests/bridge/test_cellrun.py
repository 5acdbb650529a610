"""Running a document's cells in the bridge: traceback → line mapping on real kernels'
tracebacks, selections, and the CellRunner's states and diagnostics against a fake
kernel session (no kernel, no JSON-RPC)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import anyio
import pytest

from kernelbridge.bridge import (
    Bridge,
    CellRunner,
    ExecuteOutcome,
    InvalidArgument,
    LineDiagnostic,
    selected_lines,
)
from kernelbridge.bridge._cellrun import Block, error_line
from kernelbridge.jupyter import KernelDied

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(30)]

# Recorded from ipykernel 7.4 / IPython 9.18 and xeus-python 0.19 (see "recorded_with"):
# each case's code, the execution count and the error of its execute_reply.
RECORDED = json.loads((Path(__file__).parent.parent / "data" / "tracebacks.json").read_text())
EXPECTED = {"simple": 3, "in_function": 2, "library": 3, "incomplete": 2, "indent": 2,
            "chained": 6, "system_exit": None, "other_cell": 3}


# -- error_line --------------------------------------------------------------------------


@pytest.mark.parametrize("kernel", ["ipykernel", "xpython"])
@pytest.mark.parametrize("case", sorted(EXPECTED))
def test_error_line_of_recorded_tracebacks(kernel: str, case: str) -> None:
    recorded = RECORDED[kernel][case]
    assert error_line(recorded["error"], recorded["executionCount"]) == EXPECTED[case]


def test_frames_of_other_cells_are_not_the_executed_cell() -> None:
    # g() was defined in In[8] (raises on its line 3), called from In[9] line 3: the
    # innermost frame is In[8]'s, but the line is the executed cell's.
    recorded = RECORDED["ipykernel"]["other_cell"]
    text = "".join(recorded["error"]["traceback"])
    assert "In[8]" in text and "line 3" in text
    assert error_line(recorded["error"], 9) == 3
    assert error_line(recorded["error"], 8) == 3  # as if In[8] had been executed
    assert error_line(recorded["error"], 7) is None  # no frame of the executed cell


def test_without_execution_count_the_outermost_cell_counts() -> None:
    recorded = RECORDED["ipykernel"]["other_cell"]
    assert error_line(recorded["error"], None) == 3
    recorded = RECORDED["ipykernel"]["in_function"]
    assert error_line(recorded["error"], None) == 2


def test_older_ipython_formats() -> None:
    # IPython 8.0-8.x: "Input In [n], in <cell line: k>()" / "Input In [n], in f()"; the
    # line is the arrow's.
    ipython8 = {"ename": "ZeroDivisionError", "evalue": "division by zero", "traceback": [
        "\x1b[0;31mZeroDivisionError\x1b[0m                         Traceback (most recent "
        "call last)",
        "Input \x1b[0;32mIn [5]\x1b[0m, in \x1b[0;36m<cell line: 4>\x1b[0;34m()\x1b[0m\n"
        "\x1b[1;32m      3\x1b[0m \x1b[38;5;28;01mpass\x1b[39;00m\n"
        "\x1b[0;32m----> 4\x1b[0m f()\n",
        "Input \x1b[0;32mIn [5]\x1b[0m, in \x1b[0;36mf\x1b[0;34m()\x1b[0m\n"
        "\x1b[1;32m      1\x1b[0m \x1b[38;5;28;01mdef\x1b[39;00m \x1b[38;5;21mf\x1b[39m():\n"
        "\x1b[0;32m----> 2\x1b[0m     \x1b[38;5;28;01mreturn\x1b[39;00m \x1b[38;5;241m1\x1b[39m"
        "\x1b[38;5;241m/\x1b[39m\x1b[38;5;241m0\x1b[39m\n",
        "\x1b[0;31mZeroDivisionError\x1b[0m: division by zero"]}
    assert error_line(ipython8, 5) == 2
    # IPython 7: "<ipython-input-n-hash> in <module>" (arrow), and SyntaxErrors as
    # File "<ipython-input-n-hash>", line k.
    ipython7 = {"ename": "ZeroDivisionError", "evalue": "division by zero", "traceback": [
        "\x1b[0;31mZeroDivisionError\x1b[0m                         Traceback (most recent "
        "call last)",
        "\x1b[0;32m<ipython-input-3-9e1622b385b6>\x1b[0m in \x1b[0;36m<module>\x1b[0;34m"
        "\x1b[0m\n\x1b[1;32m      1\x1b[0m \x1b[0mx\x1b[0m \x1b[0;34m=\x1b[0m \x1b[0;36m1"
        "\x1b[0m\n\x1b[0;32m----> 2\x1b[0;31m \x1b[0;36m1\x1b[0m\x1b[0;34m/\x1b[0m\x1b[0;36m0"
        "\x1b[0m\x1b[0m\n",
        "\x1b[0;31mZeroDivisionError\x1b[0m: division by zero"]}
    assert error_line(ipython7, 3) == 2
    syntax7 = {"ename": "SyntaxError", "evalue": "invalid syntax (<ipython-input-4-1b2c>, "
               "line 3)", "traceback": [
                   '\x1b[0;36m  File \x1b[0;32m"<ipython-input-4-1b2c3d4e5f6a>"\x1b[0;36m, line '
                   '\x1b[0;32m3\x1b[0m\n\x1b[0;31m    b = $\x1b[0m\n\x1b[0m        ^\x1b[0m\n',
                   "\x1b[0;31mSyntaxError\x1b[0m\x1b[0;31m:\x1b[0m invalid syntax\n"]}
    assert error_line(syntax7, 4) == 3


def test_syntax_errors_without_ipython_frames() -> None:
    # A kernel with plain Python tracebacks: the evalue's "(file, line n)", else a
    # File "<...>", line n frame.
    plain = {"ename": "SyntaxError", "evalue": "invalid syntax (<string>, line 4)",
             "traceback": ['  File "<string>", line 4\n    x = $\n        ^\n',
                           "SyntaxError: invalid syntax"]}
    assert error_line(plain, 2) == 4
    plain["evalue"] = "invalid syntax"
    assert error_line(plain, 2) == 4
    # Runtime errors are not guessed from plain frames.
    runtime = {"ename": "NameError", "evalue": "name 'q' is not defined",
               "traceback": ['  File "<stdin>", line 2, in <module>\n', "NameError: ..."]}
    assert error_line(runtime, 2) is None


def test_no_traceback() -> None:
    assert error_line({"ename": "Error", "evalue": "x"}, 1) is None
    assert error_line({"ename": "Error", "evalue": "x", "traceback": "oops"}, 1) is None
    assert error_line({"ename": "Error", "evalue": "x", "traceback": ["boom"]}, 1) is None


@pytest.mark.parametrize(("start", "end", "character", "lines"), [
    (2, 2, 5, (2, 3)),   # within one line: that line
    (2, 2, 0, (2, 3)),   # an empty selection at a line start: that line
    (2, 4, 0, (2, 4)),   # ends at the start of line 4: lines 2-3
    (2, 4, 1, (2, 5)),   # ends inside line 4: lines 2-4
])
def test_selected_lines(start: int, end: int, character: int, lines: tuple[int, int]) -> None:
    assert selected_lines(start, end, character) == lines


def test_selection_ending_before_it_starts() -> None:
    with pytest.raises(InvalidArgument):
        selected_lines(4, 2, 0)


# -- the runner against a fake session ------------------------------------------------------

ID = "f" * 32


class FakeSession:
    """Runs nothing: answers each code from ``outcomes`` (an error: (ename, line))."""

    def __init__(self) -> None:
        self.id = ID
        self.count = 0
        self.ran: list[str] = []
        self.fail: dict[str, tuple[str, int | None]] = {}
        self.gate: anyio.Event | None = None  # hold executions until set
        self.died = False
        self.abort: set[str] = set()
        self._next = 0

    def new_execution_id(self) -> str:
        self._next += 1
        return f"ffffffff-{self._next}"

    async def execute(self, code: str, *, execution_id: str,
                      on_running: Callable[[], None]) -> ExecuteOutcome:
        self.ran.append(code)
        on_running()
        if self.gate is not None:
            await self.gate.wait()
        if self.died:
            raise KernelDied("the kernel died during the execution")
        if code in self.abort:
            return ExecuteOutcome(execution_id, "aborted", None)
        self.count += 1
        if code in self.fail:
            ename, line = self.fail[code]
            frame = [] if line is None else [f"\x1b[36mCell In[{self.count}], line {line}\n"]
            return ExecuteOutcome(execution_id, "error", self.count, {
                "ename": ename, "evalue": "\x1b[31mbad\x1b[0m",
                "traceback": ["---", *frame, f"{ename}: bad"]})
        return ExecuteOutcome(execution_id, "ok", self.count)


class Sink:
    def __init__(self) -> None:
        self.states: list[tuple[str, str, int, str, int | None]] = []
        self.published: list[tuple[str, int | None, list[LineDiagnostic]]] = []
        self.changed = anyio.Event()

    def cell_state(self, uri: str, kernel_id: str, execution_id: str, block: Block,
                   state: str, execution_count: int | None) -> None:
        self.states.append((execution_id, state, block.start_line, kernel_id,
                            execution_count))
        self.changed.set()
        self.changed = anyio.Event()

    def diagnostics(self, uri: str, version: int | None,
                    diagnostics: list[LineDiagnostic]) -> None:
        self.published.append((uri, version, list(diagnostics)))

    def lines(self) -> list[int]:
        return [d.line for d in self.published[-1][2]]


class NullEditor:
    def output(self, *args: Any) -> None: ...
    def status(self, *args: Any) -> None: ...
    async def request_input(self, *args: Any) -> str: return ""


URI = "file:///tmp/kb-test/doc.py"
TEXT = (
    "import os\n"           # 0  implicit cell 0..2
    "\n"                    # 1
    "# %% Setup\n"          # 2  cell 2..5
    "x = 1\n"               # 3
    "\n"                    # 4
    "# %% [markdown]\n"     # 5  markdown 5..7
    "# Notes\n"             # 6
    "# %% Compute\n"        # 7  cell 7..11
    "y = x + 1\n"           # 8
    "z = 1 / 0\n"           # 9
    "\n"                    # 10
    "# %%\n"                # 11 cell 11..14
    "print('never')\n"      # 12
    "\n"                    # 13
    "# %%\n"                # 14 blank cell 14..16
)
COMPUTE = "y = x + 1\nz = 1 / 0"


@pytest.fixture
async def runner() -> AsyncIterator[tuple[CellRunner, FakeSession, Sink]]:
    bridge = Bridge(NullEditor())  # type: ignore[arg-type]
    session = FakeSession()

    async def kernel_for(uri: str, *, start: bool = True) -> FakeSession:
        return session

    bridge.kernel_for = kernel_for  # type: ignore[method-assign,assignment]
    sink = Sink()
    async with anyio.create_task_group() as tg:
        await tg.start(bridge.serve)
        bridge.open_document(URI, "python", TEXT, 1)
        yield CellRunner(bridge, sink), session, sink
        tg.cancel_scope.cancel()


def edit(runner: CellRunner, text: str, version: int) -> None:
    runner.bridge.change_document(URI, text, version)
    runner.document_changed(URI)


async def test_run_all_stops_at_the_failing_cell(runner: Any) -> None:
    cells, session, sink = runner
    session.fail[COMPUTE] = ("ZeroDivisionError", 2)
    run = await cells.run_all(URI)
    assert session.ran == ["import os", "x = 1", COMPUTE]  # markdown and blank cells left out
    assert [(r.status, r.block.start_line, r.execution_count) for r in run.results] == [
        ("ok", 0, 1), ("ok", 2, 2), ("error", 7, 3), ("skipped", 11, None)]
    assert run.kernel_id == ID
    assert [s[:3] for s in sink.states] == [
        ("ffffffff-1", "queued", 0), ("ffffffff-2", "queued", 2),
        ("ffffffff-3", "queued", 7), ("ffffffff-4", "queued", 11),
        ("ffffffff-1", "running", 0), ("ffffffff-1", "done", 0),
        ("ffffffff-2", "running", 2), ("ffffffff-2", "done", 2),
        ("ffffffff-3", "running", 7), ("ffffffff-3", "failed", 7),
        ("ffffffff-4", "skipped", 11)]
    assert [s[4] for s in sink.states if s[1] in ("done", "failed")] == [1, 2, 3]
    assert sink.published == [(URI, 1, [LineDiagnostic(9, "z = 1 / 0",
                                                       "ZeroDivisionError: bad")])]


async def test_diagnostic_follows_its_cell_and_goes_with_its_code(runner: Any) -> None:
    cells, session, sink = runner
    session.fail[COMPUTE] = ("ZeroDivisionError", 2)
    await cells.run_cell(URI, 8)
    assert sink.lines() == [9]
    edit(cells, "# a\n# b\n" + TEXT, 2)  # two lines above: it moves
    assert sink.published[-1][1] == 2 and sink.lines() == [11]
    before = len(sink.published)
    edit(cells, "# a\n# b\n" + TEXT + "w = 2\n", 3)  # elsewhere: nothing to send
    assert len(sink.published) == before
    edit(cells, TEXT.replace("z = 1 / 0", "z = 1 / 1"), 4)  # its code changed: gone
    assert sink.published[-1] == (URI, 4, [])
    assert cells.diagnostics(URI) == []


async def test_rerun_replaces_and_clean_run_clears(runner: Any) -> None:
    cells, session, sink = runner
    session.fail[COMPUTE] = ("ZeroDivisionError", 1)
    await cells.run_cell(URI, 7)
    assert sink.lines() == [8]
    session.fail[COMPUTE] = ("ZeroDivisionError", 2)
    await cells.run_cell(URI, 9)
    assert sink.lines() == [9]  # replaced, not added
    del session.fail[COMPUTE]
    await cells.run_cell(URI, 10)
    assert sink.published[-1][2] == []


async def test_an_aborted_run_changes_nothing(runner: Any) -> None:
    cells, session, sink = runner
    session.fail[COMPUTE] = ("ZeroDivisionError", 2)
    await cells.run_cell(URI, 8)
    assert sink.lines() == [9]
    session.abort.add(COMPUTE)
    run = await cells.run_all(URI)
    assert [r.status for r in run.results] == ["ok", "ok", "aborted", "skipped"]
    assert [s[1] for s in sink.states if s[0] == run.results[2].execution_id][-1] == "failed"
    assert len(sink.published) == 1 and cells.diagnostics(URI)[0].line == 9


async def test_running_another_cell_keeps_the_diagnostic(runner: Any) -> None:
    cells, session, sink = runner
    session.fail[COMPUTE] = ("ZeroDivisionError", 2)
    await cells.run_cell(URI, 8)
    count = len(sink.published)
    await cells.run_cell(URI, 3)
    assert len(sink.published) == count and cells.diagnostics(URI)[0].line == 9


async def test_no_line_in_the_traceback_marks_the_first_code_line(runner: Any) -> None:
    cells, session, sink = runner
    session.fail[COMPUTE] = ("SystemExit", None)
    await cells.run_cell(URI, 8)
    assert sink.lines() == [8]
    # Its first line that is not blank.
    edit(cells, "# %%\n\n  \nboom()\n", 2)
    session.fail["\n  \nboom()"] = ("SystemExit", None)
    await cells.run_cell(URI, 0)
    assert sink.lines() == [3]


async def test_identical_cells_keep_the_nearest(runner: Any) -> None:
    cells, session, sink = runner
    text = "# %%\n1/0\n# %%\nx = 1\n# %%\n1/0\n"
    edit(cells, text, 2)
    session.fail["1/0"] = ("ZeroDivisionError", 1)
    await cells.run_cell(URI, 4)
    assert sink.lines() == [5]
    edit(cells, "\n" + text, 3)
    assert sink.lines() == [6]  # the copy it came from, not the first
    edit(cells, "\n" + text.replace("x = 1\n# %%\n1/0\n", "x = 1\n"), 4)
    assert sink.lines() == [2]  # its copy is gone; an identical cell remains


async def test_lines_diagnostic_moves_with_the_lines(runner: Any) -> None:
    cells, session, sink = runner
    session.fail["y = x + 1\nz = 1 / 0"] = ("ZeroDivisionError", 2)
    block, run = await cells.run_lines(URI, 8, 10)
    assert (block.start_line, block.end_line, block.kind) == (8, 10, "lines")
    assert run.results[0].status == "error" and sink.lines() == [9]
    edit(cells, "\n" + TEXT, 2)
    assert sink.lines() == [10]
    edit(cells, "\n" + TEXT.replace("y = x + 1", "y = x + 2"), 3)
    assert sink.published[-1][2] == []


async def test_blank_and_markdown_runs_do_nothing(runner: Any) -> None:
    cells, session, sink = runner
    block, run = await cells.run_cell(URI, 6)  # markdown
    assert (block.start_line, block.end_line, run.kernel_id, run.results) == (5, 7, None, [])
    block, run = await cells.run_cell(URI, 14)  # blank code cell
    assert run.results == []
    block, run = await cells.run_lines(URI, 1, 2)  # a blank line
    assert run.results == []
    assert session.ran == [] and sink.states == []
    assert (await cells.run_above(URI, 1)).results == []
    with pytest.raises(InvalidArgument):
        await cells.run_cell(URI, 99)


async def test_run_above(runner: Any) -> None:
    cells, session, _ = runner
    run = await cells.run_above(URI, 12)
    assert session.ran == ["import os", "x = 1", COMPUTE]
    assert [r.status for r in run.results] == ["ok", "ok", "ok"]


async def test_close_clears(runner: Any) -> None:
    cells, session, sink = runner
    session.fail[COMPUTE] = ("ZeroDivisionError", 2)
    await cells.run_cell(URI, 8)
    cells.bridge.close_document(URI)
    cells.document_closed(URI)
    assert sink.published[-1] == (URI, None, [])
    cells.document_closed(URI)  # nothing left: nothing sent
    assert sink.published[-2][2] != []


async def test_a_kernel_error_ends_the_run(runner: Any) -> None:
    cells, session, sink = runner
    session.died = True
    with pytest.raises(KernelDied):
        await cells.run_all(URI)
    assert [s[1] for s in sink.states[4:]] == ["running", "failed", "skipped", "skipped",
                                               "skipped"]


async def test_a_request_that_stops_waiting_still_ends_its_cells(runner: Any) -> None:
    cells, session, sink = runner
    session.gate = anyio.Event()
    session.fail[COMPUTE] = ("ZeroDivisionError", 2)
    with anyio.fail_after(10):
        async with anyio.create_task_group() as tg:
            tg.start_soon(cells.run_above, URI, 12)
            while not any(s[1] == "running" for s in sink.states):
                await sink.changed.wait()
            tg.cancel_scope.cancel()  # the editor cancelled the request
        # The cells never sent end skipped; the running one ends when the kernel is done.
        assert [s[1] for s in sink.states[3:]] == ["running", "skipped", "skipped"]
        session.gate.set()
        while sink.states[-1][1] == "skipped":
            await sink.changed.wait()
    assert sink.states[-1][:2] == ("ffffffff-1", "done")


async def test_lenses(runner: Any) -> None:
    cells, _, _ = runner
    assert [(lens.line, lens.command) for lens in cells.lenses(URI)] == [
        (0, "executeCell"), (2, "executeCell"), (2, "runAbove"), (7, "executeCell"),
        (7, "runAbove"), (11, "executeCell"), (11, "runAbove")]
    # A marked first cell that absorbed blank lines: on its marker line.
    edit(cells, "\n\n# %%\nx = 1\n", 2)
    assert [(lens.line, lens.command) for lens in cells.lenses(URI)] == [(2, "executeCell")]
