"""Security: connection files, keys, signatures, sockets, shell strings and client paths.

- Connection files are 0600 (ipc sockets in a 0700 directory of their own) and gone after
  shutdown.
- Keys are random (256 bits, distinct) and never in the daemon's log, even at DEBUG, nor
  on the JSON-RPC stream.
- Kernel messages whose signature does not verify are refused (counted, nothing reaches
  the editor); kernels refuse our messages without the key.
- The daemon listens on nothing; kernels listen on loopback only.
- No shell strings: none in the code (a static scan), and kernelspec names, cwd, env
  values and paths full of shell metacharacters are handled as data.
- Paths from clients (connection files, cwd) are validated with clear errors.

About 25 s in CI mode; no long mode.
"""

from __future__ import annotations

import ast
import json
import os
import re
import shutil
import stat
from pathlib import Path
from typing import Any

import anyio
import pytest

import kernelbridge
from kernelbridge.client import DaemonClient, RpcError
from kernelbridge.jupyter import ConnectionInfo, KernelClient, KernelTimeout

from .fake_kernel import FakeKernel
from .probes import (
    DAEMON,
    Recorder,
    connected_to_fake,
    daemon_env,
    exists,
    inet_sockets,
    is_loopback,
    record,
    runtime_leftovers,
    settled_kernel,
    socket_inodes,
    unix_sockets,
)

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(120)]


async def start(daemon: DaemonClient, **params: Any) -> dict[str, Any]:
    return await daemon.request("kernelbridge/start", {"kernelspec": "python3", **params},
                                timeout=60)


def read_json(path: str | Path) -> Any:
    with open(path) as f:
        return json.load(f)


def read_key(connection_file: str) -> str:
    return read_json(connection_file)["key"]


def canaries(*directories: Path) -> list[Path]:
    return [p for d in directories for p in d.glob("CANARY*")]


# -- connection files -----------------------------------------------------------------------


@pytest.mark.parametrize("transport", ["tcp", "ipc"])
async def test_connection_files_are_private_and_removed(transport: str) -> None:
    options = {"kernels": {"transport": transport}}
    async with DaemonClient.spawn(DAEMON, env=daemon_env(), timeout=30,
                                  initialization_options=options) as daemon:
        first, second = await start(daemon), await start(daemon)
        sockets_of: dict[str, Path] = {}
        for kernel in (first, second):
            st = os.stat(kernel["connectionFile"])
            assert stat.S_IMODE(st.st_mode) == 0o600 and st.st_uid == os.getuid()
            info = read_json(kernel["connectionFile"])
            assert info["transport"] == transport
            if transport == "tcp":
                assert info["ip"] == "127.0.0.1"
                continue
            # The sockets are the kernel's, made with its umask: what protects them is a
            # directory no one else may enter.
            private = sockets_of[kernel["kernelId"]] = Path(info["ip"]).parent
            dst = os.stat(private)
            assert stat.S_IMODE(dst.st_mode) == 0o700 and dst.st_uid == os.getuid()
            assert private != Path(kernel["connectionFile"]).parent
            sockets = list(private.iterdir())
            assert len(sockets) == 5 and all(s.is_socket() for s in sockets)
        await daemon.request("kernelbridge/shutdown", {"kernelId": first["kernelId"]},
                             timeout=30)
        assert not exists(first["connectionFile"])
        if transport == "ipc":
            assert not exists(sockets_of[first["kernelId"]])
            assert exists(sockets_of[second["kernelId"]])
    # The second one went with the daemon's exit.
    assert not exists(second["connectionFile"])
    assert runtime_leftovers() == []


# -- keys -----------------------------------------------------------------------------------


