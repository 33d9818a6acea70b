"""`gnt-node add` on a real cluster: the admin confirms the new node's SSH host key, as `ssh` asks.

Runs in the CLI, before the job: the key the node shows is compared with the cluster's known_hosts
(and root's). A known, matching key needs nothing. A different one is refused (a reinstalled node,
or someone in between) unless `--readd` says the node was reinstalled; then it is asked about like
a new one. An unknown key is shown with its fingerprint and accepted only on "yes" at a terminal, or
without asking with `--no-ssh-key-check` (Ganeti's option). The accepted key goes into the opcode,
so the job connects to exactly that key and records it in the cluster's known_hosts only once the
node has joined: a refused or failed add changes nothing.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

from gnt import paths
from gnt.errors import ECODE_ENVIRON, ECODE_STATE, OpPrereqError

__all__ = ["confirm_host_key"]


def confirm_host_key(
    node: str,
    address: str,
    port: int = 22,
    no_check: bool = False,
    readd: bool = False,
    ask: Callable[[str], bool] | None = None,
    settings: Any = None,
) -> str | None:
    """The host key to put in the opcode ("TYPE BASE64"), or None when the cluster already knows it."""
    if paths.is_virtual():
        return None  # virtual nodes are this machine: no sshd, no key
    from gnt.node import ssh

    settings = settings or ssh.SshSettings(port=port)
    try:
        key = ssh.fetch_host_key(address, port, settings.timeout)
    except ssh.SshFailure as err:
        raise OpPrereqError(f"Cannot reach node {node} over SSH: {err}", ECODE_ENVIRON) from None
    known = ssh.known_keys(settings, address, port, (node,))
    shown = f"{key.get_name()} key fingerprint {ssh.fingerprint(key)}"
    changed = key.get_name() in known
    if changed and known[key.get_name()] == key:
        return None
    if changed and not readd:
        raise OpPrereqError(
            f"The SSH host key of {node} ({address}) has changed ({shown}); if the node was reinstalled,"
            " re-add it with `gnt-node add --readd` (which asks again)",
            ECODE_STATE,
        )
    if no_check:
        return ssh.key_text(key)
    doubt = "has changed since the node was added" if changed else "can't be established"
    question = (
        f"The authenticity of host '{node} ({address})' {doubt}.\n{shown}.\n"
        "Are you sure you want to continue connecting (yes/no)?"
    )
    if ask is None:
        if not sys.stdin.isatty():
            raise OpPrereqError(
                f"The SSH host key of {node} ({address}) is not known ({shown}); confirm it on a terminal"
                " or pass --no-ssh-key-check",
                ECODE_STATE,
            )
        ask = _ask_terminal
    if not ask(question):
        raise OpPrereqError(f"Host key of {node} not confirmed; nothing was changed", ECODE_STATE)
    return ssh.key_text(key)


def _ask_terminal(question: str) -> bool:
    answer = input(question + " ").strip().lower()
    return answer == "yes"
