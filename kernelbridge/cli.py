"""The ``kernelbridge`` command line.

``kernelbridge --stdio`` is the daemon an editor starts. ``exec`` and ``run`` are scripts
on top of it: they spawn a daemon, drive it over JSON-RPC with ``kernelbridge.client``
(the same protocol an editor speaks) and print the kernel's output as it arrives.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import argparse


class TerminalOutput:
    """Prints ``kernelbridge/output`` notifications the way a terminal shows a script's
    output: streams as they are, results and displays as text, errors as tracebacks.
    (Colours are kept or stripped by the daemon: ``output.ansi``.)"""

    def _write(self, text: str, err: bool = False) -> None:
        out = sys.stderr if err else sys.stdout
        out.write(text)
        out.flush()

    def __call__(self, params: dict[str, Any]) -> None:
        content = params.get("content", {})
        kind = params.get("type")
        if kind == "stream":
            self._write(content.get("text", ""), err=content.get("name") == "stderr")
        elif kind in ("execute_result", "display_data"):
            data = content.get("data", {})
            text = data.get("text/plain")
            if text is None:
                text = f"<{', '.join(sorted(data))}>"
            self._write(text + "\n")
        elif kind == "error":
            self._write("\n".join(content.get("traceback", [])) + "\n", err=True)


async def _answer_input(params: dict[str, Any]) -> dict[str, Any]:
    import getpass

    import anyio.to_thread

    ask = getpass.getpass if params.get("password") else input
    try:
        value = await anyio.to_thread.run_sync(ask, params.get("prompt", ""))
    except EOFError:
        value = ""
    return {"value": value}


def _daemon_command() -> list[str]:
    return [sys.executable, "-m", "kernelbridge", "--stdio"]


async def _session(kernelspec: str, code: str | None, document: dict[str, Any] | None
                   ) -> int:
    """Start a daemon and a kernel, run ``code`` or the document's cells; 0 or 1."""
    from kernelbridge.client import DaemonClient

    # Not a terminal: the daemon strips ANSI colours from what it sends.
    options = {"output": {"ansi": "keep" if sys.stdout.isatty() else "strip"}}
    async with DaemonClient.spawn(_daemon_command(), stderr=sys.stderr,
                                  initialization_options=options) as daemon:
        daemon.on_notification("kernelbridge/output", TerminalOutput())
        daemon.on_request("kernelbridge/input", _answer_input)
        start: dict[str, Any] = {"kernelspec": kernelspec}
        sources: list[str] = [] if code is None else [code]
        if document is not None:
            cwd = document.pop("cwd")
            daemon.notify("textDocument/didOpen", {"textDocument": document})
            start.update(uri=document["uri"], cwd=cwd)
            # The daemon owns cell parsing, for editors and this script alike.
            cells = await daemon.request("kernelbridge/cells", {"uri": document["uri"]})
            sources = [c["code"] for c in cells if c["kind"] == "code" and c["code"].strip()]
        kernel = await daemon.request("kernelbridge/start", start, timeout=120)
        for source in sources:
            result = await daemon.request("kernelbridge/execute", {
                "kernelId": kernel["kernelId"], "code": source, "allowStdin": True})
            if result["status"] != "ok":
                return 1
    return 0


def _run_session(kernelspec: str, *, code: str | None = None,
                 document: dict[str, Any] | None = None) -> int:
    import anyio

    from kernelbridge.client import ClientError

    try:
        return anyio.run(_session, kernelspec, code, document)
    except ClientError as exc:
        print(f"kernelbridge: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


def _kernelspecs(_: argparse.Namespace) -> int:
    from kernelbridge.jupyter import find_kernelspecs

    for spec in find_kernelspecs():
        print(f"{spec.name:<20} {spec.language:<10} {spec.display_name}")
    return 0


def _exec(args: argparse.Namespace) -> int:
    return _run_session(args.kernel, code=args.code)


def _run(args: argparse.Namespace) -> int:
    path = Path(args.file)
    if not path.is_file():
        print(f"kernelbridge: {args.file}: no such file", file=sys.stderr)
        return 2
    path = path.resolve()
    # An empty languageId: the daemon tells the language from the file's extension.
    document = {"uri": path.as_uri(), "languageId": "", "version": 1,
                "text": path.read_text(encoding="utf-8"), "cwd": str(path.parent)}
    return _run_session(args.kernel, document=document)


def _serve(log_level: str) -> int:
    import logging

    from kernelbridge import _startup

    _startup.begin()  # cheap garbage collections until initialize is answered

    logging.basicConfig(level=log_level.upper(), stream=sys.stderr,
                        format="kernelbridge %(levelname)s %(name)s: %(message)s")
    # pygls logs every bad request with a traceback; kernelbridge answers and logs them.
    logging.getLogger("pygls").setLevel(max(logging.WARNING, logging.root.level))
    logging.getLogger("pygls.protocol.json_rpc").setLevel(logging.CRITICAL)
    from kernelbridge.server import run_stdio

    return run_stdio()


def _log_level_default() -> str:
    return os.environ.get("KERNELBRIDGE_LOG", "WARNING")


def main(argv: Sequence[str] | None = None) -> int:
    args_list = sys.argv[1:] if argv is None else list(argv)
    if args_list == ["--stdio"]:
        # What an editor runs: serve without building the parser (argparse and its
        # subcommands are a few ms of the daemon's start-up).
        return _serve(_log_level_default())
    import argparse

    parser = argparse.ArgumentParser(prog="kernelbridge", description=__doc__)
    parser.add_argument("--stdio", action="store_true",
                        help="serve one editor over JSON-RPC on stdin/stdout (the daemon)")
    parser.add_argument("--log-level", default=_log_level_default(),
                        help="level of the daemon's log on stderr (WARNING)")
    sub = parser.add_subparsers(dest="command")
    sub.add_parser("kernelspecs", help="list installed kernelspecs").set_defaults(
        func=_kernelspecs)
    p = sub.add_parser("exec", help="run CODE in a fresh kernel (through a daemon) and "
                       "print its output")
    p.add_argument("-k", "--kernel", default="python3", help="kernelspec name (python3)")
    p.add_argument("code")
    p.set_defaults(func=_exec)
    p = sub.add_parser("run", help="run FILE's '# %%%%' cells (or the whole file) in a fresh "
                       "kernel, streaming output; exit status 1 when a cell fails")
    p.add_argument("-k", "--kernel", default="python3", help="kernelspec name (python3)")
    p.add_argument("file")
    p.set_defaults(func=_run)
    args = parser.parse_args(args_list)
    if args.stdio:
        return _serve(args.log_level)
    if args.command is None:
        parser.error("a command or --stdio is required")
    return args.func(args)