async def test_keys_are_random_and_never_logged(tmp_path: Path) -> None:
    log = tmp_path / "daemon.log"
    keys: list[str] = []
    with FakeKernel(tmp_path) as fake, log.open("wb") as err:
        keys.append(fake.key)
        async with DaemonClient.spawn([*DAEMON, "--log-level", "DEBUG"], env=daemon_env(),
                                      timeout=30, stderr=err) as daemon:
            rec = Recorder(daemon)
            kernels = [await start(daemon) for _ in range(3)]
            keys += [read_key(k["connectionFile"]) for k in kernels]
            a, b, c = (k["kernelId"] for k in kernels)
            connected = await daemon.request("kernelbridge/connect",
                                             {"connectionFile": str(fake.connection_file)},
                                             timeout=20)
            # Everything that might log: output, errors, interrupt, restart,
            # refused kernel messages, a kernel's death, bad connection files.
            await daemon.request("kernelbridge/execute", {"kernelId": a, "code": "1/0"})
            await daemon.request("kernelbridge/execute", {
                "kernelId": connected["kernelId"], "code": "fuzz 3 300"}, timeout=30)
            await daemon.request("kernelbridge/restart", {"kernelId": b}, timeout=60)
            await daemon.request("kernelbridge/interrupt", {"kernelId": b}, timeout=10)
            os.kill(kernels[2]["pid"], 9)
            with pytest.raises(RpcError):
                await daemon.request("kernelbridge/execute",
                                     {"kernelId": c, "code": "import time; time.sleep(60)"})
            bad = tmp_path / "bad.json"
            bad.write_text(json.dumps({**json.loads(fake.connection_file.read_text()),
                                       "shell_port": "nope"}))
            bad.chmod(0o600)
            with pytest.raises(RpcError):
                await daemon.request("kernelbridge/connect", {"connectionFile": str(bad)})
            listed = await daemon.request("kernelbridge/kernels")
            wire = json.dumps([rec.notes, listed, kernels, connected])
    text = log.read_text(errors="replace")
    assert "DEBUG" in text and "Starting kernel" in text, "the log was not verbose"
    assert len(set(keys)) == len(keys)
    for key in keys[1:]:
        assert re.fullmatch(r"[0-9a-f]{64}", key)  # 256 random bits, hex
    leaks = [key[i : i + 16] for key in keys for i in range(0, len(key) - 15)
             if key[i : i + 16] in text or key[i : i + 16] in wire]
    assert leaks == [], "a key (or 16 characters of one) is in the log or on the wire"
    record("security", "log_bytes_searched", len(text))
    record("security", "keys_searched", len(keys))


# -- signatures -----------------------------------------------------------------------------

FORGED = "bad_signature,flipped_signature,tampered,unsigned,forged_reply,forged_input"


async def test_kernel_messages_with_bad_signatures_are_refused(tmp_path: Path) -> None:
    with FakeKernel(tmp_path) as fake:
        async with connected_to_fake(fake.connection_file) as (daemon, rec, kernel):
            result = await daemon.request("kernelbridge/execute", {
                "kernelId": kernel["kernelId"], "code": f"fuzz 11 400 {FORGED}"}, timeout=30)
            expected = fake.expected_drops()
            listed = await settled_kernel(daemon, lambda k: k["messages"]["dropped"][
                "signature"] == expected["signature"])
    assert set(expected) == {"signature"} and expected["signature"] > 200
    assert {k: v for k, v in listed["messages"]["dropped"].items() if v} == dict(expected)
    assert (result["status"], result["executionCount"]) == ("ok", 1)
    assert "EVIL" not in json.dumps(rec.notes) and rec.input_requests == []
    record("security", "forged_signatures_refused", expected["signature"])


async def test_kernels_refuse_messages_without_the_key() -> None:
    async with DaemonClient.spawn(DAEMON, env=daemon_env(), timeout=30) as daemon:
        kernel = await start(daemon)
        info = read_json(kernel["connectionFile"])
        for key in ("0" * 64, ""):
            intruder = ConnectionInfo.from_dict({**info, "key": key})
            async with KernelClient(intruder) as client:
                with pytest.raises(KernelTimeout):
                    await client.kernel_info_request(timeout=1.0)
        ok = await daemon.request("kernelbridge/execute",
                                  {"kernelId": kernel["kernelId"], "code": "1"})
        assert ok["status"] == "ok"


# -- sockets --------------------------------------------------------------------------------


async def test_daemon_listens_on_nothing_and_kernels_on_loopback(tmp_path: Path) -> None:
    with FakeKernel(tmp_path) as fake:
        async with DaemonClient.spawn(DAEMON, env=daemon_env(), timeout=30) as daemon:
            assert daemon._daemon is not None
            pid = daemon._daemon.process.pid
            kernel = await start(daemon)
            await daemon.request("kernelbridge/connect",
                                 {"connectionFile": str(fake.connection_file)}, timeout=20)
            await daemon.request("kernelbridge/execute",
                                 {"kernelId": kernel["kernelId"], "code": "1"})
            inodes = socket_inodes(pid)
            inet = inet_sockets(inodes)
            unix = unix_sockets(inodes)
            kernel_inet = inet_sockets(socket_inodes(kernel["pid"]))
    assert inet, "the daemon's zmq connections were not found in /proc/net"
    assert [s for s in inet if s["proto"].startswith("udp")] == []
    assert [s for s in inet if s["state"] == "0A"] == [], "the daemon listens on TCP"
    assert all(is_loopback(s["local"]) and is_loopback(s["remote"]) for s in inet), inet
    assert [s for s in unix if s["listening"]] == [], "the daemon listens on a unix socket"
    listening = [s for s in kernel_inet if s["state"] == "0A"]
    assert len(listening) >= 5  # shell, iopub, stdin, control, hb
    assert all(s["local"].startswith("127.0.0.1:") for s in listening), listening
    record("security", "daemon_sockets", {"inet": len(inet), "unix": len(unix)})


