"""Every opcode is reachable over the RAPI and from a CLI command, as the opcode table (`gnt.surface`)
declares, or the table says why not (Ganeti 3.0's rapi.txt and commands.txt). The routes and
commands are not taken on trust: each declared route is called on an in-process master and each
declared command is run (click's runner, its client talking to the same master), and the job each
one queues must hold the opcode. RAPI and CLI refuse the same malformed value with the same message.
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import json
import shlex
import tomllib
import typing
import urllib.parse
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner

from gnt import opcodes, surface
from gnt.api import openapi
from gnt.api.server import Api
from gnt.cli import client as cli_client
from gnt.errors import GntError, OpPrereqError
from gnt.objects import Instance, Network
from tests.unit.api.conftest import RapiServer

REPO = Path(__file__).resolve().parents[3]
#: path variable values of the example calls, by the collection the path is under
_PATH_VALUES = {"instances": "inst1", "nodes": "node1", "groups": "default", "networks": "net1"}
#: (method, path) -> (query string, body) of a call that the route must turn into a queued job
RAPI_EXAMPLES: dict[tuple[str, str], tuple[str, Any]] = {
    ("POST", "/2/instances"): (
        "",
        {"__version__": 1, "name": "inst9", "os": "noop", "disk_template": "diskless", "pnode": "node1"},
    ),
    ("POST", "/2/instances-multi-alloc"): (
        "",
        {"instances": [{"name": "inst9", "os": "noop", "disk_template": "diskless", "pnode": "node1"}]},
    ),
    ("POST", "/2/groups"): ("", {"name": "rack9"}),
    ("PUT", "/2/groups/{name}/rename"): ("", {"new_name": "rack9"}),
    ("PUT", "/2/groups/{name}/assign-nodes"): ("", {"nodes": ["node2"]}),
    ("POST", "/2/networks"): ("", {"name": "net9", "network": "10.9.0.0/24"}),
    ("PUT", "/2/networks/{name}/connect"): (
        "",
        {"group_name": "default", "network_mode": "bridged", "network_link": "br0"},
    ),
    ("PUT", "/2/networks/{name}/disconnect"): ("", {"group_name": "default"}),
    ("PUT", "/2/instances/{name}/rename"): ("", {"new_name": "inst9"}),
    ("POST", "/2/instances/{name}/disk/{disk}/grow"): ("", {"amount": 1024}),
    ("POST", "/2/instances/{name}/disks/{disk}/grow"): ("", {"amount": 1024}),
    ("PUT", "/2/instances/{name}/export"): ("", {"mode": "local", "target_node": "node2"}),
    ("PUT", "/2/instances/{name}/prepare-export"): ("mode=local", None),
    ("GET", "/2/nodes/{name}/storage"): ("storage_type=lvm-vg&output_fields=name,size", None),
    ("PUT", "/2/nodes/{name}/storage/modify"): ("storage_type=lvm-vg&name=xenvg&allocatable=0", None),
    ("PUT", "/2/nodes/{name}/storage/repair"): ("storage_type=lvm-vg&name=xenvg", None),
    ("PUT", "/2/modify"): ("", {"candidate_pool_size": 3}),
    ("POST", "/2/nodes/{name}/modify"): ("", {"drained": False}),
    ("PUT", "/2/nodes/{name}/role"): ("", "regular"),
    ("PUT", "/2/groups/{name}/modify"): ("", {"alloc_policy": "preferred"}),
    ("PUT", "/2/networks/{name}/modify"): ("", {"gateway": "10.1.0.1"}),
    ("POST", "/2/instances/{name}/replace-disks"): ("mode=replace_auto", None),
}
_TAG_QUERY = "tag=rack1"

#: commands that cannot run against a test master (init builds the cluster it would talk to): their
#: module must submit the opcode, checked by reading the command's code
STATIC_ONLY = {
    "gnt-cluster init": "bootstraps a cluster on this machine first, then submits the opcode",
}
#: argv of a command whose help example needs a confirmation or an object the test master lacks
CLI_EXAMPLES: dict[str, list[str]] = {
    "gnt-instance add": ["-t", "diskless", "-o", "noop", "-n", "node1", "--no-name-check", "--no-ip-check", "inst9"],
    "gnt-instance batch-create": ["batch.json"],
    "gnt-instance replace-disks": ["-a", "inst1"],
}
#: gnt-instance batch-create's example file (Ganeti's format)
_BATCH = [{"instance_name": "inst9", "disk_template": "diskless", "os_type": "noop", "pnode": "node1"}]


# --- the table itself ------------------------------------------------------------------------------


def test_every_opcode_is_declared_once_with_routes_and_commands_or_a_reason() -> None:
    declared = [s.op_id for s in surface.SURFACES]
    assert len(declared) == len(set(declared)), "an opcode is declared twice"
    # opcodes that other test modules register for their own logical units are not the product's
    product = {op_id for op_id, cls in opcodes.OPCODES.items() if cls.__module__.startswith("gnt.")}
    assert set(declared) == product, "opcodes without a declaration (or declarations without one)"
    for entry in surface.SURFACES:
        assert bool(entry.rapi) != bool(entry.no_rapi), f"{entry.op_id}: routes xor a reason for having none"
        assert bool(entry.cli) != bool(entry.no_cli), f"{entry.op_id}: commands xor a reason for having none"


def test_declared_mappings_name_the_opcodes_fields() -> None:
    """A path variable or alias that fills no field would be refused at every call; a query flag may
    be one of Ganeti's shared instance-action parameters, which an opcode without it refuses."""
    query = surface.INSTANCE_ACTION_QUERY
    shared = {*query["flags"], *query["texts"].values()}
    for op_id, route in surface.routes():
        fields = {f.name for f in dataclasses.fields(opcodes.OPCODES[op_id])}
        assert set(route.names.values()) <= fields, (op_id, route.path)
        assert set(route.aliases.values()) <= fields, (op_id, route.path)
        assert not set(route.aliases) & fields, f"{op_id}: an alias shadows a field"
        assert set(route.flags) | set(route.texts.values()) <= fields | shared, (op_id, route.path)
        if route.derived:
            assert route.job, f"{op_id} {route.path}: a derived route always submits"


