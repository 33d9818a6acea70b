"""Cluster-wide LUs: post-init, verify, modify, destroy."""

from __future__ import annotations

import datetime
import os
import re
from typing import Any

from gnt import PROTOCOL_VERSION, constants, disktypes, paths, resstate, uidpool
from gnt.cluster import master_ip_change, verify_crypto
from gnt.cluster.verify_codes import N1_CHECK
from gnt.errors import ECODE_ENVIRON, ECODE_INVAL, ECODE_STATE, OpPrereqError
from gnt.instance.common import check_hvparams
from gnt.instance.create import normalize_beparams
from gnt.jobs.locking import ALL, Level, LockRequest
from gnt.jobs.lu import LogicalUnit, register
from gnt.opcodes import OpClusterDestroy, OpClusterPostInit, OpClusterSetParams, OpClusterVerify
from gnt.os import logic as os_logic
from gnt.rpc import procedures as proc


@register
class LUClusterPostInit(LogicalUnit):
    """Run right after `gnt-cluster init`: checks the master's daemon and runs the cluster-init
    post hooks on the master (Ganeti's "empty" LU for them; it has no pre phase)."""

    OPCODE = OpClusterPostInit
    HPATH = "cluster-init"
    HTYPE = "CLUSTER"

    def hooks_env(self) -> dict[str, Any]:
        return {"OP_TARGET": self.cfg.cluster.cluster_name}

    def hooks_nodes(self) -> tuple[list[Any], list[Any]]:
        return [], super().hooks_nodes()[1]

    async def exec(self) -> bool:
        services = self.ctx.services
        master = self.cfg.master()
        result = await self.rpc.version(services.target(master))
        result.get("The master's node daemon does not answer")
        await services.push_ssconf()
        return True


