"""Typed content of every Jupyter message type, up to protocol 5.5.

One keyword-only dataclass per ``msg_type``, with the spec's field names and defaults.
``from_dict`` is tolerant: a missing optional field gets its default, and fields the spec
does not name are kept in ``extra`` and written back by ``to_dict``, so
``from_dict(d).to_dict() == d`` for spec-conformant and extended content alike. A
required field that is missing or of the wrong basic JSON type raises ``ValueError``.
Message types not in ``CONTENT_TYPES`` parse to ``UnknownContent``, which passes the raw
dict through untouched. Data only: no I/O here.
"""

from __future__ import annotations

import dataclasses
import types
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import (
    Any,
    ClassVar,
    Literal,
    Self,
    TypedDict,
    TypeVar,
    Union,
    dataclass_transform,
    get_args,
    get_origin,
    get_type_hints,
    is_typeddict,
)

ReplyStatus = Literal["ok", "error", "aborted"]
IsCompleteStatus = Literal["complete", "incomplete", "invalid", "unknown"]
StreamName = Literal["stdout", "stderr"]
ExecutionState = Literal["busy", "idle", "starting"]
HistAccessType = Literal["range", "tail", "search"]


class LanguageInfo(TypedDict, total=False):
    """``kernel_info_reply.language_info``; only ``name`` is always there in practice."""

    name: str
    version: str
    mimetype: str
    file_extension: str
    pygments_lexer: str
    codemirror_mode: str | dict[str, Any]
    nbconvert_exporter: str


class HelpLink(TypedDict):
    """One entry of ``kernel_info_reply.help_links``."""

    text: str
    url: str


CONTENT_TYPES: dict[str, type[Content]] = {}
"""msg_type → content class, filled in as the classes below are defined."""

_CHANNELS = frozenset({"shell", "control", "iopub", "stdin"})
_C = TypeVar("_C", bound="Content")


@dataclass_transform(kw_only_default=True, field_specifiers=(field,))
def _content(msg_type: str = "", channel: str = "") -> Callable[[type[_C]], type[_C]]:
    """Make a class a slotted keyword-only dataclass; with a msg_type, register it."""

    def decorate(cls: type[_C]) -> type[_C]:
        # Registered here, not in __init_subclass__: slots=True makes dataclass build a
        # second class object, and only that one may end up in the registry.
        cls = dataclass(slots=True, kw_only=True)(cls)
        _SPECS[cls] = _specs(cls)
        if msg_type:
            if msg_type in CONTENT_TYPES or channel not in _CHANNELS:
                raise TypeError(f"{cls.__name__}: duplicate msg_type or bad channel")
            cls.msg_type, cls.channel = msg_type, channel
            CONTENT_TYPES[msg_type] = cls
        return cls

    return decorate


def _when_ok() -> Any:
    """A reply field the spec requires only when status is "ok" (error replies omit it)."""
    return field(default=None, metadata={"when_ok": True})


@dataclass(frozen=True, slots=True)
class _Field:
    name: str
    kinds: tuple[type, ...]  # accepted JSON types; ``object`` accepts anything
    required: bool
    when_ok: bool


_SPECS: dict[type, tuple[_Field, ...]] = {}  # class → its fields, but ``extra``


def _specs(cls: type) -> tuple[_Field, ...]:
    hints = get_type_hints(cls)
    return tuple(
        _Field(
            f.name,
            _kinds(hints[f.name]),
            f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING,
            bool(f.metadata.get("when_ok")),
        )
        for f in dataclasses.fields(cls)
        if f.name != "extra"
    )


def _kinds(hint: Any) -> tuple[type, ...]:
    """The basic runtime types a JSON value of type ``hint`` may have."""
    if hint is Any:
        return (object,)
    if hint is type(None):
        return (hint,)
    origin = get_origin(hint)
    if origin is Union or origin is types.UnionType:
        return tuple(kind for arg in get_args(hint) for kind in _kinds(arg))
    if origin is Literal:
        return tuple({type(arg) for arg in get_args(hint)})
    if is_typeddict(hint):
        return (dict,)
    return (origin or hint,)


def _is_kind(value: Any, kinds: tuple[type, ...]) -> bool:
    # bool is an int subclass, but true/false where the spec wants a number is a bug.
    if isinstance(value, bool) and bool not in kinds and object not in kinds:
        return False
    return isinstance(value, kinds)


def _kind_names(kinds: tuple[type, ...]) -> str:
    return " or ".join("null" if k is type(None) else k.__name__ for k in kinds)


