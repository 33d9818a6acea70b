"""The master's side of hooks: run an LU's pre and post hook scripts on the nodes it names.

An LU that declares `HPATH` (Ganeti's hook path, like `instance-start`) gets its hooks run by the
processor around `exec`, after `check_prereq` (so the environment can use what the checks found); a dry
run runs only the pre hooks, as Ganeti's does:

- **pre**: on the LU's pre nodes, with `GANETI_*` of the LU's `hooks_env()`. A script that fails
  on any node aborts the opcode before it changes anything (`HooksAbort`, Ganeti's message); a node
  that cannot be reached is a warning, as in Ganeti.
- **post**: only after `exec` succeeded, on the post nodes, with the pre environment plus the
  LU's environment asked again, as `GANETI_POST_*`. Failures are job-log warnings: the change is done.

Every script also gets Ganeti's common variables (GANETI_HOOKS_VERSION, GANETI_HOOKS_PATH,
GANETI_HOOKS_PHASE, GANETI_OP_CODE, GANETI_OBJECT_TYPE, GANETI_CLUSTER, GANETI_MASTER; the node adds
its own GANETI_DATA_DIR and PATH). Offline nodes are skipped.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from gnt.errors import HooksAbort
from gnt.rpc import procedures as proc

if TYPE_CHECKING:
    from gnt.jobs.lu import LogicalUnit
    from gnt.objects import Node

HOOKS_VERSION = 2
PHASE_PRE, PHASE_POST = "pre", "post"
HKR_SKIP, HKR_FAIL, HKR_SUCCESS = 0, 1, 2


def _prefixed(prefix: str, env: dict[str, Any]) -> dict[str, str]:
    return {prefix + key: _text(value) for key, value in env.items()}


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, (list, tuple)):
        return " ".join(map(str, value))
    return str(value)


class HooksMaster:
    """Runs one LU's hooks; keeps the pre environment for the post phase."""

    def __init__(self, lu: LogicalUnit) -> None:
        self.lu = lu
        self.hpath: str = lu.HPATH or ""
        self.pre_env: dict[str, str] = {}

    def _common(self, phase: str) -> dict[str, str]:
        cfg = self.lu.cfg
        env = {
            "GANETI_HOOKS_VERSION": str(HOOKS_VERSION),
            "GANETI_HOOKS_PATH": self.hpath,
            "GANETI_HOOKS_PHASE": phase,
            "GANETI_OP_CODE": self.lu.op.OP_ID,
            "GANETI_CLUSTER": cfg.cluster.cluster_name,
        }
        if cfg.cluster.master_node in cfg.nodes:
            env["GANETI_MASTER"] = cfg.master().name
        if self.lu.HTYPE:
            env["GANETI_OBJECT_TYPE"] = self.lu.HTYPE
        return env

    def build_env(self, phase: str) -> dict[str, str]:
        if phase == PHASE_PRE:
            self.pre_env = _prefixed("GANETI_", self.lu.hooks_env())
            return {**self.pre_env, **self._common(phase)}
        return {**self.pre_env, **_prefixed("GANETI_POST_", self.lu.hooks_env()), **self._common(phase)}

    async def run_phase(self, phase: str) -> None:
        pre_nodes, post_nodes = self.lu.hooks_nodes()
        nodes = _unique_online(pre_nodes if phase == PHASE_PRE else post_nodes)
        env = self.build_env(phase)
        if not nodes:
            return
        args = proc.HooksRunnerArgs(self.hpath, phase, env)
        results = await self.lu.rpc.call_many(self.lu.ctx.services.targets(nodes), proc.HOOKS_RUNNER, args)
        failures: list[tuple[str, str, str]] = []
        for node in nodes:
            result = results.get(node.name)
            if result is None or result.failed:
                error = result.error if result is not None else "no answer"
                self.lu.warning(f"Communication failure to node {node.name}: {error}")
                continue
            for script, status, output in result.payload or []:
                if status != HKR_FAIL:
                    continue
                if phase == PHASE_PRE:
                    failures.append((node.name, script, output))
                else:
                    shown = _one_line(output) or "(no output)"
                    self.lu.warning(f"On {node.name} script {script} failed, output: {shown}")
        if failures:
            raise HooksAbort("\n".join(_abort_line(*f) for f in failures))


def _one_line(output: str) -> str:
    """A script's output on one line (as Ganeti's SafeEncode shows it): one failure, one line."""
    return output.replace("\n", "\\n").replace("\r", "\\r")


def _abort_line(node: str, script: str, output: str) -> str:
    output = _one_line(output)
    if output:
        return f"  node: {node}, script: {script}, output: {output}"
    return f"  node: {node}, script: {script} (no output)"


def _unique_online(nodes: list[Node]) -> list[Node]:
    seen: dict[str, Node] = {}
    for node in nodes:
        if node is not None and not node.offline and node.uuid not in seen:
            seen[node.uuid] = node
    return list(seen.values())


async def exec_with_hooks(lu: LogicalUnit, dry_run: bool = False) -> Any:
    """`lu.exec()` between its pre and post hooks (just `exec` for an LU without a hook path).

    A dry run runs the pre hooks, as Ganeti does (they may refuse the operation), then returns the
    LU's dry-run result without executing anything or running post hooks."""
    hooks = HooksMaster(lu) if lu.HPATH else None
    if hooks is not None:
        await hooks.run_phase(PHASE_PRE)
    if dry_run:
        return lu.dry_run_result()
    result = await lu.exec()
    if hooks is None:
        return result
    try:
        await hooks.run_phase(PHASE_POST)
    except Exception as err:  # noqa: BLE001 - the change is done: a post hook problem is only a warning
        lu.warning(f"Post hooks of {lu.op.OP_ID} could not run: {err}")
    return result
