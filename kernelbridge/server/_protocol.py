"""pygls's LSP protocol, made exact and owned by anyio.

What changes against ``LanguageServerProtocol`` (DESIGN.md, "Traps"):
- Every incoming message is checked before pygls sees it (``receive``): malformed envelopes
  get -32600, params that do not structure get -32602 naming the field, requests before
  ``initialize`` get -32002 and requests after ``shutdown`` get -32600. Every request is
  answered exactly once.
- Coroutine handlers run in the server's task group (no task nobody owns), each in a
  cancel scope that ``$/cancelRequest`` cancels.
- Output goes to the ``Outbox`` (orjson, one writer task), never straight to a stream.
- ``exit`` stops the server instead of calling ``sys.exit``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Generator
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

import anyio
import orjson
from anyio.abc import TaskGroup
from lsprotocol import types
from pygls.exceptions import JsonRpcException, JsonRpcInternalError, JsonRpcInvalidParams
from pygls.protocol import LanguageServerProtocol, lsp_method

from ._errors import (
    INTERNAL_ERROR,
    INVALID_PARAMS,
    INVALID_REQUEST,
    METHOD_NOT_FOUND,
    REQUEST_CANCELLED,
    SERVER_NOT_INITIALIZED,
)
from ._params import describe_structure_error, without_nulls
from ._transport import FramingError, Outbox

if TYPE_CHECKING:
    from cattrs import Converter
    from pygls.lsp.server import LanguageServer

log = logging.getLogger("kernelbridge.server")

_ALWAYS_ALLOWED = frozenset({types.INITIALIZE, types.EXIT})
# LSP methods that are notifications (exit, initialized, textDocument/didOpen, ...).
_NOTIFICATION_METHODS = frozenset(
    method for method, (_, response, *_) in types.METHOD_TO_TYPES.items() if response is None)
DirectHandler = Callable[[Any], Awaitable[Any]]


def _valid_id(value: Any) -> bool:
    return (isinstance(value, int) and not isinstance(value, bool)) or isinstance(value, str)


class KernelBridgeProtocol(LanguageServerProtocol):
    """The JSON-RPC side of one editor connection."""

    def __init__(self, server: LanguageServer, converter: Converter) -> None:
        super().__init__(server, converter)
        self.outbox = Outbox()
        self.stopped = asyncio.Event()  # not anyio's: see KernelBridgeServer.serve
        self.exit_code = 0
        self._task_group: TaskGroup | None = None
        # A well-formed initialize was received (and, pygls's handler being synchronous,
        # answered).
        self.initialize_seen = False
        # method -> (params class, handler) of requests served without pygls's dispatch.
        self.direct_methods: dict[str, tuple[type, DirectHandler]] = {}
        # id -> task of each running direct request; ids cancelled by $/cancelRequest or
        # shutdown (answered RequestCancelled, unlike a server that stops).
        self._direct_tasks: dict[int | str, asyncio.Task[None]] = {}
        self._cancelling: set[int | str] = set()

    def attach(self, task_group: TaskGroup) -> None:
        """Run request handlers in ``task_group`` from now on."""
        self._task_group = task_group

    def stop(self, exit_code: int = 0) -> None:
        self.exit_code = exit_code
        self.stopped.set()

    # -- incoming ---------------------------------------------------------------------

    def receive_error(self, error: FramingError) -> None:
        """Answer input that was not a message (bad framing or JSON): id null."""
        self.send_error(None, error.code, error.message)

    def receive(self, data: dict[str, Any]) -> None:
        """Check one decoded message, answer it if it is wrong, else hand it to pygls."""
        has_id = "id" in data
        msg_id = data.get("id")
        reply_id = msg_id if _valid_id(msg_id) else None
        method = data.get("method")
        if data.get("jsonrpc") != "2.0":
            self.send_error(reply_id, INVALID_REQUEST, 'invalid request: "jsonrpc" must be "2.0"')
            return
        if method is None:
            if has_id and ("result" in data or "error" in data):
                self._receive_response(data)
            else:
                self.send_error(reply_id, INVALID_REQUEST,
                                "invalid request: no method, and not a response")
            return
        if not isinstance(method, str):
            self.send_error(reply_id, INVALID_REQUEST, 'invalid request: "method" must be a string')
            return
        if has_id and not _valid_id(msg_id):
            self.send_error(None, INVALID_REQUEST,
                            'invalid request: "id" must be a string or an integer')
            return
        params = data.get("params")
        if params is not None and not isinstance(params, dict | list):
            if has_id:
                self.send_error(msg_id, INVALID_REQUEST,
                                'invalid request: "params" must be an object or an array')
            return
        if isinstance(params, list):
            if has_id:
                self.send_error(msg_id, INVALID_PARAMS,
                                "params: must be an object (by-name params only)")
            return
        if not has_id:
            self._receive_notification(method, data)
            return
        self._receive_request(msg_id, method, data)

    def _receive_request(self, msg_id: int | str, method: str, data: dict[str, Any]) -> None:
        if not self.initialize_seen and method not in _ALWAYS_ALLOWED:
            self.send_error(msg_id, SERVER_NOT_INITIALIZED, "the server is not initialized")
            return
        if method == types.INITIALIZE and self.initialize_seen:
            self.send_error(msg_id, INVALID_REQUEST, "initialize was already received")
            return
        if self._shutdown:
            self.send_error(msg_id, INVALID_REQUEST, "the server is shutting down")
            return
        if msg_id in self._request_futures or msg_id in self._direct_tasks:
            self.send_error(msg_id, INVALID_REQUEST, f"request id {msg_id!r} is already in use")
            return
        if method in _NOTIFICATION_METHODS:
            # pygls would handle it as the notification and never answer (an ``exit``
            # with an id would stop the daemon unanswered). No request has this name.
            self.send_error(msg_id, METHOD_NOT_FOUND, f"Method Not Found: {method} "
                            "(a notification: send it without an id)")
            return
        direct = self.direct_methods.get(method)
        if direct is not None:
            self._receive_direct(msg_id, data.get("params"), *direct)
            return
        if "result" in data or "error" in data:
            # It has a method, so it is a request (protocol.md §1.1); pygls would take it
            # for a response by these keys and never answer it.
            data = {k: v for k, v in data.items() if k not in ("result", "error")}
        try:
            message = self.structure_message(data)
        except JsonRpcInvalidParams as exc:
            cause = exc.__cause__ if exc.__cause__ is not None else exc
            self.send_error(msg_id, INVALID_PARAMS,
                            f"invalid params: {describe_structure_error(cause)}")
            return
        except JsonRpcInternalError as exc:
            self.send_error(msg_id, INVALID_PARAMS, f"invalid params: {exc.__cause__ or exc}")
            return
        if method == types.INITIALIZE:
            # Only a well-formed initialize counts: a rejected one may be sent again.
            self.initialize_seen = True
        self.handle_message(message)

    def _receive_direct(self, msg_id: int | str, raw: Any, params_cls: type,
                        handler: DirectHandler) -> None:
        """kernelbridge's own requests skip pygls's dispatch (an envelope class, a future
        and its callbacks, cattrs over the whole result): params are structured here and
        the handler's plain-JSON result is written with orjson. Same answers, a few
        hundred microseconds sooner (bench/: daemon round trips)."""
        try:
            params = self._converter.structure(without_nulls(raw), params_cls)
        except Exception as exc:
            self.send_error(msg_id, INVALID_PARAMS,
                            f"invalid params: {describe_structure_error(exc, 'params')}")
            return
        # A plain asyncio task, not the task group's start_soon: anyio's task handle and
        # cancel scope cost a fifth of a short request's CPU here (bench/: round trips).
        # The server still owns it: ``stop_requests`` cancels and awaits every one.
        task = asyncio.get_running_loop().create_task(self._run_direct(msg_id, handler, params))
        self._direct_tasks[msg_id] = task

    async def _run_direct(self, msg_id: int | str, handler: DirectHandler, params: Any) -> None:
        try:
            try:
                result = await handler(params)
            except JsonRpcException as exc:
                self.send_error(msg_id, exc.code, exc.message, exc.data)
                return
            except asyncio.CancelledError:
                if msg_id not in self._cancelling:
                    raise  # the server is stopping: nothing more is sent
                self.send_error(msg_id, REQUEST_CANCELLED, f"request {msg_id!r} was cancelled")
                return
            except Exception as exc:
                log.exception("request %r failed", msg_id)
                self.send_error(msg_id, INTERNAL_ERROR, f"{type(exc).__name__}: {exc}")
                return
            try:
                body = orjson.dumps({"jsonrpc": "2.0", "id": msg_id, "result": result})
            except TypeError as exc:
                log.exception("result of request %r is not JSON", msg_id)
                self.send_error(msg_id, INTERNAL_ERROR, f"result is not JSON: {exc}")
                return
            self.outbox.put(body)
        finally:
            self._direct_tasks.pop(msg_id, None)
            self._cancelling.discard(msg_id)

    def _cancel_direct(self, msg_id: int | str) -> None:
        task = self._direct_tasks.get(msg_id)
        if task is not None and msg_id not in self._cancelling:
            self._cancelling.add(msg_id)
            task.cancel()
            # A task cancelled before its first step never runs its body, nor the finally
            # that answers and frees the id (a request and its $/cancelRequest in one
            # read): then answer from here.
            task.add_done_callback(lambda done: self._cancelled_unstarted(msg_id, done))

    def _cancelled_unstarted(self, msg_id: int | str, task: asyncio.Task[None]) -> None:
        if self._direct_tasks.get(msg_id) is task:  # still registered: the body never ran
            del self._direct_tasks[msg_id]
            self._cancelling.discard(msg_id)
            self.send_error(msg_id, REQUEST_CANCELLED, f"request {msg_id!r} was cancelled")

    def _handle_cancel_notification(self, msg_id: Any) -> None:
        if msg_id in self._direct_tasks:
            self._cancel_direct(msg_id)
            return
        super()._handle_cancel_notification(msg_id)

    def cancel_requests(self) -> None:
        """Cancel every kernelbridge request still running (``shutdown``): each is
        answered RequestCancelled."""
        for msg_id in list(self._direct_tasks):
            self._cancel_direct(msg_id)

    async def stop_requests(self, timeout: float = 5.0) -> None:
        """The server stops: end every direct request task without answering it (waits
        at most ``timeout`` seconds for a handler that holds on to its cancellation)."""
        tasks = list(self._direct_tasks.values())
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=timeout)

    def _receive_notification(self, method: str, data: dict[str, Any]) -> None:
        if not self.initialize_seen and method not in _ALWAYS_ALLOWED:
            return  # LSP: notifications before initialize are dropped
        try:
            message = self.structure_message(data)
        except (JsonRpcInvalidParams, JsonRpcInternalError) as exc:
            cause = exc.__cause__ if exc.__cause__ is not None else exc
            log.warning("dropped notification %s: %s", method, describe_structure_error(cause))
            self.show_message(f"kernelbridge: bad {method} notification: "
                              f"{describe_structure_error(cause)}", types.MessageType.Warning)
            return
        self.handle_message(message)

    def _receive_response(self, data: dict[str, Any]) -> None:
        # pygls takes a message with a "method" key for a request, even "method": null:
        # it would answer this response as one (-32601).
        data = {k: v for k, v in data.items() if k != "method"}
        try:
            message = self.structure_message(data)
        except (JsonRpcInvalidParams, JsonRpcInternalError):
            log.warning("dropped a malformed response")
            return
        self.handle_message(message)

    # -- running handlers -------------------------------------------------------------

    def _execute_handler(
        self,
        msg_id: Any,
        handler: Callable[..., Any],
        callback: Callable[[Any], None],
        args: tuple[Any, ...] | None = None,
        kwargs: dict[str, Any] | None = None,
    ) -> None:
        if not asyncio.iscoroutinefunction(handler) or self._task_group is None:
            super()._execute_handler(msg_id, handler, callback, args, kwargs)
            # pygls keeps the future of a generator handler (didOpen, didChange, ...) by
            # id and pops it only when answering a request: notifications would leak one
            # per message.
            future = self._request_futures.get(msg_id)
            if future is not None:
                future.add_done_callback(lambda _: self._request_futures.pop(msg_id, None))
            return
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._request_futures[msg_id] = future
        self._task_group.start_soon(self._run_handler, msg_id, future, callback, handler,
                                    args or (), kwargs or {})

    async def _run_handler(self, msg_id: Any, future: asyncio.Future[Any],
                           callback: Callable[[Any], None], handler: Callable[..., Any],
                           args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        """Run one handler and answer it here, in the same loop turn as its result (a
        done-callback would cost the response one more turn of the loop)."""
        try:
            with anyio.CancelScope() as scope:
                # $/cancelRequest and shutdown cancel the future; stop the work too.
                future.add_done_callback(lambda f: scope.cancel() if f.cancelled() else None)
                try:
                    result = await handler(*args, **kwargs)
                except Exception as exc:
                    if not future.done():
                        future.set_exception(exc)
                else:
                    if not future.done():
                        future.set_result(result)
        finally:
            # Notifications never get a response that would pop their future.
            self._request_futures.pop(msg_id, None)
            if not future.done():  # the server is stopping: the handler was cancelled
                future.cancel()
            callback(future)

    # -- outgoing ---------------------------------------------------------------------

    def _send_data(self, data: Any) -> None:
        if not data:
            return
        try:
            body = orjson.dumps(data, default=self._serialize_message)
        except TypeError:
            log.exception("cannot serialize a message")
            return
        self.outbox.put(body)

    def send_error(self, msg_id: int | str | None, code: int, message: str,
                   data: Any = None) -> None:
        error: dict[str, Any] = {"code": code, "message": message}
        if data is not None:
            error["data"] = data
        self.outbox.put(orjson.dumps({"jsonrpc": "2.0", "id": msg_id, "error": error}))

    def send_notification(self, method: str, params: Any) -> None:
        """A notification with plain-JSON params, serialized once with orjson (no cattrs)."""
        self.outbox.put(orjson.dumps({"jsonrpc": "2.0", "method": method, "params": params}))

    def show_message(self, message: str,
                     kind: types.MessageType = types.MessageType.Error) -> None:
        self.send_notification("window/showMessage", {"type": int(kind), "message": message})

    @lsp_method(types.TEXT_DOCUMENT_DID_CHANGE)
    def lsp_text_document__did_change(self, params: types.DidChangeTextDocumentParams
                                      ) -> Generator[Any, Any, None]:
        """A change to a document that is not open is a client's mistake: warn, go on
        (pygls would raise KeyError and show an "Error in server")."""
        if unquote(params.text_document.uri) not in self.workspace.text_documents:
            log.warning("didChange for %s, which is not open: ignored",
                        params.text_document.uri)
            return
        yield from super().lsp_text_document__did_change(params)

    # kernelbridge does not sync notebooks (it announces no notebookDocumentSync): their
    # notifications are ignored like unknown ones. pygls's own handlers would keep cells
    # the bridge never sees, and raise (an "Error in server") for a notebook not open.

    @lsp_method(types.NOTEBOOK_DOCUMENT_DID_OPEN)
    def lsp_notebook_document__did_open(self, *args: Any) -> None:
        pass

    @lsp_method(types.NOTEBOOK_DOCUMENT_DID_CHANGE)
    def lsp_notebook_document__did_change(self, *args: Any) -> None:
        pass

    @lsp_method(types.NOTEBOOK_DOCUMENT_DID_CLOSE)
    def lsp_notebook_document__did_close(self, *args: Any) -> None:
        pass

    # -- lifecycle --------------------------------------------------------------------

    @lsp_method(types.EXIT)
    def lsp_exit(self, *args: Any) -> None:
        """Stop serving (pygls would call sys.exit). Exit code 0 after shutdown, else 1."""
        self.stop(0 if self._shutdown else 1)


__all__ = ["INVALID_PARAMS", "KernelBridgeProtocol"]