@_content()
class Content:
    """Base of all message contents. ``extra`` holds fields the spec does not name."""

    msg_type: ClassVar[str]
    channel: ClassVar[str]

    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The JSON-ready content dict; fields that are None are omitted."""
        out = {f.name: v for f in _SPECS[type(self)] if (v := getattr(self, f.name)) is not None}
        for key, value in self.extra.items():
            out.setdefault(key, value)
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Self:
        """Parse a content dict; raises ValueError if a required field is missing or
        a field has the wrong basic type."""
        name = cls.__dict__.get("msg_type", cls.__name__)
        if not isinstance(data, Mapping):
            raise ValueError(f"{name}: content must be an object, not {type(data).__name__}")
        specs = _SPECS[cls]
        known = {f.name for f in specs}
        extra = {k: v for k, v in data.items() if k not in known}
        kwargs: dict[str, Any] = {}
        for f in specs:
            if f.name not in data:
                if f.required:
                    raise ValueError(f"{name}: required field {f.name!r} is missing")
                continue
            value = data[f.name]
            if not _is_kind(value, f.kinds):
                raise ValueError(
                    f"{name}: field {f.name!r} must be {_kind_names(f.kinds)},"
                    f" not {type(value).__name__}"
                )
            if value is None:
                # An explicit null round-trips through extra; the field stays None.
                extra[f.name] = None
            else:
                kwargs[f.name] = value
        if kwargs.get("status", "ok") == "ok":
            for f in specs:
                if f.when_ok and f.name not in kwargs:
                    raise ValueError(f"{name}: field {f.name!r} is required when status is 'ok'")
        return cls(**kwargs, extra=extra)


@_content()
class RequestContent(Content):
    """Base of requests; ``reply_type`` is the content class of the answer."""

    reply_type: ClassVar[type[Content]]


@_content()
class ReplyContent(Content):
    """Base of replies carrying the spec's ``status``: "ok", "error" or "aborted".

    With "error", ``ename``/``evalue``/``traceback`` describe the failure and the fields of
    a successful reply are usually absent; so those fields default to None, and parsing
    requires them only when status is "ok". "aborted" replies (deprecated) carry nothing.
    """

    status: ReplyStatus = "ok"
    ename: str | None = None
    evalue: str | None = None
    traceback: list[str] | None = None


@_content()
class UnknownContent(Content):
    """Content of a msg_type not in ``CONTENT_TYPES``: ``extra`` is the raw dict, as is."""

    msg_type: str  # type: ignore[misc]  # an instance field here, unlike every other class
    channel = ""  # unknown

    def to_dict(self) -> dict[str, Any]:
        return dict(self.extra)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, msg_type: str = "") -> Self:
        if not isinstance(data, Mapping):
            raise ValueError(f"{msg_type}: content must be an object, not {type(data).__name__}")
        return cls(msg_type=msg_type, extra=dict(data))


def parse_content(msg_type: str, data: Mapping[str, Any]) -> Content:
    """The typed content of a ``msg_type`` message, or ``UnknownContent`` for other types."""
    cls = CONTENT_TYPES.get(msg_type)
    if cls is None:
        return UnknownContent.from_dict(data, msg_type=msg_type)
    return cls.from_dict(data)


# -- shell ----------------------------------------------------------------------------------


@_content("execute_reply", "shell")
class ExecuteReply(ReplyContent):
    """``execute_reply``. ``execution_count`` is absent from ipykernel's aborted replies."""

    execution_count: int | None = _when_ok()
    payload: list[dict[str, Any]] | None = None  # deprecated by the spec
    user_expressions: dict[str, Any] | None = None


@_content("execute_request", "shell")
class ExecuteRequest(RequestContent):
    """``execute_request``: run ``code`` in the user's namespace."""

    reply_type = ExecuteReply

    code: str
    silent: bool = False
    store_history: bool = True
    user_expressions: dict[str, str] = field(default_factory=dict)
    allow_stdin: bool = True
    stop_on_error: bool = True


@_content("inspect_reply", "shell")
class InspectReply(ReplyContent):
    """``inspect_reply``: a mime bundle about the object at the cursor."""

    found: bool | None = _when_ok()
    data: dict[str, Any] | None = _when_ok()
    metadata: dict[str, Any] | None = None


@_content("inspect_request", "shell")
class InspectRequest(RequestContent):
    """``inspect_request``; ``cursor_pos`` counts unicode code points (5.2)."""

    reply_type = InspectReply

    code: str
    cursor_pos: int
    detail_level: int = 0


@_content("complete_reply", "shell")
class CompleteReply(ReplyContent):
    """``complete_reply``: ``matches`` replace ``code[cursor_start:cursor_end]``."""

    matches: list[str] | None = _when_ok()
    cursor_start: int | None = _when_ok()
    cursor_end: int | None = _when_ok()
    metadata: dict[str, Any] | None = None


