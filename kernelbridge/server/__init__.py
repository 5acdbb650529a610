"""The JSON-RPC / LSP side of the daemon (pygls): handlers, options, transport.

Never imports zmq: everything kernel-side goes through ``kernelbridge.bridge``."""

from ._errors import RpcError
from ._options import KernelsOptions, ServerOptions, read_options
from ._server import EditorChannel, KernelBridgeServer, run_stdio

__all__ = [
    "EditorChannel",
    "KernelBridgeServer",
    "KernelsOptions",
    "RpcError",
    "ServerOptions",
    "read_options",
    "run_stdio",
]
