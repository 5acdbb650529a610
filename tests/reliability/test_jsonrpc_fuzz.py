"""Reliability part 1: JSON-RPC fuzzing against the running daemon.

Hypothesis generates tens of thousands of inputs — broken Content-Length framing, garbage,
truncated and invalid JSON, invalid UTF-8, non-object messages, batches, deep nesting, big
payloads, ids of every JSON type, duplicate ids, responses to requests never made, unknown
methods, and params of every method (from the daemon's method table and lsprotocol's) with
wrong types, as requests, notifications and commands — and streams them through one
``kernelbridge --stdio`` subprocess per test, raw bytes on its stdin. The daemon's stdout is
read by an independent strict frame reader, and every input is checked against protocol.md:
no crash, every request answered exactly once (with the required error code where the
input decides it), notifications and responses never answered, and a valid request served
after every batch. The rules of the check are in ``rpc_fuzz``'s docstring.

Run (CI mode: 11 000 generated inputs plus the dedicated cases, about a minute and a half)::

    .venv/bin/python -m pytest tests/reliability/test_jsonrpc_fuzz.py

Long mode, the suite's ``KERNELBRIDGE_RELIABILITY_LONG=1``: 100 000 inputs (about eight
minutes). ``KB_FUZZ_EXAMPLES`` sets the number of generated inputs directly::

    KB_FUZZ_EXAMPLES=30000 .venv/bin/python -m pytest tests/reliability/test_jsonrpc_fuzz.py

Figures (inputs per category, answers by error code, crashes, unanswered and doubly
answered requests, seconds) are written to the terminal as ``[reliability]`` lines whatever
the capture mode, and to ``$KERNELBRIDGE_FIGURES_DIR/jsonrpc_fuzz.json`` (default
``/tmp/kernelbridge-figures``), as the rest of the suite's.
"""

from __future__ import annotations

import builtins
import keyword
import os
import re
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from .fuzz_strategies import (
    HARMLESS,
    KB_PARAMS,
    LSP_PARAMS,
    body_case_strategy,
    envelope_case,
    framing_case,
    kernel_case,
    params_case,
)
from .rpc_fuzz import (
    LONG,
    Case,
    Figures,
    FuzzFailure,
    FuzzRunner,
    RawDaemon,
    frame,
    probe_frame,
    report_figures,
)
from .wire_check import StrictFrameReader, WireViolation, id_key

TOTAL = int(os.environ.get("KB_FUZZ_EXAMPLES", "100000" if LONG else "11000"))
BATCH = 20
KERNEL_BATCH = 10
# pytest-timeout per test, generous and scaled with the inputs (a loaded 2-core machine
# goes through 1000 inputs in 3 to 8 s, hypothesis generating them included).
TIMEOUT = max(300, int(TOTAL * 0.06))
OPTIONS = {"kernels": {"autoStart": False}, "requestTimeout": 10}
ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.timeout(TIMEOUT)


def examples(share: float, batch: int = BATCH) -> int:
    return max(1, round(TOTAL * share / batch))


def initialized(daemon: RawDaemon) -> None:
    daemon.initialize(OPTIONS)


def fuzz(runner: FuzzRunner, cases: st.SearchStrategy[Case], n: int,
         batch: int = BATCH) -> None:
    """Run ``n`` hypothesis examples, each a batch of cases streamed through the runner."""

    # No shrinking: the daemon is a live process (each failure restarts it), and the
    # failure message already names the one case of the batch that went wrong.
    @settings(max_examples=n, deadline=None, database=None, report_multiple_bugs=False,
              phases=[Phase.explicit, Phase.generate],
              suppress_health_check=list(HealthCheck))
    @given(st.lists(cases, min_size=batch, max_size=batch))
    def run(batch_cases: list[Case]) -> None:
        runner.run(batch_cases)

    run()


@pytest.fixture
def runner_factory(request: pytest.FixtureRequest) -> Iterator[Callable[..., FuzzRunner]]:
    """FuzzRunners that close (final accounting) and report their figures at the end."""
    made: list[tuple[FuzzRunner, Figures]] = []
    start = time.monotonic()

    def make(**kwargs: Any) -> FuzzRunner:
        figures = Figures()
        runner = FuzzRunner(figures, **kwargs)
        made.append((runner, figures))
        return runner

    yield make
    for runner, figures in made:
        try:
            runner.close()
        finally:
            report = figures.as_dict()
            report["wall_seconds"] = round(time.monotonic() - start, 1)
            report_figures(request.config, "jsonrpc_fuzz", request.node.name, report)


