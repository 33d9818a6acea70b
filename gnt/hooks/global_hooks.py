"""Ganeti's global hooks: `<hooks dir>/global-{pre,post}.d/`, run around every opcode, hooks or not.

Sites feed monitoring and upper-level tools from them without a symlink per opcode directory.
As Ganeti's design (design-global-hooks):

- **pre**: just before the opcode's own pre hooks (after its prerequisites were checked), on the
  master and the opcode's pre nodes (the master only for an opcode without hooks). Their results
  are ignored: a global hook never refuses an opcode.
- **post**: after the opcode's own post hooks, on the master and its post nodes, with
  GANETI_POST_STATUS=success; when the opcode (or its pre hooks) failed, on the master only, with
  GANETI_POST_STATUS=error, before the error goes on to the job.

Their environment: the common variables (GANETI_HOOKS_PATH=global, OBJECT_TYPE NOT_APPLICABLE for
an opcode without hooks), the opcode's own pre variables if it has hooks, GANETI_JOB_ID and
GANETI_IS_MASTER (`master` or `not_master`, per node). Not run: Ganeti's `disappeared` status (a
job interrupted by a master crash is failed by the next master, which runs no hooks for it).

An opcode without hooks runs on the master only: the master daemon looks at the master's own
global directories first and skips the call when they hold nothing, so a no-op job stays cheap.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from gnt.hooks.master import master_has_scripts
from gnt.rpc import procedures as proc

if TYPE_CHECKING:
    from gnt.hooks.master import HooksMaster
    from gnt.objects import Node

HPATH_GLOBAL = "global"
STATUS_SUCCESS, STATUS_ERROR = "success", "error"
NOT_APPLICABLE = "NOT_APPLICABLE"


def _nodes(hooks: HooksMaster, phase: str, status: str | None) -> list[Node]:
    lu = hooks.lu
    cfg = lu.cfg
    master = cfg.master()
    chosen: dict[str, Node] = {master.uuid: master}
    if lu.HPATH and status != STATUS_ERROR:
        pre, post = lu.hooks_nodes()
        for node in pre if phase == "pre" else post:
            if node is not None and not node.offline:
                chosen.setdefault(node.uuid, node)
    return list(chosen.values())


async def run_global(hooks: HooksMaster, phase: str, status: str | None = None) -> None:
    """Run the global hooks of `phase` for the hooks master's LU; never raises (only warns)."""
    lu = hooks.lu
    cfg = lu.cfg
    if cfg.cluster.master_node not in cfg.nodes:
        return
    try:
        nodes = _nodes(hooks, phase, status)
        if len(nodes) == 1 and not master_has_scripts(HPATH_GLOBAL, phase):
            return
        env = {**hooks.pre_env, **hooks._common(phase)}
        env["GANETI_HOOKS_PATH"] = HPATH_GLOBAL
        env.setdefault("GANETI_OBJECT_TYPE", NOT_APPLICABLE)
        job_id = getattr(lu, "job_id", None)
        if job_id is not None:
            env["GANETI_JOB_ID"] = str(job_id)
        if phase == "post":
            env["GANETI_POST_STATUS"] = status or STATUS_SUCCESS
        master_uuid = cfg.cluster.master_node
        calls = []
        for node in nodes:
            role = "master" if node.uuid == master_uuid else "not_master"
            args = proc.HooksRunnerArgs(HPATH_GLOBAL, phase, {**env, "GANETI_IS_MASTER": role})
            calls.append(lu.rpc.hooks_runner(lu.ctx.services.target(node), args))
        await asyncio.gather(*calls)  # results are ignored, as Ganeti's
    except Exception as err:  # noqa: BLE001 - a global hook never changes an opcode's outcome
        lu.warning(f"Global {phase} hooks could not run: {err}")


__all__ = ["HPATH_GLOBAL", "NOT_APPLICABLE", "STATUS_ERROR", "STATUS_SUCCESS", "run_global"]
