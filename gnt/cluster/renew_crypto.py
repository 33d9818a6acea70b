"""OP_CLUSTER_RENEW_CRYPTO (`gnt-cluster renew-crypto`): new cluster and RAPI certificates, jobs running on.

The cluster certificate is rolled over every online node in phases (gnt.cluster.cert_roll), so no
RPC fails while it happens and the old certificate is refused once it is over. The job takes the
cluster and node locks shared only: other jobs keep running; node additions and removals wait.
A roll a failed node stopped is saved on the master and finished by the next run. The RAPI's key
pair is replaced on the master (the RAPI serves it from its next connection) and copied to the
master candidates. Keys are made and read inside this LU: the opcode and the job log never hold one.
See doc/design/013-renew-crypto.md.
"""

from __future__ import annotations

import asyncio
import os

from gnt import certs, constants, paths
from gnt.cluster import cert_roll
from gnt.errors import ECODE_ENVIRON, ECODE_INVAL, OpExecError, OpPrereqError
from gnt.jobs.locking import ALL, Level, LockRequest
from gnt.jobs.lu import LogicalUnit, register
from gnt.jobs.replication import SSH_FILES
from gnt.node import ssh_roll
from gnt.objects import Node
from gnt.opcodes import OpClusterRenewCrypto, OpCode
from gnt.rpc import procedures as proc

#: one roll at a time (two would each drop the other's certificate)
_ROLL_LOCK = asyncio.Lock()


def roll_state_path() -> str:
    """The master's saved roll (mode 0600: it holds the new key until the roll is done)."""
    return os.path.join(paths.data_dir(), "renew-crypto.json")


def _read(path: str) -> bytes:
    with open(path, "rb") as handle:
        return handle.read()


class _RpcNodeOps:
    """cert_roll.NodeOps over the typed RPC client; errors come back as one line each."""

    def __init__(self, lu: LogicalUnit, nodes: dict[str, Node]) -> None:
        self.lu = lu
        self.nodes = nodes

    async def trust(self, node: str, trusted: list[bytes]) -> str | None:
        args = proc.CryptoTrustArgs([c.decode() for c in trusted])
        result = await self.lu.rpc.crypto_trust(self.lu.ctx.services.target(self.nodes[node]), args)
        return str(result.error) if result.failed else None

    async def install(self, node: str, pem: bytes, trusted: list[bytes]) -> str | None:
        args = proc.CryptoInstallArgs(pem.decode(), [c.decode() for c in trusted])
        result = await self.lu.rpc.crypto_install(self.lu.ctx.services.target(self.nodes[node]), args)
        return str(result.error) if result.failed else None


