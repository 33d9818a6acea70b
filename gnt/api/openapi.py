"""The RAPI's OpenAPI 3.1 document, generated from the route table and the opcode declarations.

Nothing here is written by hand per resource: the paths and methods are the aiohttp router's (the
same table the server answers from), the request body of a write is the JSON Schema of the opcode
its handler submits (field types from the opcode dataclass's type hints, descriptions and defaults
from its declarations), and which routes need a user follows the server's own sets. So a new route
or opcode field appears in the document by construction, and `tools/rapi-openapi` writes the copy
shipped as doc/rapi-openapi.json (a test checks the two are equal).

Which opcode a route submits comes from the opcode table (`gnt.surface`, the same declarations the
derived routes are built from), with its query parameters (described by the fields' docs) and
Ganeti's body aliases; for a hand-written handler the ``OP_*`` names among its code's constants and
closure are added (a reinstall is one job of three opcodes). A handler may give a body that is not
an opcode's fields as ``openapi_body``.
"""

from __future__ import annotations

import dataclasses
import json
import re
import types
import typing
from typing import Any

from aiohttp import web

from gnt import __version__, opcodes, surface

__all__ = ["OPENAPI_PATH", "build_document", "handler_opcodes", "opcode_schema", "render", "required_fields"]

OPENAPI_PATH = "/2/openapi.json"
OPENAPI_VERSION = "3.1.0"
_OP_RE = re.compile(r"^OP_[A-Z0-9_]+\Z")
_PARAM_RE = re.compile(r"\{([^}/]+)\}")
_WRITE_METHODS = ("POST", "PUT", "DELETE")
_ERROR = {"$ref": "#/components/schemas/Error"}
_JOB_ID = {"type": "integer", "description": "The id of the job that carries the change out"}


def handler_opcodes(handler: Any) -> list[str]:
    """The opcode ids a RAPI handler submits, in a stable order."""
    explicit = getattr(handler, "opcode", None)
    if isinstance(explicit, str):
        return [explicit]
    func = getattr(handler, "__func__", handler)
    found: set[str] = set()
    code = getattr(func, "__code__", None)
    stack = [code] if code is not None else []
    while stack:
        current = stack.pop()
        for const in current.co_consts:
            if isinstance(const, types.CodeType):
                stack.append(const)
            elif isinstance(const, str) and _OP_RE.match(const):
                found.add(const)
    for cell in getattr(func, "__closure__", None) or ():
        try:
            value = cell.cell_contents
        except ValueError:  # an empty cell
            continue
        if isinstance(value, str) and _OP_RE.match(value):
            found.add(value)
    return sorted(op for op in found if op in opcodes.OPCODES)


def _type_schema(tp: Any) -> dict[str, Any]:
    """JSON Schema (2020-12, as OpenAPI 3.1 uses) of a type hint of an opcode field."""
    if tp is Any:
        return {}
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        parts = [_type_schema(a) for a in args]
        return {} if {} in parts else {"anyOf": parts}
    if tp is type(None):
        return {"type": "null"}
    if origin is list:
        return {"type": "array", "items": _type_schema(args[0]) if args else {}}
    if origin is dict:
        return {"type": "object", "additionalProperties": _type_schema(args[1]) if args else {}}
    if origin is tuple:
        return {"type": "array"}
    simple = {bool: "boolean", int: "integer", float: "number", str: "string"}
    if tp in simple:
        return {"type": simple[tp]}
    return {}


def _json_default(f: dataclasses.Field) -> tuple[bool, Any]:
    if f.default is not dataclasses.MISSING:
        value = f.default
    elif f.default_factory is not dataclasses.MISSING:
        value = f.default_factory()
    else:
        return False, None
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        return False, None
    return True, value


def required_fields(op_id: str) -> list[str]:
    """The opcode's fields without a default: a body must carry them unless the path names them."""
    cls = opcodes.OPCODES[op_id]
    return [f.name for f in dataclasses.fields(cls) if not _json_default(f)[0]]


