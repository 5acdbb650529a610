"""Connection info: the ports, transport and key of a kernel, and its connection file."""

from __future__ import annotations

import contextlib
import os
import secrets
import socket
import stat
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import orjson

from ._errors import ConnectionFileError
from ._message import new_id

Transport = Literal["tcp", "ipc"]
CHANNELS = ("shell", "iopub", "stdin", "control", "hb")


def new_key() -> str:
    """A random 256-bit signing key, hex encoded (as connection files store it)."""
    return secrets.token_hex(32)


def runtime_dir() -> Path:
    """Jupyter's runtime dir (where connection files live), created 0700 if missing."""
    from jupyter_core.paths import jupyter_runtime_dir

    path = Path(jupyter_runtime_dir())
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    return path


@dataclass(frozen=True, slots=True)
class ConnectionInfo:
    """Where a kernel listens and how its messages are signed.

    For tcp, ports are numbers on ``ip``; for ipc, ``ip`` is a path prefix and each channel
    listens on ``<ip>-<port>``, as jupyter_client does. ``repr`` never shows the key.
    """

    transport: Transport = "tcp"
    ip: str = "127.0.0.1"
    shell_port: int = 0
    iopub_port: int = 0
    stdin_port: int = 0
    control_port: int = 0
    hb_port: int = 0
    key: str = field(default_factory=new_key, repr=False)
    signature_scheme: str = "hmac-sha256"
    kernel_name: str = ""
    # The kernel's CurveZMQ public key, for kernels started with transport encryption.
    curve_publickey: str | None = field(default=None, repr=False)

    def url(self, channel: str) -> str:
        """The zmq endpoint of ``channel`` (one of shell, iopub, stdin, control, hb)."""
        port = getattr(self, f"{channel}_port")
        if self.transport == "ipc":
            return f"ipc://{self.ip}-{port}"
        host = f"[{self.ip}]" if ":" in self.ip else self.ip
        return f"tcp://{host}:{port}"

    def to_dict(self) -> dict[str, Any]:
        """The connection file's JSON fields."""
        return {
            "transport": self.transport,
            "ip": self.ip,
            **{f"{ch}_port": getattr(self, f"{ch}_port") for ch in CHANNELS},
            "key": self.key,
            "signature_scheme": self.signature_scheme,
            "kernel_name": self.kernel_name,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ConnectionInfo:
        """Connection info from a connection file's fields; raises ConnectionFileError."""
        if not isinstance(data, dict):
            raise ConnectionFileError("a connection file holds a JSON object")
        transport = data.get("transport", "tcp")
        if transport not in ("tcp", "ipc"):
            raise ConnectionFileError(f"unsupported transport {transport!r} (tcp or ipc)")
        ports = {}
        for ch in CHANNELS:
            port = data.get(f"{ch}_port")
            if type(port) is not int or not 0 < port < 65536:
                raise ConnectionFileError(f"{ch}_port must be a port number, not {port!r}")
            ports[f"{ch}_port"] = port
        key = data.get("key", "")
        scheme = data.get("signature_scheme", "hmac-sha256")
        if not isinstance(key, str) or not isinstance(scheme, str):
            raise ConnectionFileError("key and signature_scheme must be strings")
        if not scheme.startswith("hmac-"):
            raise ConnectionFileError(f"unsupported signature scheme {scheme!r}")
        ip = data.get("ip", "127.0.0.1")
        if not isinstance(ip, str) or not ip:
            raise ConnectionFileError("ip must be a non-empty string")
        return cls(
            transport=transport,
            ip=ip,
            key=key,
            signature_scheme=scheme,
            kernel_name=str(data.get("kernel_name", "")),
            curve_publickey=data.get("curve_publickey") or None,
            **ports,
        )

    @property
    def key_bytes(self) -> bytes:
        return self.key.encode()

    def ipc_paths(self) -> list[Path]:
        """The socket files an ipc kernel creates (empty for tcp)."""
        if self.transport != "ipc":
            return []
        return [Path(f"{self.ip}-{getattr(self, f'{ch}_port')}") for ch in CHANNELS]


def _free_tcp_ports(ip: str, count: int) -> list[int]:
    # Bind all at once so the kernel gets distinct ports; a small race with other
    # processes remains, as with every Jupyter client.
    family = socket.AF_INET6 if ":" in ip else socket.AF_INET
    sockets = []
    try:
        for _ in range(count):
            sock = socket.socket(family, socket.SOCK_STREAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((ip, 0))
            sockets.append(sock)
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def new_connection_info(
    transport: Transport = "tcp", ip: str = "", *, kernel_name: str = ""
) -> ConnectionInfo:
    """Connection info for a kernel we are about to start: free ports (tcp) or fresh
    socket paths in the runtime dir (ipc), and a random key."""
    if transport == "tcp":
        ip = ip or "127.0.0.1"
        ports = _free_tcp_ports(ip, len(CHANNELS))
    elif transport == "ipc":
        if not ip:
            # The kernel creates its sockets with its umask (often 0755, or 0775): in a
            # directory of their own, 0700, no other user can reach them whatever the
            # runtime dir's mode. Unix socket paths are limited to ~107 bytes: keep the
            # prefix short.
            private = runtime_dir() / f"kb-{new_id()[:12]}"
            private.mkdir(mode=0o700)
            ip = str(private / "k")
        ports = list(range(1, len(CHANNELS) + 1))
    else:
        raise ConnectionFileError(f"unsupported transport {transport!r} (tcp or ipc)")
    return ConnectionInfo(
        transport=transport,
        ip=ip,
        kernel_name=kernel_name,
        **{f"{ch}_port": port for ch, port in zip(CHANNELS, ports, strict=True)},
    )


def write_connection_file(info: ConnectionInfo, path: str | Path | None = None) -> Path:
    """Write ``info`` to ``path`` (default: a new ``kernel-<id>.json`` in the runtime dir),
    readable by the owner only (0600 from the moment it exists). Returns the path."""
    target = Path(path) if path is not None else runtime_dir() / f"kernel-kb-{new_id()}.json"
    target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    # Create under a temporary name with 0600 and rename, so no reader ever sees a
    # partial file or one with wider permissions.
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".kernel-", suffix=".tmp")
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(orjson.dumps(info.to_dict(), option=orjson.OPT_INDENT_2))
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return target


# A connection file is a few hundred bytes; anything much bigger is not one (and must
# not be read into memory whole).
MAX_CONNECTION_FILE_SIZE = 64 * 1024


def _check_trusted(path: str | Path, st: os.stat_result) -> None:
    """Refuse a file someone else could have written: whoever can write it chooses the
    ports we send code (and typed passwords) to. Root's files are trusted, as by ssh."""
    if st.st_mode & 0o002:
        raise ConnectionFileError(
            f"connection file {path} is writable by every user (mode {st.st_mode & 0o777:o}):"
            " anyone could redirect the connection; remove that permission (chmod o-w)")
    if st.st_uid not in (os.getuid(), 0):
        raise ConnectionFileError(
            f"connection file {path} belongs to another user (uid {st.st_uid}), who could"
            " redirect the connection; refusing it")


def read_connection_file(path: str | Path) -> ConnectionInfo:
    """The connection info in ``path``; raises ConnectionFileError (also for a file
    other users may write, or one too big to be a connection file)."""
    try:
        # O_NONBLOCK: a FIFO given as a connection file must not block us in open().
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        except ValueError as exc:  # an embedded NUL byte
            raise ConnectionFileError(f"cannot read connection file {path!r}: {exc}") from None
        with os.fdopen(fd, "rb") as f:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode):
                raise ConnectionFileError(f"connection file {path} is not a regular file")
            _check_trusted(path, st)
            if st.st_size > MAX_CONNECTION_FILE_SIZE:
                raise ConnectionFileError(
                    f"connection file {path} is {st.st_size} bytes: too big to be one")
            data = orjson.loads(f.read(MAX_CONNECTION_FILE_SIZE + 1))
    except OSError as exc:
        raise ConnectionFileError(f"cannot read connection file {path}: {exc.strerror}") from None
    except orjson.JSONDecodeError as exc:
        raise ConnectionFileError(f"connection file {path} is not JSON: {exc}") from None
    return ConnectionInfo.from_dict(data)


def remove_connection_files(info: ConnectionInfo, path: str | Path | None) -> None:
    """Remove a kernel's connection file and ipc socket files; missing ones are fine."""
    for p in [*([Path(path)] if path else []), *info.ipc_paths()]:
        with contextlib.suppress(FileNotFoundError):
            p.unlink()
    if info.transport == "ipc":
        private = Path(info.ip).parent
        if private.name.startswith("kb-") and private.parent == runtime_dir():
            with contextlib.suppress(OSError):  # not empty (not ours after all), or gone
                private.rmdir()