@_content("complete_request", "shell")
class CompleteRequest(RequestContent):
    """``complete_request``; ``cursor_pos`` counts unicode code points (5.2)."""

    reply_type = CompleteReply

    code: str
    cursor_pos: int


@_content("history_reply", "shell")
class HistoryReply(ReplyContent):
    """``history_reply``: ``[session, line, input]`` or ``[session, line, [input, output]]``."""

    history: list[list[Any]] | None = _when_ok()


@_content("history_request", "shell")
class HistoryRequest(RequestContent):
    """``history_request``; which of the optional fields apply depends on
    ``hist_access_type`` (range: session/start/stop; tail: n; search: n/pattern/unique)."""

    reply_type = HistoryReply

    output: bool = False
    raw: bool = True
    hist_access_type: HistAccessType = "range"
    session: int | None = None
    start: int | None = None
    stop: int | None = None
    n: int | None = None
    pattern: str | None = None
    unique: bool | None = None


@_content("is_complete_reply", "shell")
class IsCompleteReply(Content):
    """``is_complete_reply``. Its ``status`` is not a ReplyStatus, hence not a ReplyContent;
    ``indent`` is given only with "incomplete"."""

    status: IsCompleteStatus = "unknown"
    indent: str | None = None


@_content("is_complete_request", "shell")
class IsCompleteRequest(RequestContent):
    """``is_complete_request``: would ``code`` run as is, or does it need more lines?"""

    reply_type = IsCompleteReply

    code: str


@_content("connect_reply", "shell")
class ConnectReply(ReplyContent):
    """``connect_reply`` (deprecated in 5.1): a missing port means that channel is down."""

    shell_port: int | None = None
    iopub_port: int | None = None
    stdin_port: int | None = None
    hb_port: int | None = None
    control_port: int | None = None


@_content("connect_request", "shell")
class ConnectRequest(RequestContent):
    """``connect_request`` (deprecated in 5.1)."""

    reply_type = ConnectReply


@_content("comm_info_reply", "shell")
class CommInfoReply(ReplyContent):
    """``comm_info_reply``: ``comms`` maps comm_id → ``{"target_name": ...}``."""

    comms: dict[str, dict[str, Any]] | None = _when_ok()


@_content("comm_info_request", "shell")
class CommInfoRequest(RequestContent):
    """``comm_info_request``; without ``target_name``, all open comms."""

    reply_type = CommInfoReply

    target_name: str | None = None


@_content("kernel_info_reply", "shell")
class KernelInfoReply(ReplyContent):
    """``kernel_info_reply``. Only ``protocol_version`` and ``language_info`` are
    required: the rest is for display, and kernels differ in what they send."""

    protocol_version: str | None = _when_ok()
    implementation: str | None = None
    implementation_version: str | None = None
    language_info: LanguageInfo | None = _when_ok()
    banner: str | None = None
    debugger: bool | None = None  # deprecated in 5.5 for supported_features
    help_links: list[HelpLink] | None = None
    supported_features: list[str] | None = None  # 5.5: "debugger", "kernel subshells"


@_content("kernel_info_request", "shell")
class KernelInfoRequest(RequestContent):
    """``kernel_info_request``; sent on shell, and since 5.5 also accepted on control."""

    reply_type = KernelInfoReply


# -- control --------------------------------------------------------------------------------


@_content("shutdown_reply", "control")
class ShutdownReply(ReplyContent):
    """``shutdown_reply``."""

    restart: bool | None = None


@_content("shutdown_request", "control")
class ShutdownRequest(RequestContent):
    """``shutdown_request``; on control (sending it on shell is deprecated since 5.4)."""

    reply_type = ShutdownReply

    restart: bool = False


@_content("interrupt_reply", "control")
class InterruptReply(ReplyContent):
    """``interrupt_reply`` (5.3)."""


@_content("interrupt_request", "control")
class InterruptRequest(RequestContent):
    """``interrupt_request`` (5.3), for kernels whose kernelspec has interrupt_mode "message"."""

    reply_type = InterruptReply


@_content("debug_reply", "control")
class DebugReply(Content):
    """``debug_reply`` (5.5): a Debug Adapter Protocol response, with no Jupyter
    ``status``. Every field is optional: ipykernel omits ``seq`` and may send ``{}``."""

    seq: int | None = None
    type: str = "response"
    request_seq: int | None = None
    success: bool | None = None
    command: str | None = None
    message: str | None = None
    body: dict[str, Any] | None = None


@_content("debug_request", "control")
class DebugRequest(RequestContent):
    """``debug_request`` (5.5): a Debug Adapter Protocol request."""

    reply_type = DebugReply

    seq: int
    type: str = "request"
    command: str
    arguments: dict[str, Any] | None = None


@_content("create_subshell_reply", "control")
class CreateSubshellReply(ReplyContent):
    """``create_subshell_reply`` (5.5)."""

    subshell_id: str | None = _when_ok()


