"""An anyio-native client of one Jupyter kernel.

Requests are correlated with replies by msg_id; IOPub (and stdin) messages are routed by
their parent's msg_id to the request that caused them, so that a caller can iterate the
outputs of one execution until its idle status. Every incoming message also reaches the
listeners, so output of requests made by other clients of the kernel stays visible.
"""

from __future__ import annotations

import contextlib
from collections import Counter, deque
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import anyio
from anyio.abc import TaskStatus

from kernelbridge._aio import Signal

from ._channels import Heartbeat, KernelChannels
from ._errors import (
    ClientClosed,
    InvalidMessage,
    JupyterError,
    KernelDied,
    KernelTimeout,
    KernelUnavailable,
    collapse_groups,
)
from ._message import Message, new_id
from ._wire import WireCodec

if TYPE_CHECKING:
    from ._connection import ConnectionInfo
    from ._content import Content

Listener = Callable[[Message], None]


@dataclass(frozen=True, slots=True)
class ClientOptions:
    """How a KernelClient waits and watches. Every field has a working default."""

    # Deadline for replies to short requests (kernel_info, complete, inspect, history, ...).
    # Executions have none by default: they end with their reply or with the kernel's death.
    request_timeout: float = 30.0
    # Deadline for the kernel to answer kernel_info and publish on IOPub.
    ready_timeout: float = 60.0
    # How often kernel_info is re-sent while waiting for IOPub to connect.
    ready_retry_interval: float = 0.05
    heartbeat: bool = True
    heartbeat_interval: float = 0.2
    # A heartbeat unanswered this long reports the kernel dead (~1 s detection in all).
    heartbeat_timeout: float = 0.8
    # 0 = unlimited. zmq's default (1000) silently drops output during floods.
    iopub_rcvhwm: int = 0
    username: str = "kernelbridge"


class Request:
    """A request sent to the kernel: await its ``reply()``, iterate its ``outputs()``.

    Outputs are the IOPub messages whose parent is this request (and stdin's
    input_request), up to and including the ``status: idle`` that ends it. They are only
    collected for requests sent with ``track_outputs``.
    """

    __slots__ = (
        "_client",
        "_error",
        "_outputs",
        "_outputs_done",
        "_reply",
        "_reply_event",
        "_wakeup",
        "msg",
        "track_outputs",
    )

    def __init__(self, client: KernelClient, msg: Message, track_outputs: bool) -> None:
        self._client = client
        self.msg = msg
        self.track_outputs = track_outputs
        self._reply: Message | None = None
        self._reply_event = Signal()
        self._outputs: deque[Message] = deque()
        self._outputs_done = not track_outputs
        self._wakeup: Signal | None = None
        self._error: JupyterError | None = None

    @property
    def msg_id(self) -> str:
        return self.msg.msg_id

    @property
    def done(self) -> bool:
        """The reply has come and, when tracked, the outputs have ended (or it failed)."""
        return self._error is not None or (self._reply is not None and self._outputs_done)

    # -- fed by the client ------------------------------------------------------------

    def _set_reply(self, msg: Message) -> None:
        self._reply = msg
        self._reply_event.set()

    def _add_output(self, msg: Message) -> None:
        self._outputs.append(msg)
        if msg.msg_type == "status" and msg.content.get("execution_state") == "idle":
            self._outputs_done = True
        if self._wakeup is not None:
            self._wakeup.set()

    def _fail(self, error: JupyterError) -> None:
        if self.done:
            return
        self._error = error
        self._reply_event.set()
        if self._wakeup is not None:
            self._wakeup.set()

    # -- for the caller ---------------------------------------------------------------

    async def reply(self, timeout: float | None = None) -> Message:
        """The kernel's reply. Raises KernelTimeout after ``timeout`` seconds (default:
        the client's request_timeout for short requests, none for executions), and
        KernelDied / KernelRestarted / ClientClosed when the reply can no longer come."""
        if self._reply is None and self._error is None:
            if timeout is None and self.msg.msg_type != "execute_request":
                timeout = self._client.options.request_timeout
            try:
                await self._reply_event.wait(timeout)
            except TimeoutError:
                raise KernelTimeout(
                    f"no {self.msg.msg_type.replace('_request', '_reply')} within {timeout} s"
                ) from None
        if self._reply is not None:
            return self._reply
        assert self._error is not None
        raise self._error

    async def outputs(self, timeout: float | None = None) -> AsyncIterator[Message]:
        """The request's outputs as they arrive, ending after its ``status: idle``.
        ``timeout`` bounds the wait for each next message (default: none)."""
        if not self.track_outputs:
            raise ValueError("outputs were not tracked for this request")
        while True:
            while self._outputs:
                yield self._outputs.popleft()
            if self._outputs_done:
                return
            if self._error is not None:
                raise self._error
            self._wakeup = Signal()
            try:
                await self._wakeup.wait(timeout)
            except TimeoutError:
                raise KernelTimeout(f"no output within {timeout} s") from None
            finally:
                self._wakeup = None


