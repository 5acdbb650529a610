"""The editor-agnostic core: kernels by id, documents and the kernel each is bound to.

Knows neither JSON-RPC nor zmq. It is driven by the server's handlers and talks back
through an ``EditorSink``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio
import orjson
from anyio.abc import TaskGroup, TaskStatus

from kernelbridge.jupyter import (
    KernelDied,
    NotOwner,
    collapse_groups,
    find_kernelspecs,
    get_kernelspec,
)

from ._cells import Cell, parse_cells
from ._errors import InvalidArgument, NoKernelForDocument, UnknownKernel
from ._output import ImageStore, OutputOptions, OutputShaper, OutputStore, default_image_dir
from ._session import EditorSink, KernelSession

if TYPE_CHECKING:
    from kernelbridge.jupyter import KernelOptions, KernelSpecInfo, Transport


@dataclass(frozen=True, slots=True)
class BridgeOptions:
    """How the bridge picks and starts kernels. Every field has a working default."""

    # Start a kernel for a document's language on first need when none is bound.
    auto_start: bool = True
    # Kernelspec to start per language; else the first installed spec of that language
    # (``python3`` preferred for python).
    default_kernelspecs: Mapping[str, str] = field(default_factory=dict)
    transport: Transport = "tcp"
    # Seconds an owned kernel gets to exit after shutdown_request before it is killed.
    shutdown_wait: float = 3.0
    # Seconds a kernel connected to (not started) gets to answer kernel_info: a kernel
    # that is running answers at once, and nothing says a dead one is dead but this.
    connect_timeout: float = 10.0
    output: OutputOptions = field(default_factory=OutputOptions)


@dataclass(slots=True)
class Document:
    uri: str
    language_id: str
    text: str = ""
    version: int = 0
    kernel_id: str | None = None
    # False for a URI only bound to a kernel (start/connect with uri) but not open.
    is_open: bool = False


class Bridge:
    """Kernels and documents of one daemon. Run ``serve`` in a task group first."""

    def __init__(self, sink: EditorSink, options: BridgeOptions | None = None) -> None:
        self.sink = sink
        self.options = options or BridgeOptions()
        self.sessions: dict[str, KernelSession] = {}
        self.documents: dict[str, Document] = {}
        self._task_group: TaskGroup | None = None
        self._starting: dict[str, anyio.Event] = {}  # language -> auto-start in progress
        self.outputs = OutputStore()

    async def serve(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        """Own the kernels' tasks until cancelled; then stop every kernel."""
        try:
            async with anyio.create_task_group() as tg:
                self._task_group = tg
                task_status.started()
                await anyio.sleep_forever()
        finally:
            with anyio.CancelScope(shield=True):
                await self.close()

    @property
    def task_group(self) -> TaskGroup:
        if self._task_group is None:
            raise RuntimeError("Bridge.serve is not running")
        return self._task_group

    # -- kernelspecs and kernels ------------------------------------------------------------

    async def kernelspecs(self) -> list[KernelSpecInfo]:
        return await anyio.to_thread.run_sync(find_kernelspecs)

    def get(self, kernel_id: str) -> KernelSession:
        try:
            return self.sessions[kernel_id]
        except KeyError:
            raise UnknownKernel(f"no kernel with id {kernel_id!r}") from None

    def kernels(self) -> list[KernelSession]:
        return list(self.sessions.values())

    def _kernel_options(self) -> KernelOptions:
        # zmq and jupyter_client load with the first kernel, not with the daemon.
        from kernelbridge.jupyter import KernelOptions

        return KernelOptions(
            transport=self.options.transport, shutdown_wait=self.options.shutdown_wait
        )

    async def start(
        self,
        kernelspec: str | None = None,
        *,
        cwd: str | None = None,
        env: Mapping[str, str] | None = None,
        uri: str | None = None,
        language: str | None = None,
    ) -> KernelSession:
        """Start a kernel (the default for ``language``, or python's, when no kernelspec
        is named), bind ``uri`` to it, and return it once it is ready."""
        if cwd is not None:
            cwd = _check_path(cwd, "cwd", "a directory", os.path.isdir)
        if env is not None and not all(
            isinstance(k, str) and isinstance(v, str) for k, v in env.items()
        ):
            raise InvalidArgument("env must map strings to strings")
        name = kernelspec or await self.default_kernelspec(language or "python")
        spec = await anyio.to_thread.run_sync(get_kernelspec, name)
        from kernelbridge.jupyter import Kernel

        kernel = Kernel.launch(name, cwd=cwd, env=env, options=self._kernel_options())
        session = KernelSession(kernel, self.sink, self.task_group, self._shaper(kernel.id),
                                language=spec.language, display_name=spec.display_name)
        return await self._run(session, uri)

    async def connect(self, connection_file: str, *, uri: str | None = None) -> KernelSession:
        """Connect to a kernel started elsewhere (never killed by us)."""
        path = _check_path(connection_file, "connection file", "a file", os.path.isfile)
        options = self._kernel_options()
        options = dataclasses.replace(options, client=dataclasses.replace(
            options.client, ready_timeout=self.options.connect_timeout))
        from kernelbridge.jupyter import Kernel

        kernel = Kernel.connected(path, options)
        session = KernelSession(kernel, self.sink, self.task_group, self._shaper(kernel.id))
        return await self._run(session, uri)

    def _shaper(self, kernel_id: str) -> OutputShaper:
        output = self.options.output
        images = ImageStore(Path(output.image_dir) if output.image_dir else default_image_dir())
        return OutputShaper(kernel_id, output, self.outputs, images, self.sink.output)

    def output_text(self, kernel_id: str, execution_id: str) -> list[dict[str, str]]:
        """The full stream output of an execution whose output was truncated."""
        self.get(kernel_id)
        path = self.outputs.texts.get((kernel_id, execution_id))
        if path is None:
            raise InvalidArgument(f"execution {execution_id!r} of kernel {kernel_id} has no "
                                  "truncated output (all of it was sent)")
        with open(path, "rb") as f:
            return [orjson.loads(line) for line in f]

    def output_data(self, kernel_id: str, output_id: str) -> dict[str, Any]:
        """Every representation of a display or result the editor got reduced."""
        self.get(kernel_id)
        data = self.outputs.data(kernel_id, output_id)
        if data is None:
            raise InvalidArgument(f"output {output_id!r} of kernel {kernel_id} is not kept "
                                  "(it was sent whole, or is too old)")
        return data

    async def _run(self, session: KernelSession, uri: str | None) -> KernelSession:
        self.sessions[session.id] = session
        session.attach()
        session.set_state("starting")
        try:
            with collapse_groups():
                await self.task_group.start(self._serve_kernel, session)
        except BaseException as exc:
            self.sessions.pop(session.id, None)
            session.set_state("dead", reason=f"the kernel did not start: {exc}")
            session.detach()
            raise
        info = session.kernel.client.kernel_info or {}
        if not session.language:
            session.language = info.get("language_info", {}).get("name", "")
        session.set_state("idle")
        if uri is not None:
            self.bind(uri, session.id)
        return session

    async def _serve_kernel(
        self, session: KernelSession, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        try:
            await session.kernel.serve(task_status=task_status)
        finally:
            session.detach()

    async def interrupt(self, kernel_id: str) -> None:
        session = self.get(kernel_id)
        if session.state == "dead":
            raise KernelDied("the kernel is dead: restart it first")
        await session.kernel.interrupt()

    async def restart(self, kernel_id: str) -> KernelSession:
        session = self.get(kernel_id)
        if not session.kernel.owned:
            raise NotOwner("only the process that started a kernel can restart it; "
                           "this one was connected to")
        session.set_state("restarting")
        try:
            await session.kernel.restart()
        except BaseException as exc:
            session.set_state("dead", reason=f"the kernel could not be restarted: {exc}")
            raise
        session.set_state("idle")
        return session

    async def shutdown(self, kernel_id: str, *, kill: bool | None = None) -> None:
        """Stop a kernel: owned ones are shut down, others only disconnected from unless
        ``kill`` asks to shut them down too (by shutdown_request)."""
        session = self.get(kernel_id)
        kernel = session.kernel
        if not kernel.owned and kill:
            with contextlib.suppress(Exception):
                await kernel.client.shutdown_request(timeout=self.options.shutdown_wait)
        await kernel.shutdown()
        self.sessions.pop(kernel_id, None)
        session.detach()
        session.set_state("dead", reason="shut down" if kernel.owned or kill
                          else "disconnected (the kernel keeps running)")
        for doc in self.documents.values():
            if doc.kernel_id == kernel_id:
                doc.kernel_id = None

    async def close(self) -> None:
        """Shut down every kernel we started; disconnect from the others."""
        async with anyio.create_task_group() as tg:
            for kernel_id in list(self.sessions):
                tg.start_soon(self._shutdown_quietly, kernel_id)
        self.outputs.close()

    async def _shutdown_quietly(self, kernel_id: str) -> None:
        with contextlib.suppress(Exception):
            await self.shutdown(kernel_id)

    # -- documents ------------------------------------------------------------------------

    def open_document(self, uri: str, language_id: str, text: str, version: int = 0) -> None:
        doc = self.documents.get(uri)
        kernel_id = doc.kernel_id if doc is not None else None
        # A client that does not know the language (languageId ""): tell it by extension.
        self.documents[uri] = Document(uri, language_id or _language_of(uri), text, version,
                                       kernel_id, is_open=True)

    def change_document(self, uri: str, text: str, version: int = 0) -> None:
        doc = self.documents.get(uri)
        if doc is not None:
            doc.text = text
            doc.version = version

    def close_document(self, uri: str) -> None:
        self.documents.pop(uri, None)

    def cells(self, uri: str) -> list[Cell]:
        """The percent-format cells of open document ``uri``, by its language."""
        doc = self.documents.get(uri)
        if doc is None or not doc.is_open:
            raise InvalidArgument(f"document {uri} is not open")
        return parse_cells(doc.text, doc.language_id or "python")

    def bind(self, uri: str, kernel_id: str) -> None:
        self.get(kernel_id)
        doc = self.documents.get(uri)
        if doc is None:
            doc = self.documents[uri] = Document(uri, language_id=self.get(kernel_id).language)
        doc.kernel_id = kernel_id

    async def default_kernelspec(self, language: str) -> str:
        configured = self.options.default_kernelspecs.get(language)
        if configured:
            return configured
        specs = [s for s in await self.kernelspecs() if s.language.lower() == language.lower()]
        if not specs:
            raise NoKernelForDocument(f"no kernelspec installed for language {language!r}")
        preferred = [s for s in specs if s.name == "python3"]
        return (preferred or specs)[0].name

    async def kernel_for(self, uri: str, *, start: bool = True) -> KernelSession:
        """The kernel of document ``uri``: its bound kernel, else the most recent kernel
        of its language, else (``auto_start``) a new kernel of the language's default
        kernelspec. Concurrent first requests share one start."""
        doc = self.documents.get(uri)
        if doc is not None and doc.kernel_id in self.sessions:
            return self.sessions[doc.kernel_id]
        language = doc.language_id if doc is not None else _language_of(uri)
        for session in reversed(list(self.sessions.values())):
            if session.language.lower() == language.lower() and session.state != "dead":
                self.bind(uri, session.id)
                return session
        if not (start and self.options.auto_start):
            raise NoKernelForDocument(f"no kernel is bound to {uri} (start one first)")
        pending = self._starting.get(language)
        if pending is not None:
            await pending.wait()
            return await self.kernel_for(uri, start=False)
        self._starting[language] = done = anyio.Event()
        try:
            cwd = _document_dir(uri)
            return await self.start(language=language, uri=uri, cwd=cwd)
        finally:
            del self._starting[language]
            done.set()

    def describe(self, session: KernelSession) -> dict[str, Any]:
        out = session.describe()
        out["documents"] = sorted(d.uri for d in self.documents.values()
                                  if d.kernel_id == session.id)
        return out


_EXTENSIONS = {".py": "python", ".jl": "julia", ".r": "r", ".R": "r", ".js": "javascript",
               ".ts": "typescript", ".lua": "lua", ".scala": "scala", ".hs": "haskell"}


def _language_of(uri: str) -> str:
    return _EXTENSIONS.get(os.path.splitext(uri)[1], "python")


def _document_dir(uri: str) -> str | None:
    if uri.startswith("file://"):
        from urllib.parse import unquote, urlparse

        parent = Path(unquote(urlparse(uri).path)).parent
        if parent.is_dir():
            return str(parent)
    return None


def _check_path(path: str, what: str, kind: str, check: Any) -> str:
    """``path`` with ``~`` expanded, made absolute (a relative path is the daemon's cwd's,
    and the error says which path that was); InvalidArgument unless ``check`` holds."""
    if "\0" in path:
        raise InvalidArgument(f"{what} {path!r} contains a NUL character")
    # A local stat: cheap enough to do on the loop.
    absolute = os.path.abspath(os.path.expanduser(path))
    shown = repr(path) if absolute == path else f"{path!r} ({absolute})"
    if not os.path.exists(absolute):
        raise InvalidArgument(f"{what} {shown} does not exist")
    if not check(absolute):
        raise InvalidArgument(f"{what} {shown} is not {kind}")
    return absolute