def opcode_schema(op_id: str) -> dict[str, Any]:
    """The JSON Schema of an opcode's fields (their types, docs and defaults).

    It lists no required fields: which ones a body must carry depends on the route (a path like
    ``/2/instances/{name}/startup`` gives the instance's name), so each route says it.
    """
    cls = opcodes.OPCODES[op_id]
    hints = typing.get_type_hints(cls)
    props: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        schema = dict(_type_schema(hints[f.name]))
        doc = f.metadata.get("doc", "")
        if doc:
            schema["description"] = doc
        has_default, default = _json_default(f)
        if has_default:
            schema["default"] = default
        props[f.name] = schema
    out: dict[str, Any] = {"type": "object", "title": op_id, "properties": props}
    doc = (cls.__doc__ or "").strip()
    if doc and not doc.startswith(f"{cls.__name__}("):  # dataclasses make up a signature as doc
        out["description"] = doc.splitlines()[0]
    return out


def _summary(handler: Any, method: str, path: str, ops: list[str]) -> str:
    func = getattr(handler, "__func__", handler)
    doc = (getattr(func, "__doc__", None) or "").strip()
    if doc:
        return doc.splitlines()[0].rstrip(".")
    if ops:
        return f"Submit {' or '.join(ops)}"
    return f"{method} {path}"


def _operation_id(method: str, path: str) -> str:
    slug = re.sub(r"[^a-zA-Z0-9]+", "_", path.replace("{", "by_").replace("}", "")).strip("_") or "root"
    return f"{method.lower()}_{slug}"


def _query(name: str, schema: dict[str, Any], description: str) -> dict[str, Any]:
    """An optional query parameter."""
    return {"name": name, "in": "query", "required": False, "schema": schema, "description": description}


_FLAG = {"type": "integer", "enum": [0, 1]}
_TEXT = {"type": "string"}


def _parameters(method: str, path: str) -> list[dict[str, Any]]:
    params: list[dict[str, Any]] = [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string"}} for name in _PARAM_RE.findall(path)
    ]
    if method == "GET" and not path.endswith("}") and path.count("/") == 2:
        params += [
            _query("bulk", _FLAG, "1: every object with its fields, not only names and URIs"),
            _query("fields", _TEXT, "Comma-separated field names (with bulk=1)"),
        ]
    if method in _WRITE_METHODS:
        params += [
            _query("dry-run", _FLAG, "1: check the prerequisites only, change nothing"),
            _query("reason", _TEXT, "Why: added to the opcodes' reason trail"),
        ]
    return params


def _responses(method: str, ops: list[str]) -> dict[str, Any]:
    ok: dict[str, Any] = {"description": "Success", "content": {"application/json": {"schema": {}}}}
    if ops:  # a change, or a GET that queues a job (instance info, node storage)
        ok = {"description": "The job was submitted", "content": {"application/json": {"schema": _JOB_ID}}}
    errors = {
        "400": "Bad request: a malformed body or parameter",
        "401": "Authentication needed",
        "403": "The user lacks the right this needs",
        "404": "No such resource or object",
        "405": "Method not allowed on this resource",
    }
    out: dict[str, Any] = {"200": ok}
    for code, text in errors.items():
        out[code] = {"description": text, "content": {"application/json": {"schema": _ERROR}}}
    return out


def _security(method: str, path: str, needs_user: frozenset[str], needs_write: frozenset[str]) -> list[Any]:
    if method in _WRITE_METHODS or path in needs_write or path in needs_user:
        return [{"basicAuth": []}]
    return [{}, {"basicAuth": []}]  # anonymous reads, as Ganeti's (unless the daemon requires auth)


def _declared_parameters(declared: list[tuple[str, surface.Route]]) -> list[dict[str, Any]]:
    """The query parameters the opcode table maps onto opcode fields, described by the fields' docs."""
    params: list[dict[str, Any]] = []
    for op_id, route in declared:
        docs = opcodes.field_docs(opcodes.OPCODES[op_id])
        for flag in (f for f in route.flags if f in docs):  # a flag the opcode lacks is refused, not documented
            params.append(_query(flag.replace("_", "-"), _FLAG, f"The opcode's {flag}: {docs[flag]}"))
        for param, name in route.texts.items():
            if name in docs:
                params.append(_query(param, _TEXT, f"The opcode's {name}: {docs[name]}"))
    return params


