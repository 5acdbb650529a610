"""Request and notification handlers: thin — resolve the kernel or document, call the
bridge, wrap the result. The wire shapes are protocol.md's.

Each kernelbridge method is registered twice from one table: as ``kernelbridge/<name>``
with typed params (served by the protocol's direct dispatch, not pygls's), and as the
``workspace/executeCommand`` command ``kernelbridge.<name>`` taking the same params
object as its single argument.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from lsprotocol import types
from pygls.workspace.position_codec import ServerTextPosition

from kernelbridge.bridge import (
    InvalidArgument,
    KernelSession,
    NoKernelForDocument,
    strip_ansi,
)

from ._cellfeatures import code_lens, execute_cell, execute_range, run_above, run_all, runner
from ._errors import invalid_params, to_rpc_error
from ._options import read_options
from ._params import (
    BindParams,
    CellParams,
    CellsParams,
    CodeParams,
    ConnectParams,
    ExecuteParams,
    HistoryParams,
    KernelParams,
    NoParams,
    OutputDataParams,
    OutputTextParams,
    RangeParams,
    ShutdownKernelParams,
    StartParams,
    describe_structure_error,
    without_nulls,
)

if TYPE_CHECKING:
    from ._server import KernelBridgeServer

Handler = Callable[["KernelBridgeServer", Any], Awaitable[Any]]


def _mapped(fn: Handler) -> Handler:
    """Answer the core's errors with their protocol codes (protocol.md, "Errors")."""

    @functools.wraps(fn)
    async def wrapper(ls: KernelBridgeServer, params: Any) -> Any:
        try:
            return await fn(ls, params)
        except Exception as exc:
            error = to_rpc_error(exc)
            if error is None:
                raise
            raise error from None

    return wrapper


async def _session(ls: KernelBridgeServer, kernel_id: str | None, uri: str | None, *,
                   start: bool) -> KernelSession:
    """The kernel a request is for: ``kernelId``, else the kernel of document ``uri``
    (started when ``start`` and auto-start allow), else the only running kernel."""
    bridge = ls.bridge
    if kernel_id is not None:
        return bridge.get(kernel_id)
    if uri is not None:
        return await bridge.kernel_for(uri, start=start)
    sessions = bridge.kernels()
    if len(sessions) == 1:
        return sessions[0]
    raise InvalidArgument(
        f"params.kernelId or params.uri is required when {len(sessions)} kernels run"
    )


def _describe(ls: KernelBridgeServer, session: KernelSession) -> dict[str, Any]:
    """protocol.md "Kernel": our fields, then the kernel_info_reply content as sent."""
    info = {k: v for k, v in (session.kernel.client.kernel_info or {}).items() if k != "status"}
    return {**info, **ls.bridge.describe(session)}


# -- kernelbridge/* -------------------------------------------------------------------


async def kernelspecs(ls: KernelBridgeServer, _: NoParams) -> list[dict[str, Any]]:
    return [
        {"name": s.name, "displayName": s.display_name, "language": s.language,
         "interruptMode": s.interrupt_mode, "path": s.path}
        for s in await ls.bridge.kernelspecs()
    ]


async def start(ls: KernelBridgeServer, params: StartParams) -> dict[str, Any]:
    token = params.work_done_token
    progress = ls.work_done_progress
    if token is not None:
        progress.begin(token, types.WorkDoneProgressBegin(
            title="Starting kernel", message=params.kernelspec or params.language or "",
            cancellable=False))
    try:
        session = await ls.bridge.start(params.kernelspec, cwd=params.cwd, env=params.env,
                                        uri=params.uri, language=params.language)
    finally:
        if token is not None:
            progress.end(token, types.WorkDoneProgressEnd())
    return _describe(ls, session)


async def connect(ls: KernelBridgeServer, params: ConnectParams) -> dict[str, Any]:
    session = await ls.bridge.connect(params.connection_file, uri=params.uri)
    return _describe(ls, session)


async def kernels(ls: KernelBridgeServer, _: NoParams) -> list[dict[str, Any]]:
    return [_describe(ls, s) for s in ls.bridge.kernels()]


async def bind(ls: KernelBridgeServer, params: BindParams) -> dict[str, Any]:
    ls.bridge.bind(params.uri, params.kernel_id)
    return _describe(ls, ls.bridge.get(params.kernel_id))


