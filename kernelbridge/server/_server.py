"""The kernelbridge language server: one editor connection, the bridge behind it.

``KernelBridgeServer.serve`` owns everything: the reader of the editor's messages, the
writer task, request handlers, signal handling and the bridge with its kernels. It
returns after ``exit``, end of input, SIGTERM or SIGINT, once every kernel the daemon
started has been shut down.

It serves in two steps. Until ``initialize`` is answered (the handshake) it runs on bare
asyncio: the reader callback, pygls's synchronous initialize, and a direct write of the
response. Only then does it make its first anyio call, which imports anyio's asyncio
backend (~30 ms), and start the task groups: the editor has its answer by then
(bench/: start-up). Messages that arrive meanwhile wait, in order, for the second step.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import uuid
from typing import Any

import anyio
from lsprotocol import types
from pygls.lsp.server import LanguageServer

from kernelbridge import __version__, _startup
from kernelbridge.bridge import Bridge, CellRunner, OutputItem

from ._options import ServerOptions
from ._params import make_converter
from ._protocol import KernelBridgeProtocol
from ._transport import FdReader, FdWriter, FramingError, message_feeder

log = logging.getLogger("kernelbridge.server")

# Seconds the daemon gives its kernels to shut down before it exits anyway (they also
# exit by themselves through JPY_PARENT_PID when the daemon is gone).
_CLOSE_DEADLINE = 10.0


class EditorChannel:
    """The bridge's ``EditorSink``: what the kernels say, as notifications and requests
    to the editor. Output items go to the outbox, which merges and numbers them and
    renders them without cattrs (``render_output``)."""

    def __init__(self, protocol: KernelBridgeProtocol) -> None:
        self.protocol = protocol

    def output(self, item: OutputItem) -> None:
        self.protocol.outbox.put_output(item)

    def status(self, kernel_id: str, state: str, execution_id: str | None = None,
               reason: str | None = None, exit_code: int | None = None) -> None:
        params: dict[str, Any] = {"kernelId": kernel_id, "state": state}
        if execution_id:
            params["executionId"] = execution_id
        if reason:
            params["reason"] = reason
        if exit_code is not None:
            params["exitCode"] = exit_code
        self.protocol.send_notification("kernelbridge/status", params)

    async def request_input(self, kernel_id: str, execution_id: str, prompt: str,
                            password: bool) -> str:
        """Ask the editor (``kernelbridge/input``); cancelled when the kernel stops waiting,
        in which case the editor gets ``$/cancelRequest`` for it."""
        msg_id = f"input-{uuid.uuid4()}"
        params = {"kernelId": kernel_id, "executionId": execution_id, "prompt": prompt,
                  "password": password}
        future = self.protocol.send_request("kernelbridge/input", params, msg_id=msg_id)
        try:
            result = await asyncio.wrap_future(future)
        except anyio.get_cancelled_exc_class():
            # The kernel stopped waiting (interrupt, death): close the editor's prompt.
            self.protocol._request_futures.pop(msg_id, None)
            self.protocol.send_notification("$/cancelRequest", {"id": msg_id})
            raise
        value = result.get("value") if isinstance(result, dict) else None
        if not isinstance(value, str):
            raise ValueError("kernelbridge/input must answer {value: string}")
        return value


class KernelBridgeServer(LanguageServer):
    """pygls LanguageServer with kernelbridge's protocol, options and bridge."""

    protocol: KernelBridgeProtocol

    def __init__(self) -> None:
        from ._cellfeatures import CellChannel
        from ._features import register_features

        super().__init__(
            "kernelbridge",
            __version__,
            text_document_sync_kind=types.TextDocumentSyncKind.Incremental,
            protocol_cls=KernelBridgeProtocol,
            converter_factory=make_converter,
        )
        self.options = ServerOptions()
        self.channel = EditorChannel(self.protocol)
        self.bridge = Bridge(self.channel, self.options.bridge_options())
        self.cell_runner = CellRunner(self.bridge, CellChannel(self))
        # Messages received after initialize, until serve's task groups run (see serve).
        self._held: list[dict[str, Any] | FramingError] | None = None
        self._handshake: asyncio.Future[None] | None = None
        register_features(self)

    def configure(self, options: ServerOptions) -> None:
        """Take the options read from ``initialize`` (before any kernel exists)."""
        self.options = options
        self.bridge.options = options.bridge_options()
        self.protocol.outbox.coalesce_window = options.output.coalesce_window

    async def serve(self, read_fd: int = 0, write_fd: int = 1, *,
                    handle_signals: bool = True) -> int:
        """Serve one editor on ``read_fd``/``write_fd`` (pipes, sockets or files) until
        exit; returns the exit code. ``handle_signals``: stop on SIGTERM/SIGINT/SIGHUP."""
        protocol = self.protocol
        loop = asyncio.get_running_loop()
        writer = FdWriter(write_fd)
        protocol.outbox.write_directly(writer)
        self._held = []
        handshake = loop.create_future()
        self._handshake = handshake
        signals = self._watch_signals(loop) if handle_signals else []
        # A plain task, owned here (cancelled and awaited below): the handshake runs
        # before any task group exists.
        reading = loop.create_task(self._read(FdReader(read_fd)))
        stopped = loop.create_task(protocol.stopped.wait())
        try:
            await asyncio.wait([handshake, stopped], return_when=asyncio.FIRST_COMPLETED)
            _startup.end()  # the daemon serves: freeze the start-up heap
            async with anyio.create_task_group() as tg:
                await tg.start(self.bridge.serve)
                tg.start_soon(protocol.outbox.run_writer, writer, lambda: protocol.stop(0))
                async with anyio.create_task_group() as handlers:
                    protocol.attach(handlers)
                    self._release_held()
                    await stopped
                    reading.cancel()  # nothing more is handled once stopping
                    handlers.cancel_scope.cancel()
                with anyio.CancelScope(shield=True):
                    await protocol.stop_requests()
                with anyio.CancelScope(shield=True), anyio.move_on_after(_CLOSE_DEADLINE):
                    await self.bridge.close()
                protocol.outbox.close()
                with anyio.CancelScope(shield=True):
                    await protocol.outbox.drain(2.0)
                tg.cancel_scope.cancel()
        finally:
            for signum in signals:
                loop.remove_signal_handler(signum)
            for task in (reading, stopped):
                task.cancel()
            await asyncio.wait([reading, stopped])
        return protocol.exit_code

    async def _read(self, reader: FdReader) -> None:
        try:
            await reader.run(message_feeder(self._receive))
        except Exception:
            log.exception("reading the editor's input failed: stopping")
            self.protocol.stop(1)
            return
        # The editor went away: a clean stop (its kernels are shut down all the same).
        log.info("end of input: stopping")
        self.protocol.stop(0)

    def _receive(self, item: dict[str, Any] | FramingError) -> None:
        held = self._held
        if held is not None and self.protocol.initialize_seen:
            held.append(item)  # the handshake is over: handled once serving (serve)
            return
        protocol = self.protocol
        try:
            if isinstance(item, dict):
                protocol.receive(item)
            else:
                protocol.receive_error(item)
        except Exception:  # a bug must not stop the daemon: log it, go on
            log.exception("error while handling a message")
        if held is not None and protocol.initialize_seen and not self._handshake.done():
            self._handshake.set_result(None)

    def _release_held(self) -> None:
        """Handle what arrived after ``initialize`` and before the task groups existed."""
        held, self._held = self._held, None
        for item in held or ():
            self._receive(item)

    def _watch_signals(self, loop: asyncio.AbstractEventLoop) -> list[int]:
        """Stop on SIGTERM, SIGINT, SIGHUP; returns the signals to unregister."""
        def on_signal(signum: int) -> None:
            log.info("signal %s: stopping", signum)
            self.protocol.stop(128 + signum)

        signals = [signal.SIGTERM, signal.SIGINT, signal.SIGHUP]
        for signum in signals:
            loop.add_signal_handler(signum, on_signal, signum)
        return signals


def run_stdio() -> int:
    """``kernelbridge --stdio``: serve the editor on stdin/stdout.

    stdout is the JSON-RPC stream: it is moved to a private descriptor and fd 1 is
    pointed at stderr, so a stray print (ours, a library's, a child's) cannot corrupt it.
    """
    import os
    import sys

    out_fd = os.dup(1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    in_fd = os.dup(0)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)

    async def main() -> int:
        return await KernelBridgeServer().serve(in_fd, out_fd)

    # asyncio.run, not anyio.run: anyio's would import its backend before the handshake.
    with contextlib.suppress(KeyboardInterrupt):
        return asyncio.run(main())
    return 130
