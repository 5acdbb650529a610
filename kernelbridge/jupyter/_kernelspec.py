"""Kernelspec discovery, through jupyter_client (imported lazily: it costs ~0.3 s)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ._errors import KernelSpecNotFound


@dataclass(frozen=True, slots=True)
class KernelSpecInfo:
    """What an editor needs to know of an installed kernelspec."""

    name: str
    display_name: str
    language: str
    interrupt_mode: str  # "signal" or "message"
    path: str  # the kernelspec's resource directory
    argv: tuple[str, ...] = ()
    metadata: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "displayName": self.display_name,
            "language": self.language,
            "interruptMode": self.interrupt_mode,
            "path": self.path,
            "argv": list(self.argv),
            "metadata": self.metadata,
        }


def _spec_info(name: str, resource_dir: str, spec: Any) -> KernelSpecInfo:
    return KernelSpecInfo(
        name=name,
        display_name=spec.display_name or name,
        language=spec.language or "",
        interrupt_mode=spec.interrupt_mode or "signal",
        path=resource_dir,
        argv=tuple(spec.argv),
        metadata=dict(spec.metadata or {}),
    )


def find_kernelspecs() -> list[KernelSpecInfo]:
    """Every installed kernelspec, sorted by name. Broken specs are skipped."""
    from jupyter_client.kernelspec import KernelSpecManager

    ksm = KernelSpecManager()
    found = []
    for name, resource_dir in sorted(ksm.find_kernel_specs().items()):
        try:
            spec = ksm.get_kernel_spec(name)
        except Exception:  # a broken kernel.json must not hide the others
            continue
        found.append(_spec_info(name, resource_dir, spec))
    return found


def get_kernelspec(name: str) -> KernelSpecInfo:
    """The kernelspec called ``name``; raises KernelSpecNotFound."""
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    ksm = KernelSpecManager()
    try:
        spec = ksm.get_kernel_spec(name)
    except NoSuchKernel:
        known = ", ".join(sorted(ksm.find_kernel_specs())) or "none"
        raise KernelSpecNotFound(f"no kernelspec named {name!r} (installed: {known})") from None
    return _spec_info(name, spec.resource_dir, spec)
