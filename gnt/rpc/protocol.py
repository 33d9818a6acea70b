"""The wire format of node RPC, shared by the master's client and the node daemon's server.

Request: `POST /<procedure>` with a JSON object of arguments. Response: HTTP 200 with
`{"ok": true, "result": ...}` or `{"ok": false, "error": {"class", "message", "args"}}`, so a
typed error raised on a node is re-raised with its class on the master.
"""

from __future__ import annotations

from typing import Any

from gnt.errors import GntError


def ok(result: Any) -> dict[str, Any]:
    return {"ok": True, "result": result}


def failure(err: GntError) -> dict[str, Any]:
    return {"ok": False, "error": err.to_dict()}
