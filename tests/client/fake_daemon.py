"""A tiny stand-in for ``kernelbridge --stdio``, for the client's process tests.

Standard library only and blocking I/O, so it shares no code with the client it tests.
Speaks LSP base framing on stdin/stdout and knows these methods:

- ``initialize`` → ``{capabilities, serverInfo}``; ``initialized`` is ignored.
- ``test/echo`` → its params.
- ``test/notify`` ``{count}`` → sends ``test/note {i}`` for i < count, then answers count.
- ``test/ask`` ``{prompt}`` → asks the client ``kernelbridge/input``, answers the value.
- ``test/crash`` ``{code}`` → writes to stderr and exits with ``code``, never answering.
- ``test/stderr`` ``{bytes}`` → writes that many bytes to stderr (tests the drain), answers.
- ``shutdown`` → null; ``exit`` → exits 0 (1 without a shutdown before).

With ``--ignore-exit`` it ignores ``exit``, SIGTERM and the end of stdin, so only SIGKILL
ends it. With ``--leak-stdout`` it starts a child that inherits its stdio and lives until
its stdin ends, as a kernel that inherited the daemon's stdout would: the client then
sees no EOF when the daemon dies.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from typing import Any

IGNORE_EXIT = "--ignore-exit" in sys.argv
stdin = sys.stdin.buffer
stdout = sys.stdout.buffer


def read_message() -> dict[str, Any] | None:
    length = None
    while True:
        line = stdin.readline()
        if not line:
            return None
        line = line.strip()
        if not line:
            break
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    assert length is not None
    return json.loads(stdin.read(length))


def send(message: dict[str, Any]) -> None:
    body = json.dumps(message).encode()
    stdout.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
    stdout.flush()


def respond(request: dict[str, Any], result: Any) -> None:
    send({"jsonrpc": "2.0", "id": request["id"], "result": result})


def main() -> int:
    if IGNORE_EXIT:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    if "--leak-stdout" in sys.argv:
        subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.buffer.read()"])
    shut_down = False
    while True:
        message = read_message()
        if message is None:
            break
        method = message.get("method")
        params = message.get("params") or {}
        if method == "initialize":
            respond(message, {"capabilities": {"fake": True},
                              "serverInfo": {"name": "fake-daemon", "version": "0"},
                              "echo": params})
        elif method == "test/echo":
            respond(message, params)
        elif method == "test/notify":
            for i in range(params["count"]):
                send({"jsonrpc": "2.0", "method": "test/note", "params": {"i": i}})
            respond(message, params["count"])
        elif method == "test/ask":
            send({"jsonrpc": "2.0", "id": "ask-1", "method": "kernelbridge/input",
                  "params": {"kernelId": "k", "executionId": "e", "prompt": params["prompt"],
                             "password": False}})
            reply = read_message()
            assert reply is not None and reply.get("id") == "ask-1", reply
            respond(message, reply.get("result", reply.get("error")))
        elif method == "test/crash":
            sys.stderr.write("fake daemon: crashing on request\n")
            sys.stderr.flush()
            os._exit(params.get("code", 3))
        elif method == "test/stderr":
            sys.stderr.write("x" * params["bytes"] + "\nend of stderr\n")
            sys.stderr.flush()
            respond(message, None)
        elif method == "shutdown":
            shut_down = True
            respond(message, None)
        elif method == "exit":
            if not IGNORE_EXIT:
                return 0 if shut_down else 1
        elif "id" in message:
            send({"jsonrpc": "2.0", "id": message["id"],
                  "error": {"code": -32601, "message": f"unknown method {method}"}})
    if IGNORE_EXIT:
        while True:
            time.sleep(3600)
    return 0


if __name__ == "__main__":
    sys.exit(main())