@register
class LUClusterVerify(LogicalUnit):
    """Ganeti's cluster-verify hooks: no pre phase; post scripts on every verified node, whose
    failures are verify errors (ENODEHOOKS) and make the result false, so sites add their own checks."""

    OPCODE = OpClusterVerify
    op: OpClusterVerify
    HPATH = "cluster-verify"
    HTYPE = "CLUSTER"
    #: the node group `-g` names; None verifies the whole cluster
    group: Any = None

    def declare_locks(self, level: Level) -> LockRequest | None:
        return LockRequest(ALL, shared=True) if level in (Level.INSTANCE, Level.NODE) else None

    def _error(self, kind: str, item: str, message: str, code: str = "ECLUSTERCFG") -> None:
        level = "WARNING" if code in self.op.ignore_errors else "ERROR"
        if level == "ERROR":
            self.errors += 1
        self._report(level, code, kind, item, message)

    def _warn(self, kind: str, item: str, message: str, code: str = "ECLUSTERCFG") -> None:
        self._report("WARNING", code, kind, item, message)

    def _report(self, level: str, code: str, kind: str, item: str, message: str) -> None:
        """Ganeti's two forms: `ERROR: node n1: msg`, or with --error-codes `ERROR:ENODEN1:node:n1:msg`."""
        if self.op.error_codes:
            self.feedback(f"  - {level}:{code}:{kind}:{item}:{message}")
        else:
            self.feedback(f"  - {level}: {kind} {item}: {message}")

    def _in_scope(self, node_uuid: str) -> bool:
        """Whether a node belongs to the group `-g` names (every node without -g)."""
        return self.group is None or getattr(self.cfg.nodes.get(node_uuid), "group", None) == self.group.uuid

    def check_prereq(self) -> None:
        self.group = self.cfg.group(self.op.group_name) if self.op.group_name is not None else None

    def hooks_env(self) -> dict[str, Any]:
        env: dict[str, Any] = {"CLUSTER_TAGS": " ".join(self.cfg.cluster.tags)}
        for node in self.cfg.nodes.values():
            if self._in_scope(node.uuid):
                env[f"NODE_TAGS_{node.name}"] = " ".join(node.tags)
        return env

    def hooks_nodes(self) -> tuple[list[Any], list[Any]]:
        return [], [n for n in self.cfg.nodes.values() if self._in_scope(n.uuid)]

    def hooks_callback(self, phase: str, results: dict[str, Any], lu_result: Any) -> Any:
        """Failed post scripts (and nodes that could not run them) are verify errors."""
        if phase != "post" or not results:
            return lu_result
        from gnt.hooks.master import HKR_FAIL

        self.errors = getattr(self, "errors", 0)
        before = self.errors
        self.feedback("* Hooks Results")
        for name, result in sorted(results.items()):
            if result is None or result.failed:
                error = result.error if result is not None else "no answer"
                self._error("node", name, f"Communication failure in hooks execution: {error}", "ENODEHOOKS")
                continue
            for script, status, output in result.payload or []:
                if status == HKR_FAIL:
                    self._error("node", name, f"Script {script} failed, output:", "ENODEHOOKS")
                    for line in (output or "").splitlines():
                        self.feedback(f"      {line}")
        # -I ENODEHOOKS makes them warnings, as any other verify error
        return bool(lu_result) and self.errors == before

    async def exec(self) -> bool:
        self.errors = 0
        cfg, services = self.cfg, self.ctx.services
        if self.group is None:
            self.feedback("* Verifying cluster config")
            self._verify_config()
            self.feedback("* Verifying cluster certificate files")
            self._findings(
                verify_crypto.cluster_files(
                    cfg.cluster.cluster_name,
                    verify_crypto.read_master_files(),
                    cfg.cluster.cert_roll_phase,
                    datetime.datetime.now(datetime.UTC),
                )
            )
        else:
            self.feedback(f"* Verifying group '{self.group.name}'")
        online = [n for n in cfg.nodes.values() if not n.offline and self._in_scope(n.uuid)]
        self.feedback(f"* Gathering data ({len(online)} nodes)")
        args = proc.NodeInfoArgs(list(cfg.cluster.enabled_hypervisors), services.storage_dirs(), services.vg_names())
        args.drbd = self._drbd_helper() is not None
        results = await self.rpc.call_many(services.targets(online), proc.NODE_VERIFY, args)
        self.feedback("* Verifying node status")
        facts = self._verify_nodes(results)
        self._verify_crypto(online, facts)
        self.feedback("* Verifying instance status")
        self._verify_instances(facts)
        self._verify_instance_policy()
        await self._verify_drbd()
        self.feedback("* Verifying orphan volumes")
        self._verify_orphans(facts)
        self._verify_pending_cleanups()
        if N1_CHECK not in self.op.skip_checks:
            self.feedback("* Verifying N+1 Memory redundancy")
            await self._verify_n_plus_one(online)
        self.feedback("* Other Notes")
        offline = [n.name for n in cfg.nodes.values() if n.offline and self._in_scope(n.uuid)]
        if offline:
            self.feedback(f"  - NOTICE: {len(offline)} offline node(s) found.")
        unmirrored = [
            i
            for i in cfg.instances.values()
            if not disktypes.kind(i.disk_template).is_redundant and self._in_scope(i.primary_node)
        ]
        if unmirrored:
            self.feedback(f"  - NOTICE: {len(unmirrored)} non-redundant instance(s) found.")
        return self.errors == 0

    def _findings(self, found: list[verify_crypto.Finding]) -> None:
        for error, code, kind, item, message in found:
            (self._error if error else self._warn)(kind, item, message, code)

    def _verify_crypto(self, online: list[Any], facts: dict[str, dict[str, Any]]) -> None:
        """Each node's own certificate (ENODESSL) and the master IP on the master only (ENODENET)."""
        now = datetime.datetime.now(datetime.UTC)
        for node in sorted(online, key=lambda n: n.name):
            if node.name in facts:
                self._findings(verify_crypto.node_certificate(node, facts[node.name].get("node_cert"), now))
        reports = {name: data["master_ip"] for name, data in facts.items() if data.get("master_ip")}
        master = self.cfg.cluster.master_node
        self._findings(verify_crypto.master_ip(online, reports, master, paths.is_virtual()))

    def _verify_instance_policy(self) -> None:
        """Ganeti's EINSTANCEPOLICY warning: an instance its group's policy would no longer admit
        (the policy changed after it was made, or it was made with --ignore-ipolicy)."""
        from gnt.instance.common import filled_beparams
        from gnt.ipolicy import group_policy, instance_violations

        for inst in sorted(self.cfg.instances.values(), key=lambda i: i.name):
            node = self.cfg.nodes.get(inst.primary_node)
            if node is None or not self._in_scope(node.uuid):
                continue
            found = instance_violations(
                group_policy(self.cfg, node.group), filled_beparams(self.cfg.cluster, inst), inst
            )
            if found:
                self._warn("instance", inst.name, ", ".join(found), "EINSTANCEPOLICY")

    async def _verify_n_plus_one(self, online: list[Any]) -> None:
        """Ganeti's ENODEN1: each node's free memory against its secondaries' needs per failed primary."""
        from gnt.cluster.verify_n1 import describe, n_plus_one_shortfalls

        hypervisor = self.cfg.cluster.enabled_hypervisors[0]
        nodes = [n for n in online if n.vm_capable]
        results = await self.rpc.call_many(
            self.ctx.services.targets(nodes), proc.NODE_INFO, proc.NodeInfoArgs([hypervisor])
        )
        free: dict[str, int] = {}
        for name, result in sorted(results.items()):
            try:
                node = self.cfg.node(name)
                free[name] = resstate.free_memory(self.cfg, node, hypervisor, result.payload["hv"][hypervisor])
            except (AttributeError, KeyError, TypeError, ValueError):  # no answer: that node is not judged
                if not result.failed:
                    self._warn("node", name, f"cannot read its free memory from {hypervisor}", "ENODEN1")
        for item in n_plus_one_shortfalls(self.cfg, free, {n.name for n in nodes}):
            self._error("node", item.node, describe(item), "ENODEN1")

    async def _verify_drbd(self) -> None:
        """Degraded drbd disks of instances that should have them up (one status read per node)."""
        from gnt.cluster import verify_drbd

        sides, errors = await verify_drbd.gather(self)
        for name, error in sorted(errors.items()):
            node = self.cfg.find_node(name)
            if error != "node is offline" and (node is None or self._in_scope(node.uuid)):
                self._error("node", name, f"cannot read its DRBD status: {error}", "ENODEDRBD")
        for side in sides:
            problem = side.problem()
            if problem is not None and self._in_scope(side.instance.primary_node):
                message = f"disk/{side.disk.index} on {side.node.name} is {problem}"
                self._error("instance", side.instance.name, message, "EINSTANCEFAULTYDISK")

    def _verify_config(self) -> None:
        cfg = self.cfg
        if cfg.cluster.master_node not in cfg.nodes:
            self._error("cluster", cfg.cluster.cluster_name, "the master node is not in the config")
        for inst in cfg.instances.values():
            if inst.primary_node not in cfg.nodes:
                message = f"primary node {inst.primary_node} is not in the config"
                self._error("instance", inst.name, message, "EINSTANCEBADNODE")
        if len(cfg.master_candidates()) < min(cfg.cluster.candidate_pool_size, len(cfg.nodes)):
            self._warn(
                "cluster",
                cfg.cluster.cluster_name,
                f"only {len(cfg.master_candidates())} master candidates, pool size is"
                f" {cfg.cluster.candidate_pool_size}",
            )

    def _verify_nodes(self, results: dict[str, Any]) -> dict[str, dict[str, Any]]:
        facts = {}
        expected_ssconf = self.ctx.services.ssconf_values()
        for name, result in sorted(results.items()):
            if result.failed:
                self._error("node", name, f"while contacting node: {result.error}", "ENODERPC")
                continue
            data = result.payload
            facts[name] = data
            if data.get("version") != PROTOCOL_VERSION:
                self._error("node", name, f"incompatible protocol version {data.get('version')}", "ENODEVERSION")
            for hv, hv_data in data.get("hypervisors", {}).items():
                for problem in hv_data.get("problems", []):
                    self._error("node", name, f"hypervisor {hv}: {problem}", "ENODEHV")
            ssconf = data.get("ssconf", {})
            for key in ("cluster_name", "master_node", "node_list"):
                if ssconf.get(key) != expected_ssconf[key]:
                    self._error("node", name, f"ssconf file '{key}' is out of date", "ENODEFILECHECK")
            self._verify_drbd_helper(name, data)
        self._verify_hv_versions(facts)
        return facts

    def _verify_hv_versions(self, facts: dict[str, dict[str, Any]]) -> None:
        """Warn when a hypervisor's version differs between nodes (Ganeti issue #1053: Xen)."""
        versions: dict[str, dict[str, str]] = {}
        for name, data in facts.items():
            for hv, hv_data in data.get("hypervisors", {}).items():
                if hv_data.get("version"):
                    versions.setdefault(hv, {})[name] = hv_data["version"]
        for hv, by_node in sorted(versions.items()):
            if len(set(by_node.values())) > 1:
                listed = ", ".join(f"{n} {v}" for n, v in sorted(by_node.items()))
                message = f"versions differ between nodes ({listed}); migrations may fail"
                self._warn("hypervisor", hv, message, "ENODEHV")

    def _drbd_helper(self) -> str | None:
        """The usermode helper drbd nodes must have, when drbd is enabled and a helper is set."""
        cluster = self.cfg.cluster
        if constants.DT_DRBD not in cluster.enabled_disk_templates or not cluster.drbd_usermode_helper:
            return None
        return cluster.drbd_usermode_helper

    def _verify_drbd_helper(self, name: str, data: dict[str, Any]) -> None:
        """Ganeti's check: the loaded DRBD module runs the cluster's usermode helper on every
        vm_capable node (a node that does not answer it, an older daemon, says nothing)."""
        wanted = self._drbd_helper()
        node = self.cfg.find_node(name)
        if wanted is None or (node is not None and not node.vm_capable):
            return
        if "drbd_helper_error" in data:
            message = f"drbd usermode helper check unsuccessful: {data['drbd_helper_error']}"
            self._error("node", name, message, "ENODEDRBDHELPER")
        elif "drbd_helper" in data and data["drbd_helper"] != wanted:
            message = f"wrong drbd usermode helper: {data['drbd_helper']} (the cluster's: {wanted})"
            self._error("node", name, message, "ENODEDRBDHELPER")

    def _verify_instances(self, facts: dict[str, dict[str, Any]]) -> None:
        cfg = self.cfg
        running: dict[str, dict[str, str]] = {}
        for node_name, data in facts.items():
            for hv_data in data.get("hypervisors", {}).values():
                for inst_name, state in hv_data.get("instances", {}).items():
                    running.setdefault(inst_name, {})[node_name] = state
        for inst in sorted(cfg.instances.values(), key=lambda i: i.name):
            pnode = cfg.node_name(inst.primary_node)
            where = running.pop(inst.name, {})
            if pnode not in facts:
                continue
            state = where.get(pnode)
            if inst.admin_state == constants.ADMINST_UP and state not in ("running", "paused"):
                self._error("instance", inst.name, f"instance not running on its primary node {pnode}", "EINSTANCEDOWN")
            if inst.admin_state != constants.ADMINST_UP and state in ("running", "paused"):
                self._error("instance", inst.name, f"instance should not run on node {pnode}", "EINSTANCEWRONGNODE")
            for other in sorted(set(where) - {pnode}):
                if where[other] in ("running", "paused"):
                    self._error("instance", inst.name, f"instance should not run on node {other}", "EINSTANCEWRONGNODE")
        for inst_name, where in sorted(running.items()):
            for node_name in sorted(where):
                message = f"instance {inst_name} is running but not in the config"
                self._error("node", node_name, message, "ENODEORPHANINSTANCE")

    def _verify_orphans(self, facts: dict[str, dict[str, Any]]) -> None:
        cfg = self.cfg
        known = {d.logical_id[1] for i in cfg.instances.values() for d in i.disks if len(d.logical_id) > 1}
        known |= {r.disk.logical_id[1] for r in cfg.cluster.detached_disks if len(r.disk.logical_id) > 1}
        for node_name, data in sorted(facts.items()):
            root = paths.node_root(node_name)
            for path in data.get("disk_files", []):
                virtual = path[len(root) :] if root and path.startswith(root + "/") else path
                if virtual not in known and path not in known:
                    self._error("node", node_name, f"volume {path} is unknown", "ENODEORPHANLV")
        self._verify_volumes(facts)

    def _verify_volumes(self, facts: dict[str, dict[str, Any]]) -> None:
        """LVs on nodes against plain disks in the config: unknown ones and missing ones (Ganeti's
        "volume xenvg/x is unknown" and "volume ... missing on node")."""
        cfg = self.cfg
        reserved = [re.compile(p) for p in cfg.cluster.reserved_lvs]
        expected: dict[str, dict[tuple[str, str], str]] = {}
        for inst in cfg.instances.values():
            if inst.forthcoming:  # reserved only: its volumes are made by its commit
                continue
            for disk in inst.disks:
                if disk.dev_type == constants.DT_PLAIN and len(disk.logical_id) == 2:
                    vg, lv = disk.logical_id
                    expected.setdefault(cfg.node_name(inst.primary_node), {})[(vg, lv)] = inst.name
                elif disk.dev_type == constants.DT_DRBD:  # its data and meta LVs, on both of its nodes
                    for node_uuid in (inst.primary_node, *inst.secondary_nodes):
                        for vg, lv in disk.params.get("children", []):
                            expected.setdefault(cfg.node_name(node_uuid), {})[(vg, lv)] = inst.name
        for record in cfg.cluster.detached_disks:  # kept for a later attach: known, not orphans
            if record.disk.dev_type == constants.DT_PLAIN and len(record.disk.logical_id) == 2:
                for node_uuid in record.nodes:
                    expected.setdefault(cfg.node_name(node_uuid), {})[tuple(record.disk.logical_id)] = "(detached)"
        for node_name, data in sorted(facts.items()):
            if "volumes_error" in data:
                self._error("node", node_name, f"cannot list LVM volumes: {data['volumes_error']}", "ENODELVM")
                continue
            if "volumes" not in data:
                continue
            found = {(v["vg"], v["name"]) for v in data["volumes"]}
            wanted = expected.get(node_name, {})
            for vg, lv in sorted(found - set(wanted)):
                if not any(r.fullmatch(f"{vg}/{lv}") for r in reserved):
                    self._error("node", node_name, f"volume {vg}/{lv} is unknown", "ENODEORPHANLV")
            for (vg, lv), inst_name in sorted(wanted.items()):
                if (vg, lv) not in found:
                    message = f"volume {vg}/{lv} missing on node {node_name}"
                    self._error("instance", inst_name, message, "EINSTANCEMISSINGDISK")

    def _verify_pending_cleanups(self) -> None:
        from gnt.cluster import pending

        for entry in pending.entries():
            node = self.cfg.find_node(entry["node"])
            if node is not None and not self._in_scope(node.uuid):
                continue
            self._error(
                "node",
                entry["node"],
                f"leftover {pending.describe(entry)} awaits removal ({entry['reason']});"
                " gnt-cluster verify-disks removes it once the node answers",
                "ENODEORPHANLV",
            )


