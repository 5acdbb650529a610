"""The ``kernelbridge`` command line."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence


def _kernelspecs(_: argparse.Namespace) -> int:
    from kernelbridge.jupyter import find_kernelspecs

    for spec in find_kernelspecs():
        print(f"{spec.name:<20} {spec.language:<10} {spec.display_name}")
    return 0


def _exec(args: argparse.Namespace) -> int:
    import anyio

    from kernelbridge.jupyter import JupyterError, start_kernel

    async def run() -> int:
        async with start_kernel(args.kernel) as kernel:
            result = await kernel.client.run(args.code)
            for msg in result.outputs:
                content = msg.content
                if msg.msg_type == "stream":
                    out = sys.stdout if content["name"] == "stdout" else sys.stderr
                    out.write(content["text"])
                elif msg.msg_type in ("execute_result", "display_data"):
                    print(content["data"].get("text/plain", ""))
                elif msg.msg_type == "error":
                    print("\n".join(content["traceback"]), file=sys.stderr)
            return 0 if result.status == "ok" else 1

    try:
        return anyio.run(run)
    except JupyterError as exc:
        print(f"kernelbridge: {exc}", file=sys.stderr)
        return 2


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="kernelbridge", description=__doc__)
    parser.add_argument("--stdio", action="store_true",
                        help="serve one editor over JSON-RPC on stdin/stdout (the daemon)")
    parser.add_argument("--log-level", default="WARNING",
                        help="log level of the daemon's stderr log (WARNING)")
    sub = parser.add_subparsers(dest="command")
    sub.add_parser("kernelspecs", help="list installed kernelspecs").set_defaults(
        func=_kernelspecs
    )
    p = sub.add_parser("exec", help="run CODE in a fresh kernel and print its output")
    p.add_argument("-k", "--kernel", default="python3", help="kernelspec name (python3)")
    p.add_argument("code")
    p.set_defaults(func=_exec)
    args = parser.parse_args(argv)
    if args.stdio:
        import logging

        logging.basicConfig(level=args.log_level.upper(), stream=sys.stderr,
                            format="kernelbridge %(levelname)s %(name)s: %(message)s")
        # pygls logs every bad request with a traceback; kernelbridge answers and logs them.
        logging.getLogger("pygls").setLevel(max(logging.WARNING, logging.root.level))
        logging.getLogger("pygls.protocol.json_rpc").setLevel(logging.CRITICAL)
        from kernelbridge.server import run_stdio

        return run_stdio()
    if args.command is None:
        parser.error("a command or --stdio is required")
    return args.func(args)
