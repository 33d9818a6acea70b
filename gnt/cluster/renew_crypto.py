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
import ssl

from gnt import certs, constants, node_certs, paths, ssh_key_spec
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
    """cert_roll.NodeOps over the typed RPC client; errors come back as one line each.

    Each node gets a certificate of its own signed by the new CA (gnt.node_certs), issued and listed
    in the config and every node's ssconf before any node presents it (`prepare_switch`).
    """

    def __init__(self, lu: LogicalUnit, nodes: dict[str, Node]) -> None:
        self.lu = lu
        self.nodes = nodes
        self.leaves: dict[str, bytes] = {}

    async def prepare_switch(self, names: list[str], ca_pem: bytes) -> None:
        await _list_presented(self.lu, [self.nodes[n] for n in names])
        for name in names:
            self.leaves[name] = await asyncio.to_thread(node_certs.issue, ca_pem, name)
        await _list_digests(self.lu, [(self.nodes[n], node_certs.digest(p)) for n, p in self.leaves.items()], keep=True)

    async def trust(self, node: str, trusted: list[bytes]) -> str | None:
        args = proc.CryptoTrustArgs([c.decode() for c in trusted])
        result = await self.lu.rpc.crypto_trust(self.lu.ctx.services.target(self.nodes[node]), args)
        return str(result.error) if result.failed else None

    async def install(self, node: str, pem: bytes, trusted: list[bytes]) -> str | None:
        leaf = self.leaves.get(node) or pem
        args = proc.CryptoInstallArgs(leaf.decode(), [c.decode() for c in trusted])
        result = await self.lu.rpc.crypto_install(self.lu.ctx.services.target(self.nodes[node]), args)
        return str(result.error) if result.failed else None


async def _list_digests(lu: LogicalUnit, digests: list[tuple[Node, str]], keep: bool) -> None:
    """Accept these node certificates (besides the ones listed already when `keep`): config, then every ssconf.

    Listed before a node presents its new certificate (keep=True, the old one still accepted), and
    again with keep=False once it does, which is what refuses the old one.
    """
    for node, digest in digests:
        node.cert_digests = [*(d for d in node.cert_digests if d != digest), digest] if keep else [digest]
    await lu.cfg.commit([node for node, _ in digests])
    await lu.ctx.services.push_ssconf()


async def _list_presented(lu: LogicalUnit, nodes: list[Node]) -> None:
    """Give each node the cluster lists no certificate of the one it presents now, before a renewal lists the new.

    A cluster made before per-node certificates (every node presents the one shared certificate) or a node
    set up before the master learnt certificates has none listed; listing only its new certificate would
    refuse its current one (and the master's own) before it switched. TLS checks the CA signed it.
    """
    port = lu.cfg.cluster.noded_port
    for node in nodes:
        if node.cert_digests:
            continue
        try:
            der = await asyncio.to_thread(node_certs.presented, node.primary_ip, port, paths.cluster_cert())
        except (OSError, ssl.SSLError) as err:
            lu.feedback(f"  - cannot read the certificate node {node.name} presents now ({err}); it may miss a call")
            continue
        node.cert_digests = [node_certs.digest_der(der)]


