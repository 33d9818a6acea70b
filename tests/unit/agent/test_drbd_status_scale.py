"""verify-disks asks each node for the DRBD state of all of its disks in one call (`drbd_minor_status`:
the minors; `drbd_status`: every disk's view, for nodes not upgraded yet and other callers); the
issue wants one DRBD status read per node whatever the number of disks. Through the node's real
dispatcher (decoding, confinement, handler): the work outside Python (external commands, /proc/drbd
reads, reads of the node's allowed-volume-group file) must not grow with the number of disks.

Regression: bench_drbd_scale.py measured 1 s for 48 disks on a test-bed host while the allowed volume
groups were read twice per disk in the handler, and the dispatcher's confinement still read them once
per disk after that fix."""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

import storage.drbd
from agent.server import node_dispatcher
from gnt import confine
from gnt.confine import write_volume_groups

SECRET = "0123456789abcdef0123456789abcdef01234567"


def drbd_disk(n: int) -> dict[str, Any]:
    view = {
        "minor": n, "port": 11000 + n, "local_ip": "192.168.77.1", "remote_ip": "192.168.77.2", "remote_minor": n,
        "data": ["xenvg", f"d{n}.disk0_data"], "meta": ["xenvg", f"d{n}.disk0_meta"], "secret": SECRET,
        "primary": n % 2 == 0, "resync_rate": 61440,
    }  # fmt: skip
    return {"uuid": f"d{n}", "index": n % 16, "size": 4, "dev_type": "drbd", "logical_id": [], "params": {"drbd": view}}


def proc_drbd(minors: int) -> str:
    return "version: 8.4.11 (api:1/proto:86-101)\n" + "".join(
        f" {n}: cs:Connected ro:Secondary/Primary ds:UpToDate/UpToDate C r-----\n"
        "    ns:0 nr:4096 dw:4096 dr:0 al:0 bm:0 lo:0 pe:0 ua:0 ap:0 ep:1 wo:f oos:0\n"
        for n in range(minors)
    )


@pytest.fixture
def counted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Counter[str]:
    """A node allowing xenvg whose drbd driver's commands, /proc/drbd and list-file reads are counted."""
    root = tmp_path / "node1"
    write_volume_groups(str(root / "var/lib/gnt/lvm-volume-groups"), ["xenvg"])
    monkeypatch.setenv("GNT_ROOTDIR", str(root))
    monkeypatch.setenv("GNT_HOSTNAME", "node1")
    seen: Counter[str] = Counter()

    async def command(argv: list[str], *args: Any, **kw: Any) -> str:
        seen["command"] += 1
        raise AssertionError(f"drbd_status ran {argv[0]}")

    async def read_proc() -> str:
        seen["/proc/drbd"] += 1
        return proc_drbd(300)

    class Counted(storage.drbd.DrbdDevice):
        def __init__(self) -> None:
            super().__init__(command, command, read_proc)

    async def subprocess(*argv: Any, **kw: Any) -> Any:
        seen["subprocess"] += 1
        raise AssertionError(f"drbd_status started {argv[0]}")

    def counting_open(path: Any, *args: Any, **kw: Any) -> Any:
        if str(path) == confine.paths.lvm_volume_groups():
            seen["volume groups file"] += 1
        return open(path, *args, **kw)

    monkeypatch.setattr(confine, "open", counting_open, raising=False)  # the module's open, not the builtin
    monkeypatch.setattr(storage.drbd, "DrbdDevice", Counted)
    monkeypatch.setattr(asyncio, "create_subprocess_exec", subprocess)
    monkeypatch.setattr(asyncio, "create_subprocess_shell", subprocess)
    return seen


def status_call(disks: int) -> list[Any]:
    answer = asyncio.run(node_dispatcher().answer("drbd_status", {"disks": [drbd_disk(n) for n in range(disks)]}))
    assert answer["ok"] is True, answer
    return list(answer["result"])


@pytest.mark.parametrize("disks", [1, 16, 200])
def test_drbd_status_does_the_same_outside_work_for_1_or_200_disks(counted: Counter[str], disks: int) -> None:
    found = status_call(disks)
    assert [s["minor"] for s in found] == list(range(disks))
    assert all(s["cstate"] == "Connected" and s["disk"] == "UpToDate" for s in found)
    assert counted == Counter({"/proc/drbd": 1, "volume groups file": 1})


def test_a_disk_outside_the_allowed_volume_groups_is_still_refused(counted: Counter[str]) -> None:
    disks = [drbd_disk(n) for n in range(5)]
    disks[3]["params"]["drbd"]["meta"] = ["othervg", "m"]
    answer = asyncio.run(node_dispatcher().answer("drbd_status", {"disks": disks}))
    assert answer["ok"] is False and "volume group othervg is not one this node allows" in answer["error"]["message"]
    assert counted["/proc/drbd"] == 0


def test_the_allowed_volume_groups_are_read_again_by_the_next_call(counted: Counter[str]) -> None:
    """Read once per call, not once per daemon: an admin's edit of the file counts from the next call."""
    status_call(3)
    write_volume_groups(confine.paths.lvm_volume_groups(), ["othervg"])
    answer = asyncio.run(node_dispatcher().answer("drbd_status", {"disks": [drbd_disk(0)]}))
    assert answer["ok"] is False and "othervg" in answer["error"]["message"]
    assert counted["volume groups file"] == 2


@pytest.mark.parametrize("disks", [1, 16, 200])
def test_drbd_minor_status_reads_proc_drbd_once_and_nothing_else(counted: Counter[str], disks: int) -> None:
    """What verify-disks calls: the minors only, no view to build on the master nor to check here."""
    minors = list(range(disks)) + [299, 300]  # 300: no such minor on this node
    answer = asyncio.run(node_dispatcher().answer("drbd_minor_status", {"minors": minors}))
    assert answer["ok"] is True, answer
    assert [s and s["minor"] for s in answer["result"]] == [*range(disks), 299, None]
    assert counted == Counter({"/proc/drbd": 1})


@pytest.mark.parametrize("minor", [-1, 1 << 20, True, "0"])
def test_drbd_minor_status_refuses_what_is_not_a_minor(counted: Counter[str], minor: object) -> None:
    answer = asyncio.run(node_dispatcher().answer("drbd_minor_status", {"minors": [0, minor]}))
    assert answer["ok"] is False and answer["error"]["class"] == "RpcArgumentError", answer
    assert counted["/proc/drbd"] == 0


def test_a_task_started_within_a_call_reads_the_lists_afresh_after_it(counted: Counter[str]) -> None:
    """A call's memo ends with the call: a task it started (a migration's monitor) keeps the call's
    context, and must not keep the call's reading of the node's lists."""

    async def scenario() -> list[str]:
        started: list[asyncio.Task[list[str]]] = []
        with confine.one_call():
            confine.volume_groups()
            confine.volume_groups()

            async def later() -> list[str]:
                await asyncio.sleep(0)
                return confine.volume_groups()

            started.append(asyncio.get_running_loop().create_task(later()))
        write_volume_groups(confine.paths.lvm_volume_groups(), ["othervg"])
        return await started[0]

    assert asyncio.run(scenario()) == ["othervg"]
    assert counted["volume groups file"] == 2
