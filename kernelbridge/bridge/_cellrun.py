"""Running a document's cells, and what their runs leave in the editor: cell states and
error diagnostics.

Editor-agnostic: no JSON-RPC, no zmq. A :class:`CellRunner` is driven by the server's
handlers (run a cell, lines, the cells above, all cells; the document changed or closed)
and talks back through a :class:`CellSink` the server implements.

Runs
----
A run is a list of :class:`Block` s, each one execution on the document's kernel: a code
cell (``cell.code``, whose line ``i`` is document line ``code_start_line + i``) or a
block of whole lines. Markdown, raw and blank cells are never sent. Every block of a run
is announced ``queued`` first, in order, then they run one after the other: ``running``
when the kernel starts on it, then ``done`` (status ok) or ``failed``. The first block
that does not end ``ok`` stops the run; the blocks after it end ``skipped`` without being
sent. Each execution runs in the bridge's task group, so a request that stops waiting
(cancelled) still gets its cell's final state and diagnostic out.

Diagnostics
-----------
A failed block leaves one diagnostic on the document line that raised (from the IPython
traceback, see :func:`error_line`; else the block's first non-blank line). They
are kept per document and per executed block, and the sink always gets a document's
whole set. A run replaces the diagnostics of every block that lies inside its lines
(a cell run again, cleanly or not). After each change of the text, a diagnostic stays only
while the code it came from is still there — an identical code cell for a cell, the
identical run of lines for a block of lines, the nearest one if there are several — and
moves with it; closing the document drops them all.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol

import anyio

from kernelbridge.jupyter import ClientClosed

from ._cells import _LINE_END, Cell, cell_at, cells_above
from ._errors import InvalidArgument
from ._output import strip_ansi

if TYPE_CHECKING:
    from ._bridge import Bridge
    from ._session import ExecuteOutcome, KernelSession

__all__ = [
    "Block",
    "BlockResult",
    "CellRunner",
    "CellSink",
    "CellState",
    "Lens",
    "LineDiagnostic",
    "RunResult",
    "error_line",
    "selected_lines",
]

CellState = Literal["queued", "running", "done", "failed", "skipped"]


@dataclass(frozen=True, slots=True)
class Block:
    """Lines of a document run as one execution. Lines are 0-based, ``end_line`` is
    exclusive; for a cell, ``start_line..end_line`` is its whole range (marker
    included) and ``code_start_line`` the line after the marker."""

    kind: Literal["cell", "lines"]
    start_line: int
    end_line: int
    code_start_line: int
    code: str

    @classmethod
    def of_cell(cls, cell: Cell) -> Block:
        return cls("cell", cell.start_line, cell.end_line, cell.code_start_line, cell.code)

    @property
    def code_lines(self) -> int:
        return self.code.count("\n") + 1


@dataclass(slots=True)
class BlockResult:
    """How one block of a run ended. ``status``: ok, error, aborted, or skipped (not
    sent: a block before it did not end ok)."""

    block: Block
    status: str
    execution_id: str | None
    execution_count: int | None = None
    error: dict[str, Any] | None = None


@dataclass(slots=True)
class RunResult:
    """The kernel that ran the blocks (None when none ran) and each block's result."""

    kernel_id: str | None
    results: list[BlockResult]


@dataclass(frozen=True, slots=True)
class LineDiagnostic:
    """An error on document line ``line``; ``text`` is that line (its length in the
    editor's units is the server's business)."""

    line: int
    text: str
    message: str


@dataclass(frozen=True, slots=True)
class Lens:
    """A code lens: ``command`` ("executeCell" or "runAbove") on ``line``."""

    line: int
    command: Literal["executeCell", "runAbove"]


class CellSink(Protocol):
    """Where a CellRunner sends what editors must see. Implemented by the server."""

    def cell_state(self, uri: str, kernel_id: str, execution_id: str, block: Block,
                   state: CellState, execution_count: int | None) -> None:
        """A block of document ``uri`` changed state."""

    def diagnostics(self, uri: str, version: int | None,
                    diagnostics: Sequence[LineDiagnostic]) -> None:
        """The whole current set of diagnostics of document ``uri`` (maybe empty)."""


# -- tracebacks -----------------------------------------------------------------------------

