"""Instance policy options of gnt-cluster and gnt-group in Ganeti's syntax, show-ispecs-cmd's command
lines, and verify's options: each becomes the opcode field Ganeti's would, bad input one line, no job."""

from __future__ import annotations

from typing import Any

import pytest
from click.testing import CliRunner

from gnt import constants
from gnt.cli.ipolicy import format_ipolicy_command, parse_bounds
from gnt.cluster import cli as cluster_cli
from gnt.group import cli as group_cli
from tests.unit.cli.test_cli_bad_input import RecordingClient

FULL = "cpu-count={c},disk-count=1,disk-size=1024,memory-size={m},nic-count=1,spindle-use=1"


class InfoClient(RecordingClient):
    """Also answers the cluster info and group query show-ispecs-cmd read."""

    def get(self, path: str, **query: Any) -> Any:
        if path == "/2/info":
            return {"name": "cluster.example.com", "ipolicy": constants.IPOLICY_DEFAULTS}
        if path == "/2/query/group":
            policy = {"minmax": [{"min": {"memory-size": 64}, "max": {"memory-size": 512}}]}
            return {"data": [[[0, "rack2"], [0, policy]], [[0, "default"], [0, {}]]]}
        return super().get(path, **query)


@pytest.fixture
def master(monkeypatch: pytest.MonkeyPatch) -> InfoClient:
    fake = InfoClient()
    monkeypatch.setattr(cluster_cli, "client", lambda: fake)
    monkeypatch.setattr(group_cli, "client", lambda: fake)
    return fake


def test_ganeti_bounds_syntax_with_two_pairs_and_units() -> None:
    low, high = FULL.format(c=1, m="128"), FULL.format(c=4, m="1G")
    pairs = parse_bounds(f"min:{low}/max:{high}//min:{low}/max:{FULL.format(c=8, m='2G')}")
    assert len(pairs) == 2 and pairs[0]["max"]["memory-size"] == 1024 and pairs[1]["max"]["cpu-count"] == 8


def test_cluster_modify_ipolicy_options_become_the_opcode(master: InfoClient) -> None:
    bounds = f"min:{FULL.format(c=1, m=128)}/max:{FULL.format(c=4, m=4096)}"
    argv = ["modify", f"--ipolicy-bounds-specs={bounds}", "--ipolicy-std-specs=memory-size=256"]
    argv += [
        "--ipolicy-disk-templates=file,diskless",
        "--ipolicy-vcpu-ratio=2",
        "--ipolicy-spindle-ratio=8",
        "--submit",
    ]
    result = CliRunner().invoke(cluster_cli.main, argv)
    assert result.exit_code == 0, result.output
    ((op,),) = master.submitted
    policy = op["ipolicy"]
    assert op["OP_ID"] == "OP_CLUSTER_SET_PARAMS" and policy["std"] == {"memory-size": 256}
    assert policy["minmax"][0]["max"]["cpu-count"] == 4 and policy["disk-templates"] == ["file", "diskless"]
    assert (policy["vcpu-ratio"], policy["spindle-ratio"]) == (2.0, 8.0)


def test_cluster_show_ispecs_cmd_prints_ganetis_init_line(master: InfoClient) -> None:
    result = CliRunner().invoke(cluster_cli.main, ["show-ispecs-cmd"])
    assert result.exit_code == 0, result.output
    assert result.output == (
        "gnt-cluster init --ipolicy-std-specs cpu-count=1,disk-count=1,disk-size=1024,memory-size=128,nic-count=1,"
        "spindle-use=1 --ipolicy-bounds-specs min:cpu-count=1,disk-count=0,disk-size=0,memory-size=4,nic-count=0,"
        "spindle-use=0/max:cpu-count=8,disk-count=16,disk-size=1048576,memory-size=32768,nic-count=8,spindle-use=12"
        " cluster.example.com\n"
    )


def test_group_show_ispecs_cmd_prints_one_add_line_per_group(master: InfoClient) -> None:
    result = CliRunner().invoke(group_cli.main, ["show-ispecs-cmd"])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == [
        "gnt-group add --ipolicy-bounds-specs min:memory-size=64/max:memory-size=512 rack2",
        "gnt-group add default",
    ]


def test_show_ispecs_output_reads_back_as_the_same_bounds() -> None:
    line = format_ipolicy_command(constants.IPOLICY_DEFAULTS, True)
    assert parse_bounds(line.split()[-1]) == constants.IPOLICY_DEFAULTS["minmax"]


def test_verify_options_become_the_opcode(master: InfoClient) -> None:
    argv = ["verify", "--error-codes", "--no-nplus1-mem", "-g", "rack2", "-I", "ENODEN1", "-I", "ENODEHV", "--submit"]
    result = CliRunner().invoke(cluster_cli.main, argv)
    assert result.exit_code == 0, result.output
    ((op,),) = master.submitted
    assert op["skip_checks"] == ["nplusone_mem"] and op["group_name"] == "rack2" and op["error_codes"] is True
    assert op["ignore_errors"] == ["ENODEN1", "ENODEHV"]