def _body_schema(path: str, ops: list[str], declared: list[tuple[str, surface.Route]]) -> dict[str, Any]:
    """A write's body: its one opcode's fields (with Ganeti's aliases), or any of its opcodes'."""
    if len(ops) != 1:
        return {"anyOf": [{"$ref": f"#/components/schemas/{o}"} for o in ops]} if ops else {}
    aliases = {a: n for op_id, r in declared if op_id == ops[0] for a, n in r.aliases.items()}
    schema: dict[str, Any] = {"$ref": f"#/components/schemas/{ops[0]}"}
    required = required_fields(ops[0]) if not _PARAM_RE.search(path) else []  # a path names the object
    if not required and not aliases:
        return schema
    out: dict[str, Any] = {"allOf": [schema]}
    if aliases:
        out["properties"] = {a: {"description": f"Ganeti's name of '{n}'"} for a, n in aliases.items()}
    plain = [f for f in required if f not in aliases.values()]
    if plain:
        out["required"] = plain
    either = [{"anyOf": [{"required": [n]}, {"required": [a]}]} for a, n in aliases.items() if n in required]
    if either:
        out["allOf"] += either
    return out


def _operation(route: Any, path: str, needs_user: frozenset[str], needs_write: frozenset[str]) -> dict[str, Any]:
    method = route.method
    declared = [(o, r) for o, r in surface.routes() if r.method == method and r.path == path]
    ops = sorted(set(handler_opcodes(route.handler)) | {o for o, r in declared if r.job})
    op: dict[str, Any] = {
        "operationId": _operation_id(method, path),
        "summary": _summary(route.handler, method, path, ops),
        "tags": [path.split("/")[2] if path.count("/") >= 2 else "root"],
        "parameters": _parameters(method, path) + _declared_parameters(declared),
        "responses": _responses(method, ops),
        "security": _security(method, path, needs_user, needs_write),
    }
    if ops:
        op["x-gnt-opcodes"] = ops
    body = getattr(getattr(route.handler, "__func__", route.handler), "openapi_body", None)
    if method in ("POST", "PUT") and body is not None:  # a body that is not an opcode's fields
        op["requestBody"] = {"required": True, "content": {"application/json": {"schema": body}}}
    elif method in ("POST", "PUT"):
        schema = _body_schema(path, ops, declared)
        op["requestBody"] = {"required": False, "content": {"application/json": {"schema": schema}}}
    return op


def build_document(
    app: web.Application, needs_user: frozenset[str] = frozenset(), needs_write: frozenset[str] = frozenset()
) -> dict[str, Any]:
    """The OpenAPI document of `app`'s routes (HEAD routes, aiohttp's twins of GETs, left out).

    `needs_user`/`needs_write`: the GET paths the server answers only to a (write) user.
    """
    paths: dict[str, dict[str, Any]] = {}
    used: set[str] = set()
    for route in app.router.routes():
        if route.method in ("HEAD", "*") or route.resource is None:
            continue
        path = route.resource.canonical
        entry = paths.setdefault(path, {})
        entry[route.method.lower()] = _operation(route, path, needs_user, needs_write)
        used.update(entry[route.method.lower()].get("x-gnt-opcodes", []))
    schemas: dict[str, Any] = {
        "Error": {
            "type": "object",
            "description": "Ganeti's error body",
            "properties": {
                "code": {"type": "integer"},
                "message": {"type": "string"},
                "explain": {"type": "string"},
                "error_class": {"type": "string"},
                "error_args": {"type": "array"},
            },
            "required": ["code", "message", "explain"],
        }
    }
    for op_id in sorted(used):
        schemas[op_id] = opcode_schema(op_id)
    return {
        "openapi": OPENAPI_VERSION,
        "info": {
            "title": "gnt remote API (RAPI v2)",
            "version": __version__,
            "description": "Ganeti's RAPI v2 as gnt serves it; generated from the route table and the opcodes.",
        },
        "servers": [{"url": "https://{master}:5080", "variables": {"master": {"default": "localhost"}}}],
        "paths": dict(sorted(paths.items())),
        "components": {"schemas": schemas, "securitySchemes": {"basicAuth": {"type": "http", "scheme": "basic"}}},
    }


def render(document: dict[str, Any]) -> str:
    """The document as shipped: stable key order and indentation, one trailing newline."""
    return json.dumps(document, indent=1, sort_keys=False) + "\n"
