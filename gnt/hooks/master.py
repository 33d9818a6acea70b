"""The master's side of hooks: run an LU's pre and post hook scripts on the nodes it names.

An LU that declares `HPATH` (Ganeti's hook path, like `instance-start`) gets its hooks run by the
processor around `exec`, after `check_prereq` (so the environment can use what the checks found); a dry
run runs only the pre hooks, as Ganeti's does:

- **pre**: on the LU's pre nodes, with `GANETI_*` of the LU's `hooks_env()`. A script that fails
  on any node aborts the opcode before it changes anything (`HooksAbort`, Ganeti's message); a node
  that cannot be reached is a warning, as in Ganeti.
- **post**: only after `exec` succeeded, on the post nodes, with the pre environment plus the
  LU's environment asked again, as `GANETI_POST_*`. Failures are job-log warnings: the change is done.

Ganeti's special hooks run here too: `config-update` (post, on the master, after any opcode whose
execution committed a config change; the LU's pre environment; skipped without a call when the
master's `config-update-post.d` holds nothing), and the LU's `hooks_callback`
sees each phase's per-node answers (cluster verify turns failed post scripts into its own errors).

Every script also gets Ganeti's common variables (GANETI_HOOKS_VERSION, GANETI_HOOKS_PATH,
GANETI_HOOKS_PHASE, GANETI_OP_CODE, GANETI_OBJECT_TYPE, GANETI_CLUSTER, GANETI_MASTER; the node adds
its own GANETI_DATA_DIR and PATH). Offline nodes are skipped.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from gnt import paths
from gnt.errors import HooksAbort
from gnt.rpc import procedures as proc

if TYPE_CHECKING:
    from gnt.jobs.lu import LogicalUnit
    from gnt.objects import Node

HOOKS_VERSION = 2
PHASE_PRE, PHASE_POST = "pre", "post"
#: Ganeti's HOOKS_NAME_CFGUPDATE: run on the master after an opcode changed the config
HPATH_CONFIG_UPDATE = "config-update"
HKR_SKIP, HKR_FAIL, HKR_SUCCESS = 0, 1, 2


def master_has_scripts(hpath: str, phase: str) -> bool:
    """Whether this (the master's) node has anything in `<hpath>-<phase>.d`: hooks that run on the
    master alone are skipped without an RPC when it has none (one directory read per opcode)."""
    try:
        with os.scandir(os.path.join(paths.hooks_dir(), f"{hpath}-{phase}.d")) as entries:
            return any(True for _ in entries)
    except OSError:
        return False


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

    def __init__(self, lu: LogicalUnit, hpath: str | None = None) -> None:
        self.lu = lu
        self.hpath: str = hpath or lu.HPATH or ""
        self.pre_env: dict[str, str] = {}
        self._pre_built = False  # the LU's pre environment is asked once (verify's walks every node)

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
            if not self._pre_built:
                self.pre_env = _prefixed("GANETI_", self.lu.hooks_env() if self.lu.HPATH else {})
                self._pre_built = True
            return {**self.pre_env, **self._common(phase)}
        post = _prefixed("GANETI_POST_", self.lu.hooks_env()) if self.lu.HPATH else {}
        return {**self.pre_env, **post, **self._common(phase)}

    async def run_phase(
        self, phase: str, nodes: list[Node] | None = None, env: dict[str, str] | None = None
    ) -> dict[str, Any]:
        """Run the phase on the LU's nodes for it (or on `nodes`, with `env` if given); the per-node RPC results."""
        if nodes is None:
            pre_nodes, post_nodes = self.lu.hooks_nodes()
            nodes = pre_nodes if phase == PHASE_PRE else post_nodes
        nodes = _unique_online(nodes)
        env = env if env is not None else self.build_env(phase)
        if not nodes:
            return {}
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
        return {node.name: results.get(node.name) for node in nodes}

    async def run_config_update(self) -> None:
        """Ganeti's config-update hook: post, on the master only, with the pre environment; no call
        at all when the master's config-update-post.d is empty or missing (every committing job
        would otherwise pay a round trip for nothing)."""
        cfg = self.lu.cfg
        if cfg.cluster.master_node not in cfg.nodes or not master_has_scripts(HPATH_CONFIG_UPDATE, PHASE_POST):
            return
        updater = HooksMaster(self.lu, HPATH_CONFIG_UPDATE)
        env = {**self.pre_env, **updater._common(PHASE_POST)}  # Ganeti's: no GANETI_POST_* of its own
        await updater.run_phase(PHASE_POST, [cfg.master()], env)


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


async def run_post_hooks(lu: LogicalUnit, nodes: list[Node]) -> None:
    """The LU's post hooks on `nodes`, now, from inside its `exec` (Ganeti's RunPostHook): for an
    opcode after which no node may be left to run them (cluster destroy). Failures only warn."""
    hooks = HooksMaster(lu)
    hooks.build_env(PHASE_PRE)
    try:
        await hooks.run_phase(PHASE_POST, nodes)
    except Exception as err:  # noqa: BLE001 - post hooks never stop an opcode
        lu.warning(f"Post hooks of {lu.op.OP_ID} could not run: {err}")


async def exec_with_hooks(lu: LogicalUnit, dry_run: bool = False) -> Any:
    """`lu.exec()` between its pre and post hooks (just `exec` for an LU without a hook path).

    A dry run runs the pre hooks, as Ganeti does (they may refuse the operation), then returns the
    LU's dry-run result without executing anything or running post hooks. After an `exec` that
    committed a config change, the master's `config-update` hooks run (every LU, as Ganeti's).
    The global hooks (gnt.hooks.global_hooks) wrap all of it, for every LU."""
    from gnt.hooks.global_hooks import STATUS_ERROR, run_global

    hooks = HooksMaster(lu)
    hooks.build_env(PHASE_PRE)
    await run_global(hooks, PHASE_PRE)
    try:
        result = await _exec_between_hooks(lu, hooks, dry_run)
    except BaseException:
        if not dry_run:
            await run_global(hooks, PHASE_POST, STATUS_ERROR)
        raise
    if not dry_run:
        await run_global(hooks, PHASE_POST)
    return result


async def _exec_between_hooks(lu: LogicalUnit, hooks: HooksMaster, dry_run: bool) -> Any:
    callback = getattr(lu, "hooks_callback", None)
    if lu.HPATH:
        results = await hooks.run_phase(PHASE_PRE)
        if callback is not None:
            callback(PHASE_PRE, results, None)
    if dry_run:
        return lu.dry_run_result()
    serial = lu.cfg.serial
    try:
        result = await lu.exec()
        if lu.HPATH:
            try:
                results = await hooks.run_phase(PHASE_POST)
            except Exception as err:  # noqa: BLE001 - the change is done: a post hook problem is only a warning
                lu.warning(f"Post hooks of {lu.op.OP_ID} could not run: {err}")
            else:
                if callback is not None:
                    result = callback(PHASE_POST, results, result)
    finally:
        if lu.cfg.serial != serial:
            try:
                await hooks.run_config_update()
            except Exception as err:  # noqa: BLE001 - only a notification
                lu.warning(f"The config-update hooks could not run: {err}")
    return result
