"""A Python client of the kernelbridge daemon, for scripts, tests and the CLI.

It imports only the standard library, anyio and orjson, so a script starts fast (no
pygls, lsprotocol or zmq), and its reader keeps up with floods of kernel output.

Typical use::

    async with DaemonClient.spawn() as client:
        kernel = await client.request("kernelbridge/start", {"kernelspec": "python3"})
        async with client.subscribe("kernelbridge/output") as outputs:
            reply = await client.request(
                "kernelbridge/execute", {"kernelId": kernel["kernelId"], "code": "1 + 1"}
            )
            for output in outputs.drain():
                print(output["type"], output["content"])

All output of an execution arrives before its response, so after the ``await`` every
output notification is already buffered in the subscription.
"""

from ._connection import (
    DEFAULT_CAPABILITIES,
    DaemonClient,
    NotificationCallback,
    RequestHandler,
)
from ._errors import (
    INTERNAL_ERROR,
    INVALID_PARAMS,
    INVALID_REQUEST,
    METHOD_NOT_FOUND,
    PARSE_ERROR,
    REQUEST_CANCELLED,
    ClientError,
    DaemonExited,
    ProtocolError,
    RequestTimeout,
    RpcError,
)
from ._framing import FrameDecoder, encode_message
from ._subscription import Subscription

__all__ = [
    "DEFAULT_CAPABILITIES",
    "INTERNAL_ERROR",
    "INVALID_PARAMS",
    "INVALID_REQUEST",
    "METHOD_NOT_FOUND",
    "PARSE_ERROR",
    "REQUEST_CANCELLED",
    "ClientError",
    "DaemonClient",
    "DaemonExited",
    "FrameDecoder",
    "NotificationCallback",
    "ProtocolError",
    "RequestHandler",
    "RequestTimeout",
    "RpcError",
    "Subscription",
    "encode_message",
]