# -- no shell -------------------------------------------------------------------------------

# Calls that run a command through a shell, whatever their arguments.
_SHELL_CALLS = {"os.system", "os.popen", "subprocess.getoutput", "subprocess.getstatusoutput",
                "asyncio.create_subprocess_shell", "create_subprocess_shell",
                "subprocess_shell", "pty.spawn"}
# Calls that run a shell when given one string instead of an argument list.
_STRING_IS_SHELL = {"anyio.open_process", "anyio.run_process", "open_process", "run_process"}
_PROCESS_CALLS = {"subprocess.Popen", "subprocess.run", "subprocess.call",
                  "subprocess.check_call", "subprocess.check_output", "Popen"}


def _name(node: ast.AST) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return f"{_name(node.value)}.{node.attr}"
    return ""


def _stringy(node: ast.AST) -> bool:
    return (isinstance(node, ast.Constant) and isinstance(node.value, str)) or isinstance(
        node, ast.JoinedStr | ast.BinOp) or (
        isinstance(node, ast.Call) and _name(node.func).endswith(".format"))


def shell_uses(source: str, filename: str) -> list[str]:
    """``file:line call`` of every call in ``source`` that may run a shell (one entry per
    call), or evaluates a string as code."""
    found = []
    for node in ast.walk(ast.parse(source, filename)):
        if not isinstance(node, ast.Call):
            continue
        name = _name(node.func)
        shell_kw = any(kw.arg == "shell" and not (isinstance(kw.value, ast.Constant)
                                                  and kw.value.value is False)
                       for kw in node.keywords)
        if (name in _SHELL_CALLS or name in ("eval", "exec") or shell_kw
                or (name.startswith("os.") and name.split(".")[-1] in ("system", "popen"))
                or ((name in _STRING_IS_SHELL or name in _PROCESS_CALLS) and node.args
                    and _stringy(node.args[0]))):
            found.append(f"{filename}:{node.lineno} {name}")
    return found


def test_no_shell_strings_in_the_code() -> None:
    root = Path(kernelbridge.__file__).parent
    files = sorted(root.rglob("*.py"))
    found = [use for path in files for use in shell_uses(path.read_text(), str(path))]
    assert found == []
    # The scan finds what it is meant to find.
    probe = ("import os, subprocess, anyio\nos.system('x')\nsubprocess.run('ls', shell=True)\n"
             "anyio.open_process(f'ls {x}')\nsubprocess.Popen(['ls'])\neval('1')\n")
    assert len(shell_uses(probe, "probe")) == 4
    record("security", "files_scanned_for_shell", len(files))


SHELLY = "a dir; touch {c}1 $(touch {c}2) `touch {c}3` | touch {c}4 & > '{c}5' \"x\" \\ *"


async def test_shell_metacharacters_are_data(tmp_path: Path) -> None:
    canary = str(tmp_path / "CANARY")
    # A shell given this directory name would touch CANARY<n> in its own cwd.
    weird = tmp_path / SHELLY.format(c="CANARY")
    weird.mkdir()
    with FakeKernel(tmp_path) as fake:
        linked = tmp_path / f"conn {weird.name}.json"
        shutil.copy(fake.connection_file, linked)
        linked.chmod(0o600)
        async with DaemonClient.spawn(DAEMON, env=daemon_env(), cwd=tmp_path,
                                      timeout=30) as daemon:
            for spec in (f"python3; touch {canary}", f"$(touch {canary})",
                         f"`touch {canary}`", f"python3 && touch {canary}", "../python3",
                         "python3\n"):
                with pytest.raises(RpcError) as error:
                    await daemon.request("kernelbridge/start", {"kernelspec": spec})
                assert error.value.code == 1006, spec
            value = SHELLY.format(c=canary)
            kernel = await start(daemon, cwd=str(weird), env={"KB_SHELLY": value})
            async with daemon.subscribe("kernelbridge/output") as outputs:
                await daemon.request("kernelbridge/execute", {
                    "kernelId": kernel["kernelId"],
                    "code": "import os; print(repr((os.getcwd(), os.environ['KB_SHELLY'])))"})
                (note,) = outputs.drain()
            connected = await daemon.request("kernelbridge/connect",
                                             {"connectionFile": str(linked)}, timeout=20)
    assert note["content"]["text"] == repr((str(weird), value)) + "\n"
    assert connected["connectionFile"] == str(linked)
    assert canaries(tmp_path, weird) == []