@pytest.mark.parametrize(
    ("tool", "argv", "needle"),
    [
        ("cluster", ["verify", "-I", "EBOGUS"], "Unknown verify error code(s): EBOGUS"),
        ("cluster", ["verify", "--skip-checks=colour"], "Unknown verify check(s) to skip: colour"),
        ("cluster", ["modify", "--ipolicy-std-specs=colour=1"], "Invalid key 'colour'"),
        ("cluster", ["modify", "--ipolicy-std-specs=memory-size=lots"], "is not a valid size"),
        ("cluster", ["modify", "--ipolicy-bounds-specs=min:memory-size=1/max:memory-size=2"], "Missing parameters"),
        (
            "cluster",
            ["modify", f"--ipolicy-bounds-specs=min:{FULL.format(c=4, m=128)}/max:{FULL.format(c=2, m=256)}"],
            "min cpu-count 4 is above max 2",
        ),
        (
            "cluster",
            [
                "modify",
                f"--ipolicy-bounds-specs=min:{FULL.format(c=1, m=128)}/max:{FULL.format(c=2, m=256)}",
                "--ipolicy-std-specs=memory-size=512",
            ],
            "std specs",
        ),
        ("cluster", ["modify", "--ipolicy-vcpu-ratio=-1"], "expected a positive number"),
        ("cluster", ["modify", "--ipolicy-disk-templates=floppy"], "ipolicy disk-templates must be a list of"),
        ("group", ["modify", "--ipolicy-bounds-specs=max:memory-size=1", "rack2"], "both min and max are needed"),
    ],
)
def test_bad_policy_input_is_one_line_and_no_job(master: InfoClient, tool: str, argv: list[str], needle: str) -> None:
    main = cluster_cli.main if tool == "cluster" else group_cli.main
    result = CliRunner().invoke(main, argv)
    assert result.exit_code == 1, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and needle in lines[0], lines
    assert master.submitted == []


def test_split_specs_and_ipolicy_specs_do_not_mix() -> None:
    from gnt.cli.ipolicy import ipolicy_from_opts
    from gnt.errors import ParameterError

    with pytest.raises(ParameterError, match="cannot be specified together"):
        ipolicy_from_opts({"specs_mem_size": "min=64", "ipolicy_std_specs": "memory-size=128"})
    policy = ipolicy_from_opts({"specs_mem_size": "min=64,max=1G,std=256", "specs_cpu_count": "max=4"})
    assert policy is not None and policy["std"]["memory-size"] == 256
    assert policy["minmax"][0]["min"]["memory-size"] == 64 and policy["minmax"][0]["max"]["memory-size"] == 1024
    assert policy["minmax"][0]["max"]["cpu-count"] == 4
    with pytest.raises(ParameterError, match="std specs"):
        ipolicy_from_opts({"specs_mem_size": "max=100,std=256"})


def test_init_policy_is_the_defaults_filled_with_the_options() -> None:
    from gnt.cluster.bootstrap import _init_ipolicy
    from gnt.errors import OpPrereqError

    policy = _init_ipolicy({"std": {"memory-size": 256}, "vcpu-ratio": 2.0})
    assert policy["std"]["memory-size"] == 256 and policy["std"]["cpu-count"] == 1 and policy["vcpu-ratio"] == 2.0
    assert policy["minmax"] == constants.IPOLICY_DEFAULTS["minmax"]
    with pytest.raises(OpPrereqError, match="outside every min/max range"):
        _init_ipolicy({"std": {"memory-size": 65536}})
    with pytest.raises(OpPrereqError, match="Invalid keys in ipolicy: colour"):
        _init_ipolicy({"colour": 1})


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["--specs-mem-size", "max=100,std=256"], "outside every min/max range"),
        (["--specs-mem-size", "avg=100"], "Invalid key 'avg' in --specs-mem-size"),
        (["--specs-cpu-count", "min=2", "--ipolicy-std-specs", "cpu-count=2"], "cannot be specified together"),
    ],
)
def test_init_refuses_a_bad_policy_before_doing_anything(
    monkeypatch: pytest.MonkeyPatch, argv: list[str], needle: str
) -> None:
    from gnt.cluster import bootstrap

    started: list[Any] = []
    monkeypatch.setattr(bootstrap, "init_cluster", lambda *args: started.append(args))
    result = CliRunner().invoke(cluster_cli.main, ["init", *argv, "cluster.example.com"])
    assert result.exit_code == 1, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and needle in lines[0], lines
    assert started == []
