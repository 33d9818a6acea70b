"""The node's own master-ip-turnup / master-ip-turndown hooks (Ganeti's RunLocalHooks) around the
master IP going up or down; a failing pre script leaves the address as it was."""

from __future__ import annotations

import asyncio
import stat
from pathlib import Path

import pytest

from agent import master_ip
from gnt import paths
from gnt.errors import HooksAbort
from gnt.rpc import procedures as proc
from tests.unit.agent.test_master_ip import node, write_ssconf  # noqa: F401 - the fixture


def _executable(path: Path, body: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)


def _hook(hpath: str, phase: str, body: str) -> None:
    _executable(Path(paths.hooks_dir()) / f"{hpath}-{phase}.d" / "10-hook", body)


@pytest.fixture
def scripted(node: Path) -> Path:  # noqa: F811 - the imported fixture
    """The admin's master IP script (no `ip` needed here), recording its calls in `<node>/calls`."""
    write_ssconf({"master_ip_script": "1", "cluster_name": "cluster.example.com"})
    _executable(Path(paths.master_ip_script()), f'echo "$1" >> {node / "calls"}\n')
    return node


def test_turnup_and_turndown_hooks_run_around_the_change_with_ganetis_variables(scripted: Path) -> None:
    record = scripted / "env"
    for hpath in ("master-ip-turnup", "master-ip-turndown"):
        for phase in ("pre", "post"):
            _hook(hpath, phase, f"env | grep ^GANETI_ | sort > {record}-$GANETI_HOOKS_PATH-$GANETI_HOOKS_PHASE\n")
    asyncio.run(master_ip.master_ip_activate(proc.NoArgs()))
    asyncio.run(master_ip.master_ip_deactivate(proc.NoArgs()))
    pre = dict(line.split("=", 1) for line in Path(f"{record}-master-ip-turnup-pre").read_text().splitlines())
    assert {k: pre[k] for k in ("GANETI_OP_CODE", "GANETI_MASTER_IP", "GANETI_MASTER_NETDEV", "GANETI_MASTER_NETMASK",
                                "GANETI_CLUSTER_IP_VERSION", "GANETI_MASTER", "GANETI_CLUSTER")} == {
        "GANETI_OP_CODE": "OP_CLUSTER_IP_TURNUP", "GANETI_MASTER_IP": "192.0.2.10", "GANETI_MASTER_NETDEV": "eth0",
        "GANETI_MASTER_NETMASK": "24", "GANETI_CLUSTER_IP_VERSION": "4", "GANETI_MASTER": "node1",
        "GANETI_CLUSTER": "cluster.example.com",
    }  # fmt: skip
    post = Path(f"{record}-master-ip-turndown-post").read_text()
    assert "GANETI_POST_MASTER_IP=192.0.2.10" in post and "GANETI_OP_CODE=OP_CLUSTER_IP_TURNDOWN" in post


def test_a_failing_turnup_pre_hook_keeps_the_address_down(scripted: Path) -> None:
    _hook("master-ip-turnup", "pre", "echo 'address still in use elsewhere'\nexit 1\n")
    with pytest.raises(HooksAbort, match="script: master-ip-turnup-pre.d/10-hook, output: address still in use"):
        asyncio.run(master_ip.master_ip_activate(proc.NoArgs()))
    assert not (scripted / "calls").exists()  # the IP script never ran


def test_a_failing_post_hook_does_not_undo_the_change(scripted: Path) -> None:
    _hook("master-ip-turnup", "post", "exit 1\n")
    assert asyncio.run(master_ip.master_ip_activate(proc.NoArgs()))["changed"]
    assert (scripted / "calls").read_text().split() == ["start"]
