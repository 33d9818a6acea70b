"""Fuzz the CLI option parsers: every input parses to a valid value or is a ParameterError.

Both the parsing helpers and whole `gnt-instance add` / `gnt-node add` command lines are fuzzed:
a command line either submits an opcode the master would accept, or exits 1 with one
"Parameter Error:" line (2 for click usage errors) and submits nothing.
"""

from __future__ import annotations

from typing import Any

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gnt import opcodes
from gnt.cli import common
from gnt.errors import ParameterError
from gnt.instance import cli as instance_cli
from gnt.node import cli as node_cli
from gnt.units import MAX_SIZE_MIB, parse_size
from tests.unit.cli.test_cli_bad_input import RecordingClient

KEYS = ["memory", "maxmem", "minmem", "vcpus", "spindle_use", "auto_balance", "size", "mode", "mac", "ip", "link"]
VALUES = [
    "128M",
    "1G",
    "1.5G",
    "0",
    "1",
    "-1",
    "99999999999999999999",
    "99999999999T",
    "1e400",
    "inf",
    "nan",
    "\u0663",
    "1_0",
    "rw",
    "ro",
    "zz:zz",
    "aa:00:00:00:00:01",
    "auto",
    "generate",
    "10.0.0.1",
    "300.1.1.1",
    "",
    "=",
    ",",
    ":",
]
value = st.one_of(st.sampled_from(VALUES), st.text(max_size=12))
item = st.one_of(
    st.tuples(st.sampled_from(KEYS) | st.text(max_size=6), value).map(lambda kv: f"{kv[0]}={kv[1]}"),
    st.sampled_from(KEYS).map(lambda k: f"no_{k}"),
    st.sampled_from(KEYS),
    st.text(max_size=8),
)
keyval = st.lists(item, max_size=4).map(",".join)
ident = st.one_of(st.sampled_from(["0", "1", "2", "00", "\u0663", "-1", "x", "", "kvm", "fake"]), st.text(max_size=4))
ident_keyval = st.tuples(ident, keyval).map(lambda t: f"{t[0]}:{t[1]}") | st.text(max_size=20)
node_spec = st.one_of(
    st.sampled_from(["node1", "node1:node2", "node1:node1", ":", "node1:", ":node2", "../../etc", "a:b:c"]),
    st.text(max_size=15),
)
FUZZ = settings(max_examples=300, deadline=None, database=None, suppress_health_check=list(HealthCheck))


def _parses_or_parameter_error(fn: Any, *args: Any) -> Any:
    try:
        return fn(*args)
    except ParameterError as err:
        assert err.message  # the CLI prints it on one line, control characters escaped
        return None


@FUZZ
@given(text=keyval)
def test_keyval_parsers(text: str) -> None:
    result = _parses_or_parameter_error(common.parse_keyval, text, "-B")
    if result is not None:
        assert all(isinstance(k, str) and k for k in result)
    be = _parses_or_parameter_error(instance_cli.parse_beparams, text)
    if be is not None:
        for key in ("maxmem", "minmem"):
            assert key not in be or 0 <= be[key] <= MAX_SIZE_MIB


@FUZZ
@given(values=st.lists(ident_keyval, max_size=3), no_nics=st.booleans())
def test_disk_and_nic_parsers(values: list[str], no_nics: bool) -> None:
    disks = _parses_or_parameter_error(instance_cli.parse_disks, tuple(values))
    if disks is not None:
        assert all(0 <= d["size"] <= MAX_SIZE_MIB for d in disks)
    nics = _parses_or_parameter_error(instance_cli.parse_nics, tuple(values), no_nics)
    if nics is not None:
        assert all(isinstance(n, dict) for n in nics)
    _parses_or_parameter_error(common.parse_ident_keyval, values[0] if values else "", "-H")


@FUZZ
@given(text=node_spec)
def test_node_pair_parser(text: str) -> None:
    pair = _parses_or_parameter_error(common.parse_node_pair, text)
    if pair is not None and pair[1] is not None:
        assert pair[0] != pair[1]


@FUZZ
@given(text=st.one_of(st.sampled_from(VALUES), st.text(max_size=30), st.floats(), st.integers()))
def test_size_parser(text: str | float | int) -> None:
    size = _parses_or_parameter_error(parse_size, text)
    if size is not None:
        assert isinstance(size, int) and 0 <= size <= MAX_SIZE_MIB


@pytest.fixture
def recorder(monkeypatch: pytest.MonkeyPatch) -> RecordingClient:
    fake = RecordingClient()
    monkeypatch.setattr(instance_cli, "client", lambda: fake)
    monkeypatch.setattr(node_cli, "client", lambda: fake)
    # a virtual cluster: gnt-node add builds its opcode without first reading the node's SSH host key
    monkeypatch.setenv("GNT_ROOTDIR", "/nonexistent/node1")
    return fake


def _check_outcome(result: Any, fake: RecordingClient) -> None:
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    if result.exit_code == 0:
        (ops,) = fake.submitted
        for op in ops:
            opcodes.from_dict(op)  # what was submitted is an opcode the master accepts
    else:
        assert result.exit_code in (1, 2), result.output
        assert fake.submitted == []
        if result.exit_code == 1:
            lines = result.stderr.strip().splitlines()
            assert len(lines) == 1 and lines[0].startswith("Parameter Error: "), lines


@FUZZ
@given(
    be=keyval,
    hv=ident_keyval,
    disks=st.lists(ident_keyval, max_size=2),
    nets=st.lists(ident_keyval, max_size=2),
    node=node_spec,
    name=st.one_of(st.sampled_from(["inst1", "inst1.example.com", "a b", "../x", "-x"]), st.text(max_size=10)),
)
def test_instance_add_command_line(
    recorder: RecordingClient, be: str, hv: str, disks: list[str], nets: list[str], node: str, name: str
) -> None:
    recorder.submitted.clear()
    argv = ["add", "-t", "file", "-o", "noop", "-B", be, "-H", hv, "-n", node, "--submit"]
    for disk in disks:
        argv += ["--disk", disk]
    for net in nets:
        argv += ["--net", net]
    result = CliRunner().invoke(instance_cli.main, [*argv, "--", name])
    _check_outcome(result, recorder)


@FUZZ
@given(
    name=st.one_of(st.sampled_from(["node3", "../../etc", "node3.example.com", "a..b", "x" * 300]), st.text()),
    ip=st.one_of(st.none(), st.sampled_from(["10.0.0.1", "::1", "300.1.1.1", "x"]), st.text(max_size=8)),
)
def test_node_add_command_line(recorder: RecordingClient, name: str, ip: str | None) -> None:
    recorder.submitted.clear()
    argv = ["add", "--submit"] + (["--primary-ip", ip] if ip is not None else [])
    result = CliRunner().invoke(node_cli.main, [*argv, "--", name])
    _check_outcome(result, recorder)
