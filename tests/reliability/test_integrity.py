"""Reliability part 4: output integrity under floods and slow clients.

A real ipykernel prints numbered lines, each carrying a CRC-32 of its text, in several
patterns (print loops, ``flush=True`` per line, ``sys.stdout.write`` in small pieces without
newlines, stdout and stderr interleaved, ``\\r`` progress frames between lines), with a
client that reads at once, one that reads slowly in small chunks, and one that stops
reading until the pipe is full. Checked from the raw bytes of the daemon's stdout (strict
frame reader of ``rpc_fuzz``):

- ``seq`` of every ``kernelbridge/output`` of a kernel is 1, 2, 3, … with no gap and no
  duplicate (protocol.md §5.1), also with two kernels flooding at once;
- every line arrives exactly once, in order, with its checksum — coalesced notifications
  included. ``\\r`` frames may be collapsed (protocol.md §5.1.1), so where the pattern
  draws them the check is on what a terminal shows: exactly the plain lines;
- the response of an execution comes after all of its output and its ``idle`` status
  (protocol.md §4.8), also for executions queued behind each other.

Run: ``.venv/bin/python -m pytest tests/reliability/test_integrity.py`` (about 40 s). Lines
per flood: ``KB_INTEGRITY_LINES`` (default 20000, 200000 with the suite's
``KERNELBRIDGE_RELIABILITY_LONG=1``, about five minutes; floods of one kernel message per line
use a quarter). Figures go to the terminal and ``$KERNELBRIDGE_FIGURES_DIR/integrity.json``.
"""

from __future__ import annotations

import os
import socket
import time
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.terminal import render_terminal

from .rpc_fuzz import LONG, RawDaemon, report_figures
from .wire_check import id_key

LINES = int(os.environ.get("KB_INTEGRITY_LINES", "200000" if LONG else "20000"))
SMALL = max(100, LINES // 4)  # floods of one kernel message per line are slower to make

pytestmark = pytest.mark.timeout(240)

# The same function makes the lines in the kernel and their expected text here.
LINE_SOURCE = '''
import zlib as _kb_zlib
def _kb_line(tag, i):
    body = (f"{tag} {i} " + "x" * (i % 23) + ("\\u00e9" if i % 3 == 0 else "")
            + ("\\U0001f600" if i % 5 == 0 else ""))
    return f"{body} {_kb_zlib.crc32(body.encode()):08x}"
'''
_namespace: dict[str, Any] = {}
exec(LINE_SOURCE, _namespace)
make_line = _namespace["_kb_line"]


def expected(tag: str, indices: Iterator[int] | range) -> list[str]:
    return [make_line(tag, i) for i in indices]


def checksum_ok(line: str) -> bool:
    body, _, crc = line.rpartition(" ")
    return len(crc) == 8 and f"{zlib.crc32(body.encode()):08x}" == crc


def render(text: str) -> list[str]:
    """The lines a terminal shows for ``text``."""
    return render_terminal(text)[0]


# -- the daemon and its kernels -------------------------------------------------------------


@dataclass
class Session:
    daemon: RawDaemon
    kernels: list[str]
    cwd: Path


@contextmanager
def session(tmp: Path, kernels: int = 1, options: dict[str, Any] | None = None
            ) -> Iterator[Session]:
    daemon = RawDaemon(cwd=str(tmp))
    try:
        daemon.initialize({"kernels": {"autoStart": False}, **(options or {})})
        ids = []
        for _ in range(kernels):
            answer = daemon.request("kernelbridge/start",
                                    {"kernelspec": "python3", "cwd": str(tmp)}, timeout=120)
            assert "result" in answer, answer
            kernel_id = answer["result"]["kernelId"]
            ids.append(kernel_id)
            run(daemon, kernel_id, LINE_SOURCE, "prelude")
        yield Session(daemon, ids, tmp)
        check_seq(daemon)
        assert daemon.shutdown_and_exit() == 0
        assert daemon.violation is None
        assert daemon.tracebacks() == []
    finally:
        daemon.close()


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Session]:
    """One daemon and kernel for the patterns read at full speed (seq runs on across them)."""
    with session(tmp_path_factory.mktemp("integrity")) as s:
        yield s


