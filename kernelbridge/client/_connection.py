"""``DaemonClient``: a JSON-RPC 2.0 peer of the daemon over a pair of byte streams.

Design, and why:

- One reader task reads big chunks, decodes them with :class:`FrameDecoder` and dispatches
  each message synchronously (resolve a pending request, call notification callbacks,
  feed subscriptions). Nothing on that path awaits, so the reader keeps up with floods of
  kernel output; only server-to-client *requests* get a task of their own, since their
  handlers may await (ask a user for input). With a spawned daemon on asyncio the reading
  is done by a reader callback on the pipe instead (no task wake-up per chunk).
- One writer task owns the send stream. Senders enqueue whole encoded frames on an
  unbounded memory stream, so a caller cancelled mid-send can never leave half a frame on
  the wire, ``notify`` can be synchronous, and the writer can batch queued frames into one
  write. Ordering is the order of the calls. With a spawned daemon, a frame sent while
  the writer is idle with nothing queued is written at once, synchronously (what does not
  fit in the pipe is queued for the writer), which is the same order without the hop.
- Both tasks (and the handler tasks) live in a task group owned by the ``connect`` /
  ``spawn`` context manager; leaving it stops them. Errors of the user's code inside the
  ``async with`` are re-raised as they are, not wrapped in an ``ExceptionGroup``.
- When the connection is lost every pending request fails at once with
  :class:`DaemonExited` (or :class:`ProtocolError`), new requests fail immediately, and
  subscriptions raise the same error after yielding what arrived before it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import os
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from typing import IO, Any

import anyio
from anyio.abc import ByteReceiveStream, ByteSendStream, TaskGroup
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from kernelbridge._aio import asyncio_loop

from ._errors import (
    INTERNAL_ERROR,
    METHOD_NOT_FOUND,
    REQUEST_CANCELLED,
    ClientError,
    DaemonExited,
    ProtocolError,
    RequestTimeout,
    RpcError,
)
from ._fdstream import FdReceiveStream, FdSendStream
from ._framing import FrameDecoder, encode_message
from ._pending import Pending
from ._process import DaemonProcess
from ._subscription import Subscription

__all__ = [
    "DEFAULT_CAPABILITIES",
    "DaemonClient",
    "NotificationCallback",
    "RequestHandler",
]

log = logging.getLogger("kernelbridge.client")

NotificationCallback = Callable[[Any], None]
RequestHandler = Callable[[Any], Awaitable[Any]]

#: Client capabilities sent in ``initialize`` unless the caller passes its own.
DEFAULT_CAPABILITIES: dict[str, Any] = {
    "general": {"positionEncodings": ["utf-16"]},
    "window": {"workDoneProgress": True},
}

#: Bytes asked of the stream per read: big, so a flood is a few reads, not thousands.
READ_CHUNK = 256 * 1024
#: How long a lost connection waits for the daemon's exit code and last stderr bytes
#: before failing pending requests, so the error can say why the daemon died.
EXIT_INFO_GRACE = 1.0
#: How long closing waits for queued frames to be written, and for the stream to close.
CLOSE_GRACE = 1.0
#: Frames the writer joins into one write at most (bounds the size of one write).
WRITE_BATCH = 256


async def _answer_null(params: Any) -> None:
    return None


async def _answer_configuration(params: Any) -> list[None]:
    # One entry per requested item; null means "no configuration for it".
    items = params.get("items") if isinstance(params, dict) else None
    return [None] * len(items) if isinstance(items, list) else []


#: Server requests answered without a user handler: the ones pygls-based servers send on
#: their own, whose neutral answer is null (or null per item).
DEFAULT_REQUEST_HANDLERS: dict[str, RequestHandler] = {
    "window/workDoneProgress/create": _answer_null,
    "workspace/configuration": _answer_configuration,
    "client/registerCapability": _answer_null,
    "client/unregisterCapability": _answer_null,
    "window/showMessageRequest": _answer_null,
}


class DaemonClient:
    """A JSON-RPC 2.0 client of the kernelbridge daemon (LSP base framing).

    Create it with :meth:`spawn` (starts ``kernelbridge --stdio``, does the LSP
    handshake, shuts the daemon down on exit) or :meth:`connect` (any byte streams; no
    handshake unless you call :meth:`initialize`). Both are async context managers that
    own the client's background tasks; the client is unusable after the block.

    Not thread-safe: use it from the event loop (and anyio backend) that entered it.
    """

    def __init__(
        self,
        receive: ByteReceiveStream,
        send: ByteSendStream,
        *,
        daemon: DaemonProcess | None = None,
    ) -> None:
        """Prefer :meth:`connect` / :meth:`spawn`; a bare instance has no running tasks."""
        self._receive = receive
        self._send = send
        self._daemon = daemon
        self._decoder = FrameDecoder()
        self._next_id = 1
        self._pending: dict[int, Pending] = {}
        self._callbacks: dict[str, tuple[NotificationCallback, ...]] = {}
        self._subscriptions: dict[str, tuple[Subscription, ...]] = {}
        self._handlers: dict[str, RequestHandler] = dict(DEFAULT_REQUEST_HANDLERS)
        self._server_requests: dict[Any, anyio.CancelScope] = {}
        self._out_send: MemoryObjectSendStream[bytes | anyio.Event]
        self._out_receive: MemoryObjectReceiveStream[bytes | anyio.Event]
        self._out_send, self._out_receive = anyio.create_memory_object_stream(math.inf)
        self._tg: TaskGroup | None = None
        self._loop: asyncio.AbstractEventLoop | None = None  # set while running on asyncio
        self._error: ClientError | None = None  # set once: why the client is unusable
        self._closing = False  # we asked for the end: losing the stream is no error
        self._clean = False  # the connection ended because we closed it
        self._reader_done = anyio.Event()
        # Set while the writer task waits on an empty queue and the send stream can be
        # written synchronously (see _enqueue).
        self._direct_send: FdSendStream | None = None
        #: The ``initialize`` result (empty before :meth:`initialize`).
        self.initialize_result: dict[str, Any] = {}

    # -- construction ---------------------------------------------------------------------

    @classmethod
    @contextlib.asynccontextmanager
    async def connect(
        cls, receive: ByteReceiveStream, send: ByteSendStream
    ) -> AsyncIterator[DaemonClient]:
        """Run a client over ``receive`` / ``send`` (for tests with an in-process peer,
        sockets, pipes). No handshake is made: call :meth:`initialize` and
        :meth:`shutdown` yourself if the peer expects them. On exit, queued messages are
        flushed (for at most a second) and both streams are closed."""
        client = cls(receive, send)
        async with client._running():
            yield client

    @classmethod
    @contextlib.asynccontextmanager
    async def spawn(
        cls,
        command: Sequence[str] | None = None,
        *,
        env: Mapping[str, str] | None = None,
        cwd: str | os.PathLike[str] | None = None,
        initialization_options: dict[str, Any] | None = None,
        capabilities: dict[str, Any] | None = None,
        timeout: float = 30,
        shutdown_timeout: float = 10,
        stderr: int | IO[Any] | None = None,
    ) -> AsyncIterator[DaemonClient]:
        """Start the daemon, handshake, yield the client; on exit shut it down.

        ``command`` defaults to ``[sys.executable, "-m", "kernelbridge", "--stdio"]``.
        ``env`` replaces the environment, as in ``subprocess`` (pass
        ``{**os.environ, ...}`` to extend it). ``stderr`` defaults to a captured tail
        (:attr:`stderr_tail`, and part of :class:`DaemonExited` messages); pass
        ``subprocess.DEVNULL``, a file, or ``sys.stderr`` to route it elsewhere.
        ``timeout`` bounds start-up and ``initialize`` (:class:`RequestTimeout`).

        On exit (also on error or cancellation): ``shutdown`` then ``exit``, then wait up
        to ``shutdown_timeout`` s for the process to end, then SIGTERM, then SIGKILL.
        :attr:`returncode` holds the exit status afterwards.
        """
        if command is None:
            command = [sys.executable, "-m", "kernelbridge", "--stdio"]
        daemon = await DaemonProcess.start(
            command, env=env, cwd=None if cwd is None else os.fspath(cwd), stderr=stderr
        )
        try:
            client = cls(daemon.receive, daemon.send, daemon=daemon)
            async with client._running():
                initialized = False
                try:
                    await client.initialize(
                        initialization_options=initialization_options,
                        capabilities=capabilities,
                        timeout=timeout,
                    )
                    initialized = True
                    yield client
                finally:
                    # Inside the task group: the reader and the stderr drain still run
                    # while the daemon shuts down, so its last words are captured.
                    with anyio.CancelScope(shield=True):
                        await client._say_goodbye(shutdown_timeout, polite=initialized)
                        await daemon.stop(shutdown_timeout)
                        await daemon.wait_stderr_end()
        finally:
            with anyio.CancelScope(shield=True):
                await daemon.stop(shutdown_timeout)
                await daemon.aclose()

    # -- lifecycle --------------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def _running(self) -> AsyncIterator[None]:
        """Own the background tasks for the duration of the block."""
        body_error: Exception | None = None
        self._loop = asyncio_loop()
        async with anyio.create_task_group() as tg:
            self._tg = tg
            tg.start_soon(self._reader)
            tg.start_soon(self._writer)
            if self._daemon is not None:
                tg.start_soon(self._daemon.drain_stderr)
                tg.start_soon(self._watch_daemon)
            try:
                yield
            except Exception as exc:
                # Re-raised after the task group, so the caller sees their own exception
                # rather than an ExceptionGroup around it.
                body_error = exc
            finally:
                with anyio.CancelScope(shield=True):
                    await self._close_transport()
                tg.cancel_scope.cancel()
        if body_error is not None:
            raise body_error

    async def _close_transport(self) -> None:
        self._closing = True
        with anyio.move_on_after(CLOSE_GRACE):
            await self.flush()
        self._out_send.close()
        await self._close_send_stream()
        self._fail(ClientError("the client is closed"))

    async def _close_send_stream(self) -> None:
        with anyio.move_on_after(CLOSE_GRACE), contextlib.suppress(Exception):
            await self._send.aclose()

    async def _say_goodbye(self, timeout: float, *, polite: bool) -> None:
        """``shutdown`` + ``exit`` if the daemon is initialized and still there, then close
        its stdin (end of input also tells a daemon to go). A daemon that never answered
        ``initialize`` is not asked to shut down: it would not answer that either."""
        if polite and self._error is None:
            with contextlib.suppress(ClientError):
                await self.shutdown(timeout=timeout)
        self._closing = True
        await self._close_send_stream()

    async def initialize(
        self,
        *,
        initialization_options: dict[str, Any] | None = None,
        capabilities: dict[str, Any] | None = None,
        process_id: int | None = None,
        timeout: float | None = None,
    ) -> dict[str, Any]:
        """The LSP handshake: ``initialize`` (then the ``initialized`` notification).
        Returns the result, also kept as :attr:`initialize_result`, :attr:`server_info`
        and :attr:`capabilities`."""
        params: dict[str, Any] = {
            "processId": os.getpid() if process_id is None else process_id,
            "clientInfo": {"name": "kernelbridge.client"},
            "rootUri": None,
            "capabilities": DEFAULT_CAPABILITIES if capabilities is None else capabilities,
        }
        if initialization_options is not None:
            params["initializationOptions"] = initialization_options
        result = await self.request("initialize", params, timeout=timeout)
        self.initialize_result = result if isinstance(result, dict) else {}
        self.notify("initialized", {})
        return self.initialize_result

    async def shutdown(self, *, timeout: float | None = None) -> None:
        """The LSP goodbye: ``shutdown`` (await its answer), then the ``exit``
        notification, flushed to the daemon. (Not ``kernelbridge/shutdown``, which shuts
        a kernel down.)"""
        await self.request("shutdown", timeout=timeout)
        self._closing = True
        self.notify("exit")
        with anyio.move_on_after(timeout):
            await self.flush()

    @property
    def server_info(self) -> dict[str, Any] | None:
        """``serverInfo`` of the ``initialize`` result (name, version), if sent."""
        return self.initialize_result.get("serverInfo")

    @property
    def capabilities(self) -> dict[str, Any]:
        """The daemon's ``capabilities`` from the ``initialize`` result."""
        return self.initialize_result.get("capabilities") or {}

    @property
    def returncode(self) -> int | None:
        """The spawned daemon's exit status, once it exited (else, or not spawned: None)."""
        return None if self._daemon is None else self._daemon.returncode

    @property
    def stderr_tail(self) -> str:
        """The end of the spawned daemon's stderr, when captured (else "")."""
        return "" if self._daemon is None else self._daemon.stderr.text()

    @property
    def closed(self) -> bool:
        """True once the client cannot send requests any more."""
        return self._error is not None

    @property
    def exception(self) -> ClientError | None:
        """Why the connection ended, if it was lost (None while open, or after a normal
        close)."""
        return None if self._clean else self._error

    # -- client -> server -----------------------------------------------------------------

    async def request(
        self, method: str, params: Any = None, *, timeout: float | None = None
    ) -> Any:
        """Send a request and return its result.

        Raises :class:`RpcError` if the daemon answers an error, :class:`RequestTimeout`
        after ``timeout`` seconds, :class:`DaemonExited` / :class:`ProtocolError` if the
        connection is lost. If the waiting task is cancelled or times out,
        ``$/cancelRequest`` is sent for the request (its late response is ignored).
        """
        if self._error is not None:
            raise self._error.clone()
        request_id = self._next_id
        self._next_id += 1
        message: dict[str, Any] = {"jsonrpc": "2.0", "id": request_id, "method": method}
        if params is not None:
            message["params"] = params
        self._enqueue(encode_message(message))
        # Registered after the enqueue (which may raise): the response cannot overtake
        # it, the reader runs only once this task awaits.
        pending = Pending()
        self._pending[request_id] = pending
        try:
            await pending.wait(timeout)
        except TimeoutError:
            self._cancel_sent(request_id)
            raise RequestTimeout(f"no response to {method!r} within {timeout} s") from None
        except BaseException:
            if not pending.answered:
                self._cancel_sent(request_id)
            raise
        finally:
            self._pending.pop(request_id, None)
        if pending.error is not None:
            raise pending.error
        return pending.result

    def notify(self, method: str, params: Any = None) -> None:
        """Send a notification. Synchronous: the frame is queued for the writer task and
        goes out in call order relative to other notifications and requests (use
        :meth:`flush` to wait until it was written). Raises the connection's error if the
        client is closed or the connection lost."""
        if self._error is not None:
            raise self._error.clone()
        message: dict[str, Any] = {"jsonrpc": "2.0", "method": method}
        if params is not None:
            message["params"] = params
        self._enqueue(encode_message(message))

    async def flush(self) -> None:
        """Wait until everything queued so far was handed to the stream (no deadline of
        its own: wrap it in ``anyio.fail_after`` or ``move_on_after``). Returns at once if
        the writer is gone."""
        done = anyio.Event()
        try:
            self._out_send.send_nowait(done)
        except (anyio.BrokenResourceError, anyio.ClosedResourceError):
            return
        await done.wait()

    def _cancel_sent(self, request_id: int) -> None:
        if self._error is None:
            with contextlib.suppress(ClientError):
                self.notify("$/cancelRequest", {"id": request_id})

    def _enqueue(self, frame: bytes) -> None:
        direct = self._direct_send
        if direct is not None:
            try:
                written = direct.write_nowait(frame)
            except (OSError, anyio.ClosedResourceError):
                written = 0  # the writer task meets the same error and reports it
            if written == len(frame):
                return
            frame = frame[written:]
            self._direct_send = None  # the rest goes first: the writer owns the stream now
        try:
            self._out_send.send_nowait(frame)
        except (anyio.BrokenResourceError, anyio.ClosedResourceError):
            raise (self._error or ClientError("the client is closed")).clone() from None

    # -- handlers and subscriptions ----------------------------------------------------------

    def on_notification(self, method: str, callback: NotificationCallback) -> Callable[[], None]:
        """Call ``callback(params)`` for every ``method`` notification, in arrival order,
        from the reader task. It must be quick and must not block (it holds up all
        reading); an exception it raises is logged and ignored. Several callbacks per
        method are called in registration order. Returns a function that unregisters it."""
        self._callbacks[method] = (*self._callbacks.get(method, ()), callback)

        def remove() -> None:
            callbacks = list(self._callbacks.get(method, ()))
            with contextlib.suppress(ValueError):
                callbacks.remove(callback)
            if callbacks:
                self._callbacks[method] = tuple(callbacks)
            else:
                self._callbacks.pop(method, None)

        return remove

    def subscribe(self, method: str) -> Subscription:
        """``async with client.subscribe(method) as sub: async for params in sub: ...``;
        see :class:`Subscription`. Enter the block before sending the request that causes
        the notifications."""
        return Subscription(method, self._add_subscription, self._remove_subscription)

    def on_request(self, method: str, handler: RequestHandler | None) -> None:
        """Answer the daemon's ``method`` requests with ``await handler(params)``
        (e.g. ``kernelbridge/input`` → ``{"value": ...}``). Each runs in its own task. A
        handler raising :class:`RpcError` answers that error; any other exception answers
        -32603. Requests without a handler get -32601, except the few with a neutral
        default (``window/workDoneProgress/create`` → null, ``workspace/configuration`` →
        null per item). ``handler=None`` restores that default."""
        if handler is None:
            self._handlers.pop(method, None)
            if method in DEFAULT_REQUEST_HANDLERS:
                self._handlers[method] = DEFAULT_REQUEST_HANDLERS[method]
        else:
            self._handlers[method] = handler

    def _add_subscription(self, sub: Subscription) -> None:
        if self._error is not None:
            sub._end(None if self.exception is None else self._error)
            return
        self._subscriptions[sub.method] = (*self._subscriptions.get(sub.method, ()), sub)

    def _remove_subscription(self, sub: Subscription) -> None:
        subs = tuple(s for s in self._subscriptions.get(sub.method, ()) if s is not sub)
        if subs:
            self._subscriptions[sub.method] = subs
        else:
            self._subscriptions.pop(sub.method, None)

    # -- background tasks ------------------------------------------------------------------

    async def _reader(self) -> None:
        if self._loop is not None and isinstance(self._receive, FdReceiveStream):
            await self._callback_reader(self._loop, self._receive)
            return
        receive = self._receive.receive
        decoder = self._decoder
        feed = decoder.feed_into
        dispatch = self._dispatch
        reason = "the daemon closed its output"
        try:
            while True:
                try:
                    data = await receive(READ_CHUNK)
                except anyio.EndOfStream:
                    if decoder.buffered:
                        reason += f" in the middle of a message ({decoder.buffered} bytes)"
                    break
                except (anyio.BrokenResourceError, anyio.ClosedResourceError, OSError) as exc:
                    reason = f"reading from the daemon failed: {exc!r}"
                    break
                feed(data, dispatch)
                if decoder.error is not None:
                    self._fail(decoder.error)
                    await self._discard_input()
                    return
        finally:
            self._reader_done.set()
        await self._connection_lost(reason)

    async def _callback_reader(self, loop: asyncio.AbstractEventLoop,
                               stream: FdReceiveStream) -> None:
        """``_reader`` on asyncio with a pipe: the chunks are read and dispatched in a
        reader callback, and this task only waits for the end."""
        ended: asyncio.Future[str | None] = loop.create_future()
        decoder = self._decoder
        feed = decoder.feed_into
        dispatch = self._dispatch

        def on_readable() -> None:
            try:
                data = stream.read_nowait(READ_CHUNK)
            except OSError as exc:
                data = None
                reason: str | None = f"reading from the daemon failed: {exc!r}"
            else:
                reason = None
                if data == b"":
                    reason = "the daemon closed its output"
                    if decoder.buffered:
                        reason += f" in the middle of a message ({decoder.buffered} bytes)"
            if data:
                feed(data, dispatch)
                if decoder.error is None:
                    return
                self._fail(decoder.error)
            if data is None and reason is None:
                return  # a spurious wake-up
            loop.remove_reader(stream.fd)
            if not ended.done():
                ended.set_result(reason)

        loop.add_reader(stream.fd, on_readable)
        try:
            reason = await ended
        finally:
            loop.remove_reader(stream.fd)
            self._reader_done.set()
        if reason is None:  # a protocol error: keep the pipe drained
            await self._discard_input()
            return
        await self._connection_lost(reason)

    async def _discard_input(self) -> None:
        """After a protocol error, keep reading (and dropping) the daemon's output so it
        never blocks on a full pipe while we shut it down."""
        with contextlib.suppress(
            anyio.EndOfStream, anyio.BrokenResourceError, anyio.ClosedResourceError, OSError
        ):
            while True:
                await self._receive.receive(READ_CHUNK)

    async def _writer(self) -> None:
        send = self._send.send
        receive = self._out_receive.receive
        receive_nowait = self._out_receive.receive_nowait
        direct = self._send if isinstance(self._send, FdSendStream) else None
        try:
            while True:
                try:
                    item = receive_nowait()
                except anyio.WouldBlock:
                    # Idle: until the next frame is queued, senders write it themselves.
                    self._direct_send = direct
                    try:
                        item = await receive()
                    finally:
                        self._direct_send = None
                batch: list[bytes] = []
                flushes: list[anyio.Event] = []
                while True:
                    if isinstance(item, bytes):
                        batch.append(item)
                    else:
                        flushes.append(item)
                        break  # written up to here: answer the flush right after the write
                    if len(batch) >= WRITE_BATCH:
                        break
                    try:
                        item = receive_nowait()
                    except (anyio.WouldBlock, anyio.EndOfStream):
                        break
                if batch:
                    await send(b"".join(batch))
                for event in flushes:
                    event.set()
        except anyio.EndOfStream:
            pass
        except (anyio.BrokenResourceError, anyio.ClosedResourceError, OSError) as exc:
            await self._connection_lost(f"writing to the daemon failed: {exc!r}")
        finally:
            # Release anyone waiting in flush(): nothing more will be written.
            with contextlib.suppress(anyio.WouldBlock, anyio.EndOfStream):
                while True:
                    item = receive_nowait()
                    if not isinstance(item, bytes):
                        item.set()
            self._out_receive.close()

    async def _watch_daemon(self) -> None:
        """Lose the connection when the process ends, even if something else (a kernel
        that inherited it) keeps its stdout open so the reader never sees EOF."""
        daemon = self._daemon
        assert daemon is not None
        await daemon.watch()
        with anyio.move_on_after(EXIT_INFO_GRACE):
            await self._reader_done.wait()
            await daemon.stderr_done.wait()
        self._fail_exited("the daemon exited")

    async def _connection_lost(self, reason: str) -> None:
        """The stream ended or broke: fail everything, after waiting (briefly) for the
        daemon's exit code and last stderr bytes, which say why."""
        daemon = self._daemon
        if daemon is not None and self._error is None:
            with anyio.move_on_after(EXIT_INFO_GRACE):
                await daemon.exited.wait()
                await daemon.stderr_done.wait()
        self._fail_exited(reason)

    def _fail_exited(self, reason: str) -> None:
        if self._error is None:
            daemon = self._daemon
            self._fail(
                DaemonExited.describe(
                    reason,
                    returncode=None if daemon is None else daemon.returncode,
                    stderr_tail="" if daemon is None else daemon.stderr.text(4000),
                )
            )

    def _fail(self, error: ClientError) -> None:
        """Make the client unusable for ``error``: fail all pending requests at once and
        end the subscriptions (cleanly if we were closing on purpose)."""
        if self._error is not None:
            return
        self._error = error
        self._clean = self._closing and not isinstance(error, ProtocolError)
        pending, self._pending = self._pending, {}
        for waiter in pending.values():
            waiter.error = error.clone()
            waiter.set()
        subscriptions, self._subscriptions = self._subscriptions, {}
        for subs in subscriptions.values():
            for sub in subs:
                sub._end(None if self._clean else error)
        for scope in self._server_requests.values():
            scope.cancel()

    # -- dispatch (reader task; never awaits) ------------------------------------------------

    def _dispatch(self, message: dict[str, Any]) -> None:
        method = message.get("method")
        if method is None:
            self._on_response(message)
        elif type(method) is not str:
            log.warning("message with a non-string method ignored: %.200r", message)
        elif "id" in message:
            self._on_server_request(method, message)
        else:
            params = message.get("params")
            callbacks = self._callbacks.get(method)
            if callbacks is not None:
                for callback in callbacks:
                    try:
                        callback(params)
                    except Exception:
                        log.exception("notification callback for %r failed", method)
            subs = self._subscriptions.get(method)
            if subs is not None:
                for sub in subs:
                    sub._push(params)
            if method == "$/cancelRequest" and isinstance(params, dict):
                with contextlib.suppress(TypeError):
                    scope = self._server_requests.get(params.get("id"))
                    if scope is not None:
                        scope.cancel()

    def _on_response(self, message: dict[str, Any]) -> None:
        try:
            pending = self._pending.pop(message.get("id"))  # type: ignore[arg-type]
        except (KeyError, TypeError):
            # A late answer to a cancelled or timed-out request, or an id we never sent.
            log.debug("response to an unknown request: %.200r", message)
            return
        error = message.get("error")
        if error is not None:
            pending.error = RpcError.from_payload(error)
        else:
            pending.result = message.get("result")
        pending.set()

    def _on_server_request(self, method: str, message: dict[str, Any]) -> None:
        request_id = message["id"]
        handler = self._handlers.get(method)
        if handler is None or self._tg is None:
            error = RpcError(METHOD_NOT_FOUND, f"unhandled method {method}")
            self._respond_error(request_id, error)
            return
        self._tg.start_soon(self._run_handler, handler, method, request_id, message.get("params"))

    async def _run_handler(
        self, handler: RequestHandler, method: str, request_id: Any, params: Any
    ) -> None:
        scope = anyio.CancelScope()
        key_ok = isinstance(request_id, int | str)
        if key_ok:
            self._server_requests[request_id] = scope
        try:
            with scope:
                result = await handler(params)
            if scope.cancelled_caught:
                error = RpcError(REQUEST_CANCELLED, f"{method} was cancelled")
                self._respond_error(request_id, error)
                return
            frame = encode_message({"jsonrpc": "2.0", "id": request_id, "result": result})
            if self._error is None:
                with contextlib.suppress(ClientError):
                    self._enqueue(frame)
        except RpcError as exc:
            self._respond_error(request_id, exc)
        except Exception as exc:
            log.exception("handler for server request %r failed", method)
            error = RpcError(INTERNAL_ERROR, f"{type(exc).__name__}: {exc}")
            self._respond_error(request_id, error)
        finally:
            if key_ok:
                self._server_requests.pop(request_id, None)

    def _respond_error(self, request_id: Any, error: RpcError) -> None:
        if self._error is None:
            message = {"jsonrpc": "2.0", "id": request_id, "error": error.to_payload()}
            with contextlib.suppress(ClientError):
                self._enqueue(encode_message(message))
