"""The certificate and master-IP parts of `gnt-cluster verify` (Ganeti's ECLUSTERCERT, ENODESSL, ENODENET).

Pure functions over what the master reads of its own files and what each node's `node_verify`
reported (its certificate's facts, never its key; whether it holds the master IP), so they are
tested without a cluster. Each finding is (error?, code, kind, item, message); the LU reports them.
"""

from __future__ import annotations

import datetime
import os
from collections.abc import Iterable
from typing import Any

from gnt import certs, node_certs, paths
from gnt.objects import Node

#: a certificate this close to its end is a warning (Ganeti warns 30 days ahead too)
EXPIRY_WARN_DAYS = 30

Finding = tuple[bool, str, str, str, str]


def _expiry(not_after: float, now: datetime.datetime) -> tuple[bool, str] | None:
    """(error?, text) when the end date is past or near; None when it is far off."""
    end = datetime.datetime.fromtimestamp(not_after, datetime.UTC)
    if end <= now:
        return True, f"expired on {end:%Y-%m-%d}"
    if end - now < datetime.timedelta(days=EXPIRY_WARN_DAYS):
        return False, f"expires on {end:%Y-%m-%d}, in {(end - now).days} day(s)"
    return None


def cluster_files(
    cluster_name: str, files: dict[str, bytes | None], roll_phase: str, now: datetime.datetime
) -> list[Finding]:
    """The master's own CA and node certificate (`files`: "ca", "node" -> PEM or None when absent)."""
    found: list[Finding] = []
    item = cluster_name
    if files.get("node") is None:
        found.append((True, "ECLUSTERCERT", "cluster", item, "the master's node certificate (server.pem) is missing"))
    if files.get("ca") is None:
        found.append(
            (
                True,
                "ECLUSTERCERT",
                "cluster",
                item,
                "no cluster CA (a cluster made before per-node certificates): nodes share one certificate, so"
                " any node's key may act as master; `gnt-cluster renew-crypto --new-cluster-certificate`"
                " gives each its own",
            )
        )
    for what, pem in (("cluster CA certificate", files.get("ca")), ("master's node certificate", files.get("node"))):
        if pem is None:
            continue
        facts = node_certs.inspect(pem, now)
        for problem in facts.problems:
            found.append((True, "ECLUSTERCERT", "cluster", item, f"the {what}: {problem}"))
        near = _expiry(facts.not_after, now) if not facts.problems else None
        if near is not None:
            found.append((near[0], "ECLUSTERCERT", "cluster", item, f"the {what} {near[1]}"))
    if files.get("ca") and files.get("node"):
        ca_cert = certs.public_part(files["ca"] or b"")
        if certs.trusted_part(files["node"] or b"") != ca_cert:
            found.append((True, "ECLUSTERCERT", "cluster", item, "the master's node certificate is not the CA's"))
    if roll_phase:
        found.append(
            (
                False,
                "ECLUSTERCERT",
                "cluster",
                item,
                f"a cluster certificate roll stopped at phase '{roll_phase}':"
                " finish it with `gnt-cluster renew-crypto --new-cluster-certificate`",
            )
        )
    return found


def node_certificate(
    node: Node, facts: dict[str, Any] | None, now: datetime.datetime, has_ca: bool | None = None
) -> list[Finding]:
    """One node's certificate as it reported it: valid, signed, not near its end, and the one the cluster lists.

    `has_ca` (default: whether the master holds the CA): a cluster with per-node certificates must list
    each node's, or the master cannot tell that node's certificate from any other the CA signed.
    """
    name = node.name
    if not facts:
        return [(True, "ENODESSL", "node", name, "did not report its node certificate")]
    if has_ca is None:
        has_ca = os.path.exists(paths.cluster_ca())
    problems = facts.get("problems", [])
    found: list[Finding] = [(True, "ENODESSL", "node", name, f"node certificate: {p}") for p in problems]
    if not facts.get("problems"):
        near = _expiry(float(facts.get("not_after", 0)), now)
        if near is not None:
            found.append((near[0], "ENODESSL", "node", name, f"node certificate {near[1]}"))
    if has_ca and not node.cert_digests:
        found.append(
            (
                True,
                "ENODESSL",
                "node",
                name,
                "the cluster lists no certificate of this node (the master cannot tell it from another node's,"
                " and other nodes refuse its calls); list one:"
                f" gnt-cluster renew-crypto --new-node-certificates -n {name}",
            )
        )
    elif node.cert_digests and facts.get("digest") not in node.cert_digests:
        found.append(
            (
                True,
                "ENODESSL",
                "node",
                name,
                "presents a certificate the cluster does not list (refused by the other nodes);"
                f" set it up again: gnt-node add --readd {name}",
            )
        )
    return found


def master_ip(
    nodes: Iterable[Node], reports: dict[str, dict[str, Any]], master_uuid: str, shared_stack: bool
) -> list[Finding]:
    """The master IP up on the master, and (on separate hosts) nowhere else.

    `reports`: node name -> its node_verify `master_ip` part ({"address", "netdev", "present"} or
    {"error"}), only from nodes that have a master netdev configured. In a virtual cluster every
    node sees the one network stack (`shared_stack`): only the master's view counts.
    """
    found: list[Finding] = []
    for node in nodes:
        report = reports.get(node.name)
        if not report:
            continue
        if report.get("error"):
            found.append((True, "ENODENET", "node", node.name, f"cannot check the master IP: {report['error']}"))
            continue
        present, address, netdev = report.get("present"), report.get("address"), report.get("netdev")
        if present is None:
            continue  # an external master IP script: only it knows
        if node.uuid == master_uuid and not present:
            found.append(
                (
                    True,
                    "ENODENET",
                    "node",
                    node.name,
                    f"the master IP {address} is not up on {netdev}; run `gnt-cluster activate-master-ip`",
                )
            )
        elif node.uuid != master_uuid and present and not shared_stack:
            found.append(
                (
                    True,
                    "ENODENET",
                    "node",
                    node.name,
                    f"holds the master IP {address} on {netdev} but is not the master;"
                    " take it off there (ip address del) or run `gnt-cluster master-failover` on the right node",
                )
            )
    return found


def read_master_files() -> dict[str, bytes | None]:
    """The master's CA and its own node certificate (read for their public facts only)."""
    result: dict[str, bytes | None] = {}
    for key, path in (("ca", paths.cluster_ca()), ("node", paths.cluster_cert())):
        if os.path.exists(path):
            with open(path, "rb") as handle:
                result[key] = handle.read()
        else:
            result[key] = None
    return result