# -- client paths ---------------------------------------------------------------------------


def _write(path: Path, text: str, mode: int = 0o600) -> str:
    path.write_text(text)
    path.chmod(mode)
    return str(path)


async def test_bad_connection_files_get_clear_errors(tmp_path: Path) -> None:
    with FakeKernel(tmp_path) as fake:
        good = json.loads(fake.connection_file.read_text())
        fifo = tmp_path / "fifo.json"
        os.mkfifo(fifo)
        cases: list[tuple[str, int, str]] = [
            (str(tmp_path / "missing.json"), -32602, "does not exist"),
            ("missing-relative.json", -32602, f"({tmp_path}/missing-relative.json) does not"),
            (str(tmp_path), -32602, "is not a file"),
            (str(fifo), -32602, "is not a file"),
            ("/dev/zero", -32602, "is not a file"),
            ("bad\0name.json", -32602, "contains a NUL character"),
            (_write(tmp_path / "text.json", "not json"), 1009, "is not JSON"),
            (_write(tmp_path / "list.json", "[]"), 1009, "holds a JSON object"),
            (_write(tmp_path / "ports.json", json.dumps({**good, "hb_port": None})), 1009,
             "hb_port must be a port number"),
            (_write(tmp_path / "udp.json", json.dumps({**good, "transport": "udp"})), 1009,
             "unsupported transport"),
            (_write(tmp_path / "scheme.json", json.dumps({**good, "signature_scheme": "rot13"})),
             1009, "unsupported signature scheme"),
            (_write(tmp_path / "big.json", " " * 100_000 + json.dumps(good)), 1009,
             "too big"),
            (_write(tmp_path / "open.json", json.dumps(good), 0o666), 1009,
             "writable by every user"),
        ]
        if os.getuid() == 0:
            other = _write(tmp_path / "other.json", json.dumps(good))
            os.chown(other, 65534, 65534)
            cases.append((other, 1009, "belongs to another user (uid 65534)"))
        home = tmp_path / "home"
        home.mkdir()
        shutil.copy(fake.connection_file, home / "k.json")
        (home / "k.json").chmod(0o600)
        async with DaemonClient.spawn(DAEMON, env=daemon_env(HOME=str(home)), cwd=tmp_path,
                                      timeout=30) as daemon:
            errors = []
            for path, code, words in cases:
                with pytest.raises(RpcError) as error:
                    with anyio.fail_after(10):  # a FIFO or /dev/zero must not hang it
                        await daemon.request("kernelbridge/connect", {"connectionFile": path})
                errors.append(error.value)
                assert error.value.code == code, (path, error.value)
                assert words in str(error.value), (path, str(error.value))
                assert error.value.data["type"] == ("InvalidArgument" if code == -32602
                                                    else "ConnectionFileError")
            assert await daemon.request("kernelbridge/kernels") == []
            # ~ and relative paths work, and the kernel lists the absolute path.
            by_home = await daemon.request("kernelbridge/connect",
                                           {"connectionFile": "~/k.json"}, timeout=20)
            assert by_home["connectionFile"] == str(home / "k.json")
            await daemon.request("kernelbridge/shutdown", {"kernelId": by_home["kernelId"]})
            relative = await daemon.request("kernelbridge/connect", {
                "connectionFile": fake.connection_file.name}, timeout=20)
            assert relative["connectionFile"] == str(fake.connection_file)
    record("security", "connection_file_errors", [str(e) for e in errors])


async def test_bad_cwd_gets_clear_errors(tmp_path: Path) -> None:
    a_file = tmp_path / "file.txt"
    a_file.write_text("x")
    (tmp_path / "sub").mkdir()
    async with DaemonClient.spawn(DAEMON, env=daemon_env(), cwd=tmp_path, timeout=30) as daemon:
        for cwd, words in ((str(tmp_path / "nope"), "does not exist"),
                           (str(a_file), "is not a directory"),
                           ("nope", f"'nope' ({tmp_path}/nope) does not exist"),
                           ("a\0b", "contains a NUL character")):
            with pytest.raises(RpcError) as error:
                await daemon.request("kernelbridge/start", {"kernelspec": "python3", "cwd": cwd})
            assert error.value.code == -32602 and words in str(error.value), str(error.value)
            assert error.value.data == {"type": "InvalidArgument"}
        kernel = await start(daemon, cwd="sub")
        async with daemon.subscribe("kernelbridge/output") as outputs:
            await daemon.request("kernelbridge/execute", {
                "kernelId": kernel["kernelId"], "code": "import os; print(os.getcwd())"})
            (note,) = outputs.drain()
    assert note["content"]["text"] == f"{tmp_path / 'sub'}\n"