def run(daemon: RawDaemon, kernel_id: str, code: str, execution_id: str,
        timeout: float = 180) -> dict[str, Any]:
    answer = daemon.request("kernelbridge/execute", {"kernelId": kernel_id, "code": code,
                                                     "executionId": execution_id},
                            timeout=timeout, msg_id=f"exec-{execution_id}")
    assert answer.get("result", {}).get("status") == "ok", answer
    return answer


def send_execute(daemon: RawDaemon, kernel_id: str, code: str, execution_id: str) -> None:
    daemon.sent[id_key(f"exec-{execution_id}")] += 1
    daemon.send_message({"jsonrpc": "2.0", "id": f"exec-{execution_id}",
                         "method": "kernelbridge/execute",
                         "params": {"kernelId": kernel_id, "code": code,
                                    "executionId": execution_id}})


def outputs(daemon: RawDaemon, execution_id: str) -> list[tuple[int, dict[str, Any]]]:
    """(position in the message stream, params) of the execution's output notifications."""
    with daemon._cond:
        messages = list(daemon.messages)
    return [(i, m["params"]) for i, m in enumerate(messages)
            if m.get("method") == "kernelbridge/output"
            and m["params"].get("executionId") == execution_id]


def stream_text(notes: list[tuple[int, dict[str, Any]]], name: str) -> str:
    for _, params in notes:
        assert params["type"] in ("stream",), params
    return "".join(p["content"]["text"] for _, p in notes if p["content"]["name"] == name)


def check_lines(text: str, want: list[str], what: str) -> None:
    """Exactly ``want``, in order, each once, each line's checksum intact."""
    got = text.split("\n")
    assert got[-1] == "", f"{what}: the text does not end with a newline: {got[-1][:80]!r}"
    got = got[:-1]
    bad = [line for line in got if not checksum_ok(line)]
    assert not bad, f"{what}: {len(bad)} lines with a wrong checksum, e.g. {bad[:3]}"
    if got != want:
        first = next((i for i, (g, w) in enumerate(zip(got, want, strict=False)) if g != w),
                     min(len(got), len(want)))
        lost = len(set(want) - set(got))
        doubled = len(got) - len(set(got))
        raise AssertionError(
            f"{what}: {len(got)} lines for {len(want)} expected ({lost} lost, {doubled} "
            f"doubled); first difference at line {first}: got "
            f"{got[first:first + 2]!r}, expected {want[first:first + 2]!r}")


def check_seq(daemon: RawDaemon) -> dict[str, int]:
    """Per kernel, the seq of its output notifications is 1, 2, 3, … in arrival order."""
    with daemon._cond:
        messages = list(daemon.messages)
    seqs: dict[str, list[int]] = {}
    for message in messages:
        if message.get("method") == "kernelbridge/output":
            params = message["params"]
            seqs.setdefault(params["kernelId"], []).append(params["seq"])
    for kernel_id, got in seqs.items():
        if got != list(range(1, len(got) + 1)):
            first = next(i for i, s in enumerate(got, 1) if s != i)
            raise AssertionError(f"kernel {kernel_id}: seq {got[max(0, first - 3):first + 3]} "
                                 f"around notification {first} (of {len(got)})")
    return {k: len(v) for k, v in seqs.items()}


def check_order(daemon: RawDaemon, execution_id: str) -> None:
    """The execution's response comes after every output and the idle status of it."""
    with daemon._cond:
        messages = list(daemon.messages)
    response = next(i for i, m in enumerate(messages)
                    if m.get("id") == f"exec-{execution_id}" and "method" not in m)
    tagged = [i for i, m in enumerate(messages)
              if m.get("method") in ("kernelbridge/output", "kernelbridge/status")
              and m["params"].get("executionId") == execution_id]
    idle = [i for i in tagged if messages[i]["params"].get("state") == "idle"]
    assert idle, f"no idle status for {execution_id}"
    assert max(tagged) < response, (
        f"{execution_id}: notification {max(tagged)} after the response {response}")


