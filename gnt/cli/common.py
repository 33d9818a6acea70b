"""Options, parameter parsing and error handling shared by the gnt-* commands."""

from __future__ import annotations

import functools
import math
import re
import sys
from collections.abc import Callable
from typing import Any, TypeVar

import click

from gnt.cli.client import Client
from gnt.cli.output import print_fields, print_query
from gnt.errors import GntError, OpPrereqError, ParameterError

F = TypeVar("F", bound=Callable[..., Any])
CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}
#: what `convert_value` turns into numbers: plain ASCII notation only ("1_000", "٣" and "nan" stay strings)
_INT_RE = re.compile(r"^[+-]?[0-9]{1,30}$")
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_FLOAT_RE = re.compile(r"^[+-]?([0-9]+\.[0-9]*|\.[0-9]+|[0-9]+)([eE][+-]?[0-9]{1,3})?$")


def printable(text: str) -> str:
    """Control characters from user input shown escaped: an error stays one line, and no input
    can move the cursor or recolour the admin's terminal."""
    return _CONTROL_RE.sub(lambda m: repr(m.group())[1:-1], text)


def handle_errors(fn: F) -> F:
    """Print typed errors as Ganeti does and exit 1; click keeps exit 2 for usage errors."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except GntError as err:
            for line in err.cli_lines():
                print(printable(line), file=sys.stderr)
            sys.exit(err.exit_code)
        except KeyboardInterrupt:
            print("Aborted.", file=sys.stderr)
            sys.exit(1)

    return wrapper  # type: ignore[return-value]


def client() -> Client:
    return Client()


def parse_keyval(text: str, option: str) -> dict[str, Any]:
    """'a=1,b=2' -> {'a': '1', 'b': '2'}; 'no_x' -> {'x': False}; 'x' -> {'x': True} (Ganeti's rules).

    A key given twice ('memory=128M,memory=256M') is an error: which one was meant is a guess.
    """
    result: dict[str, Any] = {}
    if not text:
        return result
    for item in text.split(","):
        if not item:
            continue
        if "=" in item:
            key, value = item.split("=", 1)
        elif item.startswith("no_"):
            key, value = item[3:], False
        elif item.startswith("-"):
            key, value = item[1:], None
        else:
            key, value = item, True
        if not key:
            raise ParameterError(f"Invalid {option} entry '{item}': missing key")
        if key in result:
            raise ParameterError(f"Parameter '{key}' given twice in {option} {text}")
        result[key] = value
    return result


def parse_ident_keyval(text: str, option: str) -> tuple[str, dict[str, Any]]:
    """'kvm:a=1,b=2' -> ('kvm', {...}); used by -H and --disk/--net."""
    ident, _, rest = text.partition(":")
    if not ident:
        raise ParameterError(f"Invalid {option} value '{text}': missing identifier")
    return ident, parse_keyval(rest, option)


def parse_diskparams(values: tuple[str, ...] | list[str]) -> dict[str, dict[str, Any]]:
    """Repeated `-D template:key=value,...` (gnt-cluster and gnt-group) -> {template: {key: value}}."""
    result: dict[str, dict[str, Any]] = {}
    for value in values:
        template, params = parse_ident_keyval(value, "-D")
        result.setdefault(template, {}).update({k: convert_value(v) for k, v in params.items()})
    return result


def parse_hv_state(values: tuple[str, ...] | list[str]) -> dict[str, dict[str, Any]]:
    """Repeated `--hypervisor-state hypervisor:key=value,...` -> {hypervisor: {key: value}}."""
    result: dict[str, dict[str, Any]] = {}
    for value in values:
        hypervisor, params = parse_ident_keyval(value, "--hypervisor-state")
        result.setdefault(hypervisor, {}).update({k: convert_value(v) for k, v in params.items()})
    return result


def parse_disk_state(values: tuple[str, ...] | list[str]) -> dict[str, dict[str, dict[str, Any]]]:
    """Repeated `--disk-state storage_type/name:key=value,...` -> {type: {name: {key: value}}}."""
    result: dict[str, dict[str, dict[str, Any]]] = {}
    for value in values:
        ident, params = parse_ident_keyval(value, "--disk-state")
        kind, sep, name = ident.partition("/")
        if not kind or not sep or not name or "/" in name:
            raise ParameterError(
                f"Invalid --disk-state value '{value}': expected storage_type/name:key=value,... (plain/xenvg:...)"
            )
        units = result.setdefault(kind, {})
        units.setdefault(name, {}).update({k: convert_value(v) for k, v in params.items()})
    return result


def parse_index(ident: str, what: str, option: str, value: str) -> int:
    """A disk or NIC index: plain ASCII digits (int() would also take '٣' or '1_0')."""
    if not ident.isascii() or not ident.isdigit() or len(ident) > 3:
        raise ParameterError(f"Invalid {what} index '{ident}' in {option} {value}")
    return int(ident)


def parse_node_pair(text: str | None) -> tuple[str | None, str | None]:
    """-n pnode[:snode]; the two must differ."""
    if not text:
        return None, None
    pnode, sep, snode = text.partition(":")
    if not pnode or (sep and not snode):
        raise ParameterError(f"Invalid node specification '{text}': expected pnode[:snode]")
    if snode == pnode:
        raise ParameterError(f"The primary and secondary node must differ (both are {pnode})")
    return pnode, snode or None


def validate_ops(ops: list[dict[str, Any]]) -> None:
    """Check opcodes as the master will, so a bad value is one Parameter Error and no job."""
    from gnt import opcodes  # light: constants, errors, units

    for op in ops:
        if op.get("OP_ID") not in opcodes.OPCODES:
            continue  # declared by a module this CLI does not load: the master checks it
        try:
            opcodes.from_dict(op)
        except OpPrereqError as err:
            raise ParameterError(err.message) from None


def convert_value(value: Any) -> Any:
    """Turn CLI strings into JSON scalars where unambiguous (numbers, booleans)."""
    if not isinstance(value, str):
        return value
    lowered = value.lower()
    if lowered in ("true", "yes"):
        return True
    if lowered in ("false", "no"):
        return False
    if _INT_RE.match(value):
        return int(value)
    if _FLOAT_RE.match(value):
        number = float(value)
        return number if math.isfinite(number) else value
    return value


#: where -v/--verbose of a list command leaves its answer for print_query
VERBOSE_LIST = "gnt.verbose_list"


def _remember_verbose(ctx: click.Context, param: click.Parameter, value: bool) -> bool:
    if value:
        ctx.meta[VERBOSE_LIST] = True
    return value


def list_options(fn: F) -> F:
    """-o, --no-headers, --separator, --units, -v (as Ganeti's list commands; -v is read by
    print_query, so the commands need no parameter for it)."""
    fn = click.option(
        "-v",
        "--verbose",
        "verbose_list",
        is_flag=True,
        expose_value=False,
        callback=_remember_verbose,
        help="Show why a value is missing in words: (unavail), (offline), (nodata), (unknown)",
    )(fn)
    fn = click.option(
        "--units", type=click.Choice(["h", "m", "g", "t"]), default=None, help="Units for sizes (h=human, m, g, t)"
    )(fn)
    fn = click.option("--separator", default=None, help="Separator between fields (no alignment)")(fn)
    fn = click.option("--no-headers", is_flag=True, help="Do not print the header line")(fn)
    fn = click.option(
        "-o", "--output", "output", default=None, help="Comma-separated fields to show; '+f1,f2' adds to the defaults"
    )(fn)
    return fn


def resolve_fields(output: str | None, defaults: list[str]) -> list[str]:
    if not output:
        return list(defaults)
    if output.startswith("+"):
        return defaults + [f for f in output[1:].split(",") if f]
    return [f for f in output.split(",") if f]


def run_list(
    resource: str,
    defaults: list[str],
    output: str | None,
    no_headers: bool,
    separator: str | None,
    units: str | None,
    names: tuple[str, ...] = (),
    use_filter: bool = False,
) -> None:
    """`use_filter` (-F): the arguments are a filter in Ganeti's query language, not names."""
    fields = resolve_fields(output, defaults)
    if use_filter:
        from gnt import qlang

        try:
            qfilter = qlang.parse_text(" ".join(names))
        except OpPrereqError as err:
            raise ParameterError(err.message) from None
        result = client().request("PUT", f"/2/query/{resource}", {"fields": fields, "qfilter": qfilter})
    else:
        result = client().get(f"/2/query/{resource}", fields=",".join(fields), names=",".join(names) or None)
    print_query(result, no_headers, separator, units)


def filter_option(fn: F) -> F:
    """-F/--filter of Ganeti's list commands: the arguments form one query filter expression."""
    return click.option(
        "-F",
        "--filter",
        "use_filter",
        is_flag=True,
        help="Treat the arguments as a query filter, e.g. -F 'pnode == \"node1\" and not admin_state'",
    )(fn)


def run_list_fields(resource: str, names: tuple[str, ...], separator: str | None, no_headers: bool) -> None:
    result = client().get(f"/2/query/{resource}/fields", fields=",".join(names) or None)
    print_fields(result["fields"], separator, no_headers)


def os_parameter_options(secret_use: str) -> Callable[[F], F]:
    """-O, --os-parameters-private and --os-parameters-secret, as add, reinstall and import take them.

    `secret_use` ends the secret option's help: what the values are for in that command (they are
    never stored in any of them).
    """

    def decorate(fn: F) -> F:
        fn = click.option(
            "--os-parameters-secret",
            "osparams_secret",
            default=None,
            help=f"key=value,... secret OS parameters: {secret_use}, never stored",
        )(fn)
        fn = click.option(
            "--os-parameters-private",
            "osparams_private",
            default=None,
            help="key=value,... private OS parameters: stored, shown as <redacted>",
        )(fn)
        return click.option("-O", "--os-parameters", "osparams", default=None, help="key=value,... OS parameters")(fn)

    return decorate


#: `--priority` of a command that submits a job (Ganeti's three levels)
priority_option = click.option(
    "--priority", type=click.Choice(["low", "normal", "high"]), default="normal", help="Job priority"
)


#: where --print-jobid leaves its answer for run_ops (the context's meta, shared down the command chain)
PRINT_JOBID = "gnt.print_jobid"


def _remember_print_jobid(ctx: click.Context, param: click.Parameter, value: bool) -> bool:
    if value:
        ctx.meta[PRINT_JOBID] = True
    return value


#: --print-jobid alone, for commands whose other job options are declared one by one (read by run_ops)
print_jobid_option = click.option(
    "--print-jobid",
    is_flag=True,
    expose_value=False,
    callback=_remember_print_jobid,
    help="Print the job ID as the first line of output (for scripts)",
)


def common_job_options(fn: F) -> F:
    """--submit, --dry-run, --priority and --print-jobid, as every Ganeti command that submits a job
    takes them (--print-jobid is read by run_ops, so the commands need no parameter for it)."""
    fn = priority_option(fn)
    fn = click.option("--dry-run", is_flag=True, help="Only check the prerequisites")(fn)
    fn = click.option("--submit", is_flag=True, help="Submit the job and print its ID, do not wait")(fn)
    return print_jobid_option(fn)  # type: ignore[no-any-return]


class AliasedGroup(click.Group):
    """A gnt-* command group that also answers to Ganeti's second names for some commands
    (`gnt-node show` is `gnt-node info`); the aliases stay out of --help and the generated docs."""

    def __init__(self, *args: Any, aliases: dict[str, str] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.aliases = dict(aliases or {})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        return super().get_command(ctx, self.aliases.get(cmd_name, cmd_name))


def print_jobid_requested() -> bool:
    """Whether the running command was given --print-jobid."""
    ctx = click.get_current_context(silent=True)
    return bool(ctx is not None and ctx.meta.get(PRINT_JOBID))


PRIORITIES = {"low": 10, "normal": 0, "high": -10}


def job_fields(dry_run: bool, priority: str) -> dict[str, Any]:
    return {"dry_run": dry_run, "priority": PRIORITIES[priority]}


def confirm(message: str, force: bool) -> None:
    if force:
        return
    if not sys.stdin.isatty():
        raise ParameterError(f"{message}; use -f/--force to do it without asking")
    if not click.confirm(message, default=False):
        print("Aborted.", file=sys.stderr)
        sys.exit(1)


def add_list_fields_command(group: click.Group, resource: str, tool: str) -> None:
    """Every list command has a `list-fields` twin; declare it once for all gnt-* tools."""

    @group.command("list-fields", context_settings=CONTEXT)
    @click.argument("fields", nargs=-1)
    @click.option("--separator", default=None, help="Separator between fields (no alignment)")
    @click.option("--no-headers", is_flag=True, help="Do not print the header line")
    @handle_errors
    def list_fields(fields: tuple[str, ...], separator: str | None, no_headers: bool) -> None:
        run_list_fields(resource, fields, separator, no_headers)

    list_fields.help = f"List the fields `{tool} list -o` accepts.\n\n\b\nExample:\n  {tool} list-fields"
