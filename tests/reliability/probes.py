"""What the reliability tests measure from outside: processes, descriptors, threads and
sockets in /proc (Linux), the daemon as a subprocess, and the figures they record.

Figures go to ``$KERNELBRIDGE_FIGURES_DIR/<name>.json`` (default: the temp dir's
``kernelbridge-figures``), one JSON object per test module, so a run's numbers (detection
times, drops per kind, descriptors before and after) can be read after it.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import tempfile
from collections.abc import AsyncIterator, Callable, Iterable
from pathlib import Path
from typing import Any

import anyio

from kernelbridge.client import DaemonClient

DAEMON = [sys.executable, "-m", "kernelbridge", "--stdio"]


def daemon_env(**extra: str) -> dict[str, str]:
    # JUPYTER_RUNTIME_DIR is the test's private dir (tests/conftest.py).
    return {**os.environ, "PYTHONUNBUFFERED": "1", **extra}


def figures_path(name: str) -> Path:
    """Where the suite's figures go: ``$KERNELBRIDGE_FIGURES_DIR/<name>.json`` (default the
    temp dir's ``kernelbridge-figures``), one JSON object per test module."""
    base = os.environ.get("KERNELBRIDGE_FIGURES_DIR") or os.path.join(
        tempfile.gettempdir(), "kernelbridge-figures")
    return Path(base) / f"{name}.json"


def update_figures(name: str, key: str, value: Any) -> Path:
    """Set ``key: value`` in the figures file ``name``; returns its path."""
    path = figures_path(name)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        data = {}
    data[key] = value
    path.write_text(json.dumps(data, indent=1, sort_keys=True))
    return path


def record(name: str, key: str, value: Any) -> None:
    """Add ``key: value`` to the figures file ``name`` (and print it: ``pytest -s``)."""
    update_figures(name, key, value)
    print(f"[figures {name}] {key} = {json.dumps(value)}")


# -- what the editor gets -------------------------------------------------------------------

# Every method the daemon sends to an editor (protocol.md §5), and pygls' own.
SERVER_METHODS = ("kernelbridge/output", "kernelbridge/status", "kernelbridge/cellState",
                  "window/showMessage", "window/logMessage", "$/progress", "$/cancelRequest",
                  "textDocument/publishDiagnostics")


class Recorder:
    """Everything the daemon sends the client, in arrival order."""

    def __init__(self, daemon: DaemonClient) -> None:
        self.notes: list[tuple[str, Any]] = []
        self.input_requests: list[Any] = []
        for method in SERVER_METHODS:
            daemon.on_notification(method, lambda p, m=method: self.notes.append((m, p)))
        daemon.on_request("kernelbridge/input", self._input)

    async def _input(self, params: Any) -> dict[str, str]:
        self.input_requests.append(params)
        return {"value": "typed"}

    def of(self, method: str) -> list[Any]:
        return [p for m, p in self.notes if m == method]


# -- processes ------------------------------------------------------------------------------


def pid_alive(pid: int) -> bool:
    """True while ``pid`` runs (a zombie, exited but not reaped, counts as dead)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def process_state(pid: int) -> str:
    """The one-letter state of /proc/PID/stat (R, S, T for stopped, Z, ...), "" if gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return ""


def children(pid: int) -> set[int]:
    """Live direct children of ``pid`` (every process whose parent it is: /proc/*/stat,
    which needs no CONFIG_PROC_CHILDREN)."""
    found = set()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[1]) == pid and fields[0] != "Z":
            found.add(int(entry))
    return found


def exists(path: str | Path) -> bool:
    return os.path.exists(path)


def runtime_leftovers() -> list[str]:
    """Files the daemon's kernels left in the test's Jupyter runtime dir (tests/conftest.py
    makes one per test): connection files, stderr files, ipc socket directories."""
    runtime = Path(os.environ["JUPYTER_RUNTIME_DIR"])
    return sorted(p.name for p in runtime.iterdir() if p.name.startswith(("kernel-kb-", "kb-")))


def fd_count(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def thread_count(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/task"))


def socket_inodes(pid: int) -> set[int]:
    """Inodes of the sockets ``pid`` holds open."""
    inodes = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(int(target[8:-1]))
    return inodes


def _hex_addr(text: str) -> str:
    host, port = text.split(":")
    raw = bytes.fromhex(host)
    if len(raw) == 4:
        return f"{'.'.join(str(b) for b in raw[::-1])}:{int(port, 16)}"
    # /proc/net/tcp6: four little-endian 32-bit words.
    words = [raw[i : i + 4][::-1] for i in range(0, 16, 4)]
    full = b"".join(words)
    if full[:12] == b"\0" * 10 + b"\xff\xff":
        return f"{'.'.join(str(b) for b in full[12:])}:{int(port, 16)}"
    return f"[{full.hex(':', 2)}]:{int(port, 16)}"


def inet_sockets(inodes: Iterable[int]) -> list[dict[str, str]]:
    """TCP and UDP sockets among ``inodes``: protocol, local and remote address, state
    (``0A`` is LISTEN for TCP)."""
    wanted = set(inodes)
    found = []
    for proto in ("tcp", "tcp6", "udp", "udp6"):
        try:
            lines = Path(f"/proc/net/{proto}").read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if int(fields[9]) in wanted:
                found.append({"proto": proto, "local": _hex_addr(fields[1]),
                              "remote": _hex_addr(fields[2]), "state": fields[3]})
    return found


def unix_sockets(inodes: Iterable[int]) -> list[dict[str, Any]]:
    """Unix sockets among ``inodes``: whether listening (``__SO_ACCEPTCON``), and path."""
    wanted = set(inodes)
    found = []
    for line in Path("/proc/net/unix").read_text().splitlines()[1:]:
        fields = line.split()
        if int(fields[6]) in wanted:
            found.append({"listening": bool(int(fields[3], 16) & 0x10000),
                          "path": fields[7] if len(fields) > 7 else ""})
    return found


@contextlib.asynccontextmanager
async def connected_to_fake(connection_file: Path
                            ) -> AsyncIterator[tuple[DaemonClient, Recorder, dict[str, Any]]]:
    """A daemon connected to the fake kernel of ``connection_file``: (client, recorder of
    what it sends the client, the Kernel object)."""
    async with DaemonClient.spawn(DAEMON, env=daemon_env(), timeout=30) as daemon:
        rec = Recorder(daemon)
        kernel = await daemon.request("kernelbridge/connect",
                                      {"connectionFile": str(connection_file)}, timeout=20)
        yield daemon, rec, kernel


async def settled_kernel(daemon: DaemonClient, done: Callable[[dict[str, Any]], bool],
                         timeout: float = 10) -> dict[str, Any]:
    """The only kernel's Kernel object once ``done`` holds for it. Its counters are in
    another process, with no notification when they change: polled, under a deadline
    (messages on a socket of their own may still be in flight behind a round trip)."""
    with anyio.fail_after(timeout):
        while True:
            (listed,) = await daemon.request("kernelbridge/kernels")
            if done(listed):
                return listed
            await anyio.sleep(0.05)


def is_loopback(address: str) -> bool:
    host = address.rsplit(":", 1)[0]
    return host.startswith("127.") or host in ("[0000:0000:0000:0000:0000:0000:0000:0001]",)


async def process_exit(pid: int) -> None:
    """Until process ``pid`` (not necessarily our child) has exited: its pidfd becomes
    readable then (Linux 5.3+). Bound it with ``anyio.fail_after``."""
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return  # already gone (and reaped)
    try:
        await anyio.wait_readable(fd)
    finally:
        os.close(fd)
