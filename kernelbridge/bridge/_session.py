"""One kernel as the editors see it: status, executions, their output and input prompts.

Every IOPub message of the kernel passes through ``KernelSession._on_message``, for our
executions and for other clients' alike, and is handed to the sink at once, in order. The
response of an execution is produced only after its ``status: idle`` came through the same
path, so all of its output reaches the editor before its response.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import anyio
from anyio.abc import TaskGroup

from kernelbridge.jupyter import KernelDied, KernelTimeout, KernelUnavailable

from ._errors import InvalidArgument
from ._output import OutputItem, OutputShaper

if TYPE_CHECKING:
    from kernelbridge.jupyter import Kernel, KernelClient, Message, Request

# IOPub message types forwarded to editors as kernelbridge/output.
OUTPUT_TYPES = frozenset(
    {"stream", "display_data", "update_display_data", "execute_result", "error", "clear_output"}
)
# Every other IOPub/stdin type the messaging spec defines (5.x): not forwarded, and not
# counted as dropped either. Anything else is counted (``unknownType``).
_OTHER_KNOWN_TYPES = frozenset(
    {"status", "execute_input", "input_request", "comm_open", "comm_msg", "comm_close",
     "debug_event", "iopub_welcome", "shutdown_reply"}
)


def _well_formed(msg_type: str, content: dict[str, Any]) -> bool:
    """Whether an output's content has the types protocol.md §5.1 promises editors: a
    kernel's garbage must not crash them (nor wipe their output: a ``clear_output`` with
    a truthy non-boolean ``wait``)."""
    if msg_type == "stream":
        return type(content.get("text")) is str and type(content.get("name", "")) is str
    if msg_type == "clear_output":
        return type(content.get("wait", False)) is bool
    if msg_type == "error":
        traceback = content.get("traceback", [])
        return (type(content.get("ename", "")) is str and type(content.get("evalue", "")) is str
                and type(traceback) is list and all(type(t) is str for t in traceback))
    # display_data, update_display_data, execute_result
    return (type(content.get("data")) is dict and type(content.get("metadata", {})) is dict
            and type(content.get("transient", {})) is dict)


UNRESPONSIVE_REASON = ("the kernel stopped answering its heartbeat (its process is alive: "
                       "stopped, frozen or overloaded)")


class EditorSink(Protocol):
    """Where the bridge sends what editors must see. Implemented by the server."""

    def output(self, item: OutputItem) -> None:
        """A kernel output, shaped (``kernelbridge/output``)."""

    def status(self, kernel_id: str, state: str, execution_id: str | None = None,
               reason: str | None = None, exit_code: int | None = None) -> None:
        """A kernel state change: starting, idle, busy, restarting, dead (with why, and
        the process's exit code when known)."""

    async def request_input(
        self, kernel_id: str, execution_id: str, prompt: str, password: bool
    ) -> str:
        """Ask the editor for a line of input; cancelled when the kernel stops waiting."""


@dataclass(slots=True)
class ExecuteOutcome:
    """What an execution's response carries."""

    execution_id: str
    status: str  # ok | error | aborted
    execution_count: int | None
    error: dict[str, Any] | None = None
    user_expressions: dict[str, Any] | None = None


@dataclass(slots=True)
class _Execution:
    execution_id: str
    msg_id: str
    idle: anyio.Event = field(default_factory=anyio.Event)
    input_scope: anyio.CancelScope | None = None
    # Called once with "running" when the kernel starts on it (its busy status).
    on_running: Callable[[], None] | None = None
    request: Request | None = None


# Seconds an execute_reply may trail its execution's idle. ipykernel sends none at all
# when an interrupt lands outside the user's code ("KeyboardInterrupt caught in kernel"),
# yet goes idle: without this deadline the execution would never be answered.
REPLY_AFTER_IDLE = 5.0


def _reply_lost(client: KernelClient, request: Request) -> None:
    if not request.done:
        client.abandon(request, KernelTimeout(
            f"the kernel went idle without an execute_reply (none within {REPLY_AFTER_IDLE}"
            " s; an interrupt can make ipykernel drop it)"))


class KernelSession:
    """A running kernel and what the bridge tracks of it."""

    def __init__(
        self,
        kernel: Kernel,
        sink: EditorSink,
        task_group: TaskGroup,
        shaper: OutputShaper,
        *,
        language: str = "",
        display_name: str = "",
    ) -> None:
        self.kernel = kernel
        self.sink = sink
        self.shaper = shaper
        self.id = kernel.id
        self.language = language
        self.display_name = display_name or kernel.kernel_name
        self.state = ""  # set_state("starting") announces it
        self._task_group = task_group
        self._executions: dict[str, _Execution] = {}  # by execute_request msg_id
        self._execution_ids: set[str] = set()
        self._next_execution = 0
        self._remove_listeners: list[Callable[[], None]] = []
        # Valid kernel messages not forwarded for being anomalous (protocol.md §3.1).
        self.dropped: Counter[str] = Counter()
        self._resume_state = "idle"  # the state to go back to when responsive again
        self._busy_execution: str | None = None  # executionId of the last busy sent
        self._resume_execution: str | None = None

    # -- wiring ---------------------------------------------------------------------------

    def attach(self) -> None:
        client = self.kernel.client
        self._remove_listeners = [
            client.add_listener(self._on_message),
            client.add_state_listener(self._on_client_state),
        ]

    def detach(self) -> None:
        for remove in self._remove_listeners:
            with contextlib.suppress(ValueError):
                remove()
        self._remove_listeners = []

    def set_state(self, state: str, execution_id: str | None = None, *,
                  reason: str | None = None) -> None:
        if state == self.state and execution_id is None:
            return
        self.state = state
        self._busy_execution = execution_id if state == "busy" else None
        exit_code = None
        if state == "dead":
            death = self.kernel.client.death
            if reason is None and death is not None:
                reason = str(death)
            exit_code = getattr(death, "exit_code", None)
        self.sink.status(self.id, state, execution_id, reason, exit_code)

    def _on_client_state(self, state: str) -> None:
        if state in ("dead", "restarted"):
            if state == "dead":
                self.set_state("dead")
            # Their idle will never come: the process that owed it is gone.
            for execution in list(self._executions.values()):
                self._finish(execution)
        elif state == "alive":
            self.set_state("idle")
        elif state == "unresponsive" and self.state not in ("dead", "restarting"):
            self._resume_state, self._resume_execution = self.state, self._busy_execution
            self.set_state("unresponsive", reason=UNRESPONSIVE_REASON)
        elif state == "responsive" and self.state == "unresponsive":
            # Back to busy with the execution it was running (editors key spinners on it).
            self.set_state(self._resume_state, self._resume_execution)

    def describe(self) -> dict[str, Any]:
        info = self.kernel.client.kernel_info or {}
        return {
            "kernelId": self.id,
            "kernelspec": self.kernel.kernel_name,
            "displayName": self.display_name,
            "language": self.language or info.get("language_info", {}).get("name", ""),
            "state": self.state,
            "owned": self.kernel.owned,
            "connectionFile": str(self.kernel.connection_file),
            "pid": self.kernel.pid,
            "messages": self.message_counts(),
        }

    def message_counts(self) -> dict[str, Any]:
        """What came from the kernel and what was refused or not forwarded, by cause."""
        stats = self.kernel.client.stats
        return {
            "received": stats["received"],
            "dropped": {
                "signature": stats["dropped_signature"],
                "replay": stats["dropped_replay"],
                "truncated": stats["dropped_truncated"],
                "json": stats["dropped_json"],
                "header": stats["dropped_header"],
                "unmatchedReply": stats["dropped_unmatched_reply"],
                "unknownType": self.dropped["unknown_type"],
                "unrelatedOutput": self.dropped["unrelated_output"],
                "badContent": self.dropped["bad_content"],
            },
        }

    # -- the hot path ---------------------------------------------------------------------

    def _on_message(self, msg: Message) -> None:
        parent_type = msg.parent_header.get("msg_type")
        msg_type = msg.header["msg_type"]
        execution = self._executions.get(msg.parent_header.get("msg_id", ""))
        execution_id = execution.execution_id if execution is not None else None
        if msg_type in OUTPUT_TYPES:
            if execution is None and parent_type != "execute_request":
                self.dropped["unrelated_output"] += 1
            elif not _well_formed(msg_type, msg.content):
                self.dropped["bad_content"] += 1
            else:
                self.shaper.output(execution_id, msg)
        elif msg_type == "status":
            # Busy/idle follow executions (ours and other clients'); the kernel's own
            # busy/idle around kernel_info, complete or inspect is not the editor's business.
            if parent_type != "execute_request":
                return
            state = msg.content.get("execution_state")
            if state in ("busy", "idle") and self.state not in ("dead", "restarting"):
                self.set_state(state, execution_id)
            if state == "busy" and execution is not None and execution.on_running is not None:
                execution.on_running()
                execution.on_running = None
            if state == "idle" and execution is not None:
                self._finish(execution)
        elif msg_type == "input_request" and execution is not None:
            self._task_group.start_soon(self._answer_input, execution, msg)
        elif msg_type not in _OTHER_KNOWN_TYPES:
            self.dropped["unknown_type"] += 1

    def _finish(self, execution: _Execution) -> None:
        # Tracking ends here, not when the caller stops waiting: an execute request
        # cancelled by the editor still tags the rest of its output with its id.
        self._executions.pop(execution.msg_id, None)
        self._execution_ids.discard(execution.execution_id)
        self.shaper.end_execution(execution.execution_id)
        execution.idle.set()
        if execution.input_scope is not None:
            execution.input_scope.cancel()  # the kernel no longer waits for it
        if execution.request is not None and not execution.request.done:
            asyncio.get_running_loop().call_later(REPLY_AFTER_IDLE, _reply_lost,
                                                  self.kernel.client, execution.request)

    async def _answer_input(self, execution: _Execution, request: Message) -> None:
        content = request.content
        with anyio.CancelScope() as scope:
            execution.input_scope = scope
            try:
                value = await self.sink.request_input(
                    self.id, execution.execution_id, str(content.get("prompt", "")),
                    bool(content.get("password", False)),
                )
            except Exception:
                # The editor could not answer: an empty line unblocks the kernel.
                value = ""
            with contextlib.suppress(KernelUnavailable):
                self.kernel.client.input_reply(value, request)
        execution.input_scope = None

    # -- executions -----------------------------------------------------------------------

    def new_execution_id(self) -> str:
        self._next_execution += 1
        return f"{self.id[:8]}-{self._next_execution}"

    async def execute(
        self,
        code: str,
        *,
        execution_id: str | None = None,
        silent: bool = False,
        store_history: bool = True,
        allow_stdin: bool = True,
        stop_on_error: bool = True,
        user_expressions: dict[str, str] | None = None,
        on_running: Callable[[], None] | None = None,
    ) -> ExecuteOutcome:
        """Run ``code``; its outputs go to the sink tagged with ``execution_id``, and this
        returns once the reply and the final idle have both come. ``on_running`` is
        called when the kernel starts on it (until then it waits in the kernel's queue)."""
        execution_id = execution_id or self.new_execution_id()
        if execution_id in self._execution_ids:
            raise InvalidArgument(f"executionId {execution_id!r} is already running")
        request = self.kernel.client.execute(
            code, silent=silent, store_history=store_history, allow_stdin=allow_stdin,
            stop_on_error=stop_on_error, user_expressions=user_expressions,
            track_outputs=False,  # they reach us through the listener
        )
        execution = _Execution(execution_id, request.msg_id, on_running=on_running,
                               request=request)
        self._executions[request.msg_id] = execution
        self._execution_ids.add(execution_id)
        try:
            reply = await request.reply()
            await execution.idle.wait()
        except KernelUnavailable:
            self._finish(execution)
            raise
        if not self.kernel.client.alive:
            raise KernelDied("the kernel died during the execution")
        content = reply.content
        status = content.get("status", "error")
        error = None
        if status == "error":
            error = {
                "ename": content.get("ename", ""),
                "evalue": content.get("evalue", ""),
                "traceback": content.get("traceback", []),
            }
        return ExecuteOutcome(
            execution_id=execution_id,
            status=status,
            execution_count=content.get("execution_count"),
            error=error,
            user_expressions=content.get("user_expressions") or None,
        )

    # -- other requests -------------------------------------------------------------------

    async def call(self, method: str, **kwargs: Any) -> dict[str, Any]:
        """One of the client's short requests (complete, inspect, is_complete, history,
        comm_info); returns the reply content."""
        if method not in ("complete", "inspect", "is_complete", "history", "comm_info",
                          "kernel_info_request"):
            raise InvalidArgument(f"unknown kernel request {method!r}")
        reply: Message = await getattr(self.kernel.client, method)(**kwargs)
        return reply.content