# --- RAPI ------------------------------------------------------------------------------------------


def _app_routes() -> dict[tuple[str, str], Any]:
    app = Api(None).app(users=object())  # type: ignore[arg-type]
    return {(r.method, r.resource.canonical): r.handler for r in app.router.routes() if r.resource is not None}


def test_every_declared_route_is_served_by_a_handler_of_its_opcode() -> None:
    served = _app_routes()
    for op_id, route in surface.routes():
        handler = served.get((route.method, route.path))
        assert handler is not None, f"{op_id}: {route.method} {route.path} is declared but not served"
        if route.derived:
            assert handler.opcode == op_id and handler.route is route
        elif route.job:
            assert op_id in openapi.handler_opcodes(handler), (op_id, route.path)


def test_every_route_that_submits_an_opcode_is_declared() -> None:
    """The other direction: no hand-registered route submits an opcode the table does not know of."""
    declared = {(r.method, r.path) for _, r in surface.routes()}
    for (method, path), handler in _app_routes().items():
        if method != "HEAD" and path != "/2/jobs" and openapi.handler_opcodes(handler):
            assert (method, path) in declared, f"{method} {path} submits an opcode but is not in gnt.surface"


def _concrete(path: str) -> str:
    parts = path.split("/")
    out = [_PATH_VALUES.get(parts[i - 1], "0") if p.startswith("{") else p for i, p in enumerate(parts)]
    return "/".join(out)


def _job_routes() -> list[tuple[str, surface.Route]]:
    return [(op_id, r) for op_id, r in surface.routes() if r.job]


@pytest.mark.parametrize(("op_id", "route"), _job_routes(), ids=lambda v: v if isinstance(v, str) else v.path)
def test_each_declared_route_queues_a_job_with_its_opcode(
    rapi_server: RapiServer, op_id: str, route: surface.Route
) -> None:
    query, body = RAPI_EXAMPLES.get((route.method, route.path), ("", None))
    if "tags" in route.path:
        query = _TAG_QUERY
    path = _concrete(route.path) + (f"?{query}" if query else "")
    status, job_id = rapi_server.call(route.method, path, body=body)
    assert status == 200, (path, job_id)
    assert op_id in [op["OP_ID"] for op in rapi_server.master.queue.jobs[job_id].ops]


