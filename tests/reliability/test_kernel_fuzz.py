"""Kernel-side fuzzing: a kernel (``fake_kernel.FakeKernel``, real zmq sockets) that mixes
its real output with tampered signatures, replays, forged replies and input requests,
wrong parents, unknown message types, truncated multipart messages, garbage JSON and
ill-typed contents, on iopub, shell and stdin, while the daemon is connected to it.

What must hold: nothing hostile reaches the editor (every notification and request the
client gets is recorded and searched for the hostile text), every legitimate output
arrives exactly once, in order, tagged with its execution, before the execution's
response; each refused message lands in its counter of ``kernelbridge/kernels``'
``messages.dropped`` (protocol.md §3.1), exactly; and the session keeps working.

Bounded for CI (two seeds of 800 events: ~2 s). ``KERNELBRIDGE_RELIABILITY_LONG=1`` runs
eight seeds of 6000 events. Figures (drops per kind) go to ``kernel_fuzz.json`` in
``probes.figures_path``'s directory.
"""

from __future__ import annotations

import json
import os
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from kernelbridge.client import DaemonClient, RpcError

from .fake_kernel import DROP_COUNTER, FakeKernel
from .probes import DAEMON, Recorder, connected_to_fake, daemon_env, record, settled_kernel

LONG = os.environ.get("KERNELBRIDGE_RELIABILITY_LONG") == "1"
pytestmark = [pytest.mark.anyio, pytest.mark.timeout(600 if LONG else 120)]
SEEDS = tuple(range(1, 9)) if LONG else (1, 2)
EVENTS = 6000 if LONG else 800

def dropped_counts(kernel: dict[str, Any]) -> Counter[str]:
    return Counter({k: v for k, v in kernel["messages"]["dropped"].items() if v})


async def test_hostile_kernel_traffic_never_reaches_the_editor(tmp_path: Path) -> None:
    with FakeKernel(tmp_path) as fake:
        async with connected_to_fake(fake.connection_file) as (daemon, rec, kernel):
            kid = kernel["kernelId"]
            assert dropped_counts(kernel) == Counter()
            results = []
            started = time.monotonic()
            for seed in SEEDS:
                results.append(await daemon.request("kernelbridge/execute", {
                    "kernelId": kid, "code": f"fuzz {seed} {EVENTS}",
                    "executionId": f"fuzz-{seed}"}, timeout=60))
                assert "EVIL" not in json.dumps(rec.notes), seed
                # Every output of the execution came before its response.
                outputs = rec.of("kernelbridge/output")
                text = "".join(o["content"]["text"] for o in outputs
                               if o.get("executionId") == f"fuzz-{seed}")
                assert text == fake.legit_text[seed]
            elapsed = time.monotonic() - started

            # The session survives: a plain execution and a listing work.
            after = await daemon.request("kernelbridge/execute",
                                         {"kernelId": kid, "code": "still here",
                                          "executionId": "after"}, timeout=10)
            assert after["status"] == "ok"
            # stdin is a socket of its own: its hostile messages may still be in flight
            # behind the round trip above; wait for the counts, under a deadline.
            expected = fake.expected_drops()
            listed = await settled_kernel(daemon, lambda k: dropped_counts(k) == expected)
            assert listed["state"] == "idle"

    # The forged replies (status error, count 666) did not replace the real ones.
    for seed, result in zip(SEEDS, results, strict=True):
        assert (result["status"], result["executionCount"]) == ("ok", 1), seed
    everything = json.dumps(rec.notes) + json.dumps(rec.input_requests)
    assert "EVIL" not in everything
    assert rec.input_requests == []  # forged and stray input requests asked no one
    outputs = rec.of("kernelbridge/output")
    assert "".join(o["content"]["text"] for o in outputs
                   if o.get("executionId") == "after") == "still here"
    # Another client's execution's output is shown as such: untagged, never as ours.
    assert "".join(o["content"]["text"] for o in outputs if "executionId" not in o) == \
        "".join(fake.other_text[seed] for seed in SEEDS)
    assert all(o["type"] == "stream" for o in outputs)
    # No gap and no duplicate in seq: nothing lost, nothing replayed.
    assert [o["seq"] for o in outputs] == list(range(1, len(outputs) + 1))
    # Statuses: connect, then exactly one busy and one idle per execution (the replayed
    # busy status was refused).
    states = [(s["state"], s.get("executionId")) for s in rec.of("kernelbridge/status")]
    runs = [f"fuzz-{seed}" for seed in SEEDS] + ["after"]
    assert states == [("starting", None), ("idle", None)] + [
        (state, run) for run in runs for state in ("busy", "idle")] + [("dead", None)]
    assert listed["messages"]["received"] > 0
    assert fake.refused_requests == 0  # the daemon signed everything it sent

    sent = dict(sorted(fake.sent.items()))
    assert set(sent) == set(DROP_COUNTER), "every hostile kind was exercised"
    record("kernel_fuzz", "hostile_sent_by_kind", sent)
    record("kernel_fuzz", "dropped_by_counter", dict(sorted(expected.items())))
    record("kernel_fuzz", "events", {"seeds": len(SEEDS), "per_seed": EVENTS,
                                     "hostile_total": sum(sent.values()),
                                     "legit_outputs": sum(t.count("\n") for t in
                                                          fake.legit_text.values()),
                                     "seconds": round(elapsed, 3)})


async def test_kernel_refuses_requests_not_signed_with_its_key(tmp_path: Path) -> None:
    """The other direction, as a sanity check of the fake kernel the suite relies on: a
    daemon holding the wrong key gets no answer (1003) and nothing reaches the editor."""
    with FakeKernel(tmp_path) as fake:
        wrong = tmp_path / "wrong-key.json"
        info = json.loads(fake.connection_file.read_text())
        fd = os.open(wrong, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump({**info, "key": "0" * 64}, f)
        async with DaemonClient.spawn(
                DAEMON, env=daemon_env(), timeout=30,
                initialization_options={"kernels": {"connectTimeout": 1.0}}) as daemon:
            rec = Recorder(daemon)
            with pytest.raises(RpcError) as error:
                await daemon.request("kernelbridge/connect", {"connectionFile": str(wrong)},
                                     timeout=20)
            assert error.value.code == 1003
        assert fake.refused_requests > 0
        assert "kernel_info_request" not in fake.requests
        assert not rec.of("kernelbridge/output")
