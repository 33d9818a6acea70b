"""gnt-filter: job filter rule administration, with Ganeti's commands and options.

Options are checked here before anything is sent (bad JSON, an unknown action or predicate is a
one-line `Parameter Error`), with the same checks the master applies to RAPI bodies.
"""

from __future__ import annotations

import json
import time
from typing import Any

import click

from gnt.cli.common import CONTEXT, add_list_fields_command, client, handle_errors, list_options, run_list
from gnt.errors import OpPrereqError, ParameterError
from gnt.filters.query import DEFAULT_FIELDS
from gnt.filters.rules import check_params, check_uuid

#: the reason trail source of `--reason` (Ganeti's OPCODE_REASON_SRC_USER)
REASON_SOURCE_USER = "gnt:user"


@click.group(context_settings=CONTEXT)
def main() -> None:
    """Job filter rule administration: which jobs the queue accepts, pauses, rejects or rate-limits.

    \b
    Example:
      gnt-filter add '--predicates=[["jobid", [">", "id", "watermark"]]]' --action=PAUSE
      gnt-filter add '--predicates=[["opcode", ["=", "OP_ID", "OP_INSTANCE_CREATE"]]]' --action=REJECT
      gnt-filter list
      gnt-filter delete UUID
    """


add_list_fields_command(main, "filter", "gnt-filter")


def _rule_options(fn: Any) -> Any:
    fn = click.option("--reason", default=None, help="Why the rule is added (kept in its reason trail)")(fn)
    fn = click.option(
        "--action", default="CONTINUE", help="ACCEPT, PAUSE, REJECT, CONTINUE or 'RATE_LIMIT n' (default CONTINUE)"
    )(fn)
    fn = click.option(
        "--predicates", default="[]", help='JSON list of predicates, e.g. [["jobid", [">", "id", "watermark"]]]'
    )(fn)
    fn = click.option("--priority", default="0", help="Non-negative integer; lower is evaluated first (default 0)")(fn)
    return fn


def _body(priority: str, predicates: str, action: str, reason: str | None) -> dict[str, Any]:
    """The RAPI body of a rule, checked as the master will check it."""
    if not priority.isascii() or not priority.isdigit() or len(priority) > 10:
        raise ParameterError(f"Invalid --priority '{priority[:40]}': expected a non-negative integer")
    try:
        parsed = json.loads(predicates)
    except ValueError as err:
        raise ParameterError(f"Invalid --predicates: not JSON ({err})") from None
    trail = [[REASON_SOURCE_USER, reason, time.time_ns()]] if reason else []
    body = {"priority": int(priority), "predicates": parsed, "action": action, "reason": trail}
    try:
        _, body["predicates"], body["action"], _ = check_params(body)
    except OpPrereqError as err:
        raise ParameterError(err.message) from None
    return body


def _uuid(text: str) -> str:
    try:
        return check_uuid(text)
    except OpPrereqError as err:
        raise ParameterError(err.message) from None


@main.command("add", context_settings=CONTEXT)
@_rule_options
@handle_errors
def add(priority: str, predicates: str, action: str, reason: str | None) -> None:
    """Add a filter rule and print its UUID.

    \b
    Example:
      gnt-filter add --priority=1 '--predicates=[["jobid", [">", "id", "watermark"]]]' --action=PAUSE
      gnt-filter add '--predicates=[["opcode", ["=", "OP_ID", "OP_INSTANCE_REPLACE_DISKS"]]]' \\
          '--action=RATE_LIMIT 10'
    """
    print(client().request("POST", "/2/filters", _body(priority, predicates, action, reason)))


@main.command("replace", context_settings=CONTEXT)
@_rule_options
@click.argument("uuid")
@handle_errors
def replace(priority: str, predicates: str, action: str, reason: str | None, uuid: str) -> None:
    """Replace the filter rule UUID (or create it under that UUID); it gets a new watermark.

    \b
    Example:
      gnt-filter replace --action=ACCEPT 3b3f0b4e-5b3e-4a35-9f5e-0c1b2e6f3a11
    """
    body = _body(priority, predicates, action, reason)
    print(client().request("PUT", f"/2/filters/{_uuid(uuid)}", body))


@main.command("delete", context_settings=CONTEXT)
@click.argument("uuid")
@handle_errors
def delete(uuid: str) -> None:
    """Delete a filter rule; jobs it held are reconsidered at once.

    \b
    Example:
      gnt-filter delete 3b3f0b4e-5b3e-4a35-9f5e-0c1b2e6f3a11
    """
    client().request("DELETE", f"/2/filters/{_uuid(uuid)}")


@main.command("info", context_settings=CONTEXT)
@click.argument("uuids", nargs=-1)
@handle_errors
def info(uuids: tuple[str, ...]) -> None:
    """Show filter rules (all when no UUID is given).

    \b
    Example:
      gnt-filter info
    """
    wanted = [_uuid(u) for u in uuids]
    rules = [client().get(f"/2/filters/{u}") for u in wanted] if wanted else client().get("/2/filters", bulk=1)
    for rule in rules:
        print(f"UUID: {rule['uuid']}")
        print(f"  Watermark: {rule['watermark']}")
        print(f"  Priority: {rule['priority']}")
        print(f"  Predicates: {json.dumps(rule['predicates'])}")
        print(f"  Action: {json.dumps(rule['action']) if isinstance(rule['action'], list) else rule['action']}")
        print(f"  Reason trail: {json.dumps(rule['reason_trail'])}")


@main.command("list", context_settings=CONTEXT)
@list_options
@click.argument("uuids", nargs=-1)
@handle_errors
def list_(
    output: str | None,
    no_headers: bool,
    separator: str | None,
    units: str | None,
    uuids: tuple[str, ...],
) -> None:
    """List filter rules in evaluation order.

    \b
    Example:
      gnt-filter list -o uuid,priority,action
    """
    run_list("filter", DEFAULT_FIELDS, output, no_headers, separator, units, tuple(_uuid(u) for u in uuids))
