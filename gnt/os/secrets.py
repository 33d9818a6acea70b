"""Private and secret OS parameters (Ganeti 2.16+): what may be stored, shown and persisted.

Ganeti's three categories of OS parameters, as opcode fields:

- **public** (`osparams`): stored in the config, shown everywhere.
- **private** (`osparams_private`, and per OS on the cluster `osparams_private_cluster`): stored in
  the config (a reinstall needs them) and in the job store (a queued job can run after a master
  restart), but every view of a job or an object shows each value as `<redacted>`: `gnt-job info`,
  `/2/jobs/N`, job lists, instance and OS queries.
- **secret** (`osparams_secret`): never stored. At submission the queue keeps the values in the
  master's memory only (`split_secrets`); the job store, its replicas on the master candidates and
  every view hold `<redacted>`. The processor puts the values back just before the opcode runs
  (`restore_secrets`). A job whose values were lost (the master restarted before it ran) fails
  with `LOST_SECRETS_MESSAGE` instead of running the OS scripts with the word `<redacted>`.

OS scripts get all three the same way, as OSP_<NAME> (ganeti-os-interface(7), API 20).
"""

from __future__ import annotations

import copy
from typing import Any

from gnt.opchecks import osparams
from gnt.os.checks import OS_NAME_RE

__all__ = [
    "PRIVATE_FIELDS",
    "REDACTED",
    "SECRET_FIELDS",
    "check_categories",
    "check_hidden_params",
    "check_hidden_per_os",
    "has_lost_secrets",
    "lost_secrets_message",
    "public_op",
    "redact",
    "restore_secrets",
    "split_secrets",
]

#: what a private or secret value is shown as (Ganeti's Private wrapper prints the same)
REDACTED = "<redacted>"
#: opcode fields whose values are kept but never shown
PRIVATE_FIELDS = ("osparams_private", "osparams_private_cluster")
#: opcode fields whose values are never written anywhere
SECRET_FIELDS = ("osparams_secret",)


def redact(value: Any) -> Any:
    """The same mapping with every leaf value replaced by `<redacted>` (keys stay: they are not secret)."""
    if isinstance(value, dict):
        return {key: redact(item) for key, item in value.items()}
    return None if value is None else REDACTED


def _redact_fields(value: Any, fields: tuple[str, ...]) -> tuple[Any, bool]:
    """`value` with the named fields redacted wherever they occur (an opcode, or the create bodies
    nested in OP_INSTANCE_MULTI_ALLOC's `instances`); and whether any was found."""
    if isinstance(value, dict):
        found = False
        result = {}
        for key, item in value.items():
            if key in fields and item:
                result[key], found = redact(item), True
            else:
                result[key], inner = _redact_fields(item, fields)
                found = found or inner
        return (result, True) if found else (value, False)
    if isinstance(value, list):
        items = [_redact_fields(item, fields) for item in value]
        if any(found for _, found in items):
            return [item for item, _ in items], True
    return value, False


def public_op(op: dict[str, Any]) -> dict[str, Any]:
    """An opcode body as it may be shown (job info, RAPI, job lists): private and secret values redacted."""
    shown, _ = _redact_fields(op, (*PRIVATE_FIELDS, *SECRET_FIELDS))
    return shown  # type: ignore[no-any-return]


def split_secrets(op: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(the opcode as it may be persisted, what to keep in memory only: {} without secrets, else
    the whole opcode as given, which `restore_secrets` hands back to run)."""
    stored, found = _redact_fields(op, SECRET_FIELDS)
    if not found:
        return op, {}
    return stored, {"op": copy.deepcopy(op)}


def restore_secrets(op: dict[str, Any], secrets: dict[str, Any] | None) -> dict[str, Any]:
    """The opcode to run: the one given at submission if its secrets are still in memory."""
    if not secrets:
        return op
    return secrets["op"]  # type: ignore[no-any-return]


def _has_redacted_secret(value: Any) -> bool:
    if isinstance(value, dict):
        for key, item in value.items():
            if key in SECRET_FIELDS and isinstance(item, dict) and REDACTED in item.values():
                return True
            if _has_redacted_secret(item):
                return True
    elif isinstance(value, list):
        return any(_has_redacted_secret(item) for item in value)
    return False


def has_lost_secrets(op: dict[str, Any]) -> bool:
    """True if the opcode carries secret parameters whose values are gone (only `<redacted>` left)."""
    return _has_redacted_secret(op)


def lost_secrets_message(job_id: int) -> str:
    return (
        f"Job {job_id} was submitted with secret OS parameters, which are kept only in the memory of"
        " the master daemon that accepted it and were lost when it stopped; submit the job again"
    )


def check_categories(public: dict[str, Any] | None, private: dict[str, Any] | None,
                     secret: dict[str, Any] | None) -> None:  # fmt: skip
    """A parameter belongs to one category: the same name as public and private (or secret) is
    refused rather than one silently winning (ValueError, turned into wrong_input)."""
    seen: dict[str, str] = {}
    for category, params in (("public", public), ("private", private), ("secret", secret)):
        for key in params or {}:
            if key in seen:
                raise ValueError(f"OS parameter '{key}' is given as both {seen[key]} and {category}; give it once")
            seen[key] = category


def check_hidden_params(value: Any) -> None:
    """ck.osparams for private and secret parameters: the same rules, but a refusal never echoes
    the value (an error body or a log would show it)."""
    for name, item in (value or {}).items():
        try:
            osparams({name: item})
        except ValueError:
            shown = name if isinstance(name, str) else "?"
            raise ValueError(
                f"OS parameter {shown!r}: invalid name or value (a name is a letter, then letters, digits, '_', '-';"
                " a value is a string without NUL, or a number; the value is not shown)"
            ) from None


def check_hidden_per_os(value: Any) -> None:
    """{os: {param: value}} (osparams_private_cluster), checked as `check_hidden_params`."""
    if value is None:
        return
    if not isinstance(value, dict):
        raise ValueError("osparams_private_cluster must be a mapping of OS names to parameters")
    for os_name, params in value.items():
        if not isinstance(os_name, str) or not OS_NAME_RE.match(os_name):
            raise ValueError(f"{os_name!r} is not a valid OS name (NAME or NAME+VARIANT)")
        if not isinstance(params, dict):
            raise ValueError(f"osparams_private_cluster[{os_name}] must be a mapping")
        check_hidden_params({k: v for k, v in params.items() if v is not None})