def test_derived_routes_map_query_and_aliases_as_declared(rapi_server: RapiServer) -> None:
    status, job_id = rapi_server.call("POST", "/2/groups?dry-run=1", {"name": "rack7", "alloc_policy": "preferred"})
    assert status == 200
    (op,) = rapi_server.master.queue.jobs[job_id].ops
    assert (op["group_name"], op["alloc_policy"], op["dry_run"]) == ("rack7", "preferred", True)
    status, job_id = rapi_server.call("POST", "/2/instances/inst1/reboot?type=hard", {"shutdown_timeout": 5})
    assert status == 200, job_id
    (op,) = rapi_server.master.queue.jobs[job_id].ops
    assert (op["instance_name"], op["reboot_type"], op["shutdown_timeout"]) == ("inst1", "hard", 5)
    # a query flag the opcode has no field for is refused by the opcode, as before the table
    status, error = rapi_server.call("POST", "/2/instances/inst1/reboot?cleanup=1")
    assert status == 400 and "Parameter 'cleanup' is not valid for OP_INSTANCE_REBOOT" in error["explain"]
    # the path names the object: a body naming another one does not win
    status, job_id = rapi_server.call("PUT", "/2/groups/default/modify", {"group_name": "other"})
    assert rapi_server.master.queue.jobs[job_id].ops[0]["group_name"] == "default"