async def _named_kernel(ls: KernelBridgeServer, params: KernelParams | ShutdownKernelParams
                        ) -> str:
    """The id of the kernel that interrupt, restart and shutdown act on: ``kernelId``, else
    the kernel of document ``uri`` (an editor need not track the bindings the daemon made;
    none is started for it). Never "the only kernel": these requests must name theirs."""
    if params.kernel_id is not None:
        return params.kernel_id
    if params.uri is not None:
        return (await ls.bridge.kernel_for(params.uri, start=False)).id
    raise invalid_params("params.kernelId or params.uri is required")


async def interrupt(ls: KernelBridgeServer, params: KernelParams) -> None:
    await ls.bridge.interrupt(await _named_kernel(ls, params))


async def restart(ls: KernelBridgeServer, params: KernelParams) -> dict[str, Any]:
    return _describe(ls, await ls.bridge.restart(await _named_kernel(ls, params)))


async def shutdown_kernel(ls: KernelBridgeServer, params: ShutdownKernelParams) -> None:
    await ls.bridge.shutdown(await _named_kernel(ls, params), kill=params.kill)


async def execute(ls: KernelBridgeServer, params: ExecuteParams) -> dict[str, Any]:
    session = await _session(ls, params.kernel_id, params.uri, start=True)
    outcome = await session.execute(
        params.code, execution_id=params.execution_id, silent=params.silent,
        store_history=params.store_history, allow_stdin=params.allow_stdin,
        stop_on_error=params.stop_on_error, user_expressions=params.user_expressions,
    )
    result: dict[str, Any] = {
        "kernelId": session.id,
        "executionId": outcome.execution_id,
        "status": outcome.status,
        "executionCount": outcome.execution_count,
    }
    if outcome.error is not None:
        result["error"] = outcome.error
    if outcome.user_expressions:
        result["userExpressions"] = outcome.user_expressions
    return result


async def _kernel_call(ls: KernelBridgeServer, kernel_id: str | None, uri: str | None,
                       method: str, **kwargs: Any) -> dict[str, Any]:
    session = await _session(ls, kernel_id, uri, start=False)
    return await session.call(method, timeout=ls.options.request_timeout, **kwargs)


def _check_cursor(params: CodeParams) -> None:
    # A kernel given a cursor beyond the code may never answer (ipykernel does not).
    if params.cursor_pos is not None and not 0 <= params.cursor_pos <= len(params.code):
        raise invalid_params(f"params.cursorPos: must be between 0 and {len(params.code)}"
                             " (code points of params.code)")


async def complete(ls: KernelBridgeServer, params: CodeParams) -> dict[str, Any]:
    _check_cursor(params)
    return await _kernel_call(ls, params.kernel_id, params.uri, "complete", code=params.code,
                              cursor_pos=params.cursor_pos)


async def inspect(ls: KernelBridgeServer, params: CodeParams) -> dict[str, Any]:
    _check_cursor(params)
    return await _kernel_call(ls, params.kernel_id, params.uri, "inspect", code=params.code,
                              cursor_pos=params.cursor_pos, detail_level=params.detail_level)


async def is_complete(ls: KernelBridgeServer, params: CodeParams) -> dict[str, Any]:
    return await _kernel_call(ls, params.kernel_id, params.uri, "is_complete",
                              code=params.code)


async def history(ls: KernelBridgeServer, params: HistoryParams) -> dict[str, Any]:
    extra = {k: getattr(params, k) for k in ("session", "start", "stop", "pattern", "unique")
             if getattr(params, k) is not None}
    return await _kernel_call(ls, params.kernel_id, params.uri, "history",
                              hist_access_type=params.hist_access_type, n=params.n,
                              output=params.output, raw=params.raw, **extra)


async def cells(ls: KernelBridgeServer, params: CellsParams) -> list[dict[str, Any]]:
    return [
        {"kind": c.kind, "title": c.title, "code": c.code, "codeStartLine": c.code_start_line,
         "range": {"start": {"line": c.start_line, "character": 0},
                   "end": {"line": c.end_line, "character": 0}}}
        for c in ls.bridge.cells(params.uri)
    ]


async def output_text(ls: KernelBridgeServer, params: OutputTextParams) -> list[dict[str, str]]:
    return ls.bridge.output_text(params.kernel_id, params.execution_id)


async def output_data(ls: KernelBridgeServer, params: OutputDataParams) -> dict[str, Any]:
    data = ls.bridge.output_data(params.kernel_id, params.output_id)
    if params.mime_type is not None:
        if params.mime_type not in data:
            raise invalid_params(f"params.mimeType: output {params.output_id} has no "
                                 f"{params.mime_type} (it has {', '.join(data)})")
        data = {params.mime_type: data[params.mime_type]}
    return {"data": data}


