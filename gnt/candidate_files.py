"""The master's files, besides the config and the job queue, that a master candidate must hold to take over.

After `gnt-cluster master-failover` the new master must reach the nodes over SSH (the cluster's key
and known_hosts), keep a drained queue drained, and serve the RAPI with the certificate clients
know. The master sends these files to every online master candidate when they change and with
every full resync (gnt.jobs.replication.push_candidate_files); the node writes only the names in
this table, at the paths its own `gnt.paths` gives (never a path from the caller).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass

from gnt import paths

__all__ = ["FILES", "CandidateFile", "read_all"]


@dataclass(frozen=True)
class CandidateFile:
    path: Callable[[], str]
    mode: int
    doc: str


def _drain_flag() -> str:
    return os.path.join(paths.data_dir(), "queue.drain")


FILES: dict[str, CandidateFile] = {
    "ssh_key": CandidateFile(paths.ssh_key, 0o600, "the cluster's SSH private key"),
    "ssh_key_pub": CandidateFile(lambda: paths.ssh_key() + ".pub", 0o644, "its public half"),
    "known_hosts": CandidateFile(paths.ssh_known_hosts, 0o644, "the nodes' SSH host keys"),
    "queue_drain": CandidateFile(_drain_flag, 0o644, "present while the job queue is drained"),
    "rapi_pem": CandidateFile(paths.rapi_cert, 0o600, "the RAPI's key pair"),
    "cluster_ca": CandidateFile(paths.cluster_ca, 0o600, "the cluster CA's key pair (signs node certificates)"),
}


def read_all(names: list[str] | None = None) -> dict[str, str | None]:
    """This node's copies by name: the text, or None when the file is absent (the candidate removes it)."""
    result: dict[str, str | None] = {}
    for name in names or list(FILES):
        try:
            with open(FILES[name].path()) as handle:
                result[name] = handle.read()
        except FileNotFoundError:
            result[name] = None
    return result