# The frame of an IPython input cell, by IPython version:
#   >= 8.?   "Cell In[5], line 3"           (also SyntaxErrors)
#   8.0-8.?  "Input In [5], in <cell line: 3>()" / "Input In [5], in f()": line from the arrow
#   7        "<ipython-input-5-a1b2c3> in f()": line from the arrow;
#            'File "<ipython-input-5-a1b2c3>", line 3' for SyntaxErrors
_FRAME = re.compile(
    r"\bCell In ?\[(?P<cell>\d+)\], line (?P<cell_line>\d+)"
    r"|\bInput In \[(?P<input>\d+)\]"
    r"|<ipython-input-(?P<legacy>\d+)-[0-9a-f]+>\"?(?:, line (?P<legacy_line>\d+))?"
)
_ARROW = re.compile(r"^\s*-+>\s*(\d+)", re.MULTILINE)
_SYNTAX_ERRORS = ("SyntaxError", "IndentationError", "TabError")
# A SyntaxError's evalue ends with "(<file>, line N)"; plain tracebacks name
# File "<stdin>", line N.
_EVALUE_LINE = re.compile(r", line (\d+)\)\s*$")
_PSEUDO_FILE = re.compile(r"File \"<[^\"\n]*>\", line (\d+)")



def _frames(traceback: Sequence[str]) -> list[tuple[int, int | None]]:
    """(execution count, 1-based line or None) of every IPython input-cell frame, in
    traceback order (outermost first, chained exceptions one after the other)."""
    frames: list[tuple[int, int | None]] = []
    for entry in traceback:
        text = strip_ansi(str(entry))
        for match in _FRAME.finditer(text):
            if match["cell"] is not None:
                frames.append((int(match["cell"]), int(match["cell_line"])))
                continue
            count = int(match["input"] or match["legacy"])
            line = match["legacy_line"]
            if line is None:
                arrow = _ARROW.search(text, match.end())
                next_frame = _FRAME.search(text, match.end())
                if arrow is not None and (next_frame is None
                                          or arrow.start() < next_frame.start()):
                    line = arrow.group(1)
            frames.append((count, int(line) if line is not None else None))
    return frames


def error_line(error: dict[str, Any], execution_count: int | None) -> int | None:
    """The 1-based line of the executed code that raised ``error`` (``{ename, evalue,
    traceback}``), or None if the traceback does not say.

    It is the innermost frame of the executed cell — IPython's ``Cell In[<n>], line <l>``
    with ``<n>`` the execution's count (frames of other cells are code defined there) —
    of the last exception of a chain. Without an IPython frame, a SyntaxError's line is
    taken from its evalue ``(<file>, line N)`` or a ``File "<...>", line N`` frame."""
    traceback = error.get("traceback") or []
    if not isinstance(traceback, list):
        traceback = []
    frames = _frames(traceback)
    if frames:
        count = execution_count if execution_count is not None else frames[0][0]
        lines = [line for n, line in frames if n == count and line is not None]
        return lines[-1] if lines else None
    if any(name in str(error.get("ename", "")) for name in _SYNTAX_ERRORS):
        match = _EVALUE_LINE.search(strip_ansi(str(error.get("evalue", ""))))
        if match is not None:
            return int(match.group(1))
        found = _PSEUDO_FILE.findall(strip_ansi("\n".join(str(e) for e in traceback)))
        if found:
            return int(found[-1])
    return None


def selected_lines(start_line: int, end_line: int, end_character: int) -> tuple[int, int]:
    """The whole lines an editor selection covers, as ``(first, stop)`` (stop exclusive):
    ``start_line`` through ``end_line``, except that a selection ending at character 0 of
    a later line does not include that line."""
    if end_line < start_line:
        raise InvalidArgument(f"the range ends (line {end_line}) before it starts "
                              f"(line {start_line})")
    if end_character == 0 and end_line > start_line:
        return start_line, end_line
    return start_line, end_line + 1


# -- diagnostics ----------------------------------------------------------------------------


@dataclass(slots=True)
class _Failure:
    """The error an executed block left; ``block`` is where that code is now."""

    block: Block
    offset: int  # 0-based line within block.code
    message: str

    @property
    def line(self) -> int:
        return self.block.code_start_line + self.offset


def _lines_at(lines: list[str], block: Block) -> bool:
    start = block.code_start_line
    return "\n".join(lines[start:start + block.code_lines]) == block.code


def _relocate(block: Block, lines: list[str], cells: list[Cell]) -> Block | None:
    """Where ``block``'s code is in the new text (the nearest copy), or None if gone."""
    old = block.code_start_line
    if block.kind == "cell":
        matches = [Block.of_cell(c) for c in cells if c.kind == "code" and c.code == block.code]
    else:
        if _lines_at(lines, block):
            return block
        first = block.code.split("\n", 1)[0]
        count = block.code_lines
        matches = [
            Block("lines", i, i + count, i, block.code)
            for i, line in enumerate(lines)
            if line == first and _lines_at(lines, Block("lines", i, i + count, i, block.code))
        ]
    if not matches:
        return None
    return min(matches, key=lambda b: abs(b.code_start_line - old))