def test_the_openapi_document_shows_the_declared_query_flags_and_aliases() -> None:
    doc = openapi.build_document(Api(None).app(users=object()))  # type: ignore[arg-type]
    startup = {p["name"] for p in doc["paths"]["/2/instances/{name}/startup"]["put"]["parameters"]}
    assert {"force", "no-remember"} <= startup and "cleanup" not in startup  # startup has no cleanup field
    group_add = doc["paths"]["/2/groups"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert group_add["properties"] == {"name": {"description": "Ganeti's name of 'group_name'"}}


def test_a_new_declaration_is_served_without_a_handler_of_its_own(monkeypatch: pytest.MonkeyPatch) -> None:
    """By construction: a table entry alone adds the route (and its OpenAPI entry)."""
    extra = surface.Surface("OP_TEST_DELAY", (surface.Route("PUT", "/2/test-delay", flags=("on_master",)),))
    monkeypatch.setattr(surface, "SURFACES", (*surface.SURFACES, extra))
    served = _app_routes()
    assert served[("PUT", "/2/test-delay")].opcode == "OP_TEST_DELAY"
    doc = openapi.build_document(Api(None).app(users=object()))  # type: ignore[arg-type]
    assert doc["paths"]["/2/test-delay"]["put"]["x-gnt-opcodes"] == ["OP_TEST_DELAY"]


# --- CLI -------------------------------------------------------------------------------------------


def _tools() -> dict[str, click.Group]:
    scripts = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"]
    tools = {}
    for name, target in scripts.items():
        module, attr = target.split(":")
        if name.startswith("gnt-") and module.startswith("gnt."):
            group = getattr(importlib.import_module(module), attr)
            if isinstance(group, click.Group):
                tools[name] = group
    return tools


def _command(spec: str) -> click.Command:
    tool, sub = spec.split(" ", 1)
    group = _tools().get(tool)
    assert group is not None, f"no CLI tool {tool}"
    command = group.commands.get(sub)
    assert command is not None, f"{spec}: no such command"
    return command


def _example(spec: str) -> list[str]:
    """The command's first help example (every command has one), or the test's own argv."""
    if spec in CLI_EXAMPLES:
        return CLI_EXAMPLES[spec]
    lines = (_command(spec).help or "").splitlines()
    for line in lines[next(i for i, text in enumerate(lines) if text.strip() == "Example:") :]:
        if line.strip().startswith(spec + " ") or line.strip() == spec:
            return shlex.split(line.strip())[2:]
    raise AssertionError(f"{spec}: no example in its help")


def _cli_pairs() -> list[tuple[str, str]]:
    return [(s.op_id, spec) for s in surface.SURFACES for spec in s.cli]


def test_every_declared_command_exists() -> None:
    for op_id, spec in _cli_pairs():
        assert _command(spec) is not None, op_id


class _Submitted(GntError):
    """Ends a command once its job is in the queue (the test master never runs it)."""


@pytest.fixture(scope="module")
def objects(rapi_server: RapiServer) -> None:
    """An instance and a network, for the commands that look their object up before submitting."""
    cfg = rapi_server.master.cfg
    node1 = cfg.find_node("node1")
    if cfg.find_instance("inst1") is None:
        inst = Instance(name="inst1", primary_node=node1.uuid, os="noop", hypervisor="fake")
        net = Network(name="net1", network="10.1.0.0/24")
        rapi_server.run(cfg.commit(put=[inst, net]))


@pytest.fixture
def cli_master(rapi_server: RapiServer, objects: None, monkeypatch: pytest.MonkeyPatch) -> list[list[dict[str, Any]]]:
    """Every CLI client talks to the in-process master over its RAPI; the jobs it submits are recorded."""
    submitted: list[list[dict[str, Any]]] = []

    def request(self: Any, method: str, path: str, body: Any = None, query: dict[str, Any] | None = None) -> Any:
        if query:
            path += "?" + urllib.parse.urlencode({k: v for k, v in query.items() if v is not None})
        status, value = rapi_server.call(method, path, body=body)
        if status >= 400:
            raise cli_client._error_from(status, value)
        if method == "POST" and path == "/2/jobs":
            ids = [job_id for ok, job_id in value if ok] if "jobs" in body else [value]
            submitted.extend(rapi_server.master.queue.jobs[job_id].ops for job_id in ids)
            raise _Submitted("submitted")
        return value

    monkeypatch.setattr(cli_client.Client, "request", request)
    return submitted


def _run(spec: str, argv: list[str]) -> Any:
    runner = CliRunner()
    with runner.isolated_filesystem():
        Path("batch.json").write_text(json.dumps(_BATCH))
        return runner.invoke(_command(spec), argv)


@pytest.mark.parametrize(("op_id", "spec"), [p for p in _cli_pairs() if p[1] not in STATIC_ONLY], ids=str)
def test_each_declared_command_submits_its_opcode(
    cli_master: list[list[dict[str, Any]]], op_id: str, spec: str
) -> None:
    entry = surface.by_op()[op_id]
    result = _run(spec, _example(spec))
    if not entry.cli_job:  # answered by a query or the config: it must simply work
        assert result.exit_code == 0, (spec, result.output)
        return
    assert any(op_id in [op["OP_ID"] for op in ops] for ops in cli_master), (spec, result.output)


@pytest.mark.parametrize("spec", sorted(STATIC_ONLY))
def test_commands_that_cannot_run_against_a_test_master_name_their_opcode(spec: str) -> None:
    op_id = next(s.op_id for s in surface.SURFACES if spec in s.cli)
    source = inspect.getsource(inspect.getmodule(_command(spec).callback))  # type: ignore[arg-type]
    assert f'"{op_id}"' in source


#: choice fields whose value the opcode checks in `check_fields` (with another field), not alone
_CHECKED_ACROSS_FIELDS = {"OP_INSTANCE_CREATE.compress": "only an import compresses"}


def _field_options() -> list[tuple[str, str, click.Option]]:
    """(opcode, command, option) for each option of a declared command named after one of the opcode's fields."""
    out = []
    for op_id, spec in _cli_pairs():
        fields = {f.name for f in dataclasses.fields(opcodes.OPCODES[op_id])} - {"dry_run", "priority"}
        out += [(op_id, spec, p) for p in _command(spec).params if isinstance(p, click.Option) and p.name in fields]
    return out


def test_cli_options_named_after_a_field_offer_only_values_the_opcode_accepts() -> None:
    """The generated check standing in for derived options (the CLI does not import the opcodes: it
    would cost every command's start-up): a flag sets a bool field, an integer option an int field, and
    every choice of a choice option passes the field's type and value check (yes/no for a bool field)."""
    checked = 0
    for op_id, spec, option in _field_options():
        cls = opcodes.OPCODES[op_id]
        field = next(f for f in dataclasses.fields(cls) if f.name == option.name)
        hint = typing.get_type_hints(cls)[field.name]
        where = f"{spec} {option.opts[0]} ({op_id}.{field.name})"
        if option.is_flag:
            assert opcodes._type_ok(hint, True), f"{where}: a flag for a field that takes no bool"
        elif isinstance(option.type, click.Choice):
            if opcodes._type_ok(hint, True):
                assert set(option.type.choices) == {"yes", "no"}, f"{where}: a bool field's choice is yes/no"
                continue
            for choice in option.type.choices:
                assert opcodes._type_ok(hint, choice), f"{where}: {choice!r} is not of the field's type"
                opcodes._check_value(op_id, field.name, field.metadata.get("check"), choice)  # raises when refused
            # what the CLI's choice refuses, the opcode refuses too (else the RAPI queues a job that fails)
            if f"{op_id}.{field.name}" not in _CHECKED_ACROSS_FIELDS:
                with pytest.raises(OpPrereqError, match="fails validation"):
                    opcodes._check_value(op_id, field.name, field.metadata.get("check"), "no-such-choice")
        elif isinstance(option.type, (click.types.IntParamType, click.IntRange)):
            assert opcodes._type_ok(hint, 1), f"{where}: an integer option for a field that takes none"
        checked += 1
    assert checked > 40  # the check covers the commands, not an empty list


def test_a_reboot_type_outside_soft_hard_full_is_refused_before_any_job(rapi_server: RapiServer) -> None:
    """It was a job that failed in the LU; gnt-instance reboot's choice refused it at once (and Ganeti's opcode)."""
    jobs = len(rapi_server.master.queue.jobs)
    status, error = rapi_server.call("POST", "/2/instances/inst1/reboot?type=gentle")
    assert status == 400 and error["explain"] == (
        "Parameter 'OP_INSTANCE_REBOOT.reboot_type' fails validation: 'gentle' is not one of soft, hard, full"
    )
    assert len(rapi_server.master.queue.jobs) == jobs


# --- the same refusal on both sides ----------------------------------------------------------------

#: (command, argv, RAPI method, path, body): the same malformed value given to both
SAME_REFUSALS = [
    (
        "gnt-node modify",
        ["--secondary-ip", "not-an-ip", "node1"],
        "POST",
        "/2/nodes/node1/modify",
        {"secondary_ip": "not-an-ip"},
    ),
    ("gnt-group add", ["bad name!"], "POST", "/2/groups", {"name": "bad name!"}),
    (
        "gnt-instance migrate",
        ["--target-node", "bad name!", "-f", "inst1"],
        "PUT",
        "/2/instances/inst1/migrate",
        {"target_node": "bad name!"},
    ),
    (
        "gnt-group modify",
        ["--alloc-policy", "sideways", "default"],
        "PUT",
        "/2/groups/default/modify",
        {"alloc_policy": "sideways"},
    ),
    ("gnt-cluster modify", ["--candidate-pool-size", "0"], "PUT", "/2/modify", {"candidate_pool_size": 0}),
    (
        "gnt-network add",
        ["--network", "10.0.0.0/33", "net9"],
        "POST",
        "/2/networks",
        {"name": "net9", "network": "10.0.0.0/33"},
    ),
]


@pytest.mark.parametrize(("spec", "argv", "method", "path", "body"), SAME_REFUSALS, ids=lambda v: str(v)[:30])
def test_rapi_and_cli_refuse_the_same_malformed_value_with_the_same_message(
    rapi_server: RapiServer,
    cli_master: list[list[dict[str, Any]]],
    spec: str,
    argv: list[str],
    method: str,
    path: str,
    body: Any,
) -> None:
    status, error = rapi_server.call(method, path, body=body)
    assert status == 400, error
    result = _run(spec, argv)
    assert result.exit_code == 1 and not cli_master, result.output
    assert error["explain"] in result.stderr, (error["explain"], result.stderr)