@register
class LUClusterSetParams(LogicalUnit):
    OPCODE = OpClusterSetParams
    op: OpClusterSetParams
    BGL_EXCLUSIVE = True
    HPATH = "cluster-modify"
    HTYPE = "CLUSTER"

    def hooks_env(self) -> dict[str, Any]:
        return {"OP_TARGET": self.cfg.cluster.cluster_name, "NEW_VG_NAME": self.op.vg_name or ""}

    async def check_prereq(self) -> None:
        op, cluster = self.op, self.cfg.cluster
        if op.enabled_hypervisors is not None:
            bad = [h for h in op.enabled_hypervisors if h not in constants.HYPERVISORS]
            if bad or not op.enabled_hypervisors:
                raise OpPrereqError(f"Invalid hypervisor(s): {', '.join(bad) or '(none given)'}", ECODE_INVAL)
            used = {i.hypervisor for i in self.cfg.instances.values()} - set(op.enabled_hypervisors)
            if used:
                raise OpPrereqError(f"Hypervisor(s) {', '.join(sorted(used))} still used by instances", ECODE_STATE)
        if op.enabled_disk_templates is not None:
            bad = [t for t in op.enabled_disk_templates if t not in constants.DISK_TEMPLATES]
            if bad or not op.enabled_disk_templates:
                raise OpPrereqError(f"Invalid disk template(s): {', '.join(bad) or '(none given)'}", ECODE_INVAL)
            used = {i.disk_template for i in self.cfg.instances.values()} - set(op.enabled_disk_templates)
            if used:
                raise OpPrereqError(f"Disk template(s) {', '.join(sorted(used))} still used by instances", ECODE_STATE)
        if op.candidate_pool_size is not None and op.candidate_pool_size < 1:
            raise OpPrereqError("Candidate pool size must be at least 1", ECODE_INVAL)
        if op.max_running_jobs is not None and op.max_running_jobs < 1:
            raise OpPrereqError("max_running_jobs must be at least 1", ECODE_INVAL)
        self.beparams = normalize_beparams(op.beparams) if op.beparams else None
        self.ipolicy = self._new_ipolicy() if op.ipolicy else None
        if op.hvparams:
            for hv, params in op.hvparams.items():
                check_hvparams(hv, params)
        if op.default_iallocator is not None:
            from gnt.instance.placement import check_allocator

            check_allocator(op.default_iallocator)  # a bad default would fail every later placement
        self.uid_pool = self._new_uid_pool()
        await self._check_volume_group()
        await self._check_file_storage_dirs()
        await self._check_drbd_helper()
        await os_logic.check_cluster_changes(self, op)  # gnt-os modify -O: the OS must accept them
        self.master_ip = master_ip_change.plan_set_params(self.cfg, op)
        self.cluster = cluster

    def _new_uid_pool(self) -> list[list[int]] | None:
        """The pool after --uid-pool, then --add-uids, then --remove-uids (Ganeti's order); None when
        none is given. A range to remove must be in the pool as added: checked here, before any change."""
        op = self.op
        if op.uid_pool is None and op.add_uids is None and op.remove_uids is None:
            return None
        pool = uidpool.normalize(op.uid_pool if op.uid_pool is not None else self.cfg.cluster.uid_pool)
        if op.add_uids is not None:
            pool = uidpool.add(pool, op.add_uids)
        if op.remove_uids is not None:
            try:
                pool = uidpool.remove(pool, op.remove_uids)
            except uidpool.UidPoolError as err:
                raise OpPrereqError(str(err), ECODE_INVAL) from None
        return [list(entry) for entry in pool]

    def _new_ipolicy(self) -> dict[str, Any]:
        """The cluster's policy with the change applied (std merged per key), checked whole: its std
        must lie inside a min/max pair, and every group's own std too."""
        from gnt import ipolicy

        new = ipolicy.fill_ipolicy(self.cfg.cluster.ipolicy, self.op.ipolicy)
        problem = ipolicy.std_problem(new)
        for group in sorted(self.cfg.groups.values(), key=lambda g: g.name):
            if problem is None and group.ipolicy:
                problem = ipolicy.std_problem(ipolicy.fill_ipolicy(new, group.ipolicy))
                problem = problem and f"{problem} (in node group {group.name})"
        if problem:
            raise OpPrereqError(problem, ECODE_INVAL)
        return new

    async def _check_drbd_helper(self) -> None:
        """As Ganeti: the helper cannot be unset while drbd is enabled, and a new helper (or drbd
        getting enabled) must be what every vm_capable node's loaded DRBD module runs."""
        op, cluster = self.op, self.cfg.cluster
        templates = op.enabled_disk_templates if op.enabled_disk_templates is not None else []
        drbd_now = constants.DT_DRBD in (templates or cluster.enabled_disk_templates)
        drbd_before = constants.DT_DRBD in cluster.enabled_disk_templates
        helper = op.drbd_helper if op.drbd_helper is not None else cluster.drbd_usermode_helper
        if op.drbd_helper == "" and drbd_now:
            raise OpPrereqError("Cannot disable the drbd usermode helper while drbd is enabled", ECODE_STATE)
        if not drbd_now or not helper or (drbd_before and op.drbd_helper in (None, cluster.drbd_usermode_helper)):
            return
        nodes = [n for n in self.cfg.nodes.values() if n.vm_capable and not n.offline]
        results = await self.rpc.call_many(self.ctx.services.targets(nodes), proc.DRBD_HELPER, proc.NoArgs())
        for name, result in sorted(results.items()):
            if result.failed:
                raise OpPrereqError(f"Error checking drbd helper on node '{name}': {result.error}", ECODE_ENVIRON)
            if result.payload != helper:
                raise OpPrereqError(
                    f"Error on node '{name}': drbd usermode helper is {result.payload}, should be {helper}"
                    f" (load the module with `modprobe drbd usermode_helper={helper}`)",
                    ECODE_ENVIRON,
                )

    async def _check_file_storage_dirs(self) -> None:
        """A new (shared) file storage directory must be one every vm_capable node allows.

        Nodes refuse disks outside the directories their own file-storage-paths lists. Stored unchecked,
        such a directory would fail every later file disk, and leave each failed create's clean-up
        pending for ever, since the node refuses the removal for the same reason.
        """
        op, cluster = self.op, self.cfg.cluster
        changed = [
            (what, new)
            for what, new, old in (
                ("file storage", op.file_storage_dir, cluster.file_storage_dir),
                ("shared file storage", op.shared_file_storage_dir, cluster.shared_file_storage_dir),
            )
            if new and new != old
        ]
        if not changed:
            return
        nodes = [n for n in self.cfg.nodes.values() if n.vm_capable and not n.offline]
        for what, directory in changed:
            if not os.path.isabs(directory) or os.path.normpath(directory) != directory:
                raise OpPrereqError(
                    f"The {what} directory must be a normalised absolute path, not '{directory[:200]}'", ECODE_INVAL
                )
            args = proc.NodeInfoArgs([], [directory], [])
            results = await self.rpc.call_many(self.ctx.services.targets(nodes), proc.NODE_INFO, args)
            for name, result in sorted(results.items()):
                if result.failed:
                    raise OpPrereqError(
                        f"Error on node '{name}': {what} directory {directory} cannot be used: {result.error}",
                        ECODE_ENVIRON,
                    )

    async def _check_volume_group(self) -> None:
        """Every vm_capable node must have (and allow) the volume group before plain disks use it:
        checked when the VG changes or an LVM template gets enabled, as Ganeti does."""
        op, cluster = self.op, self.cfg.cluster
        templates = op.enabled_disk_templates if op.enabled_disk_templates is not None else []
        was_lvm = any(t in constants.LVM_DISK_TEMPLATES for t in cluster.enabled_disk_templates)
        now_lvm = any(t in constants.LVM_DISK_TEMPLATES for t in templates or cluster.enabled_disk_templates)
        vg = op.vg_name if op.vg_name is not None else cluster.volume_group_name
        if not now_lvm or (was_lvm and vg == cluster.volume_group_name):
            return
        nodes = [n for n in self.cfg.nodes.values() if n.vm_capable and not n.offline]
        args = proc.NodeInfoArgs([], [], [vg])
        results = await self.rpc.call_many(self.ctx.services.targets(nodes), proc.NODE_INFO, args)
        for name, result in sorted(results.items()):
            if result.failed:
                raise OpPrereqError(
                    f"Error on node '{name}': cannot check volume group {vg}: {result.error}", ECODE_ENVIRON
                )
            entry = next((e for e in result.payload.get("storage", []) if e.get("name") == vg), {})
            if "free" not in entry:
                reason = entry.get("error", "")
                detail = f" ({reason})" if reason and reason != f"volume group {vg} not found" else ""
                raise OpPrereqError(f"Error on node '{name}': volume group '{vg}' missing{detail}", ECODE_ENVIRON)
            if not entry.get("allowed"):
                raise OpPrereqError(
                    f"Error on node '{name}': volume group '{vg}' is not in the node's lvm-volume-groups file;"
                    " add it there on each node first",
                    ECODE_ENVIRON,
                )

    async def exec(self) -> None:
        op, cluster = self.op, self.cluster
        simple = (
            "enabled_hypervisors",
            "enabled_disk_templates",
            "candidate_pool_size",
            "max_running_jobs",
            "mac_prefix",
            "master_netdev",
            "file_storage_dir",
            "shared_file_storage_dir",
            "default_iallocator",
            "default_iallocator_params",
            "enabled_user_shutdown",
            "prealloc_wipe_disks",
            "maintain_node_health",
            "compression_tools",
        )
        if self.uid_pool is not None:
            cluster.uid_pool = self.uid_pool
        if op.vg_name is not None:
            cluster.volume_group_name = op.vg_name
        if op.reserved_lvs is not None:
            cluster.reserved_lvs = list(op.reserved_lvs)
        if op.drbd_helper is not None:
            cluster.drbd_usermode_helper = op.drbd_helper
        for template, params in (op.diskparams or {}).items():
            cluster.diskparams.setdefault(template, {}).update(params)
        for attr in simple:
            value = getattr(op, attr)
            if value is not None:
                setattr(cluster, attr, value)
        if self.beparams:
            cluster.beparams.setdefault("default", {}).update(self.beparams)
        for hv, params in (op.hvparams or {}).items():
            cluster.hvparams.setdefault(hv, {}).update(params)
        if op.nicparams:
            cluster.nicparams.setdefault("default", {}).update(op.nicparams)
        if op.ndparams:
            cluster.ndparams.update(op.ndparams)
        if op.hv_state is not None:
            cluster.hv_state_static = resstate.apply_hv_state(cluster.hv_state_static, op.hv_state)
        if op.disk_state is not None:
            cluster.disk_state_static = resstate.apply_disk_state(cluster.disk_state_static, op.disk_state)
        if self.ipolicy is not None:
            cluster.ipolicy = self.ipolicy
        os_logic.apply_cluster_changes(self, op, cluster)  # gnt-os modify
        if self.master_ip is not None:
            await master_ip_change.take_down(self)
            master_ip_change.apply(cluster, self.master_ip)
        await self.cfg.commit([cluster])
        if op.max_running_jobs is not None:
            # live, once committed: raising starts waiting jobs now, lowering lets running ones finish
            self.ctx.services.queue.set_max_running(cluster.max_running_jobs)
        await self.ctx.services.push_ssconf()
        if self.master_ip is not None:
            await master_ip_change.bring_up(self)


