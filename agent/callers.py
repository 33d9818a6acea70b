"""Which callers this node daemon serves: a certificate the cluster lists, in the role the procedure needs.

TLS has already checked that the caller's certificate chains to the cluster CA; that proves only
"a node of this cluster" (every node holds a CA-signed key). The master lists in this node's ssconf
(`node_certs`, gnt.node_certs) the digest of every node certificate it accepts and whether that node
is the master or a master candidate: those may call every procedure; any other listed node only the
procedures the table marks `any_node` (its start-up check, the version probe). A certificate the list
does not name (another cluster's is refused by TLS already; a renewed one's predecessor here) gets
nothing. A node that has no list yet (just joined, or a cluster made before per-node certificates)
serves any caller TLS admitted: the master writes the list with its first ssconf push.
"""

from __future__ import annotations

import logging

from gnt import certs, node_certs, paths, ssconf
from gnt.errors import RpcError
from gnt.rpc.procedures import Procedure

log = logging.getLogger("gnt-noded")

_cache: tuple[tuple[int, int, int] | None, dict[str, str] | None] = (None, None)


def accepted() -> dict[str, str] | None:
    """digest -> role as this node's ssconf lists them; None when it lists none (not enforced yet)."""
    global _cache
    path = paths.ssconf_file(node_certs.SSCONF_KEY)
    identity = certs.file_identity(path)
    if identity != _cache[0]:
        _cache = (identity, node_certs.parse_list(ssconf.read(node_certs.SSCONF_KEY)) or None)
    return _cache[1]


def check(proc: Procedure[object], caller: str | None) -> None:
    """Raise RpcError unless the caller whose certificate digest is `caller` may call `proc`.

    `caller` None means no TLS peer (the in-process transport of unit tests): nothing to check.
    """
    if caller is None:
        return
    listed = accepted()
    if listed is None:
        return
    role = listed.get(caller)
    if role is None:
        log.warning("refused %s: caller certificate %s... is not one this cluster lists", proc.name, caller[:16])
        raise RpcError(f"{proc.name}: the caller's certificate is not one of this cluster's node certificates")
    if role != node_certs.ROLE_CANDIDATE and not proc.any_node:
        log.warning("refused %s: caller %s... is not the master or a master candidate", proc.name, caller[:16])
        raise RpcError(f"{proc.name}: only the master or a master candidate may call this procedure")
