"""Hypervisor drivers; they run on nodes, behind the node daemon's RPC."""

from __future__ import annotations

import importlib

from backends.base import Hypervisor

_DRIVERS = {
    "fake": "backends.fake",
    "kvm": "backends.kvm",
    "xen-pvm": "backends.xen.pvm",
    "xen-hvm": "backends.xen.hvm",
}
_instances: dict[str, Hypervisor] = {}


def known() -> list[str]:
    return sorted(_DRIVERS)


def get(name: str) -> Hypervisor:
    """The (per-process singleton) driver for hypervisor `name`; imported on first use."""
    from gnt.errors import HypervisorError

    if name not in _instances:
        module = _DRIVERS.get(name)
        if module is None:
            raise HypervisorError(f"Unknown hypervisor '{name}'")
        try:
            _instances[name] = importlib.import_module(module).create()
        except ModuleNotFoundError as err:
            raise HypervisorError(f"Hypervisor '{name}' is not available on this node: {err}") from err
    return _instances[name]
