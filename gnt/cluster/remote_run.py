"""`gnt-cluster command` and `copyfile`: which nodes, then the work on each, in parallel, from the CLI.

The work goes over SSH from the master's CLI process, as in Ganeti, and never through a node daemon:
a node daemon trusts the caller's certificate, never its arguments, and checks every path against its
own directories, so it has no procedure that runs a caller's command or writes a caller's path (see
doc/design/008-queue-replication.md). The transport follows gnt.node.join: `SshRemote` for real nodes
(gnt.node.ssh: the cluster's key, strict host keys), `LocalRemote` for a virtual cluster, whose nodes
all live on this machine (the command runs here as that node: its root dir and hostname in the
environment; a file goes under the node's root).

Nodes are chosen as Ganeti does: all, those named (`-n`) or one group's (`-g`); offline nodes are
skipped with a note; for `command` the master comes last (a command that reboots it ends the run),
`copyfile` leaves the master out (the file is there already).
"""

from __future__ import annotations

import contextlib
import os
import subprocess
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Protocol

from gnt import paths
from gnt.errors import ECODE_INVAL, ECODE_NOENT, OpPrereqError

__all__ = [
    "UNREACHABLE",
    "CommandResult",
    "LocalRemote",
    "NodeTarget",
    "SshRemote",
    "choose_nodes",
    "copy_everywhere",
    "default_remote",
    "run_everywhere",
]

#: the return code of a node that could not be reached (ssh's, in Ganeti's output)
UNREACHABLE = 255
#: the return code of a command that did not end within its timeout (coreutils `timeout`'s)
TIMED_OUT = 124
#: what the query returns per node, for choosing and reaching it
NODE_FIELDS = ["name", "pip", "sip", "offline", "group", "master", "ndparams"]
#: at most this many nodes are worked on at once
PARALLEL = 32
#: output kept per node (the rest is dropped, and the output says so)
MAX_OUTPUT = 1024 * 1024


@dataclass(frozen=True)
class NodeTarget:
    name: str
    address: str
    port: int = 22


@dataclass
class CommandResult:
    node: str
    exit_code: int
    output: str

    @property
    def ok(self) -> bool:
        return self.exit_code == 0


def choose_nodes(
    rows: list[dict[str, Any]], names: list[str], group: str | None, groups: list[str], skip_master: bool
) -> tuple[list[dict[str, Any]], list[str]]:
    """(node rows to use, master last; names of offline nodes skipped). Unknown names are refused.

    `rows` are the query's node rows (NODE_FIELDS) of the whole cluster, `groups` its group names.
    """
    if names and group:
        raise OpPrereqError("Give either nodes (-n) or a node group (-g), not both", ECODE_INVAL)
    by_name = {row["name"]: row for row in rows}
    if names:
        for name in names:
            if name not in by_name:
                raise OpPrereqError(f"Node '{name[:80]}' not known", ECODE_NOENT)
        chosen = [by_name[n] for n in dict.fromkeys(names)]
    elif group:
        if group not in groups:
            raise OpPrereqError(f"Node group '{group[:80]}' not known", ECODE_NOENT)
        chosen = [row for row in rows if row["group"] == group]
    else:
        chosen = list(rows)
    chosen.sort(key=lambda row: (bool(row["master"]), row["name"]))
    skipped = [row["name"] for row in chosen if row["offline"]]
    chosen = [row for row in chosen if not row["offline"] and not (skip_master and row["master"])]
    return chosen, skipped


def target_of(row: dict[str, Any], replication_network: bool = False) -> NodeTarget:
    address = (row.get("sip") if replication_network else None) or row["pip"]
    port = int((row.get("ndparams") or {}).get("ssh_port", 22))
    return NodeTarget(row["name"], address, port)


class Remote(Protocol):
    """Runs a command on, or writes a file to, one node; blocking (run_everywhere adds the threads)."""

    def command(self, node: NodeTarget, command: str, timeout: float | None) -> CommandResult: ...

    def copy(self, node: NodeTarget, path: str, data: bytes, mode: int) -> str | None:
        """None when written, else why not (one line)."""
        ...


def _note(code: int | None, timeout: float | None) -> tuple[int, str]:
    if code is None:
        return TIMED_OUT, f"\n(no end after {timeout:g}s; the connection was closed)"
    return code, ""


