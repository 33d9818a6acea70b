"""`gnt-instance reinstall`: run the OS create script again on a stopped instance's disks.

`-o` and `-O` change the instance's OS and parameters for this install and, once the script has
succeeded, in the config: a failed reinstall leaves the config as it was (what the script wrote
to the disks cannot be taken back, as in Ganeti).
"""

from __future__ import annotations

from typing import Any

from gnt import constants
from gnt.errors import ECODE_INVAL, OpExecError, OpPrereqError
from gnt.instance.admin_opcodes import OpInstanceReinstall
from gnt.instance.common import build_spec, check_node_online
from gnt.instance.lifecycle import InstanceLU
from gnt.instance.rename import check_stopped
from gnt.jobs.lu import register
from gnt.os import params as os_params
from gnt.rpc import procedures as proc


@register
class LUInstanceReinstall(InstanceLU):
    OPCODE = OpInstanceReinstall
    HPATH = "instance-reinstall"
    op: OpInstanceReinstall
    NODE_LOCKS_SHARED = False

    async def check_prereq(self) -> None:
        super().check_prereq()
        inst = self.instance
        if not inst.disks:
            raise OpPrereqError(f"Instance '{inst.name}' has no disks", ECODE_INVAL)
        check_node_online(self.pnode, "primary node")
        await check_stopped(self, inst, "cannot reinstall", (constants.ADMINST_DOWN,))
        self.os_type = self.op.os_type or inst.os
        if not self.os_type:
            raise OpPrereqError(f"Instance '{inst.name}' has no OS; give one with -o OS", ECODE_INVAL)
        # the OS and its variant first (Ganeti's CheckNodeHasOS), then its parameters (CheckOSParams)
        await os_params.check_node_has_os(self, self.pnode, self.os_type, self.op.force_variant)
        self.osparams = {**inst.osparams, **(self.op.osparams or {})}
        self.private = {**inst.osparams_private, **(self.op.osparams_private or {})}
        for key in self.op.osparams or {}:  # a parameter changes category, not both
            self.private.pop(key, None)
        for key in self.op.osparams_private or {}:
            self.osparams.pop(key, None)
        filled = os_params.script_osparams(
            self.cfg.cluster, self.os_type, self.osparams, self.private, self.op.osparams_secret
        )
        await os_params.validate_on_nodes(self, [self.pnode], self.os_type, filled, self.op.force_variant)

    def dry_run_result(self) -> Any:
        return self.os_type

    async def exec(self) -> None:
        inst = self.instance
        spec = build_spec(self.cfg, inst)
        spec.os = self.os_type
        spec.osparams = os_params.script_osparams(
            self.cfg.cluster, self.os_type, self.osparams, self.private, self.op.osparams_secret
        )
        self.feedback("Running the instance OS create scripts...")
        result = await self.rpc.instance_os_add(self.target(), proc.InstanceOsAddArgs(spec, reinstall=True))
        if result.failed:
            raise OpExecError(
                f"Could not install OS for instance {inst.name} on node {self.pnode.name}: {result.error}"
            )
        if (inst.os, inst.osparams, inst.osparams_private) != (self.os_type, self.osparams, self.private):
            inst.os = self.os_type
            inst.osparams = dict(self.osparams)
            inst.osparams_private = dict(self.private)  # the secret ones are never kept
            await self.cfg.commit([inst])