@_content("create_subshell_request", "control")
class CreateSubshellRequest(RequestContent):
    """``create_subshell_request`` (5.5); kernels without subshells do not reply."""

    reply_type = CreateSubshellReply


@_content("delete_subshell_reply", "control")
class DeleteSubshellReply(ReplyContent):
    """``delete_subshell_reply`` (5.5)."""


@_content("delete_subshell_request", "control")
class DeleteSubshellRequest(RequestContent):
    """``delete_subshell_request`` (5.5)."""

    reply_type = DeleteSubshellReply

    subshell_id: str


@_content("list_subshell_reply", "control")
class ListSubshellReply(ReplyContent):
    """``list_subshell_reply`` (5.5); the list's field is named ``subshell_id`` (sic)."""

    subshell_id: list[str] | None = _when_ok()


@_content("list_subshell_request", "control")
class ListSubshellRequest(RequestContent):
    """``list_subshell_request`` (5.5)."""

    reply_type = ListSubshellReply


# -- iopub ----------------------------------------------------------------------------------


@_content("stream", "iopub")
class Stream(Content):
    """``stream``: text written to stdout or stderr."""

    name: StreamName
    text: str


@_content("display_data", "iopub")
class DisplayData(Content):
    """``display_data``: a mime bundle; ``transient`` (5.1) may hold a ``display_id``."""

    data: dict[str, Any]
    metadata: dict[str, Any] = field(default_factory=dict)
    transient: dict[str, Any] | None = None


@_content("update_display_data", "iopub")
class UpdateDisplayData(Content):
    """``update_display_data`` (5.1): replaces the displays with ``transient["display_id"]``.

    Deliberately not a DisplayData subclass: it must never be taken for a new output."""

    data: dict[str, Any]
    metadata: dict[str, Any] = field(default_factory=dict)
    transient: dict[str, Any]


@_content("execute_input", "iopub")
class ExecuteInput(Content):
    """``execute_input``: the code being run, re-broadcast with its execution count."""

    code: str
    execution_count: int


@_content("execute_result", "iopub")
class ExecuteResult(Content):
    """``execute_result``: display data plus the ``execution_count`` of ``Out[n]``."""

    execution_count: int
    data: dict[str, Any]
    metadata: dict[str, Any] = field(default_factory=dict)
    transient: dict[str, Any] | None = None


@_content("error", "iopub")
class ErrorOutput(Content):
    """``error``: an exception raised while executing code."""

    ename: str
    evalue: str
    traceback: list[str]


@_content("status", "iopub")
class Status(Content):
    """``status``: the kernel went busy or idle (around every request), or is starting."""

    execution_state: ExecutionState


@_content("clear_output", "iopub")
class ClearOutput(Content):
    """``clear_output``; with ``wait``, clear only when the next output arrives."""

    wait: bool = False


@_content("debug_event", "iopub")
class DebugEvent(Content):
    """``debug_event`` (5.5): a Debug Adapter Protocol event."""

    seq: int | None = None
    type: str = "event"
    event: str
    body: dict[str, Any] | None = None


# Comm messages go both ways: kernel → client on iopub, client → kernel on shell. Their
# channel is "iopub", the way a client receives them; a client sending one must send it
# on shell.


@_content("comm_open", "iopub")
class CommOpen(Content):
    """``comm_open`` (iopub from the kernel; the client sends it on shell)."""

    comm_id: str
    target_name: str
    data: dict[str, Any] = field(default_factory=dict)
    target_module: str | None = None  # pre-5 leftover that ipykernel still sends as null


@_content("comm_msg", "iopub")
class CommMsg(Content):
    """``comm_msg`` (iopub from the kernel; the client sends it on shell)."""

    comm_id: str
    data: dict[str, Any] = field(default_factory=dict)


@_content("comm_close", "iopub")
class CommClose(Content):
    """``comm_close`` (iopub from the kernel; the client sends it on shell)."""

    comm_id: str
    data: dict[str, Any] = field(default_factory=dict)


@_content("iopub_welcome", "iopub")
class IopubWelcome(Content):
    """``iopub_welcome`` (5.5): an XPUB subscription is established. It has no parent, and
    a client may get several; ``subscription`` is "" for a subscribe-to-all."""

    subscription: str = ""


# -- stdin ----------------------------------------------------------------------------------


@_content("input_reply", "stdin")
class InputReply(Content):
    """``input_reply``: the line the user typed (no ``status``, unlike other replies)."""

    value: str


@_content("input_request", "stdin")
class InputRequest(RequestContent):
    """``input_request``: the kernel asks the client for a line; with ``password``, the
    client must not echo it."""

    reply_type = InputReply

    prompt: str = ""
    password: bool = False