@dataclass(slots=True)
class ExecutionResult:
    """An execution's reply and every output it produced, in order."""

    reply: Message
    outputs: list[Message]

    @property
    def status(self) -> str:
        return self.reply.content.get("status", "")

    def stream_text(self, name: str = "stdout") -> str:
        return "".join(
            m.content.get("text", "")
            for m in self.outputs
            if m.msg_type == "stream" and m.content.get("name") == name
        )


class KernelClient:
    """A client of one kernel at ``info``.

    Run it as ``async with KernelClient(info) as client:``, or in your own task group
    with ``await tg.start(client.serve)`` and ``client.close()`` to stop it. Either way its
    reader and heartbeat tasks are owned by a task group and end with it.
    """

    def __init__(
        self,
        info: ConnectionInfo,
        options: ClientOptions | None = None,
        *,
        session: str | None = None,
    ) -> None:
        self.info = info
        self.options = options or ClientOptions()
        self.session = session or new_id()
        self.codec = WireCodec(info.key_bytes, info.signature_scheme)
        self.kernel_info: dict[str, Any] | None = None
        # Counts of what came in and what was dropped, by kind; never raises.
        # "received" counts messages that passed the wire checks (all channels);
        # "dropped_<reason>" those refused (InvalidMessage reasons, unmatched_reply).
        self.stats: Counter[str] = Counter()
        # True when the owner watches the kernel's process (its exit is the death): a
        # silent heartbeat then means "alive but unresponsive" (stopped, frozen), which
        # must not fail requests the kernel may still answer. Kernels we only connect
        # to have nothing but the heartbeat, whose silence is their death.
        self.process_watched = False
        self._unresponsive = False
        self._pending: dict[str, Request] = {}
        self._listeners: list[Listener] = []
        self._state_listeners: list[Callable[[str], None]] = []
        self._channels: KernelChannels | None = None
        self._heartbeat: Heartbeat | None = None
        self._dead: JupyterError | None = None
        self._closed = anyio.Event()
        self._iopub_seen = anyio.Event()
        self._stack: contextlib.AsyncExitStack | None = None

    # -- running ------------------------------------------------------------------------

    async def serve(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        """Connect, report started, and read until ``close()`` (or cancellation)."""
        handlers = {
            "shell": self._on_reply_frames,
            "control": self._on_reply_frames,
            "stdin": self._on_stdin_frames,
            "iopub": self._on_iopub_frames,
        }
        self._channels = KernelChannels(
            self.info,
            handlers,
            identity=self.session.encode(),
            iopub_rcvhwm=self.options.iopub_rcvhwm,
        )
        try:
            async with anyio.create_task_group() as tg:
                tg.start_soon(self._channels.run)
                if self.options.heartbeat:
                    self._heartbeat = Heartbeat(
                        self.info,
                        self._on_heartbeat,
                        interval=self.options.heartbeat_interval,
                        timeout=self.options.heartbeat_timeout,
                    )
                    tg.start_soon(self._heartbeat.run)
                task_status.started()
                await self._closed.wait()
                tg.cancel_scope.cancel()
        finally:
            self._closed.set()
            self._channels.close()
            self._fail_pending(ClientClosed("the kernel client was closed"))

    def close(self) -> None:
        """Stop ``serve``; pending requests fail with ClientClosed."""
        self._closed.set()

    @property
    def closed(self) -> bool:
        return self._closed.is_set()

    async def __aenter__(self) -> KernelClient:
        stack = contextlib.AsyncExitStack()
        with collapse_groups():
            tg = await stack.enter_async_context(anyio.create_task_group())
            await tg.start(self.serve)
        self._stack = stack
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self.close()
        assert self._stack is not None
        with collapse_groups():
            await self._stack.__aexit__(*exc_info)

    # -- liveness -----------------------------------------------------------------------

    @property
    def death(self) -> JupyterError | None:
        """Why the kernel is known dead (None while it is alive)."""
        return self._dead

    @property
    def alive(self) -> bool:
        """False once the kernel is known dead (until a restart revives it)."""
        return self._dead is None and not self.closed

    @property
    def responsive(self) -> bool:
        """False while the heartbeat of a kernel whose process is watched is silent."""
        return not self._unresponsive

    def add_state_listener(self, listener: Callable[[str], None]) -> Callable[[], None]:
        """Call ``listener`` with ``"dead"``, ``"alive"`` (heartbeat back after a death
        it reported), ``"restarted"``, and, for a ``process_watched`` kernel,
        ``"unresponsive"`` / ``"responsive"`` (heartbeat silent / back). Returns a
        function that removes it."""
        self._state_listeners.append(listener)
        return lambda: self._state_listeners.remove(listener)

    def _notify_state(self, state: str) -> None:
        for listener in list(self._state_listeners):
            listener(state)

    def mark_dead(self, error: KernelDied) -> None:
        """The kernel is gone: fail every pending request with ``error`` and every new
        one until ``mark_restarted``. Called by the heartbeat and by process owners."""
        if self._dead is not None:
            return
        self._dead = error
        self._unresponsive = False
        self._fail_pending(error)
        self._notify_state("dead")

    def begin_restart(self) -> None:
        """The kernel is about to be replaced: its heartbeat stopping is not a death."""
        if self._heartbeat is not None:
            self._heartbeat.pause()

    def mark_restarted(self, error: JupyterError) -> None:
        """A new kernel process serves the same ports: fail what the old one owed."""
        if self._heartbeat is not None:
            self._heartbeat.reset()
        self._dead = None
        self._unresponsive = False
        self._iopub_seen = anyio.Event()
        self.kernel_info = None
        self._fail_pending(error)
        self._notify_state("restarted")

    def _on_heartbeat(self, beating: bool) -> None:
        if not beating:
            if not self.process_watched:
                self.mark_dead(KernelDied("the kernel stopped answering its heartbeat"))
            elif self._dead is None and not self._unresponsive:
                self._unresponsive = True
                self._notify_state("unresponsive")
        elif self._unresponsive:
            self._unresponsive = False
            self._notify_state("responsive")
        elif self._dead is not None and "heartbeat" in str(self._dead):
            # It was only unresponsive (stopped, swapping, overloaded): it is back.
            self._dead = None
            self._notify_state("alive")

    def abandon(self, request: Request, error: JupyterError) -> None:
        """Stop waiting for ``request``'s reply: its waiters get ``error`` and a late reply
        is dropped (counted as unmatched). For replies a kernel is known to drop."""
        if self._pending.pop(request.msg_id, None) is not None:
            request._fail(error)

    def _fail_pending(self, error: JupyterError) -> None:
        pending, self._pending = self._pending, {}
        for request in pending.values():
            request._fail(error)

    # -- incoming -----------------------------------------------------------------------

    def _decode(self, frames: list[bytes], channel: str) -> Message | None:
        try:
            msg = self.codec.deserialize(frames)
        except InvalidMessage as exc:
            self.stats[f"dropped_{exc.reason}"] += 1
            return None
        msg.channel = channel
        self.stats["received"] += 1
        return msg

    def _on_reply_frames(self, frames: list[bytes]) -> None:
        msg = self._decode(frames, "shell")
        if msg is None:
            return
        request = self._pending.get(msg.parent_header.get("msg_id", ""))
        if request is None:
            self.stats["dropped_unmatched_reply"] += 1
            return
        msg.channel = request.msg.channel
        request._set_reply(msg)
        if request.done:
            del self._pending[request.msg_id]

    def _on_iopub_frames(self, frames: list[bytes]) -> None:
        msg = self._decode(frames, "iopub")
        if msg is None:
            return
        self.stats["iopub"] += 1
        if not self._iopub_seen.is_set():
            self._iopub_seen.set()
        if msg.header["msg_type"] == "iopub_welcome":
            return  # a handshake of the transport, nobody's output
        request = self._pending.get(msg.parent_header.get("msg_id", ""))
        if request is not None and request.track_outputs:
            request._add_output(msg)
            if request.done:
                del self._pending[request.msg_id]
        for listener in self._listeners:
            listener(msg)

    def _on_stdin_frames(self, frames: list[bytes]) -> None:
        msg = self._decode(frames, "stdin")
        if msg is None:
            return
        request = self._pending.get(msg.parent_header.get("msg_id", ""))
        if request is None:
            # stdin is routed to our identity: an input_request for no request of ours
            # is forged or stale (the process that asked was replaced). Nobody may
            # answer it, nor show its prompt.
            self.stats["dropped_unmatched_reply"] += 1
            return
        if request.track_outputs:
            request._add_output(msg)
        for listener in self._listeners:
            listener(msg)

    def add_listener(self, listener: Listener) -> Callable[[], None]:
        """Call ``listener`` (synchronously, from the reader: keep it quick) with every
        valid IOPub message, ours and other clients', and every stdin message for one of
        our pending requests. Returns its remover."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    # -- outgoing -----------------------------------------------------------------------

    def _check_usable(self) -> KernelChannels:
        if self._channels is None or self.closed:
            raise ClientClosed("the kernel client is not running")
        if self._dead is not None:
            raise self._dead
        return self._channels

    def send(self, msg: Message) -> None:
        """Sign and send ``msg`` on its channel, without tracking a reply."""
        self._check_usable().send(msg.channel or "shell", self.codec.serialize(msg))

    def new_message(
        self, content: Content | Mapping[str, Any], msg_type: str = "", **kwargs: Any
    ) -> Message:
        """A message from this client's session: typed content, or a dict and msg_type."""
        if isinstance(content, Mapping):
            return Message.new(
                msg_type, content, session=self.session, username=self.options.username, **kwargs
            )
        return Message.from_content(
            content, session=self.session, username=self.options.username, **kwargs
        )

    def request(
        self,
        content: Content | Mapping[str, Any],
        msg_type: str = "",
        *,
        channel: str = "",
        track_outputs: bool = False,
    ) -> Request:
        """Send a request and return its handle (registered before it is sent, so that
        no reply or output can be missed)."""
        msg = self.new_message(content, msg_type)
        msg.channel = channel or msg.channel or "shell"
        request = Request(self, msg, track_outputs)
        channels = self._check_usable()
        self._pending[msg.msg_id] = request
        try:
            channels.send(msg.channel, self.codec.serialize(msg))
        except KernelUnavailable:
            del self._pending[msg.msg_id]
            raise
        return request

    async def _call(self, msg_type: str, content: Mapping[str, Any], channel: str = "shell",
                    timeout: float | None = None) -> Message:
        return await self.request(content, msg_type, channel=channel).reply(timeout)

    # -- the spec's requests --------------------------------------------------------------

    def execute(
        self,
        code: str,
        *,
        silent: bool = False,
        store_history: bool = True,
        user_expressions: Mapping[str, str] | None = None,
        allow_stdin: bool = False,
        stop_on_error: bool = True,
        track_outputs: bool = True,
    ) -> Request:
        """Send an execute_request. Its outputs are kept for ``outputs()`` unless
        ``track_outputs`` is false: a caller that takes them from a listener must say so,
        or every output of a long execution stays in memory until it ends."""
        content = {
            "code": code,
            "silent": silent,
            "store_history": store_history,
            "user_expressions": dict(user_expressions or {}),
            "allow_stdin": allow_stdin,
            "stop_on_error": stop_on_error,
        }
        return self.request(content, "execute_request", track_outputs=track_outputs)

    async def run(self, code: str, *, timeout: float | None = None, **kwargs: Any
                  ) -> ExecutionResult:
        """Execute ``code`` and collect its reply and outputs (until idle)."""
        request = self.execute(code, **kwargs)
        try:
            with anyio.fail_after(timeout):
                outputs = [msg async for msg in request.outputs()]
                reply = await request.reply()
        except TimeoutError:
            raise KernelTimeout(f"execution did not finish within {timeout} s") from None
        return ExecutionResult(reply, outputs)

    async def kernel_info_request(self, timeout: float | None = None) -> Message:
        return await self._call("kernel_info_request", {}, timeout=timeout)

    async def complete(self, code: str, cursor_pos: int | None = None,
                       timeout: float | None = None) -> Message:
        pos = len(code) if cursor_pos is None else cursor_pos
        return await self._call("complete_request", {"code": code, "cursor_pos": pos},
                                timeout=timeout)

    async def inspect(self, code: str, cursor_pos: int | None = None, detail_level: int = 0,
                      timeout: float | None = None) -> Message:
        pos = len(code) if cursor_pos is None else cursor_pos
        content = {"code": code, "cursor_pos": pos, "detail_level": detail_level}
        return await self._call("inspect_request", content, timeout=timeout)

    async def is_complete(self, code: str, timeout: float | None = None) -> Message:
        return await self._call("is_complete_request", {"code": code}, timeout=timeout)

    async def history(self, *, hist_access_type: str = "tail", n: int = 10, output: bool = False,
                      raw: bool = True, timeout: float | None = None, **kwargs: Any) -> Message:
        content = {"hist_access_type": hist_access_type, "n": n, "output": output, "raw": raw,
                   **kwargs}
        return await self._call("history_request", content, timeout=timeout)

    async def comm_info(self, target_name: str | None = None,
                        timeout: float | None = None) -> Message:
        content = {} if target_name is None else {"target_name": target_name}
        return await self._call("comm_info_request", content, timeout=timeout)

    async def interrupt_request(self, timeout: float | None = None) -> Message:
        """Interrupt by message, on control (for kernels whose interrupt_mode is
        ``message``; owners of signal-mode kernels signal the process instead)."""
        return await self._call("interrupt_request", {}, channel="control", timeout=timeout)

    async def shutdown_request(self, restart: bool = False,
                               timeout: float | None = None) -> Message:
        return await self._call("shutdown_request", {"restart": restart}, channel="control",
                                timeout=timeout)

    def input_reply(self, value: str, parent: Message) -> None:
        """Answer the kernel's ``input_request`` ``parent`` on stdin."""
        msg = self.new_message({"value": value}, "input_reply", parent=parent, channel="stdin")
        self.send(msg)

    # -- readiness ----------------------------------------------------------------------

    async def wait_ready(self, timeout: float | None = None) -> dict[str, Any]:
        """Wait until the kernel answers kernel_info and IOPub delivers, and return the
        kernel_info_reply content.

        A SUB socket misses everything published before its subscription reaches the
        kernel, so a kernel_info reply alone does not prove that outputs will arrive. We
        re-send kernel_info until an IOPub message (its status, or ipykernel 7's
        iopub_welcome) comes in; this works for every kernel, whatever protocol version
        it reports."""
        timeout = self.options.ready_timeout if timeout is None else timeout
        try:
            with anyio.fail_after(timeout):
                reply = await self.request({}, "kernel_info_request").reply(math_inf)
                while not self._iopub_seen.is_set():
                    with anyio.move_on_after(self.options.ready_retry_interval):
                        await self._iopub_seen.wait()
                    if not self._iopub_seen.is_set():
                        reply = await self.request({}, "kernel_info_request").reply(math_inf)
        except TimeoutError:
            raise KernelTimeout(f"the kernel was not ready within {timeout} s") from None
        self.kernel_info = reply.content
        if self._heartbeat is not None:
            # Alive now: its heartbeat going silent from here on is a death, even if it
            # never answered a ping yet (a kernel killed right after we connected).
            self._heartbeat.answered_elsewhere()
        return reply.content


math_inf = float("inf")
