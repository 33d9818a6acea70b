"""`--hypervisor-state` and `--disk-state` on gnt-cluster, gnt-node and gnt-group: Ganeti's syntax
becomes the opcodes' `hv_state` and `disk_state`; bad input is one Parameter Error line and no job."""

from __future__ import annotations

from typing import Any

import pytest
from click.testing import CliRunner

from gnt.cluster import cli as cluster_cli
from gnt.group import cli as group_cli
from gnt.node import cli as node_cli
from tests.unit.cli.test_cli_bad_input import RecordingClient

TOOLS = {"gnt-cluster": cluster_cli, "gnt-node": node_cli, "gnt-group": group_cli}


@pytest.fixture
def master(monkeypatch: pytest.MonkeyPatch) -> RecordingClient:
    fake = RecordingClient()
    for module in TOOLS.values():
        monkeypatch.setattr(module, "client", lambda: fake)
    monkeypatch.setenv("GNT_ROOTDIR", "/nonexistent/node1")  # gnt-node add: no SSH host key to read first
    return fake


def _invoke(tool: str, argv: list[str]) -> Any:
    return CliRunner().invoke(TOOLS[tool].main, argv)


@pytest.mark.parametrize(
    ("tool", "argv"),
    [
        ("gnt-cluster", ["modify"]),
        ("gnt-node", ["modify", "node2"]),
        ("gnt-node", ["add", "node9"]),
        ("gnt-group", ["add", "rack2"]),
        ("gnt-group", ["modify", "rack2"]),
    ],
)
def test_the_options_become_the_opcode_fields(master: RecordingClient, tool: str, argv: list[str]) -> None:
    state = [
        "--hypervisor-state",
        "kvm:mem_total=8192,mem_node=1024",
        "--hypervisor-state",
        "fake:cpu_total=4",
        "--disk-state",
        "plain/xenvg:disk_total=102400,disk_reserved=1024",
    ]
    result = _invoke(tool, [*argv, *state, "--submit"])
    assert result.exit_code == 0, result.output
    ((op,),) = master.submitted
    assert op["hv_state"] == {"kvm": {"mem_total": 8192, "mem_node": 1024}, "fake": {"cpu_total": 4}}
    assert op["disk_state"] == {"plain": {"xenvg": {"disk_total": 102400, "disk_reserved": 1024}}}


def test_modify_may_reset_a_key(master: RecordingClient) -> None:
    result = _invoke("gnt-node", ["modify", "--hypervisor-state", "kvm:mem_node=default", "node2", "--submit"])
    assert result.exit_code == 0, result.output
    assert master.submitted[0][0]["hv_state"] == {"kvm": {"mem_node": "default"}}


@pytest.mark.parametrize(
    ("tool", "argv", "needle"),
    [
        ("gnt-node", ["modify", "--hypervisor-state", "qemu:mem_total=1", "node2"], "invalid hypervisor 'qemu'"),
        ("gnt-node", ["modify", "--hypervisor-state", "kvm:mem_free=1", "node2"], "unknown parameter 'mem_free'"),
        ("gnt-group", ["modify", "--hypervisor-state", "kvm:mem_total=8G", "g"], "mem_total must be an integer"),
        ("gnt-cluster", ["modify", "--hypervisor-state", "kvm:cpu_total=-2"], "must be between 0 and"),
        ("gnt-cluster", ["modify", "--hypervisor-state", ":mem_total=1"], "missing identifier"),
        ("gnt-node", ["modify", "--disk-state", "xenvg:disk_total=1", "node2"], "expected storage_type/name"),
        ("gnt-node", ["modify", "--disk-state", "lvm-vg/xenvg:disk_total=1", "node2"], "invalid storage type 'lvm-vg'"),
        ("gnt-group", ["add", "--disk-state", "plain/xenvg:total=1", "g"], "unknown parameter 'total'"),
        ("gnt-node", ["add", "--hypervisor-state", "kvm:mem_hv=default", "node9"], "mem_hv must be an integer"),
    ],
)
def test_bad_input_is_one_line_and_no_job(master: RecordingClient, tool: str, argv: list[str], needle: str) -> None:
    result = _invoke(tool, argv)
    assert result.exit_code == 1, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and needle in lines[0], lines
    assert master.submitted == []


def test_info_shows_a_state_only_when_set() -> None:
    from gnt.cli.resstate import state_info

    assert state_info({}, {}) == {}
    assert state_info({"kvm": {"mem_total": 1, "cpu_node": 2}}, {"plain": {"xenvg": {"disk_total": 3}}}) == {
        "Hypervisor state": {"kvm": {"cpu_node": 2, "mem_total": 1}},
        "Disk state": {"plain/xenvg": {"disk_total": 3}},
    }


def test_init_passes_the_state(monkeypatch: pytest.MonkeyPatch) -> None:
    from gnt.cluster import bootstrap

    settings: list[dict[str, Any]] = []
    monkeypatch.setattr(bootstrap, "init_cluster", lambda name, opts: settings.append(opts))
    monkeypatch.setattr("gnt.cluster.cli.run_ops", lambda *a, **k: None)
    argv = ["init", "--hypervisor-state", "kvm:mem_node=2048", "--disk-state", "plain/xenvg:disk_reserved=1", "c1"]
    result = _invoke("gnt-cluster", argv)
    assert result.exit_code == 0, result.output
    (opts,) = settings
    assert opts["hv_state"] == {"kvm": {"mem_node": 2048}}
    assert opts["disk_state"] == {"plain": {"xenvg": {"disk_reserved": 1}}}


@pytest.mark.parametrize(
    ("settings", "needle"),
    [
        ({"hv_state": {"kvm": {"mem_total": "8G"}}}, "Invalid --hypervisor-state: hypervisor state of kvm: mem_total"),
        ({"disk_state": {"lvm": {"xenvg": {"disk_total": 1}}}}, "Invalid --disk-state: invalid storage type 'lvm'"),
    ],
)
def test_init_refuses_a_bad_state_and_writes_nothing(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch, settings: dict[str, Any], needle: str
) -> None:
    import os

    from gnt.cluster import bootstrap
    from gnt.errors import ParameterError

    monkeypatch.setenv("GNT_ROOTDIR", str(tmp_path / "node1"))
    with pytest.raises(ParameterError, match=needle):
        bootstrap.init_cluster("cluster1", settings)
    assert [f for _, _, files in os.walk(tmp_path) for f in files] == []
