"""The opcodes of `gnt-instance rename` and `reinstall`, with Ganeti's ids and fields.

Declared beside their logical units (`gnt.instance.rename`, `gnt.instance.reinstall`) and
registered into `gnt.opcodes.OPCODES`, which imports this module, so RAPI bodies, `POST /2/jobs`
and the CLI validate them like every other opcode.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from gnt import opchecks as ck
from gnt.opcodes import OpCode, _f, register
from gnt.os import secrets as os_secrets

__all__ = ["OpInstanceReinstall", "OpInstanceRename"]


@register
@dataclass(kw_only=True)
class OpInstanceRename(OpCode):
    OP_ID: ClassVar[str] = "OP_INSTANCE_RENAME"
    SUMMARY_FIELD: ClassVar[str | None] = "instance_name"
    instance_name: str = _f(doc="Instance to rename", check=ck.hostname)
    new_name: str = _f(doc="The instance's new name", check=ck.hostname)
    name_check: bool = _f(True, "Resolve the new name (and use what it resolves to)")
    ip_check: bool = _f(False, "Check the new name's IP address is not in use (needs name_check)")

    def check_fields(self) -> None:
        if self.ip_check and not self.name_check:
            raise ValueError("IP address check requires a name check")


@register
@dataclass(kw_only=True)
class OpInstanceReinstall(OpCode):
    OP_ID: ClassVar[str] = "OP_INSTANCE_REINSTALL"
    SUMMARY_FIELD: ClassVar[str | None] = "instance_name"
    instance_name: str = _f(doc="Instance to reinstall", check=ck.hostname)
    os_type: str | None = _f(None, "Install this OS instead of the instance's current one")
    force_variant: bool = _f(False, "Allow an OS variant the OS does not list")
    osparams: dict[str, Any] | None = _f(None, "OS parameters to change before installing", ck.osparams)
    osparams_private: dict[str, Any] | None = _f(
        None, "Private OS parameters to change before installing (shown as <redacted>)", os_secrets.check_hidden_params
    )
    osparams_secret: dict[str, Any] | None = _f(
        None, "Secret OS parameters for this install only (never stored)", os_secrets.check_hidden_params
    )

    def check_fields(self) -> None:
        os_secrets.check_categories(self.osparams, self.osparams_private, self.osparams_secret)
