"""Connection info and connection files."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import orjson
import pytest

from kernelbridge.jupyter import (
    ConnectionFileError,
    ConnectionInfo,
    new_connection_info,
    new_key,
    read_connection_file,
    remove_connection_files,
    runtime_dir,
    write_connection_file,
)


def test_keys_are_random_256_bit() -> None:
    keys = {new_key() for _ in range(100)}
    assert len(keys) == 100
    assert all(len(bytes.fromhex(k)) == 32 for k in keys)


def test_tcp_info_has_distinct_free_ports() -> None:
    info = new_connection_info("tcp")
    ports = [info.shell_port, info.iopub_port, info.stdin_port, info.control_port, info.hb_port]
    assert len(set(ports)) == 5
    assert all(p > 0 for p in ports)
    assert info.url("shell") == f"tcp://127.0.0.1:{info.shell_port}"


def test_ipc_info_lives_in_runtime_dir() -> None:
    info = new_connection_info("ipc")
    assert info.transport == "ipc"
    # In a directory of its own that only we may enter: the kernel's umask makes the
    # sockets themselves.
    private = Path(info.ip).parent
    assert private.parent == runtime_dir()
    assert private.stat().st_mode & 0o777 == 0o700
    assert info.url("hb") == f"ipc://{info.ip}-{info.hb_port}"
    assert len(info.url("control")) < 100  # unix socket paths are short


def test_ipv6_url() -> None:
    info = ConnectionInfo(ip="::1", shell_port=5)
    assert info.url("shell") == "tcp://[::1]:5"


def test_file_is_0600_in_runtime_dir_and_round_trips() -> None:
    info = new_connection_info("tcp", kernel_name="python3")
    path = write_connection_file(info)
    assert path.parent == runtime_dir()
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert read_connection_file(path) == info
    data = orjson.loads(path.read_bytes())
    assert data["signature_scheme"] == "hmac-sha256"
    assert data["key"] == info.key
    remove_connection_files(info, path)
    assert not path.exists()


def test_no_temporary_files_left(tmp_path: Path) -> None:
    write_connection_file(new_connection_info(), tmp_path / "k.json")
    assert [p.name for p in tmp_path.iterdir()] == ["k.json"]


def test_key_not_in_repr() -> None:
    info = new_connection_info()
    assert info.key not in repr(info)


def test_remove_ipc_socket_files(tmp_path: Path) -> None:
    info = ConnectionInfo(transport="ipc", ip=str(tmp_path / "kb"), shell_port=1, iopub_port=2,
                          stdin_port=3, control_port=4, hb_port=5)
    for p in info.ipc_paths():
        p.touch()
    remove_connection_files(info, None)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("data,message", [
    ({"transport": "udp"}, "transport"),
    ({"shell_port": "x"}, "shell_port"),
    ({"shell_port": 70000}, "shell_port"),
    ({"signature_scheme": "rsa"}, "signature scheme"),
    ({"key": 5}, "key"),
    ({"ip": ""}, "ip"),
])
def test_invalid_files_raise_a_clear_error(tmp_path: Path, data: dict, message: str) -> None:
    base = new_connection_info().to_dict()
    path = tmp_path / "bad.json"
    path.write_bytes(orjson.dumps({**base, **data}))
    with pytest.raises(ConnectionFileError, match=message):
        read_connection_file(path)


def test_unreadable_and_non_json_files(tmp_path: Path) -> None:
    with pytest.raises(ConnectionFileError, match="cannot read"):
        read_connection_file(tmp_path / "missing.json")
    (tmp_path / "x.json").write_text("{nope")
    with pytest.raises(ConnectionFileError, match="not JSON"):
        read_connection_file(tmp_path / "x.json")
    (tmp_path / "y.json").write_text("[]")
    with pytest.raises(ConnectionFileError, match="object"):
        read_connection_file(tmp_path / "y.json")


def test_reads_files_written_by_jupyter_client(tmp_path: Path) -> None:
    from jupyter_client.connect import write_connection_file as jc_write

    path, cfg = jc_write(str(tmp_path / "jc.json"), key=b"secret", transport="tcp")
    info = read_connection_file(path)
    assert info.key == "secret"
    assert info.shell_port == cfg["shell_port"]