@dataclass(slots=True)
class _DocumentState:
    failures: list[_Failure] = field(default_factory=list)
    published: list[LineDiagnostic] = field(default_factory=list)


# -- the runner -----------------------------------------------------------------------------


class CellRunner:
    """Runs the cells of the bridge's open documents; keeps their error diagnostics."""

    def __init__(self, bridge: Bridge, sink: CellSink) -> None:
        self.bridge = bridge
        self.sink = sink
        self._documents: dict[str, _DocumentState] = {}

    # -- what to run ------------------------------------------------------------------------

    def _lines(self, uri: str) -> list[str]:
        doc = self.bridge.documents.get(uri)
        if doc is None or not doc.is_open:
            raise InvalidArgument(f"document {uri} is not open")
        return _LINE_END.split(doc.text)

    async def run_cell(self, uri: str, line: int) -> tuple[Block, RunResult]:
        """Run the cell containing ``line`` (nothing for a markdown, raw or blank cell)."""
        cells = self.bridge.cells(uri)
        cell = cell_at(cells, line)
        if cell is None:
            raise InvalidArgument(f"line {line} is outside document {uri} "
                                  f"(lines 0..{cells[-1].end_line - 1})")
        block = Block.of_cell(cell)
        if cell.kind != "code":
            return block, RunResult(None, [])
        return block, await self.run(uri, [block])

    async def run_lines(self, uri: str, first: int, stop: int) -> tuple[Block, RunResult]:
        """Run lines ``first`` up to ``stop`` (exclusive); lines past the end of the
        text are left out (nothing runs if all are blank)."""
        lines = self._lines(uri)
        if first < 0 or stop < first:
            raise InvalidArgument(f"invalid line range {first}..{stop}")
        stop = max(first, min(stop, len(lines)))
        block = Block("lines", first, stop, first, "\n".join(lines[first:stop]))
        return block, await self.run(uri, [block])

    async def run_above(self, uri: str, line: int) -> RunResult:
        """Run the code cells above the cell containing ``line``, in order."""
        cells = cells_above(self.bridge.cells(uri), line)
        return await self.run(uri, [Block.of_cell(c) for c in cells])

    async def run_all(self, uri: str) -> RunResult:
        """Run every code cell, in order."""
        cells = self.bridge.cells(uri)
        return await self.run(uri, [Block.of_cell(c) for c in cells if c.kind == "code"])

    def lenses(self, uri: str) -> list[Lens]:
        """"Run cell" on every code cell's first line, "Run above" too from the second
        code cell on (blank cells get none and do not count)."""
        lenses: list[Lens] = []
        seen_code = False
        for cell in self.bridge.cells(uri):
            if cell.kind != "code" or not cell.code.strip():
                continue
            line = cell.marker_line if cell.marker_line is not None else cell.start_line
            lenses.append(Lens(line, "executeCell"))
            if seen_code:
                lenses.append(Lens(line, "runAbove"))
            seen_code = True
        return lenses

    # -- running ----------------------------------------------------------------------------

    async def run(self, uri: str, blocks: Sequence[Block]) -> RunResult:
        """Run ``blocks`` of document ``uri`` on its kernel (started if need be), in
        order, up to the first that does not end ok. Blocks holding only blank lines
        are left out; nothing runs (and no kernel is started) if none is left. Raises
        the kernel's errors (died, restarted) after the blocks' final cell states."""
        blocks = [b for b in blocks if b.code.strip()]
        if not blocks:
            return RunResult(None, [])
        session = await self.bridge.kernel_for(uri, start=True)
        ids = [session.new_execution_id() for _ in blocks]
        results = [BlockResult(b, "skipped", i) for b, i in zip(blocks, ids, strict=True)]
        for block, execution_id in zip(blocks, ids, strict=True):
            self.sink.cell_state(uri, session.id, execution_id, block, "queued", None)
        started = 0
        try:
            for result in results:
                started += 1
                outcome = await self._execute(session, uri, result.block, result.execution_id)
                result.status = outcome.status
                result.execution_count = outcome.execution_count
                result.error = outcome.error
                if outcome.status != "ok":
                    break
        finally:
            # Announced as queued but never sent (also when the request stops waiting).
            for result in results[started:]:
                self.sink.cell_state(uri, session.id, str(result.execution_id),
                                     result.block, "skipped", None)
        return RunResult(session.id, results)

    async def _execute(self, session: KernelSession, uri: str, block: Block,
                       execution_id: str | None) -> ExecuteOutcome:
        """Run one block in the bridge's task group; wait for it."""
        assert execution_id is not None
        done = anyio.Event()
        box: list[ExecuteOutcome | Exception] = []

        async def run() -> None:
            try:
                box.append(await self._execute_now(session, uri, block, execution_id))
            except Exception as exc:
                box.append(exc)
            finally:
                done.set()

        self.bridge.task_group.start_soon(run)
        await done.wait()
        if not box:
            raise ClientClosed("the execution was stopped: the daemon is shutting down")
        if isinstance(box[0], Exception):
            raise box[0]
        return box[0]

    async def _execute_now(self, session: KernelSession, uri: str, block: Block,
                           execution_id: str) -> ExecuteOutcome:
        sink = self.sink
        replaced = self._inside(uri, block)

        def on_running() -> None:
            sink.cell_state(uri, session.id, execution_id, block, "running", None)

        try:
            outcome = await session.execute(block.code, execution_id=execution_id,
                                            on_running=on_running)
        except BaseException:
            sink.cell_state(uri, session.id, execution_id, block, "failed", None)
            raise
        state: CellState = "done" if outcome.status == "ok" else "failed"
        sink.cell_state(uri, session.id, execution_id, block, state, outcome.execution_count)
        if outcome.status == "aborted":
            return outcome  # it never ran: what it left before stays
        failure = None
        if outcome.status == "error" and outcome.error is not None:
            line = error_line(outcome.error, outcome.execution_count)
            if line is not None and 1 <= line <= block.code_lines:
                offset = line - 1
            else:  # the first line of code that is not blank
                code_lines = block.code.split("\n")
                offset = next((i for i, text in enumerate(code_lines) if text.strip()), 0)
            message = strip_ansi(f"{outcome.error.get('ename', '')}: "
                                 f"{outcome.error.get('evalue', '')}")
            failure = _Failure(block, offset, message)
        self._replace(uri, replaced, failure)
        return outcome

    # -- diagnostics ------------------------------------------------------------------------

    def diagnostics(self, uri: str) -> list[LineDiagnostic]:
        """The diagnostics document ``uri`` has now (as last sent)."""
        state = self._documents.get(uri)
        return list(state.published) if state is not None else []

    def _inside(self, uri: str, block: Block) -> list[_Failure]:
        """The failures of blocks lying within ``block``'s lines: a run of ``block``
        replaces them."""
        state = self._documents.get(uri)
        if state is None:
            return []
        return [f for f in state.failures
                if block.start_line <= f.block.code_start_line
                and f.block.code_start_line + f.block.code_lines <= block.end_line]

    def _replace(self, uri: str, old: list[_Failure], new: _Failure | None) -> None:
        doc = self.bridge.documents.get(uri)
        if doc is None or not doc.is_open:
            return  # closed meanwhile: its diagnostics are gone
        state = self._documents.setdefault(uri, _DocumentState())
        state.failures = [f for f in state.failures if all(f is not o for o in old)]
        if new is not None:
            state.failures.append(new)
        self.document_changed(uri)

    def document_changed(self, uri: str) -> None:
        """After a change of ``uri``'s text: keep each diagnostic whose code is still
        there, moved to where it is now; publish the set if it changed."""
        state = self._documents.get(uri)
        doc = self.bridge.documents.get(uri)
        if state is None or doc is None or not doc.is_open:
            return  # nothing to move (the common case: cheap)
        lines = _LINE_END.split(doc.text)
        cells = self.bridge.cells(uri) if any(
            f.block.kind == "cell" for f in state.failures) else []
        kept: list[_Failure] = []
        for failure in state.failures:
            block = _relocate(failure.block, lines, cells)
            if block is not None:
                failure.block = block
                kept.append(failure)
        state.failures = kept
        diagnostics = sorted(
            (LineDiagnostic(f.line, lines[f.line] if f.line < len(lines) else "", f.message)
             for f in kept),
            key=lambda d: d.line,
        )
        if diagnostics != state.published:
            state.published = diagnostics
            self.sink.diagnostics(uri, doc.version, diagnostics)
        if not kept:
            del self._documents[uri]

    def document_closed(self, uri: str) -> None:
        """Drop ``uri``'s diagnostics (and tell the editor, if it had any)."""
        state = self._documents.pop(uri, None)
        if state is not None and state.published:
            self.sink.diagnostics(uri, None, [])

