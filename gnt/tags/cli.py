"""The tag subcommands every gnt-* tool shares: add-tags, list-tags, remove-tags (and search-tags).

`add_tag_commands(main, kind, ...)` adds them to a tool's click group, so gnt-cluster, gnt-node and
gnt-instance (and later gnt-group, gnt-network) spell them, check them and print them alike.
Tags are checked here with Ganeti's rules before anything is submitted, so a bad tag is one
"invalid tag(s) given" error and no job.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Callable
from typing import Any

import click

from gnt.cli.client import Client
from gnt.cli.common import CONTEXT, PRIORITIES, client, handle_errors
from gnt.cli.jobs import wait_job
from gnt.errors import ECODE_INVAL, OpPrereqError
from gnt.tags import syntax

__all__ = ["add_tag_commands", "tags_path"]

#: kind -> (RAPI collection of its objects, what the object argument is called in usage lines)
_OBJECTS: dict[str, tuple[str, str]] = {
    syntax.KIND_NODEGROUP: ("groups", "GROUP"),
    syntax.KIND_NODE: ("nodes", "NODE"),
    syntax.KIND_INSTANCE: ("instances", "INSTANCE"),
    syntax.KIND_NETWORK: ("networks", "NETWORK"),
}


def tags_path(kind: str, name: str | None) -> str:
    """The RAPI resource holding the tags of one object."""
    if kind == syntax.KIND_CLUSTER:
        return "/2/tags"
    return f"/2/{_OBJECTS[kind][0]}/{urllib.parse.quote(name or '', safe='')}/tags"


def _job_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    """--from, --priority, --submit and --print-jobid, as Ganeti's add-tags and remove-tags take them."""
    fn = click.option("--print-jobid", is_flag=True, help="Print the job ID as the first line of output")(fn)
    fn = click.option("--submit", is_flag=True, help="Submit the job and print its ID, do not wait")(fn)
    fn = click.option("--priority", type=click.Choice(list(PRIORITIES)), default="normal", help="Job priority")(fn)
    fn = click.option(
        "--from", "tags_file", default=None, metavar="FILE", help="Read more tags from FILE, one per line ('-': stdin)"
    )(fn)
    return fn


def _collect(tags: tuple[str, ...], tags_file: str | None, verb: str) -> list[str]:
    result = list(tags)
    if tags_file is not None:
        result += syntax.read_tags_file(tags_file)
    if not result:
        raise OpPrereqError(f"No tags to be {verb}", ECODE_INVAL)
    syntax.validate_tags(result)
    return result


def _run(cl: Client, op: dict[str, Any], submit: bool, print_jobid: bool) -> Any:
    job_id = cl.submit([op])
    if print_jobid:
        print(job_id)
    if submit:
        print(f"JobID: {job_id}")
        return None
    return wait_job(cl, job_id)


def _tag_op(op_id: str, kind: str, name: str | None, tags: list[str], priority: str) -> dict[str, Any]:
    return {"OP_ID": op_id, "kind": kind, "name": name, "tags": tags, "priority": PRIORITIES[priority]}


def add_tag_commands(group: click.Group, kind: str, tool: str, example: str = "") -> None:
    """Add add-tags, list-tags and remove-tags for `kind` to `group` (and search-tags for the cluster)."""
    named = kind != syntax.KIND_CLUSTER
    obj = _OBJECTS[kind][1] if named else ""
    target = f" {example}" if named else ""

    def with_name(fn: Callable[..., Any]) -> Callable[..., Any]:
        return click.argument("name", metavar=obj)(fn) if named else fn

    def change_command(command: str, op_id: str, verb: str) -> click.Command:
        """add-tags and remove-tags: the same arguments and job, another opcode."""

        @group.command(command, context_settings=CONTEXT)
        @with_name
        @click.argument("tags", nargs=-1)
        @_job_options
        @handle_errors
        def change(
            tags: tuple[str, ...],
            tags_file: str | None,
            priority: str,
            submit: bool,
            print_jobid: bool,
            name: str | None = None,
        ) -> None:
            wanted = _collect(tags, tags_file, verb)
            _run(client(), _tag_op(op_id, kind, name, wanted, priority), submit, print_jobid)

        return change

    add_tags = change_command("add-tags", "OP_TAGS_SET", "added")
    remove_tags = change_command("remove-tags", "OP_TAGS_DEL", "removed")

    @group.command("list-tags", context_settings=CONTEXT)
    @with_name
    @handle_errors
    def list_tags(name: str | None = None) -> None:
        for tag in sorted(client().get(tags_path(kind, name))):
            print(tag)

    what = f"the {kind}" if not named else f"{obj.lower()} {obj}"
    add_tags.help = f"Add tags to {what}.\n\n\b\nExample:\n  {tool} add-tags{target} rack:r1 env:prod"
    remove_tags.help = f"Remove tags from {what}.\n\n\b\nExample:\n  {tool} remove-tags{target} env:prod"
    list_tags.help = f"List the tags of {what}, one per line.\n\n\b\nExample:\n  {tool} list-tags{target}"
    if not named:
        _add_search(group, tool)


def _add_search(group: click.Group, tool: str) -> None:
    @group.command("search-tags", context_settings=CONTEXT)
    @click.argument("pattern")
    @click.option("--priority", type=click.Choice(list(PRIORITIES)), default="normal", help="Job priority")
    @handle_errors
    def search_tags(pattern: str, priority: str) -> None:
        """Search every tag of the cluster, its groups, nodes and instances for a regular expression.

        Prints "PATH TAG" per match (/cluster, /nodes/NAME, /instances/NAME, /nodegroup/NAME) and
        exits 1 when nothing matches, as Ganeti does.

        \b
        Example:
          gnt-cluster search-tags '^rack:'
        """
        cl = client()
        op = {"OP_ID": "OP_TAGS_SEARCH", "pattern": pattern, "priority": PRIORITIES[priority]}
        found = wait_job(cl, cl.submit([op]))[0]
        if not found:
            raise SystemExit(1)
        for path, tag in sorted(found):
            print(f"{path} {tag}")