class LocalRemote:
    """A virtual cluster: every node is a directory on this machine, and the command runs here as it."""

    def command(self, node: NodeTarget, command: str, timeout: float | None) -> CommandResult:
        root = paths.node_root(node.name)
        if not root or not os.path.isdir(root):
            return CommandResult(node.name, UNREACHABLE, f"{node.name} is not a virtual node here (no {root or 'dir'})")
        env = {**os.environ, paths.ENV_ROOTDIR: root, paths.ENV_HOSTNAME: node.name}
        with subprocess.Popen(
            ["/bin/sh", "-c", command], cwd=root, env=env, stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True,
        ) as process:  # fmt: skip
            try:
                out, _ = process.communicate(timeout=timeout)
                code: int | None = process.returncode
            except subprocess.TimeoutExpired:
                _kill_group(process)
                out, code = b"", None
        exit_code, note = _note(code, timeout)
        return CommandResult(node.name, exit_code, _capped(out) + note)

    def copy(self, node: NodeTarget, path: str, data: bytes, mode: int) -> str | None:
        from gnt import durable

        root = paths.node_root(node.name)
        if not root or not os.path.isdir(root):
            return f"{node.name} is not a virtual node here"
        local = root + path
        if not os.path.isdir(os.path.dirname(local)):
            return f"directory {os.path.dirname(path)} does not exist on {node.name}"
        if os.path.isdir(local):
            return f"{path} is a directory on {node.name}"
        try:
            durable.write_file(local, data, mode)
            os.chmod(local, mode)  # exactly the source's bits, whatever our umask
        except OSError as err:
            return f"cannot write {path}: {err.strerror or err}"
        return None


def _kill_group(process: subprocess.Popen[bytes]) -> None:
    import signal

    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()


def _capped(out: bytes) -> str:
    text = out[:MAX_OUTPUT].decode(errors="replace")
    return text + (f"\n(output cut at {MAX_OUTPUT} bytes)" if len(out) > MAX_OUTPUT else "")


class SshRemote:
    """Real nodes, over SSH as root with the cluster's key and host keys (gnt.node.ssh)."""

    def __init__(self, settings: Any = None) -> None:
        from gnt.node.ssh import SshSettings

        self.settings = settings or SshSettings()

    def _settings(self, node: NodeTarget) -> Any:
        import dataclasses

        return dataclasses.replace(self.settings, port=node.port) if node.port != self.settings.port else self.settings

    def command(self, node: NodeTarget, command: str, timeout: float | None) -> CommandResult:
        from gnt.node import ssh

        try:
            client = ssh.connect(node.name, node.address, self._settings(node))
        except ssh.SshFailure as err:
            return CommandResult(node.name, UNREACHABLE, str(err))
        try:
            code, output = ssh.run(client, command, timeout, MAX_OUTPUT)
        except Exception as err:  # noqa: BLE001 - paramiko raises many kinds; the node's answer is the message
            return CommandResult(node.name, UNREACHABLE, f"SSH to {node.name} failed: {err}")
        finally:
            client.close()
        exit_code, note = _note(code, timeout)
        return CommandResult(node.name, exit_code, output + note)

    def copy(self, node: NodeTarget, path: str, data: bytes, mode: int) -> str | None:
        from gnt.node import ssh

        try:
            client = ssh.connect(node.name, node.address, self._settings(node))
        except ssh.SshFailure as err:
            return str(err)
        try:
            if not ssh.is_dir(client, os.path.dirname(path)):
                return f"directory {os.path.dirname(path)} does not exist on {node.name}"
            if ssh.is_dir(client, path):
                return f"{path} is a directory on {node.name}"
            ssh.put_file(client, path, data, mode)
        except Exception as err:  # noqa: BLE001 - as above
            return f"cannot write {path} on {node.name}: {err}"
        finally:
            client.close()
        return None


def default_remote() -> Remote:
    return LocalRemote() if paths.is_virtual() else SshRemote()


def run_everywhere(remote: Remote, nodes: list[NodeTarget], command: str, timeout: float | None) -> list[CommandResult]:
    """The command on every node at once; results in the nodes' order."""
    if not nodes:
        return []
    with ThreadPoolExecutor(min(PARALLEL, len(nodes))) as pool:
        return list(pool.map(lambda node: remote.command(node, command, timeout), nodes))


def copy_everywhere(remote: Remote, nodes: list[NodeTarget], path: str, data: bytes, mode: int) -> list[str | None]:
    """The file to every node at once; per node None or why it failed, in the nodes' order."""
    if not nodes:
        return []
    with ThreadPoolExecutor(min(PARALLEL, len(nodes))) as pool:
        return list(pool.map(lambda node: remote.copy(node, path, data, mode), nodes))