def figures(request: pytest.FixtureRequest, **values: Any) -> None:
    report_figures(request.config, "integrity", request.node.name, values)


def stats(notes: list[tuple[int, dict[str, Any]]], lines: int, start: float) -> dict[str, Any]:
    sizes = [len(p["content"].get("text", "")) for _, p in notes]
    return {"lines": lines, "notifications": len(notes), "largest_chars": max(sizes or [0]),
            "seconds": round(time.monotonic() - start, 2)}


# -- patterns read at full speed ------------------------------------------------------------

PRINT = "for i in range({n}): print(_kb_line('{tag}', i))"
FLUSH = "for i in range({n}): print(_kb_line('{tag}', i), flush=True)"
PIECES = """
import random, sys
r = random.Random({n})
for i in range({n}):
    s = _kb_line('{tag}', i) + '\\n'
    while s:
        k = r.randint(1, 7)
        sys.stdout.write(s[:k])
        s = s[k:]
        if r.random() < 0.05:
            sys.stdout.flush()
"""
INTERLEAVED = """
import sys
for i in range({n}):
    (sys.stderr if i % 3 == 0 else sys.stdout).write(_kb_line('{tag}', i) + '\\n')
    if i % 7 == 0:
        sys.stdout.flush()
        sys.stderr.flush()
"""
# One write of all the lines: a single kernel message larger than output.maxChunkChars
# (262144), which the daemon splits. With ``frames``, each line is preceded by ``\r``
# progress frames, so the splits also fall between a frame and its line.
BIG = """
import sys
frames = {frames}
sys.stdout.write(''.join(('\\r1\\r22\\r' if frames else '') + _kb_line('{tag}', i) + '\\n'
                         for i in range({n})))
sys.stdout.flush()
"""
PROGRESS = """
import sys
for i in range({n}):
    for k in range(3):
        sys.stdout.write(f'\\r{{k}}')
        if (i + k) % 5 == 0:
            sys.stdout.flush()
    sys.stdout.write('\\r' + _kb_line('{tag}', i) + '\\n')
"""


@pytest.mark.parametrize(("pattern", "n"), [
    ("print", LINES), ("flush", SMALL), ("pieces", SMALL)])
def test_stdout_lines_arrive_once_in_order(shared: Session, pattern: str, n: int,
                                           request: pytest.FixtureRequest) -> None:
    code = {"print": PRINT, "flush": FLUSH, "pieces": PIECES}[pattern]
    start = time.monotonic()
    run(shared.daemon, shared.kernels[0], code.format(n=n, tag=pattern), pattern)
    notes = outputs(shared.daemon, pattern)
    check_lines(stream_text(notes, "stdout"), expected(pattern, range(n)), pattern)
    assert stream_text(notes, "stderr") == ""
    check_order(shared.daemon, pattern)
    check_seq(shared.daemon)
    figures(request, **stats(notes, n, start))


@pytest.mark.parametrize("frames", [False, True])
def test_one_message_bigger_than_a_notification(shared: Session, frames: bool,
                                                request: pytest.FixtureRequest
                                                ) -> None:
    name = f"big-{frames}"
    start = time.monotonic()
    run(shared.daemon, shared.kernels[0], BIG.format(n=LINES, tag=name, frames=frames), name)
    notes = outputs(shared.daemon, name)
    text = stream_text(notes, "stdout")
    check_lines("\n".join(render(text)), expected(name, range(LINES)), name)
    if not frames:
        check_lines(text, expected(name, range(LINES)), name)
    assert len(notes) > 1, "the message was not split"
    assert max(len(p["content"]["text"]) for _, p in notes) <= 262144
    check_order(shared.daemon, name)
    check_seq(shared.daemon)
    figures(request, **stats(notes, LINES, start))