def check_figures(figures: Figures) -> None:
    assert figures.crashes == 0
    assert figures.unanswered == 0
    assert figures.over_answered == 0
    assert figures.wrong_answers == 0
    assert sum(figures.inputs.values()) > 0


# -- fuzzing ------------------------------------------------------------------------------


def test_framing(runner_factory: Callable[..., FuzzRunner]) -> None:
    """Content-Length framing broken every way protocol.md §1 lists, and garbage."""
    runner = runner_factory(setup=initialized)
    fuzz(runner, framing_case(), examples(0.28))
    check_figures(runner.figures)


def test_bodies(runner_factory: Callable[..., FuzzRunner]) -> None:
    """Bodies: invalid UTF-8, invalid, mutated and truncated JSON, non-objects, batches,
    deep nesting, big payloads."""
    runner = runner_factory(setup=initialized)
    fuzz(runner, body_case_strategy(), examples(0.22))
    check_figures(runner.figures)


def test_envelopes(runner_factory: Callable[..., FuzzRunner]) -> None:
    """Envelopes: jsonrpc, ids of every JSON type, methods, params shapes, responses to
    requests never made, duplicate ids, notifications."""
    runner = runner_factory(setup=initialized)
    fuzz(runner, envelope_case(), examples(0.18))
    check_figures(runner.figures)


def test_envelopes_before_initialize(runner_factory: Callable[..., FuzzRunner]) -> None:
    """The same before ``initialize``: requests -32002, notifications dropped; then a
    valid ``initialize`` is still accepted."""

    def uninitialized(daemon: RawDaemon) -> None:
        answer = daemon.request("kernelbridge/kernels")
        if answer.get("error", {}).get("code") != -32002:
            raise FuzzFailure(f"kernelbridge/kernels before initialize answered {answer}")

    runner = runner_factory(alive=uninitialized)
    fuzz(runner, envelope_case(initialized=False), examples(0.04))
    check_figures(runner.figures)
    daemon = runner.ensure_daemon()
    initialized(daemon)
    assert daemon.request("kernelbridge/kernels")["result"] == []


def test_params_of_every_method(runner_factory: Callable[..., FuzzRunner]) -> None:
    """Params of every kernelbridge and LSP method, valid and of wrong types, as requests,
    notifications and workspace/executeCommand."""
    runner = runner_factory(setup=initialized)
    fuzz(runner, params_case(), examples(0.23))
    check_figures(runner.figures)


@pytest.mark.timeout(TIMEOUT + 120)
def test_kernel_methods_against_a_kernel(runner_factory: Callable[..., FuzzRunner],
                                         tmp_path: Path) -> None:
    """Params of the kernel methods against one real python3 kernel (cwd a temp dir, code
    from a harmless alphabet), right and wrong kernel ids; after every batch the kernel
    still runs ``1+1``."""
    state: dict[str, str] = {}
    uri = (tmp_path / "fuzzed.py").as_uri()

    def setup(daemon: RawDaemon) -> None:
        daemon.initialize(OPTIONS)
        answer = daemon.request("kernelbridge/start",
                                {"kernelspec": "python3", "cwd": str(tmp_path)}, timeout=120)
        assert "result" in answer, answer
        state["kernel"] = answer["result"]["kernelId"]
        daemon.notify("textDocument/didOpen", {"textDocument": {
            "uri": uri, "languageId": "python", "version": 0, "text": "# %%\nx = 1\n"}})
        daemon.request("kernelbridge/bind", {"uri": uri, "kernelId": state["kernel"]})

    def alive(daemon: RawDaemon) -> None:
        # An interrupt of the batch may still land in this execution: try again then.
        for _ in range(3):
            answer = daemon.request("kernelbridge/execute",
                                    {"kernelId": state["kernel"], "code": "1+1"}, timeout=120)
            if answer.get("result", {}).get("status") == "ok":
                return
        raise FuzzFailure(f"execute 1+1 after the batch answered {answer}")

    runner = runner_factory(setup=setup, alive=alive, answer_timeout=120, cwd=str(tmp_path))
    runner.ensure_daemon()
    cases = st.deferred(lambda: kernel_case(state["kernel"], uri))
    fuzz(runner, cases, examples(0.05, KERNEL_BATCH), KERNEL_BATCH)
    check_figures(runner.figures)
    # The kernel ran harmless code only: nothing was written where it runs.
    assert sorted(p.name for p in tmp_path.iterdir()) == [], list(tmp_path.iterdir())


