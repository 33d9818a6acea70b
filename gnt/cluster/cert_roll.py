"""Rolling the cluster certificate over every node while RPC keeps flowing (doc/design/013).

Each node presents one key pair (server.pem) and trusts it plus the certificates in its trust file
(certs.trust_path). The roll moves every online node through three phases, one phase on all nodes
before the next begins, so that any two nodes can talk at every moment:

    TRUST_NEW  every node trusts old and new, still presents old
    SWITCH     every node presents new, still trusts old
    DROP_OLD   every node trusts new only: a peer holding the old certificate is refused

Every step is idempotent (it writes whole files), so a roll that stops because a node failed is
not undone: it is left where it stopped (all reachable nodes accept both certificates, so jobs keep
working) and saved in `RollState`; the next `gnt-cluster renew-crypto --new-cluster-certificate`
resumes it with the same new certificate and finishes it. Only the phases and the node names ever
reach the job's log: the key pair travels only inside the mutual-TLS RPC.
"""

from __future__ import annotations

import asyncio
import enum
import json
import os
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from gnt import certs

__all__ = ["NodeOps", "Phase", "RollFailed", "RollState", "next_phase", "run_roll"]


class Phase(enum.StrEnum):
    TRUST_NEW = "trust-new"
    """Nodes are told to trust the new certificate as well; they still present the old one."""
    SWITCH = "switch"
    """Nodes present the new certificate and still trust the old one."""
    DROP_OLD = "drop-old"
    """Nodes trust the new certificate only."""
    DONE = "done"
    """The roll is over: the old certificate is refused everywhere it was applied."""


#: the one order the phases run in (the transition table the tests check)
_NEXT = {Phase.TRUST_NEW: Phase.SWITCH, Phase.SWITCH: Phase.DROP_OLD, Phase.DROP_OLD: Phase.DONE}


def next_phase(phase: Phase) -> Phase:
    """The phase after `phase`; DONE has none."""
    if phase not in _NEXT:
        raise ValueError(f"the roll has no phase after {phase}")
    return _NEXT[phase]


class NodeOps(Protocol):
    """What the roll does to one node; each returns an error message, or None when it worked."""

    async def trust(self, node: str, trusted: list[bytes]) -> str | None: ...

    async def install(self, node: str, pem: bytes, trusted: list[bytes]) -> str | None:
        """Make `node` present a certificate of the new CA `pem` (its own one, signed by it), trusting `trusted` too.

        An implementation may also define `async prepare_switch(nodes, pem)`, run once before the
        SWITCH phase: with per-node certificates it issues them and lists their digests everywhere
        first, so a node presenting its new certificate is accepted by the others from the start.
        """
        ...


class RollFailed(Exception):
    """A phase failed on some nodes; the roll stopped there (saved) and the next run resumes it."""

    def __init__(self, phase: Phase, failures: dict[str, str]) -> None:
        self.phase = phase
        self.failures = failures
        names = ", ".join(sorted(failures))
        first = failures[sorted(failures)[0]]
        super().__init__(
            f"renewing the cluster certificate stopped at phase '{phase}': node(s) {names} failed ({first})"
        )


@dataclass
class RollState:
    """A roll in progress, saved on the master (mode 0600: it holds the new key) between phases."""

    phase: Phase
    new_pem: bytes
    #: certificates every node must keep trusting until DROP_OLD (the old one, and any a stopped roll left)
    old_certs: bytes

    def save(self, path: str) -> None:
        data = {"phase": str(self.phase), "new_pem": self.new_pem.decode(), "old_certs": self.old_certs.decode()}
        certs.write_pem(path, json.dumps(data).encode())

    @classmethod
    def load(cls, path: str) -> RollState | None:
        """The saved roll, or None when there is none (or the file is unreadable: a fresh roll is safe then)."""
        try:
            with open(path, "rb") as handle:
                data = json.loads(handle.read())
            return cls(Phase(data["phase"]), data["new_pem"].encode(), data["old_certs"].encode())
        except (OSError, ValueError, KeyError, TypeError):
            return None

    @staticmethod
    def clear(path: str) -> None:
        if os.path.exists(path):
            os.unlink(path)


def _split(pem: bytes) -> list[bytes]:
    """Each certificate of a PEM bundle on its own, duplicates dropped (order kept)."""
    return list(dict.fromkeys(certs.cert_blocks(pem)))


async def _each(nodes: Sequence[str], step: Callable[[str], Awaitable[str | None]]) -> dict[str, str]:
    results = await asyncio.gather(*(step(node) for node in nodes))
    return {node: err for node, err in zip(nodes, results, strict=True) if err is not None}


async def _apply(phase: Phase, state: RollState, nodes: Sequence[str], ops: NodeOps) -> dict[str, str]:
    new_cert = certs.public_part(state.new_pem)
    old = [c for c in _split(state.old_certs) if c != new_cert]
    if phase == Phase.TRUST_NEW:
        return await _each(nodes, lambda n: ops.trust(n, [new_cert, *old]))
    if phase == Phase.SWITCH:
        prepare = getattr(ops, "prepare_switch", None)  # per-node certificates: issued and listed first
        if prepare is not None:
            await prepare(list(nodes), state.new_pem)
        return await _each(nodes, lambda n: ops.install(n, state.new_pem, old))
    if phase == Phase.DROP_OLD:
        return await _each(nodes, lambda n: ops.trust(n, []))
    return {}


async def run_roll(
    state: RollState,
    nodes: Sequence[str],
    ops: NodeOps,
    save: Callable[[RollState], Awaitable[None] | None],
    feedback: Callable[[str], None],
) -> None:
    """Run the roll from `state.phase` to DONE on `nodes`, each phase on all of them in parallel.

    `save` is called (and awaited, if it returns an awaitable) before each phase with the state to
    resume from; on a failure the phase that failed is what stays saved and RollFailed is raised
    (nothing is undone: see the module doc).
    """
    while state.phase != Phase.DONE:
        saved = save(state)
        if saved is not None:
            await saved
        feedback(f"* phase {state.phase}: {_PHASE_TEXT[state.phase]} ({len(nodes)} node(s))")
        failures = await _apply(state.phase, state, nodes, ops)
        if failures:
            raise RollFailed(state.phase, failures)
        state.phase = next_phase(state.phase)


_PHASE_TEXT = {
    Phase.TRUST_NEW: "nodes trust the new certificate besides the old one",
    Phase.SWITCH: "nodes present the new certificate",
    Phase.DROP_OLD: "nodes stop trusting the old certificate",
}
