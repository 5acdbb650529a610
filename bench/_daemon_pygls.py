"""A bare pygls server: the baseline of the daemon's start-up and output benchmarks.

    python bench/_daemon_pygls.py            # LanguageServer("bare", "0").start_io()
    python bench/_daemon_pygls.py --flood    # ... plus the custom request bench/flood

``bench/flood {count, kernelId, executionId}`` sends ``count`` ``kernelbridge/output``
notifications the way a naive pygls server would, with ``server.protocol.notify(...)`` and
a dict shaped like the daemon's, then answers the count.
"""

from __future__ import annotations

import sys

from pygls.lsp.server import LanguageServer

server = LanguageServer("bare", "0")

if "--flood" in sys.argv[1:]:

    @server.feature("bench/flood")
    def flood(ls: LanguageServer, params: object) -> int:
        # pygls hands params of unknown methods over as namedtuples.
        count = int(params.count)  # type: ignore[attr-defined]
        kernel_id = str(params.kernelId)  # type: ignore[attr-defined]
        execution_id = str(params.executionId)  # type: ignore[attr-defined]
        notify = ls.protocol.notify
        for n in range(count):
            notify("kernelbridge/output", {
                "kernelId": kernel_id, "executionId": execution_id, "type": "stream",
                "seq": n + 1, "content": {"name": "stdout", "text": f"output line {n}\n"},
            })
        return count


server.start_io()