def _current_trust() -> list[bytes]:
    """The certificates this master trusts besides its CA (a trust file left by a roll), to keep on the nodes."""
    extra = certs.trust_path(paths.cluster_cert())
    if not os.path.exists(extra):
        return []
    return cert_roll._split(_read(extra))


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
        if op.new_ssh_keys and op.ssh_key_type is not None:
            problem = ssh_key_spec.type_problem(op.ssh_key_type)
            if problem:
                raise OpPrereqError(f"SSH key type {problem}", ECODE_INVAL)
            if op.ssh_key_bits:
                problem = ssh_key_spec.bits_problem(op.ssh_key_type, op.ssh_key_bits)
                if problem:
                    raise OpPrereqError(problem, ECODE_INVAL)
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
        if op.new_ssh_keys:
            self._choose_ssh_key(op)
        nodes = sorted(self.cfg.nodes.values(), key=lambda n: n.name)
        self.online = [n for n in nodes if not n.offline]
        self.offline = [n for n in nodes if n.offline]
        if op.node_certificates and not op.new_cluster_certificate:
            self._check_node_renewal(op)

    def _choose_ssh_key(self, op: OpClusterRenewCrypto) -> None:
        """The new key's type and size: the cluster's unless given (Ganeti's DetermineKeyBits)."""
        c = self.cfg.cluster
        self.ssh_key_type = op.ssh_key_type or c.ssh_key_type
        self.ssh_key_bits = ssh_key_spec.choose_bits(self.ssh_key_type, op.ssh_key_bits, c.ssh_key_type, c.ssh_key_bits)
        problem = ssh_key_spec.bits_problem(self.ssh_key_type, self.ssh_key_bits)
        if problem:  # a size given alone, checked against the cluster's type
            raise OpPrereqError(problem, ECODE_INVAL)

    def _check_node_renewal(self, op: OpClusterRenewCrypto) -> None:
        unknown = [name for name in op.node_names if self.cfg.find_node(name) is None]
        if unknown:
            raise OpPrereqError(f"Unknown node(s): {', '.join(unknown)}", ECODE_INVAL)
        offline = [name for name in op.node_names if self.cfg.node(name).offline]
        if offline:
            raise OpPrereqError(
                f"Node(s) {', '.join(offline)} are offline: re-add them (gnt-node add --readd NODE)", ECODE_INVAL
            )
        if not os.path.exists(paths.cluster_ca()):
            raise OpPrereqError(
                "This cluster has no CA (it was made before per-node certificates): run"
                " `gnt-cluster renew-crypto --new-cluster-certificate`, which gives every node one",
                ECODE_ENVIRON,
            )
        if os.path.exists(roll_state_path()):
            raise OpPrereqError(
                "A cluster certificate roll is unfinished: finish it first with"
                " `gnt-cluster renew-crypto --new-cluster-certificate`",
                ECODE_ENVIRON,
            )

    async def exec(self) -> dict[str, str]:
        op = self.op
        assert isinstance(op, OpClusterRenewCrypto)
        result: dict[str, str] = {}
        if op.new_cluster_certificate:
            result["cluster_certificate"] = await self._roll_cluster_certificate()
        elif op.node_certificates:
            result["node_certificates"] = await self._renew_node_certificates()
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
        public = await ssh_roll.roll_ssh_key(targets, self.ssh_key_type, self.ssh_key_bits, ops, self.feedback)
        cluster = self.cfg.cluster
        if (cluster.ssh_key_type, cluster.ssh_key_bits) != (self.ssh_key_type, self.ssh_key_bits):
            cluster.ssh_key_type, cluster.ssh_key_bits = self.ssh_key_type, self.ssh_key_bits
            await self.cfg.commit([cluster])  # the key in use, as Ganeti records it
        await self.ctx.services.push_candidate_files(SSH_FILES)  # a new master logs in with the new key
        for node in self.offline:
            self.feedback(
                f"  - WARNING: node {node.name} is offline: it still accepts only the old SSH key;"
                f" when it is back, re-add it: gnt-node add --readd {node.name}"
            )
        self.feedback("* the cluster's SSH key is renewed; the old one is removed from the nodes set up over SSH")
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
                await cert_roll.run_roll(state, names, ops, self._save_roll, self.feedback)
            except cert_roll.RollFailed as err:
                raise OpExecError(
                    f"{err}; the roll is saved and every reachable node accepts both certificates, so jobs keep"
                    " running: repair the node or mark it offline (gnt-node modify -O yes NODE), then run"
                    " `gnt-cluster renew-crypto --new-cluster-certificate` again to finish it"
                ) from None
            newest = [(n, n.cert_digests[-1]) for n in self.online if n.cert_digests]
            await _list_digests(self, newest, keep=False)  # the nodes' previous certificates are refused now
            await asyncio.to_thread(certs.write_pem, paths.cluster_ca(), state.new_pem)
            await self.ctx.services.push_candidate_files(["cluster_ca"])  # a new master signs with the new CA
            cert_roll.RollState.clear(path)
            await self._note_roll_phase("")
            fingerprint = certs.fingerprint(state.new_pem)
            self.feedback(f"* the cluster certificate is renewed (SHA-256 {fingerprint}...); the old one is refused")
            return fingerprint

    async def _save_roll(self, state: cert_roll.RollState) -> None:
        """The key and phase in the master's own file (0600), the phase alone in the config (verify warns)."""
        await asyncio.to_thread(state.save, roll_state_path())
        await self._note_roll_phase(str(state.phase))

    async def _note_roll_phase(self, phase: str) -> None:
        cluster = self.cfg.cluster
        if cluster.cert_roll_phase != phase:
            cluster.cert_roll_phase = phase
            await self.cfg.commit([cluster])

    def _fresh_state(self) -> cert_roll.RollState:
        """A new key pair; what every node trusts now stays trusted until the last phase."""
        own = paths.cluster_cert()
        trusted = certs.trusted_part(_read(own))
        extra = certs.trust_path(own)
        if os.path.exists(extra):
            trusted += certs.public_part(_read(extra))
        new_pem = certs.generate_pem(self.cfg.cluster.cluster_name)
        return cert_roll.RollState(cert_roll.Phase.TRUST_NEW, new_pem, trusted)

    async def _renew_node_certificates(self) -> dict[str, str]:
        """New certificates from the current CA for the named (or all online) nodes; the old ones refused after."""
        op = self.op
        assert isinstance(op, OpClusterRenewCrypto)
        wanted = set(op.node_names)
        nodes = [n for n in self.online if not wanted or n.name in wanted]
        ca_pem = await asyncio.to_thread(_read, paths.cluster_ca())
        leaves = {n.name: await asyncio.to_thread(node_certs.issue, ca_pem, n.name) for n in nodes}
        digests = {name: node_certs.digest(pem) for name, pem in leaves.items()}
        self.feedback(f"* issuing new node certificates for {len(nodes)} node(s)")
        await _list_presented(self, nodes)
        await _list_digests(self, [(n, digests[n.name]) for n in nodes], keep=True)
        trusted = await asyncio.to_thread(_current_trust)
        ops = _RpcNodeOps(self, {n.name: n for n in nodes})
        ops.leaves = leaves
        errors = await asyncio.gather(*(ops.install(n.name, leaves[n.name], trusted) for n in nodes))
        done = [n for n, err in zip(nodes, errors, strict=True) if err is None]
        await _list_digests(self, [(n, digests[n.name]) for n in done], keep=False)
        failed = {n.name: err for n, err in zip(nodes, errors, strict=True) if err is not None}
        if failed:
            names = ", ".join(sorted(failed))
            raise OpExecError(
                f"Could not renew the certificate of node(s) {names} ({failed[sorted(failed)[0]]}); they keep"
                " their old one, which stays accepted: run the command again for them"
            )
        for node in self.offline if not wanted else []:
            self.feedback(f"  - WARNING: node {node.name} is offline: re-add it when it is back (gnt-node add --readd)")
        self.feedback("* every renewed node presents its new certificate; the old ones are refused")
        return {n.name: digests[n.name][:16] for n in nodes}

    async def _renew_rapi(self) -> str:
        pem = self.rapi_pem
        if pem is None:
            pem = await asyncio.to_thread(certs.generate_pem, self.cfg.cluster.cluster_name)
        await asyncio.to_thread(certs.write_pem, paths.rapi_cert(), pem)
        await self.ctx.services.push_candidate_files(["rapi_pem"])  # a new master serves the same one
        fingerprint = certs.fingerprint(pem)
        self.feedback(f"* the RAPI serves a new certificate (SHA-256 {fingerprint}...) from its next connection")
        return fingerprint