def test_stdout_and_stderr_interleaved(shared: Session, request: pytest.FixtureRequest) -> None:
    """Each stream exact and in order (their relative order is the kernel's business:
    ipykernel flushes them separately)."""
    start = time.monotonic()
    run(shared.daemon, shared.kernels[0], INTERLEAVED.format(n=SMALL, tag="i"), "interleaved")
    notes = outputs(shared.daemon, "interleaved")
    check_lines(stream_text(notes, "stdout"),
                expected("i", (i for i in range(SMALL) if i % 3)), "stdout")
    check_lines(stream_text(notes, "stderr"),
                expected("i", (i for i in range(SMALL) if i % 3 == 0)), "stderr")
    check_order(shared.daemon, "interleaved")
    check_seq(shared.daemon)
    figures(request, **stats(notes, SMALL, start))


def test_progress_frames_collapse_lines_stay(shared: Session,
                                            request: pytest.FixtureRequest) -> None:
    """``\\r`` frames between the lines may be merged away; the screen shows exactly the
    lines, each once, in order."""
    start = time.monotonic()
    run(shared.daemon, shared.kernels[0], PROGRESS.format(n=SMALL, tag="r"), "progress")
    notes = outputs(shared.daemon, "progress")
    screen = render(stream_text(notes, "stdout"))
    check_lines("\n".join(screen), expected("r", range(SMALL)), "progress")
    check_order(shared.daemon, "progress")
    check_seq(shared.daemon)
    figures(request, **stats(notes, SMALL, start))


def test_queued_executions_keep_their_output_apart(
        shared: Session, request: pytest.FixtureRequest) -> None:
    """Three floods sent without waiting: the kernel runs them in turn; each execution's
    lines are exactly its own, in order, before the next one's, and each response comes
    after its output."""
    daemon, kernel = shared.daemon, shared.kernels[0]
    start = time.monotonic()
    names = ["queued-a", "queued-b", "queued-c"]
    for name in names:
        send_execute(daemon, kernel, PRINT.format(n=SMALL, tag=name), name)
    daemon.wait_for(lambda: all(id_key(f"exec-{n}") in daemon.responses for n in names),
                    180, "the three executions")
    last_output = -1
    for name in names:
        (answer,) = daemon.responses[id_key(f"exec-{name}")]
        assert answer["result"]["status"] == "ok", answer
        notes = outputs(daemon, name)
        check_lines(stream_text(notes, "stdout"), expected(name, range(SMALL)), name)
        assert notes[0][0] > last_output, f"{name} output interleaved with the previous one"
        last_output = notes[-1][0]
        check_order(daemon, name)
    check_seq(daemon)
    figures(request, lines=3 * SMALL,
            seconds=round(time.monotonic() - start, 2))


# -- slow clients ---------------------------------------------------------------------------


