"""A minimal stand-in for a user's other language server (pyright, pylsp...): it answers
initialize and shutdown, offers completion with one fixed item, and exits on exit."""
import json
import sys

inp, out = sys.stdin.buffer, sys.stdout.buffer


def send(msg):
    body = json.dumps(msg).encode()
    out.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
    out.flush()


while True:
    length = None
    while True:
        line = inp.readline()
        if not line:
            sys.exit(0)
        line = line.strip()
        if not line:
            break
        name, _, value = line.partition(b":")
        if name.lower() == b"content-length":
            length = int(value)
    msg = json.loads(inp.read(length))
    method, mid = msg.get("method"), msg.get("id")
    if method == "exit":
        sys.exit(0)
    if mid is None or method is None:
        continue
    result = None
    if method == "initialize":
        result = {"capabilities": {"completionProvider": {}, "textDocumentSync": 1},
                  "serverInfo": {"name": "other"}}
    elif method == "textDocument/completion":
        result = [{"label": "from_the_other_server"}]
    send({"jsonrpc": "2.0", "id": mid, "result": result})
