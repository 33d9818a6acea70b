"""Which callers this node daemon serves: a certificate the cluster lists, in the role the procedure needs.

TLS has already checked that the caller's certificate chains to the cluster CA; that proves only
"a node of this cluster" (every node holds a CA-signed key). The master lists in this node's ssconf
(`node_certs`, gnt.node_certs) the digest of every node certificate it accepts and whether that node
is the master or a master candidate: those may call every procedure; any other listed node only the
procedures the table marks `any_node` (its start-up check, the version probe). A certificate the list
does not name (another cluster's is refused by TLS already; a renewed one's predecessor here) gets
nothing.

A node without a list fails safe: it serves the `any_node` procedures only, so a node whose list was
lost (or never installed, `gnt-node add --no-node-setup`) cannot be driven by any node's key. The
master installs the list with the certificate (`gnt-cluster init`, `gnt-node add`); an admin who sets
a node up by hand copies the master's ssconf_node_certs. Only a node of a cluster made before per-node
certificates (its server.pem is the one certificate every node shares, no CA after it) serves any
caller TLS admitted: there every node holds the same key, so no list could tell them apart; `gnt-cluster
verify` reports it, and `gnt-cluster renew-crypto --new-cluster-certificate` gives each node its own.
"""

from __future__ import annotations

import logging

from gnt import certs, node_certs, paths, ssconf
from gnt.errors import RpcError
from gnt.rpc.procedures import Procedure

log = logging.getLogger("gnt-noded")

_cache: tuple[tuple[int, int, int] | None, dict[str, str] | None] = (None, None)
_own_cache: tuple[tuple[int, int, int] | None, bool] = (None, False)


def accepted() -> dict[str, str] | None:
    """digest -> role as this node's ssconf lists them; None when it lists none (not enforced yet)."""
    global _cache
    path = paths.ssconf_file(node_certs.SSCONF_KEY)
    identity = certs.file_identity(path)
    if identity != _cache[0]:
        _cache = (identity, node_certs.parse_list(ssconf.read(node_certs.SSCONF_KEY)) or None)
    return _cache[1]


def shared_certificate() -> bool:
    """True when this node's server.pem is a certificate every node shares (a cluster made before the CA)."""
    global _own_cache
    path = paths.cluster_cert()
    identity = certs.file_identity(path)
    if identity != _own_cache[0]:
        try:
            with open(path, "rb") as handle:
                shared = len(certs.cert_blocks(handle.read())) == 1
        except OSError:
            shared = False
        _own_cache = (identity, shared)
    return _own_cache[1]


def check(proc: Procedure[object], caller: str | None) -> None:
    """Raise RpcError unless the caller whose certificate digest is `caller` may call `proc`.

    `caller` None means no TLS peer (the in-process transport of unit tests): nothing to check.
    """
    if caller is None:
        return
    listed = accepted()
    if listed is None:
        if proc.any_node or shared_certificate():
            return
        log.warning("refused %s: this node holds no list of the cluster's node certificates", proc.name)
        raise RpcError(
            f"{proc.name}: this node holds no list of the cluster's node certificates (ssconf_{node_certs.SSCONF_KEY}),"
            " so it serves no master procedure; copy the master's, or re-add the node (gnt-node add --readd)"
        )
    role = listed.get(caller)
    if role is None:
        log.warning("refused %s: caller certificate %s... is not one this cluster lists", proc.name, caller[:16])
        raise RpcError(f"{proc.name}: the caller's certificate is not one of this cluster's node certificates")
    if role != node_certs.ROLE_CANDIDATE and not proc.any_node:
        log.warning("refused %s: caller %s... is not the master or a master candidate", proc.name, caller[:16])
        raise RpcError(f"{proc.name}: only the master or a master candidate may call this procedure")