# What a SIGINT does when it lands in ipykernel between the user's code and the reply (the
# kernel fuzzer's interrupts hit it now and then): the execute_request handler gets a
# KeyboardInterrupt, ipykernel logs "KeyboardInterrupt caught in kernel", sends no reply and
# goes idle all the same. Here made certain: the next execute_reply send raises it.
DROP_NEXT_REPLY = """
_kb_kernel = get_ipython().kernel
_kb_send = _kb_kernel.session.send
def _kb_drop_reply(stream, msg_or_type, *args, **kwargs):
    if msg_or_type == "execute_reply":
        _kb_kernel.session.send = _kb_send
        raise KeyboardInterrupt
    return _kb_send(stream, msg_or_type, *args, **kwargs)
_kb_kernel.session.send = _kb_drop_reply
"""


@pytest.mark.timeout(180)
def test_execution_whose_reply_the_kernel_drops_is_answered(tmp_path: Path) -> None:
    """Found by the kernel fuzzer: an execute whose execute_reply ipykernel dropped was
    never answered. It is now answered 1003 shortly after its idle (protocol.md §4.8), and
    the kernel serves the next execution."""
    daemon = RawDaemon(cwd=str(tmp_path))
    try:
        daemon.initialize(OPTIONS)
        kernel = daemon.request("kernelbridge/start", {"kernelspec": "python3",
                                                       "cwd": str(tmp_path)},
                                timeout=120)["result"]["kernelId"]
        answer = daemon.request("kernelbridge/execute", {
            "kernelId": kernel, "code": DROP_NEXT_REPLY, "executionId": "dropped"},
            timeout=60, msg_id="dropped")
        assert answer["error"]["code"] == 1003, answer
        assert answer["error"]["data"] == {"type": "KernelTimeout"}
        with daemon._cond:
            messages = list(daemon.messages)
        idle = [i for i, m in enumerate(messages) if m.get("method") == "kernelbridge/status"
                and m["params"] == {"kernelId": kernel, "state": "idle",
                                    "executionId": "dropped"}]
        assert idle and idle[0] < messages.index(answer)
        again = daemon.request("kernelbridge/execute", {"kernelId": kernel, "code": "1+1"},
                               timeout=60)
        assert again["result"]["status"] == "ok", again
        assert daemon.shutdown_and_exit() == 0
    finally:
        daemon.close()


# -- inputs too big, too slow or too final for the batches --------------------------------


def ping(msg_id: int | str) -> bytes:
    return frame(orjson.dumps({"jsonrpc": "2.0", "id": msg_id,
                               "method": "kernelbridge/kernels"}))


@pytest.fixture
def daemon() -> Iterator[RawDaemon]:
    daemon = RawDaemon()
    try:
        daemon.initialize(OPTIONS)
        yield daemon
    finally:
        daemon.close()


def nulls_since(daemon: RawDaemon, start: int) -> list[dict[str, Any]]:
    with daemon._cond:
        return [m for m in daemon.messages[start:] if "method" not in m and m["id"] is None]


