"""The RAPI's OpenAPI document: generated from the route table and the opcodes, served anonymously at
GET /2/openapi.json, shipped as doc/rapi-openapi.json (equal to what the server generates), and valid
for a real OpenAPI validator (openapi-spec-validator)."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from openapi_spec_validator import validate

from gnt import opcodes
from gnt.api import openapi
from gnt.api.server import Api, openapi_text
from tests.unit.api.conftest import RapiServer

REPO = Path(__file__).resolve().parents[3]
SHIPPED = REPO / "doc" / "rapi-openapi.json"
TOOL = REPO / "tools" / "rapi-openapi"


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    return json.loads(openapi_text(Api(None).app(users=object())))  # type: ignore[arg-type]


def test_the_shipped_document_is_what_the_server_generates() -> None:
    assert SHIPPED.read_text() == openapi_text(Api(None).app(users=object()))  # type: ignore[arg-type]
    check = subprocess.run([sys.executable, str(TOOL), "--check"], capture_output=True, text=True, timeout=120)
    assert check.returncode == 0, check.stderr


def test_the_tool_reports_a_stale_copy(tmp_path: Path) -> None:
    stale = tmp_path / "rapi-openapi.json"
    stale.write_text(SHIPPED.read_text().replace('"OP_INSTANCE_CREATE"', '"OP_INSTANCE_CREAT"', 1))
    check = subprocess.run([sys.executable, str(TOOL), "--check", str(stale)], capture_output=True, text=True)
    assert check.returncode == 1 and "out of date" in check.stderr
    assert subprocess.run([sys.executable, str(TOOL), str(stale)], capture_output=True).returncode == 0
    assert stale.read_text() == SHIPPED.read_text()


def test_the_document_is_valid_openapi(document: dict[str, Any]) -> None:
    validate(document)  # raises OpenAPIValidationError on any violation of the 3.1 schema
    assert document["openapi"] == "3.1.0"


def test_every_route_of_the_https_api_is_documented(document: dict[str, Any]) -> None:
    app = Api(None).app(users=object())  # type: ignore[arg-type]
    routes = {(r.method.lower(), r.resource.canonical) for r in app.router.routes() if r.method != "HEAD"}
    documented = {(m, p) for p, ops in document["paths"].items() for m in ops}
    assert routes == documented
    assert ("get", openapi.OPENAPI_PATH) in documented
    assert ("post", "/2/instances") in documented and ("put", "/2/networks/{name}/connect") in documented


def test_write_bodies_are_the_opcodes_declared_fields(document: dict[str, Any]) -> None:
    schemas = document["components"]["schemas"]
    create = document["paths"]["/2/instances"]["post"]
    assert create["x-gnt-opcodes"] == ["OP_INSTANCE_CREATE"]
    assert create["requestBody"]["content"]["application/json"]["schema"] == {
        "allOf": [
            {"$ref": "#/components/schemas/OP_INSTANCE_CREATE"},
            # the one field without a default, under its name or Ganeti's alias (gnt.surface)
            {"anyOf": [{"required": ["instance_name"]}, {"required": ["name"]}]},
        ],
        "properties": {
            "name": {"description": "Ganeti's name of 'instance_name'"},
            "os": {"description": "Ganeti's name of 'os_type'"},
        },
    }
    body = schemas["OP_INSTANCE_CREATE"]
    declared = {f.name for f in dataclasses.fields(opcodes.OpInstanceCreate)}
    assert set(body["properties"]) == declared
    startup = document["paths"]["/2/instances/{name}/startup"]["put"]["requestBody"]["content"]["application/json"]
    assert startup["schema"] == {"$ref": "#/components/schemas/OP_INSTANCE_STARTUP"}  # the path names it
    assert body["properties"]["start"]["type"] == "boolean" and body["properties"]["start"]["default"] is True
    assert body["properties"]["nics"]["type"] == "array"
    connect = document["paths"]["/2/networks/{name}/connect"]["put"]
    assert connect["x-gnt-opcodes"] == ["OP_NETWORK_CONNECT"]
    assert {"dry-run", "reason", "name"} <= {p["name"] for p in connect["parameters"]}
    role = document["paths"]["/2/nodes/{name}/role"]["put"]["requestBody"]["content"]["application/json"]
    assert role["schema"]["type"] == "string" and "drained" in role["schema"]["enum"]


def test_reads_are_anonymous_and_writes_need_a_user(document: dict[str, Any]) -> None:
    paths = document["paths"]
    assert {} in paths["/2/instances"]["get"]["security"]
    assert paths["/2/instances"]["post"]["security"] == [{"basicAuth": []}]
    assert paths["/2/instances/{name}/console"]["get"]["security"] == [{"basicAuth": []}]
    assert {} in paths[openapi.OPENAPI_PATH]["get"]["security"]


def test_handler_opcodes_reads_constants_and_closures() -> None:
    def factory(op_id: str) -> Any:
        async def handler(request: Any) -> Any:
            return op_id

        return handler

    async def literal(request: Any) -> Any:
        def inner() -> str:
            return "OP_NODE_EVACUATE"

        return inner()

    assert openapi.handler_opcodes(factory("OP_INSTANCE_STARTUP")) == ["OP_INSTANCE_STARTUP"]
    assert openapi.handler_opcodes(literal) == ["OP_NODE_EVACUATE"]
    assert openapi.handler_opcodes(factory("OP_NOT_AN_OPCODE")) == []


def test_served_anonymously_and_equal_to_the_shipped_copy(rapi_server: RapiServer) -> None:
    status, body = rapi_server.call("GET", openapi.OPENAPI_PATH, user=None)
    assert status == 200
    assert body == json.loads(SHIPPED.read_text())