@register
class LUClusterRenewCrypto(LogicalUnit):
    OPCODE = OpClusterRenewCrypto

    @classmethod
    def check_opcode(cls, op: OpCode) -> None:
        assert isinstance(op, OpClusterRenewCrypto)
        if op.new_rapi_certificate and op.rapi_certificate:
            raise OpPrereqError("Only one of --new-rapi-certificate and --rapi-certificate may be given", ECODE_INVAL)
        if op.rapi_certificate and not os.path.isabs(op.rapi_certificate):
            raise OpPrereqError(f"--rapi-certificate needs an absolute path, not '{op.rapi_certificate}'", ECODE_INVAL)
        if op.new_ssh_keys:
            sizes = {"ed25519": (0, 256), "ecdsa": (0, 256, 384, 521)}
            if op.ssh_key_type not in ("ed25519", "rsa", "ecdsa"):
                raise OpPrereqError(f"SSH key type must be ed25519, rsa or ecdsa, not '{op.ssh_key_type}'", ECODE_INVAL)
            bad_rsa = op.ssh_key_type == "rsa" and op.ssh_key_bits and not 2048 <= op.ssh_key_bits <= 16384
            if bad_rsa or op.ssh_key_bits not in sizes.get(op.ssh_key_type, (op.ssh_key_bits,)):
                raise OpPrereqError(f"{op.ssh_key_bits} bits is not a size of {op.ssh_key_type} keys", ECODE_INVAL)
        wanted = (op.new_cluster_certificate, op.node_certificates, op.new_rapi_certificate, op.new_ssh_keys)
        if not (any(wanted) or op.rapi_certificate):
            raise OpPrereqError("Nothing to renew: name at least one certificate or key to renew", ECODE_INVAL)

    def declare_locks(self, level: Level) -> LockRequest | None:
        return LockRequest(ALL, shared=True) if level == Level.NODE else None

    def check_prereq(self) -> None:
        op = self.op
        assert isinstance(op, OpClusterRenewCrypto)
        self.rapi_pem: bytes | None = None
        if op.rapi_certificate:
            if os.path.realpath(op.rapi_certificate) == os.path.realpath(paths.cluster_cert()):
                raise OpPrereqError(
                    "The cluster certificate cannot serve the RAPI: a RAPI key must not open the node daemons",
                    ECODE_INVAL,
                )
            try:
                pem = _read(op.rapi_certificate)
            except OSError as err:
                raise OpPrereqError(f"Cannot read {op.rapi_certificate}: {err.strerror}", ECODE_ENVIRON) from None
            try:
                certs.check_key_pair(pem, op.rapi_certificate)
            except ValueError as err:
                raise OpPrereqError(str(err), ECODE_INVAL) from None
            self.rapi_pem = pem
        nodes = sorted(self.cfg.nodes.values(), key=lambda n: n.name)
        self.online = [n for n in nodes if not n.offline]
        self.offline = [n for n in nodes if n.offline]

    async def exec(self) -> dict[str, str]:
        op = self.op
        assert isinstance(op, OpClusterRenewCrypto)
        result: dict[str, str] = {}
        if op.new_cluster_certificate or op.node_certificates:
            result["cluster_certificate"] = await self._roll_cluster_certificate()
        if op.new_rapi_certificate or self.rapi_pem is not None:
            result["rapi_certificate"] = await self._renew_rapi()
        if op.new_ssh_keys:
            result["ssh_key"] = await self._renew_ssh_key()
        return result

    async def _renew_ssh_key(self) -> str:
        op = self.op
        assert isinstance(op, OpClusterRenewCrypto)
        master = self.cfg.cluster.master_node
        if paths.is_virtual():
            self.feedback("* virtual cluster: nodes are not reached over SSH; only the master's key pair is renewed")
            nodes: list[Node] = []
        else:
            nodes = [n for n in self.online if n.uuid != master]
        defaults = {**constants.ND_DEFAULTS, **self.cfg.cluster.ndparams}
        ports = {n.name: int({**defaults, **n.ndparams}.get("ssh_port", 22)) for n in nodes}
        ops = ssh_roll.SshKeyOps(ports, verify=op.verify)
        targets = [(n.name, n.primary_ip) for n in nodes]
        public = await ssh_roll.roll_ssh_key(targets, op.ssh_key_type, op.ssh_key_bits, ops, self.feedback)
        await self.ctx.services.push_candidate_files(SSH_FILES)  # a new master logs in with the new key
        for node in self.offline:
            self.feedback(
                f"  - WARNING: node {node.name} is offline: it still accepts only the old SSH key;"
                f" when it is back, re-add it: gnt-node add --readd {node.name}"
            )
        self.feedback("* the cluster's SSH key is renewed; the old one is removed from the nodes")
        return public

    async def _roll_cluster_certificate(self) -> str:
        async with _ROLL_LOCK:
            path = roll_state_path()
            state = cert_roll.RollState.load(path)
            if state is not None:
                self.feedback(f"* resuming the certificate roll stopped at phase '{state.phase}'")
            else:
                state = await asyncio.to_thread(self._fresh_state)
            for node in self.offline:
                self.feedback(
                    f"  - WARNING: node {node.name} is offline: it keeps the old certificate, which the cluster"
                    f" refuses once this is done; when it is back, re-add it: gnt-node add --readd {node.name}"
                )
            ops = _RpcNodeOps(self, {n.name: n for n in self.online})
            try:
                names = [n.name for n in self.online]
                await cert_roll.run_roll(state, names, ops, lambda s: s.save(path), self.feedback)
            except cert_roll.RollFailed as err:
                raise OpExecError(
                    f"{err}; the roll is saved and every reachable node accepts both certificates, so jobs keep"
                    " running: repair the node or mark it offline (gnt-node modify -O yes NODE), then run"
                    " `gnt-cluster renew-crypto --new-cluster-certificate` again to finish it"
                ) from None
            cert_roll.RollState.clear(path)
            fingerprint = certs.fingerprint(state.new_pem)
            self.feedback(f"* the cluster certificate is renewed (SHA-256 {fingerprint}...); the old one is refused")
            return fingerprint

    def _fresh_state(self) -> cert_roll.RollState:
        """A new key pair; what every node trusts now stays trusted until the last phase."""
        own = paths.cluster_cert()
        trusted = certs.public_part(_read(own))
        extra = certs.trust_path(own)
        if os.path.exists(extra):
            trusted += certs.public_part(_read(extra))
        new_pem = certs.generate_pem(self.cfg.cluster.cluster_name)
        return cert_roll.RollState(cert_roll.Phase.TRUST_NEW, new_pem, trusted)

    async def _renew_rapi(self) -> str:
        pem = self.rapi_pem
        if pem is None:
            pem = await asyncio.to_thread(certs.generate_pem, self.cfg.cluster.cluster_name)
        await asyncio.to_thread(certs.write_pem, paths.rapi_cert(), pem)
        await self.ctx.services.push_candidate_files(["rapi_pem"])  # a new master serves the same one
        fingerprint = certs.fingerprint(pem)
        self.feedback(f"* the RAPI serves a new certificate (SHA-256 {fingerprint}...) from its next connection")
        return fingerprint
