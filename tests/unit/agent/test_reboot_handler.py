"""A hard reboot hands the hypervisor disks with their node paths: Xen's hard reboot destroys the
domain and creates it again from those paths (the first run on Xen hosts failed with a bare LV name)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from agent import handlers
from gnt.rpc import procedures as proc
from gnt.runtime import DiskSpec, InstanceSpec


class RecordingHypervisor:
    def __init__(self) -> None:
        self.rebooted: list[tuple[list[str | None], bool]] = []

    async def reboot(self, spec: InstanceSpec, hard: bool = False) -> None:
        self.rebooted.append(([d.path for d in spec.disks], hard))


class PlainStorage:
    async def assemble(self, disk: DiskSpec, instance: str) -> str:
        return f"/dev/xenvg/{disk.logical_id[-1]}"


@pytest.mark.parametrize(("reboot_type", "paths"), [("hard", ["/dev/xenvg/u1.disk0"]), ("soft", [None])])
def test_hard_reboot_assembles_the_disks_first(
    monkeypatch: pytest.MonkeyPatch, reboot_type: str, paths: list[str | None]
) -> None:
    hv = RecordingHypervisor()
    monkeypatch.setattr(handlers.backends, "get", lambda name: hv)
    monkeypatch.setattr(handlers.storage, "get", lambda dev_type: PlainStorage())
    disk = DiskSpec(uuid="u1", index=0, size=64, dev_type="plain", logical_id=["xenvg", "u1.disk0"])
    spec = InstanceSpec(name="plain1", uuid="i1", hypervisor="xen-pvm", memory=64, vcpus=1, disks=[disk])
    args: Any = proc.InstanceRebootArgs(spec, reboot_type=reboot_type)
    asyncio.run(handlers.instance_reboot(args))
    assert hv.rebooted == [(paths, reboot_type == "hard")]
