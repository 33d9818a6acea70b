"""The xen hypervisors (xen-pvm, xen-hvm) through the xl toolstack.

`backends.get("xen-pvm")` imports `backends.xen.pvm` and calls its `create()`; the config writer
(config.py) and xl's command lines and parsers (xl.py) are pure and golden-tested.
"""

from __future__ import annotations

from backends.xen.config import XenFacts, build_config
from backends.xen.driver import XenHvmHypervisor, XenHypervisor, XenPvmHypervisor

__all__ = ["XenFacts", "XenHvmHypervisor", "XenHypervisor", "XenPvmHypervisor", "build_config"]