# name → (params class, handler): ``kernelbridge/<name>`` and ``kernelbridge.<name>``.
METHODS: dict[str, tuple[type, Handler]] = {
    "kernelspecs": (NoParams, kernelspecs),
    "start": (StartParams, start),
    "connect": (ConnectParams, connect),
    "kernels": (NoParams, kernels),
    "bind": (BindParams, bind),
    "interrupt": (KernelParams, interrupt),
    "restart": (KernelParams, restart),
    "shutdown": (ShutdownKernelParams, shutdown_kernel),
    "execute": (ExecuteParams, execute),
    "complete": (CodeParams, complete),
    "inspect": (CodeParams, inspect),
    "isComplete": (CodeParams, is_complete),
    "history": (HistoryParams, history),
    "cells": (CellsParams, cells),
    "executeCell": (CellParams, execute_cell),
    "executeRange": (RangeParams, execute_range),
    "runAbove": (CellParams, run_above),
    "runAll": (CellsParams, run_all),
    "outputText": (OutputTextParams, output_text),
    "outputData": (OutputDataParams, output_data),
}


# -- LSP ------------------------------------------------------------------------------

# Jupyter's _jupyter_types_experimental "type" → LSP CompletionItemKind.
_KINDS = {
    "function": types.CompletionItemKind.Function,
    "builtin_function_or_method": types.CompletionItemKind.Function,
    "method": types.CompletionItemKind.Method,
    "class": types.CompletionItemKind.Class,
    "type": types.CompletionItemKind.Class,
    "module": types.CompletionItemKind.Module,
    "instance": types.CompletionItemKind.Variable,
    "statement": types.CompletionItemKind.Variable,
    "param": types.CompletionItemKind.Variable,
    "property": types.CompletionItemKind.Property,
    "keyword": types.CompletionItemKind.Keyword,
    "path": types.CompletionItemKind.File,
    "magic": types.CompletionItemKind.Function,
}


async def _document_kernel(ls: KernelBridgeServer, uri: str) -> KernelSession | None:
    """The kernel of an open document for completion and hover, which never start one
    (and never bind a document that is not open)."""
    if uri not in ls.workspace.text_documents:
        return None
    try:
        return await ls.bridge.kernel_for(uri, start=False)
    except NoKernelForDocument:
        return None


async def completion(ls: KernelBridgeServer, params: types.CompletionParams
                     ) -> types.CompletionList | None:
    uri = params.text_document.uri
    session = await _document_kernel(ls, uri)
    if session is None:
        return None
    doc = ls.workspace.get_text_document(uri)
    code = doc.source
    cursor = doc.offset_at_position(params.position)
    reply = await session.call("complete", code=code, cursor_pos=cursor,
                               timeout=ls.options.request_timeout)
    if reply.get("status", "ok") != "ok":
        return None
    positions: dict[int, types.Position] = {}

    def position(offset: int) -> types.Position:
        # pygls's own offset → position is off by a line at the end of the text.
        offset = max(0, min(offset, len(code)))
        if offset not in positions:
            line = code.count("\n", 0, offset)
            column = offset - (code.rfind("\n", 0, offset) + 1)
            positions[offset] = doc.position_to_client_units(ServerTextPosition(line, column))
        return positions[offset]

    start = reply.get("cursor_start", cursor)
    end = reply.get("cursor_end", cursor)
    typed = {e.get("text"): e for e in (reply.get("metadata") or {}).get(
        "_jupyter_types_experimental", []) if isinstance(e, dict)}
    items = []
    for index, text in enumerate(reply.get("matches", [])):
        if not isinstance(text, str):
            continue
        entry = typed.get(text, {})
        item_start = entry.get("start", start) if isinstance(entry.get("start"), int) else start
        item_end = entry.get("end", end) if isinstance(entry.get("end"), int) else end
        kind_name = entry.get("type") or ""
        signature = entry.get("signature") or ""
        items.append(types.CompletionItem(
            label=text,
            kind=_KINDS.get(kind_name),
            detail=f"{text}{signature}" if signature else (kind_name or None),
            sort_text=f"{index:05d}",
            filter_text=text,
            text_edit=types.TextEdit(
                range=types.Range(start=position(item_start), end=position(item_end)),
                new_text=text,
            ),
        ))
    return types.CompletionList(is_incomplete=False, items=items)


