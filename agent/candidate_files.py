"""A master candidate's copies of the master's SSH key, known_hosts, queue drain flag and RAPI key pair.

Only names from gnt.candidate_files.FILES are taken, each written at this node's own path with the
table's mode (the private key and the RAPI key 0600), whole and atomically. Every name is checked
before anything is written. Errors name the file, never its content.
"""

from __future__ import annotations

import os

from agent.handlers import handles
from gnt import durable
from gnt.candidate_files import FILES
from gnt.errors import RpcArgumentError
from gnt.rpc import procedures as proc


@handles(proc.CANDIDATE_FILES_WRITE)
async def candidate_files_write(args: proc.CandidateFilesArgs) -> None:
    unknown = sorted(name for name in args.files if name not in FILES)
    if unknown:
        raise RpcArgumentError(f"not a file a master candidate keeps: {', '.join(n[:40] for n in unknown)}")
    for name, text in args.files.items():
        entry = FILES[name]
        path = entry.path()
        if text is None:
            if os.path.exists(path):
                os.unlink(path)
            continue
        directory = os.path.dirname(path)
        os.makedirs(directory, mode=0o700, exist_ok=True)
        durable.write_file(path, text, entry.mode)


def remove_all() -> list[str]:
    """Delete every candidate-only file this node holds (the names removed): a node that is no longer a master
    candidate (demoted, or leaving the cluster) must not keep the CA key, the cluster's SSH key or the RAPI key,
    with which it could still issue node certificates or log in to every node. A re-promotion copies them again."""
    removed = []
    for name, entry in FILES.items():
        path = entry.path()
        if os.path.exists(path):
            os.unlink(path)
            removed.append(name)
    return removed
