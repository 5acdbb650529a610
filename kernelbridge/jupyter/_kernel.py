"""Kernels we start (and own) or connect to: launch, interrupt, restart, shut down.

Launching goes through jupyter_client's ``AsyncKernelManager`` and its provisioners, so
kernelspecs, interrupt modes and graceful-then-forced shutdown work as in every Jupyter
front end. Talking to the kernel is ``KernelClient``'s job; this module only watches the
process (a pidfd, so death is seen at once, not at the next poll) and the heartbeat.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
from anyio.abc import TaskStatus

from ._client import ClientOptions, KernelClient
from ._connection import (
    ConnectionInfo,
    Transport,
    new_connection_info,
    read_connection_file,
    remove_connection_files,
    runtime_dir,
    write_connection_file,
)
from ._errors import (
    KernelDied,
    KernelLaunchError,
    KernelRestarted,
    KernelSpecNotFound,
    NotOwner,
    collapse_groups,
)
from ._kernelspec import get_kernelspec
from ._message import new_id

_STDERR_TAIL = 4000
_PR_SET_PDEATHSIG = 1  # linux/prctl.h


def _exit_with_parent() -> Callable[[], None] | None:
    """A ``preexec_fn`` that has the kernel sent SIGTERM when we die (Linux), or None.

    ``JPY_PARENT_PID`` covers ipykernel only (it polls its parent every second); other
    kernels (xeus-python) outlive a SIGKILLed daemon as orphans without this. The signal
    goes when the *thread* that forked the kernel ends: kernels are launched from the
    event loop's thread, which lives as long as the daemon. The function runs in the
    child between fork and exec, so it only makes the foreign call resolved beforehand.
    """
    if not sys.platform.startswith("linux"):
        return None
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    parent = os.getpid()

    def preexec() -> None:
        prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
        if os.getppid() != parent:  # we died before the call: too late for the signal
            os._exit(1)

    return preexec


@dataclass(frozen=True, slots=True)
class KernelOptions:
    """How kernels are started and stopped. Every field has a working default."""

    transport: Transport = "tcp"
    # Seconds a kernel gets to exit after shutdown_request before SIGTERM, then SIGKILL.
    shutdown_wait: float = 3.0
    # Seconds an interrupted-by-message kernel gets to answer interrupt_request.
    interrupt_timeout: float = 5.0
    client: ClientOptions = field(default_factory=ClientOptions)


class Kernel:
    """One kernel: a ``KernelClient`` to talk to it and, when we started it, its process.

    Make one with ``Kernel.launch(...)`` or ``Kernel.connected(path)``; run it with
    ``await tg.start(kernel.serve)`` (which returns once the kernel is ready) or use the
    ``start_kernel`` / ``connect_kernel`` context managers.
    """

    def __init__(
        self,
        info: ConnectionInfo,
        connection_file: Path,
        *,
        owned: bool,
        kernel_name: str = "",
        cwd: str | None = None,
        env: Mapping[str, str] | None = None,
        options: KernelOptions | None = None,
    ) -> None:
        self.id = new_id()
        self.info = info
        self.connection_file = connection_file
        self.owned = owned
        self.kernel_name = kernel_name or info.kernel_name
        self.cwd = cwd
        self.env = dict(env or {})
        self.options = options or KernelOptions()
        self.client = KernelClient(info, self.options.client)
        # We watch the process of a kernel we own (pidfd): its heartbeat going silent
        # means stopped or frozen, not dead.
        self.client.process_watched = owned
        self.exit_code: int | None = None
        self._manager: Any = None  # jupyter_client AsyncKernelManager, for owned kernels
        self._stderr_path: Path | None = None
        self._stderr_file: Any = None
        self._watch_scope: anyio.CancelScope | None = None
        self._task_group: anyio.abc.TaskGroup | None = None
        self._stopped = anyio.Event()

    @classmethod
    def launch(
        cls,
        kernel_name: str = "python3",
        *,
        cwd: str | None = None,
        env: Mapping[str, str] | None = None,
        options: KernelOptions | None = None,
    ) -> Kernel:
        """A kernel to be started from kernelspec ``kernel_name`` when served: fresh
        ports (or ipc paths) and a random key in a new 0600 connection file."""
        options = options or KernelOptions()
        info = new_connection_info(options.transport, kernel_name=kernel_name)
        path = runtime_dir() / f"kernel-kb-{new_id()}.json"
        return cls(info, path, owned=True, kernel_name=kernel_name, cwd=cwd, env=env,
                   options=options)

    @classmethod
    def connected(cls, connection_file: str | Path, options: KernelOptions | None = None
                  ) -> Kernel:
        """A kernel started elsewhere, from its connection file (ConnectionFileError if
        it cannot be read). We never kill or relaunch it."""
        path = Path(connection_file)
        return cls(read_connection_file(path), path, owned=False, options=options)

    @property
    def pid(self) -> int | None:
        process = self._process()
        return process.pid if process is not None else None

    def _process(self) -> subprocess.Popen[bytes] | None:
        provisioner = getattr(self._manager, "provisioner", None)
        return getattr(provisioner, "process", None)

    # -- running ------------------------------------------------------------------------

    async def serve(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        """Start (owned) or connect to the kernel, wait until it is ready, report started,
        and watch it until ``shutdown()``. A kernel that cannot start raises
        KernelLaunchError (owned) or KernelTimeout before ``started``."""
        try:
            with collapse_groups():
                await self._serve(task_status)
        finally:
            self._stopped.set()
            if self.owned:
                with anyio.CancelScope(shield=True):
                    await self._stop_process(graceful=False)
                self._remove_files()

    def _remove_files(self) -> None:
        """Remove an owned kernel's connection file, ipc sockets and stderr file (again
        is harmless)."""
        remove_connection_files(self.info, self.connection_file)
        if self._stderr_file is not None:
            self._stderr_file.close()
        if self._stderr_path is not None:
            with contextlib.suppress(OSError):
                self._stderr_path.unlink()

    async def _serve(self, task_status: TaskStatus[None]) -> None:
        if self.owned:
            await self._launch()
        async with anyio.create_task_group() as tg:
            self._task_group = tg
            await tg.start(self.client.serve)
            if self.owned:
                tg.start_soon(self._watch_process)
            await self._wait_ready()
            task_status.started()
            await self._stopped.wait()
            self.client.close()

    async def _wait_ready(self, timeout: float | None = None) -> None:
        try:
            await self.client.wait_ready(timeout)
        except KernelDied as exc:
            # An owned kernel that exits during start-up fails at once (the pending
            # kernel_info fails), not at the ready deadline; say why if it told us.
            raise KernelLaunchError(
                f"kernel {self.kernel_name!r} exited during start-up"
                + (f" (exit code {self.exit_code})" if self.exit_code is not None else "")
                if self.owned else str(exc),
                stderr_tail=self.stderr_tail(),
            ) from None

    async def _launch(self) -> None:
        from jupyter_client.kernelspec import NoSuchKernel
        from jupyter_client.manager import AsyncKernelManager

        write_connection_file(self.info, self.connection_file)
        # cache_ports=False: otherwise the provisioner picks new ports and rewrites the
        # connection file behind our back.
        km = AsyncKernelManager(
            kernel_name=self.kernel_name, transport=self.info.transport, cache_ports=False
        )
        km.connection_file = str(self.connection_file)
        km.load_connection_info(self.info.to_dict())
        km.shutdown_wait_time = self.options.shutdown_wait
        try:
            km.kernel_spec  # noqa: B018 -- resolve now for a clear error
        except NoSuchKernel:
            get_kernelspec(self.kernel_name)  # raises KernelSpecNotFound, listing the known
            raise KernelSpecNotFound(f"no kernelspec named {self.kernel_name!r}") from None
        self._stderr_path = runtime_dir() / f"kernel-kb-{self.id[:12]}.stderr"
        # Kept open for the kernel's life: restarts launch again with the same arguments.
        fd = os.open(self._stderr_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        self._stderr_file = os.fdopen(fd, "wb")
        env = {**os.environ, **self.env}
        try:
            # The kernel must not inherit our stdout: in a --stdio daemon that is the
            # JSON-RPC stream. It exits when we die: JPY_PARENT_PID (set by the launcher)
            # for ipykernel, the parent-death signal for every kernel. Restarts launch
            # with the same arguments.
            extra: dict[str, Any] = {}
            preexec = _exit_with_parent()
            if preexec is not None:
                extra["preexec_fn"] = preexec
            await km.start_kernel(
                cwd=self.cwd or os.getcwd(),
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=self._stderr_file,
                **extra,
            )
        except (OSError, RuntimeError, ValueError) as exc:
            raise KernelLaunchError(
                f"cannot start kernel {self.kernel_name!r}: {exc}",
                stderr_tail=self.stderr_tail(),
            ) from None
        self._manager = km

    async def _watch_process(self) -> None:
        """Report the owned process's death the moment it happens. A restart cancels
        this watcher and starts a new one for the new process."""
        process = self._process()
        if process is None:
            return
        with anyio.CancelScope() as scope:
            self._watch_scope = scope
            code = await _wait_exit(process)
            self.exit_code = code
            self.client.mark_dead(
                KernelDied(f"the kernel process exited with code {code}", exit_code=code)
            )

    def stderr_tail(self) -> str:
        """The end of what an owned kernel wrote to stderr (for error messages)."""
        if self._stderr_path is None:
            return ""
        try:
            with open(self._stderr_path, "rb") as f:
                f.seek(0, os.SEEK_END)
                f.seek(max(0, f.tell() - _STDERR_TAIL))
                return f.read().decode(errors="replace").strip()
        except OSError:
            return ""

    # -- lifecycle ----------------------------------------------------------------------

    async def interrupt(self) -> None:
        """Interrupt the running execution: by signal or by message, per the kernelspec's
        interrupt_mode. Kernels we do not own get an interrupt_request."""
        km = self._manager
        if self.owned and km is not None and km.kernel_spec.interrupt_mode == "signal":
            await km.interrupt_kernel()
            return
        await self.client.interrupt_request(timeout=self.options.interrupt_timeout)

    async def restart(self, timeout: float | None = None) -> dict[str, Any]:
        """Relaunch an owned kernel on the same ports and key and wait until it is ready;
        requests pending on the old process fail with KernelRestarted. Returns the new
        kernel_info. Raises NotOwner for kernels we only connected to."""
        if not self.owned or self._manager is None or self._task_group is None:
            raise NotOwner("only the process that started a kernel can restart it")
        if self._watch_scope is not None:
            self._watch_scope.cancel()  # the old process's exit is not a death
        # An unresponsive kernel (stopped, frozen) cannot answer shutdown_request: do not
        # wait shutdown_wait for it, kill it. Nor send one to a process that has exited:
        # jupyter_client's socket would keep it queued and hand it to the new kernel on
        # the same ports, which then shuts down (seen with xeus-python after a kill -9).
        now = not self.client.responsive or self.exit_code is not None
        self.client.begin_restart()
        try:
            await self._manager.restart_kernel(now=now)
        except (OSError, RuntimeError) as exc:
            error = KernelDied(f"the kernel could not be restarted: {exc}")
            self.client.mark_dead(error)
            raise error from None
        self.exit_code = None
        self.client.mark_restarted(KernelRestarted("the kernel was restarted"))
        self._task_group.start_soon(self._watch_process)
        await self._wait_ready(timeout)
        assert self.client.kernel_info is not None
        return self.client.kernel_info

    async def shutdown(self, *, kill_owned: bool = True) -> None:
        """Stop. Owned kernels get a shutdown_request, then SIGTERM, then SIGKILL (unless
        ``kill_owned`` is false); kernels we connected to are only disconnected from."""
        if self.owned and kill_owned:
            await self._stop_process(graceful=True)
            # Now, not when serve() winds down: whoever awaited this may check at once
            # that nothing is left behind.
            self._remove_files()
        self._stopped.set()

    async def _stop_process(self, *, graceful: bool) -> None:
        km = self._manager
        if km is None:
            return
        if self._watch_scope is not None:
            self._watch_scope.cancel()
        try:
            if graceful and self.client.alive and self.client.responsive:
                with anyio.fail_after(self.options.shutdown_wait + 5):
                    await km.shutdown_kernel(now=False)
            else:
                await km.shutdown_kernel(now=True)
        except (TimeoutError, RuntimeError, OSError):
            process = self._process()
            if process is not None and process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
        process = self._process()
        if process is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=1)
            self.exit_code = process.returncode
        self._manager = None


async def _wait_exit(process: subprocess.Popen[bytes]) -> int:
    """Wait for ``process`` to exit and return its exit code. A pidfd (Linux 5.3+) wakes
    us the moment it exits; elsewhere we poll every 50 ms."""
    try:
        fd = os.pidfd_open(process.pid)
    except (AttributeError, OSError):
        while process.poll() is None:  # noqa: ASYNC110 -- no event to wait on here
            await anyio.sleep(0.05)
        return process.returncode
    try:
        while process.poll() is None:
            await anyio.wait_readable(fd)
    finally:
        os.close(fd)
    return process.returncode


@contextlib.asynccontextmanager
async def start_kernel(
    kernel_name: str = "python3",
    *,
    cwd: str | None = None,
    env: Mapping[str, str] | None = None,
    options: KernelOptions | None = None,
) -> AsyncIterator[Kernel]:
    """Start a kernel, yield it once ready, shut it down on exit."""
    kernel = Kernel.launch(kernel_name, cwd=cwd, env=env, options=options)
    with collapse_groups():
        async with anyio.create_task_group() as tg:
            await tg.start(kernel.serve)
            try:
                yield kernel
            finally:
                with anyio.CancelScope(shield=True):
                    await kernel.shutdown()


@contextlib.asynccontextmanager
async def connect_kernel(
    connection_file: str | Path, options: KernelOptions | None = None
) -> AsyncIterator[Kernel]:
    """Connect to a running kernel, yield it once ready, disconnect on exit (the kernel
    keeps running)."""
    kernel = Kernel.connected(connection_file, options)
    with collapse_groups():
        async with anyio.create_task_group() as tg:
            await tg.start(kernel.serve)
            try:
                yield kernel
            finally:
                await kernel.shutdown()