async def hover(ls: KernelBridgeServer, params: types.HoverParams) -> types.Hover | None:
    uri = params.text_document.uri
    session = await _document_kernel(ls, uri)
    if session is None:
        return None
    doc = ls.workspace.get_text_document(uri)
    reply = await session.call("inspect", code=doc.source,
                               cursor_pos=doc.offset_at_position(params.position),
                               detail_level=0, timeout=ls.options.request_timeout)
    if reply.get("status", "ok") != "ok" or not reply.get("found"):
        return None
    data = reply.get("data") or {}
    markdown = data.get("text/markdown")
    if not isinstance(markdown, str):
        plain = data.get("text/plain")
        if not isinstance(plain, str) or not plain.strip():
            return None
        markdown = f"```text\n{strip_ansi(plain).rstrip()}\n```"
    return types.Hover(contents=types.MarkupContent(kind=types.MarkupKind.Markdown,
                                                    value=strip_ansi(markdown)))


def initialize(ls: KernelBridgeServer, params: types.InitializeParams) -> None:
    options, problems = read_options(params.initialization_options)
    ls.configure(options)
    for problem in problems:
        ls.protocol.show_message(f"kernelbridge: initializationOptions: {problem}",
                                 types.MessageType.Warning)


async def shutdown(ls: KernelBridgeServer, *_: Any) -> None:
    ls.protocol.cancel_requests()
    await ls.bridge.close()


def did_open(ls: KernelBridgeServer, params: types.DidOpenTextDocumentParams) -> None:
    doc = params.text_document
    ls.bridge.open_document(doc.uri, doc.language_id, doc.text, doc.version)


def did_change(ls: KernelBridgeServer, params: types.DidChangeTextDocumentParams) -> None:
    uri = params.text_document.uri
    if uri in ls.workspace.text_documents:
        ls.bridge.change_document(uri, ls.workspace.get_text_document(uri).source,
                                  params.text_document.version)
        runner(ls).document_changed(uri)


def did_close(ls: KernelBridgeServer, params: types.DidCloseTextDocumentParams) -> None:
    ls.bridge.close_document(params.text_document.uri)
    runner(ls).document_closed(params.text_document.uri)


# -- registration ---------------------------------------------------------------------


def _command(ls: KernelBridgeServer, name: str, params_cls: type, handler: Handler
             ) -> Callable[..., Awaitable[Any]]:
    # No annotation on *arguments: pygls inspects it to structure command arguments.
    async def command(*arguments):  # type: ignore[no-untyped-def]
        if len(arguments) > 1:
            raise invalid_params(f"command kernelbridge.{name} takes one argument, "
                                 f"not {len(arguments)}")
        raw = arguments[0] if arguments else {}
        if raw is None:
            raw = {}
        if not isinstance(raw, dict):
            raise invalid_params("arguments[0]: must be an object")
        try:
            params = ls.protocol._converter.structure(without_nulls(raw), params_cls)
        except Exception as exc:
            raise invalid_params(
                f"invalid arguments[0]: {describe_structure_error(exc)}") from None
        return await handler(ls, params)

    return command


def register_features(ls: KernelBridgeServer) -> None:
    for name, (params_cls, fn) in METHODS.items():
        handler = _mapped(fn)
        # Served by the protocol's direct dispatch, not pygls's (no feature to register).
        ls.protocol.direct_methods[f"kernelbridge/{name}"] = (
            params_cls, functools.partial(handler, ls))
        ls.command(f"kernelbridge.{name}")(_command(ls, name, params_cls, handler))
    ls.feature(types.TEXT_DOCUMENT_COMPLETION, types.CompletionOptions(
        trigger_characters=["."], resolve_provider=False))(
        functools.partial(_mapped(completion), ls))
    ls.feature(types.TEXT_DOCUMENT_HOVER)(functools.partial(_mapped(hover), ls))
    ls.feature(types.TEXT_DOCUMENT_CODE_LENS, types.CodeLensOptions(resolve_provider=False))(
        functools.partial(_mapped(code_lens), ls))
    ls.feature(types.INITIALIZE)(functools.partial(initialize, ls))
    ls.feature(types.SHUTDOWN)(functools.partial(_mapped(shutdown), ls))
    ls.feature(types.TEXT_DOCUMENT_DID_OPEN)(functools.partial(did_open, ls))
    ls.feature(types.TEXT_DOCUMENT_DID_CHANGE)(functools.partial(did_change, ls))
    ls.feature(types.TEXT_DOCUMENT_DID_CLOSE)(functools.partial(did_close, ls))


__all__ = ["METHODS", "register_features"]