@pytest.mark.timeout(300)
def test_body_over_the_limit_is_skipped_not_buffered(daemon: RawDaemon) -> None:
    """A body of 256 MiB + 1 is answered -32600 once, its bytes are discarded as they
    stream in (the daemon's memory does not grow by its size), the next frame is served."""
    size = (256 << 20) + 1
    start = len(daemon.messages)
    rss_before = _rss(daemon.process.pid)
    daemon.send(b"Content-Length: %d\r\n\r\n" % size)
    chunk = b"x" * (1 << 20)
    for _ in range(size // len(chunk)):
        daemon.send(chunk)
    daemon.send(b"x" * (size % len(chunk)))
    daemon.send(ping("after-huge"))
    daemon.wait_for(lambda: id_key("after-huge") in daemon.responses, 240, "after-huge")
    assert daemon.responses[id_key("after-huge")][0]["result"] == []
    (error,) = nulls_since(daemon, start)
    assert error["error"] == {"code": -32600, "message":
                              f"message of {size} bytes exceeds the limit of {256 << 20}"}
    assert _rss(daemon.process.pid) - rss_before < 64 << 20


def _rss(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        match = re.search(r"VmRSS:\s+(\d+) kB", f.read())
    assert match
    return int(match.group(1)) * 1024


@pytest.mark.timeout(120)
def test_big_payloads_are_served(daemon: RawDaemon) -> None:
    """Bodies of 8 and 64 MiB (under the limit) are read and answered."""
    for size in (8 << 20, 64 << 20):
        code = "x" * size
        answer = daemon.request("kernelbridge/isComplete", {"code": code, "kernelId": "k"},
                                timeout=90)
        assert answer["error"]["code"] == 1001, answer
    answer = daemon.request("kernelbridge/cells", {"uri": "file:///x.py"})
    assert answer["error"]["code"] == -32602


def test_header_split_after_long_garbage(daemon: RawDaemon) -> None:
    """More than 8 KiB of garbage, then a lower-case header that arrives in two pieces:
    one error for the garbage, and the request after it is served (protocol.md §1: the
    header name is matched case-insensitively)."""
    body = orjson.dumps({"jsonrpc": "2.0", "id": "split", "method": "kernelbridge/kernels"})
    start = len(daemon.messages)
    daemon.send(b"x" * 9000 + b"content-length: %d\r" % len(body))
    daemon.wait_for(lambda: len(nulls_since(daemon, start)) == 1, 30, "the garbage error")
    daemon.send(b"\n\r\n" + body)
    daemon.wait_for(lambda: id_key("split") in daemon.responses, 30, "the split request")
    assert daemon.request("kernelbridge/kernels")["result"] == []
    # Which message depends on how the daemon's reads cut the input; one error either way.
    (error,) = nulls_since(daemon, start)
    assert error["error"]["message"] in ("no Content-Length header found",
                                         "unexpected bytes before a header")


def test_truncated_frame_at_end_of_input() -> None:
    """Input that ends inside a frame: what came before is answered, the daemon exits 0
    and writes nothing after its last complete frame."""
    daemon = RawDaemon()
    try:
        daemon.initialize(OPTIONS)
        daemon.send(ping("before-cut"))
        daemon.send(b"Content-Length: 100\r\n\r\n" + b'{"jsonrpc":"2.0","id":"cut"')
        daemon.close_stdin()
        assert daemon.wait_exit(30) == 0
        assert daemon.responses[id_key("before-cut")][0]["result"] == []
        assert id_key("cut") not in daemon.responses
        assert daemon.violation is None
        assert daemon.tracebacks() == []
    finally:
        daemon.close()


def test_request_cancelled_in_the_read_that_brought_it(daemon: RawDaemon) -> None:
    """Found by the kernel fuzzer: a kernelbridge request and its ``$/cancelRequest`` in one
    read — its task cancelled before it ever ran — was never answered, and its id stayed
    "in use" for good. Each is answered once (-32800 or its result) and the ids are free."""
    methods = [("kernelbridge/kernelspecs", None), ("kernelbridge/kernels", None),
               ("textDocument/codeLens", {"textDocument": {"uri": "file:///x.py"}})]
    data = b""
    for n, (method, params) in enumerate(methods):
        message: dict[str, Any] = {"jsonrpc": "2.0", "id": f"c{n}", "method": method}
        if params is not None:
            message["params"] = params
        data += frame(orjson.dumps(message))
        data += frame(orjson.dumps({"jsonrpc": "2.0", "method": "$/cancelRequest",
                                    "params": {"id": f"c{n}"}}))
    daemon.send(data)
    keys = [id_key(f"c{n}") for n in range(len(methods))]
    daemon.wait_for(lambda: all(k in daemon.responses for k in keys), 30, "the answers")
    for key in keys:
        (answer,) = daemon.responses[key]
        assert "result" in answer or answer["error"]["code"] == -32800, answer
    assert daemon.responses[keys[0]][0]["error"]["code"] == -32800
    for n, (method, params) in enumerate(methods):  # the ids can be used again
        assert "result" in daemon.request(method, params, msg_id=f"c{n}"), method


def test_exit_and_shutdown_of_the_wrong_kind(daemon: RawDaemon) -> None:
    """``exit`` is a notification: sent with an id it is an unknown request method
    (-32601) and the daemon keeps serving. ``shutdown`` sent as a notification is dropped
    with a warning. Then the real ones end the daemon with status 0."""
    answer = daemon.request("exit", msg_id=7)
    assert answer["error"]["code"] == -32601, answer
    daemon.notify("shutdown")
    assert daemon.request("kernelbridge/kernels")["result"] == []
    assert daemon.alive()
    assert daemon.shutdown_and_exit() == 0


# -- the framing layer alone: independent of how the input is cut into reads --------------


@settings(max_examples=max(100, TOTAL // 100), deadline=None, database=None,
          suppress_health_check=list(HealthCheck))
@given(st.lists(framing_case(), min_size=1, max_size=8), st.data())
def test_frame_parser_does_not_depend_on_read_boundaries(cases: list[Case],
                                                         data: st.DataObject) -> None:
    """The daemon's FrameParser, fed the same bytes whole or cut into random reads (down
    to one byte), finds the same bodies and the same number of errors with the same codes
    (only the wording of the one -32700 for a stretch of garbage depends on the cuts,
    protocol.md §1), and never holds more than 8 KiB of an unfinished header."""
    from kernelbridge.server._transport import FrameParser

    stream = b"".join(case.data + probe_frame(f"p{i}") for i, case in enumerate(cases))
    whole = FrameParser().feed(stream)
    parser = FrameParser()
    pieces: list[Any] = []
    at = 0
    while at < len(stream):
        # A read size, kept for a few reads (one draw per read would overrun hypothesis
        # on long streams read a byte at a time).
        size = data.draw(st.integers(1, 1 << data.draw(st.integers(0, 14))))
        for _ in range(data.draw(st.integers(1, 64))):
            pieces += parser.feed(stream[at : at + size])
            at += size
            assert (len(parser._buffer) <= 8192 + size
                    or parser._buffer.find(b"\r\n\r\n") >= 0)

    def shape(items: list[Any]) -> list[Any]:
        return [item if isinstance(item, bytes) else item.code for item in items]

    assert shape(pieces) == shape(whole)
    garbage = {"no Content-Length header found", "unexpected bytes before a header",
               "missing or invalid Content-Length header"}
    for a, b in zip(pieces, whole, strict=True):
        if not isinstance(a, bytes) and a.message != b.message:
            assert {a.message, b.message} <= garbage, (a, b)


# -- the harness itself can fail ------------------------------------------------------------


def test_methods_of_protocol_md_are_fuzzed() -> None:
    """Every request documented in protocol.md §4 is in the method tables the fuzzer draws
    from, and every kernelbridge method of the code is documented."""
    text = (ROOT / "protocol.md").read_text()
    documented: set[str] = set()
    for heading in re.findall(r"^### 4\.\S+ (.*)$", text, re.M):
        names = re.findall(r"`([\w$/]+)`", heading)
        prefix = ""
        for name in names:  # "`kernelbridge/executeCell`, `executeRange`": same prefix
            if "/" in name:
                prefix = name.rsplit("/", 1)[0] + "/"
                documented.add(name)
            else:
                documented.add(prefix + name)
    kb_documented = {m for m in documented if m.startswith("kernelbridge/")}
    assert kb_documented == set(KB_PARAMS), kb_documented ^ set(KB_PARAMS)
    assert documented - set(KB_PARAMS) <= set(LSP_PARAMS), documented - set(LSP_PARAMS)


@pytest.mark.parametrize("data", [
    b"Content-Length: 2\r\nContent-Type: x\r\n\r\n{}",   # a second header
    b"content-length: 2\r\n\r\n{}",                      # not the daemon's spelling
    b"Content-Length: 2\r\n\r\n[]",                      # not an object
    b'Content-Length: 9\r\n\r\n{"id":1 }',               # no jsonrpc
    b'Content-Length: 31\r\n\r\n{"jsonrpc":"2.0","id":1,"id":2}',  # duplicate key
    b'Content-Length: 31\r\n\r\n{"jsonrpc":"2.0","id":1.5,"result":1}',
    b'Content-Length: 32\r\n\r\n{"jsonrpc":"2.0","id":1,"result":NaN}',
])
def test_strict_reader_rejects(data: bytes) -> None:
    with pytest.raises(WireViolation):
        StrictFrameReader().feed(data)


FAKE_DAEMON = r"""
import os, sys, json
mode = sys.argv[1]
buf = b""
while True:
    chunk = os.read(0, 65536)
    if not chunk:
        break
    buf += chunk
    while b"\r\n\r\n" in buf:
        head, rest = buf.split(b"\r\n\r\n", 1)
        n = int(head.split(b":")[1])
        if len(rest) < n:
            break
        body, buf = rest[:n], rest[n:]
        msg = json.loads(body)
        if "id" not in msg or "method" not in msg:
            continue
        answer = {"jsonrpc": "2.0", "id": msg["id"], "result": []}
        if msg["method"] == "kernelbridge/bind":
            answer = {"jsonrpc": "2.0", "id": msg["id"], "error": {"code": -32602,
                      "message": "x"}}
        out = json.dumps(answer).encode()
        times = 1
        if msg["method"] == "kernelbridge/cells":
            times = {"drop": 0, "double": 2}.get(mode, 1)
            if mode == "internal":
                out = json.dumps({"jsonrpc": "2.0", "id": msg["id"], "error": {
                    "code": -32603, "message": "bug"}}).encode()
        for _ in range(times):
            os.write(1, b"Content-Length: %d\r\n\r\n%b" % (len(out), out))
"""


@pytest.mark.parametrize(("mode", "counter"), [("drop", "unanswered"),
                                               ("double", "over_answered"),
                                               ("internal", "wrong_answers")])
def test_runner_catches_a_wrong_daemon(monkeypatch: pytest.MonkeyPatch, mode: str,
                                       counter: str) -> None:
    """The accounting fails on a daemon that drops, doubles or botches an answer."""
    from . import rpc_fuzz

    monkeypatch.setattr(rpc_fuzz, "DAEMON", [sys.executable, "-c", FAKE_DAEMON, mode])
    figures = Figures()
    runner = FuzzRunner(figures, answer_timeout=3)
    body = orjson.dumps({"jsonrpc": "2.0", "id": 5, "method": "kernelbridge/cells",
                         "params": {"uri": "x"}})
    case = Case("self-test", frame(body), [(id_key(5), None)])
    try:
        with pytest.raises(FuzzFailure):
            runner.run([case])
    finally:
        runner.discard_daemon()
    assert getattr(figures, counter) >= 1


def test_runner_catches_a_crash(monkeypatch: pytest.MonkeyPatch) -> None:
    from . import rpc_fuzz

    monkeypatch.setattr(rpc_fuzz, "DAEMON", [sys.executable, "-c",
                                             "import os; os.read(0, 10)"])
    figures = Figures()
    runner = FuzzRunner(figures, answer_timeout=10)
    with pytest.raises(FuzzFailure, match="crashed"):
        runner.run([Case("self-test", b"Content-Length: 2\r\n\r\n{}", [], 1)])
    assert figures.crashes == 1


def test_runner_catches_a_wrong_null_count() -> None:
    figures = Figures()
    runner = FuzzRunner(figures, setup=initialized)
    try:
        with pytest.raises(FuzzFailure, match="id-null answers"):
            runner.run([Case("self-test", b"Content-Length: 2\r\n\r\n42", [], 0)])
    finally:
        runner.discard_daemon()


def test_harmless_alphabet_spells_no_keyword_or_builtin() -> None:
    """The kernel fuzzer's code alphabet cannot name a keyword or a builtin (no import,
    open, exec, input, exit, loop): random code from it is safe to run."""
    letters = {c for c in HARMLESS if c.isidentifier()}
    names = set(keyword.kwlist) | set(keyword.softkwlist) | set(dir(builtins))
    assert letters and not [n for n in names if set(n) <= letters]
    assert not set("*<>!?_") & set(HARMLESS)