@pytest.mark.parametrize("window", [0.02, 0.0])
def test_client_that_stops_reading_then_reads_slowly(
        tmp_path: Path, window: float, request: pytest.FixtureRequest) -> None:
    """The client stops reading while the kernel floods (the pipe fills, the daemon must
    hold everything), then reads 4 KiB at a time with pauses. Nothing is lost, doubled or
    reordered, seq has no gap, and what piled up was merged (protocol.md §5.1.1)."""
    with session(tmp_path, options={"output": {"coalesceWindow": window}}) as s:
        daemon, kernel = s.daemon, s.kernels[0]
        start = time.monotonic()
        daemon.pause_reading()
        # The kernel connects to this socket at the end of the flush flood: only then does
        # the client come back, so all of that flood piled up in the daemon.
        with socket.create_server(("127.0.0.1", 0)) as flood_done:
            port = flood_done.getsockname()[1]
            flood = (FLUSH.format(n=SMALL, tag="slow-flush")
                     + f"\nimport socket; socket.create_connection(('127.0.0.1', {port})).close()")
            send_execute(daemon, kernel, flood, "slow-flush")
            send_execute(daemon, kernel, PRINT.format(n=LINES, tag="slow"), "slow")
            send_execute(daemon, kernel, PROGRESS.format(n=SMALL, tag="slow-cr"), "slow-cr")
            flood_done.settimeout(120)
            try:
                flood_done.accept()[0].close()
            except TimeoutError:
                raise AssertionError("the kernel did not finish its flood") from None
        daemon.read_chunk, daemon.read_delay = 4096, 0.002  # deliberately slow from now on
        daemon.resume_reading()
        daemon.wait_for(lambda: id_key("exec-slow-cr") in daemon.responses, 180,
                        "the floods")
        flush_notes = outputs(daemon, "slow-flush")
        check_lines(stream_text(flush_notes, "stdout"), expected("slow-flush", range(SMALL)),
                    "slow-flush")
        notes = outputs(daemon, "slow")
        check_lines(stream_text(notes, "stdout"), expected("slow", range(LINES)), "slow")
        cr_notes = outputs(daemon, "slow-cr")
        check_lines("\n".join(render(stream_text(cr_notes, "stdout"))),
                    expected("slow-cr", range(SMALL)), "slow-cr")
        for name in ("slow-flush", "slow", "slow-cr"):
            assert daemon.responses[id_key(f"exec-{name}")][0]["result"]["status"] == "ok"
            check_order(daemon, name)
        check_seq(daemon)
        # Once the pipe was full, the one-line messages that piled up were merged: some
        # notification carries many lines (with enough lines to overflow the pipe).
        largest = max(len(p["content"]["text"]) for _, p in flush_notes)
        if SMALL >= 2000:
            assert largest > 50 * 40, f"largest notification: {largest} characters"
        figures(request, window=window, read_bytes=daemon.read_bytes,
                flush_flood={"lines": SMALL, "notifications": len(flush_notes),
                             "largest_chars": largest},
                **stats(notes + flush_notes + cr_notes, LINES + 2 * SMALL, start))


def test_two_kernels_flood_at_once(tmp_path: Path, request: pytest.FixtureRequest) -> None:
    """Two kernels print at the same time through one daemon to a slow reader: per kernel,
    seq runs 1, 2, 3, …; per execution, every line once and in order."""
    with session(tmp_path, kernels=2) as s:
        daemon = s.daemon
        daemon.read_chunk, daemon.read_delay = 8192, 0.001
        start = time.monotonic()
        names = []
        for number, kernel in enumerate(s.kernels):
            for pattern, code, n in (("print", PRINT, LINES), ("pieces", PIECES, SMALL)):
                name = f"k{number}-{pattern}"
                names.append((name, n))
                send_execute(daemon, kernel, code.format(n=n, tag=name), name)
        daemon.wait_for(lambda: all(id_key(f"exec-{n}") in daemon.responses for n, _ in names),
                        180, "the floods of both kernels")
        for name, n in names:
            assert daemon.responses[id_key(f"exec-{name}")][0]["result"]["status"] == "ok"
            check_lines(stream_text(outputs(daemon, name), "stdout"), expected(name, range(n)),
                        name)
            check_order(daemon, name)
        counts = check_seq(daemon)
        assert set(counts) == set(s.kernels)
        figures(request, lines=sum(n for _, n in names),
                notifications=counts, seconds=round(time.monotonic() - start, 2))


# -- the checks themselves can fail ---------------------------------------------------------


def test_checks_fail_on_damaged_output() -> None:
    want = expected("t", range(5))
    text = "\n".join(want) + "\n"
    check_lines(text, want, "intact")
    for damaged in (
        "\n".join(want[:2] + want[3:]) + "\n",                      # a line lost
        "\n".join(want[:3] + want[2:]) + "\n",                      # a line doubled
        "\n".join([want[1], want[0], *want[2:]]) + "\n",            # reordered
        text.replace("t 3 ", "t 3x"),                               # corrupted (checksum)
        text[:-1],                                                  # cut short
    ):
        with pytest.raises(AssertionError):
            check_lines(damaged, want, "damaged")
    assert render("abc\r12\n\rxy") == ["12c", "xy"]