@register
class LUClusterDestroy(LogicalUnit):
    """Its cluster-destroy post hooks run on the master inside `exec`, before the master goes
    (Ganeti's RunPostHook): after it, no daemon is left to run them. No pre phase."""

    OPCODE = OpClusterDestroy
    BGL_EXCLUSIVE = True
    HPATH = "cluster-destroy"
    HTYPE = "CLUSTER"

    def hooks_env(self) -> dict[str, Any]:
        return {"OP_TARGET": self.cfg.cluster.cluster_name}

    def hooks_nodes(self) -> tuple[list[Any], list[Any]]:
        return [], []

    def check_prereq(self) -> None:
        others = [n for n in self.cfg.nodes.values() if n.uuid != self.cfg.cluster.master_node]
        if others:
            raise OpPrereqError(f"There are still {len(others)} node(s) in this cluster", ECODE_INVAL)
        if self.cfg.instances:
            raise OpPrereqError(f"There are still {len(self.cfg.instances)} instance(s) in this cluster", ECODE_INVAL)

    async def exec(self) -> str:
        from gnt.hooks.master import run_post_hooks

        await run_post_hooks(self, super().hooks_nodes()[1])  # the master (its own override says: no phase runs)
        await master_ip_change.take_down(self)  # a destroyed cluster leaves no address behind
        self.ctx.services.request_shutdown(destroy=True)
        return self.cfg.master().name
