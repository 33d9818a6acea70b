"""The drbd driver's run step against a small in-memory DRBD 8.4 and LVM, its checks of the node's
view, and the redacting runner.

`FakeDrbd` answers the argv the driver builds the way drbdsetup/drbdmeta do against an 8.4.11
module (the /proc/drbd format and error lines recorded in tests/golden/drbd/recorded, including
the module's refusal to attach "unclean" metadata before `apply-al`), so these tests check that
the driver reads the facts and runs exactly the planned commands, and nothing more.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from gnt.drbd import DrbdView, new_secret
from gnt.errors import RpcArgumentError, StorageError
from gnt.runtime import DiskSpec
from storage.drbd import DrbdDevice
from storage.drbd.run import DrbdCommandError, describe, run
from tests.unit.storage.test_lvm_driver import FakeLvm

SECRET = "5ecre7c0ffee0123456789abcdef0123456789ab"
VERSION_84 = "version: 8.4.11 (api:1/proto:86-101)\nsrcversion: F73C670A7EC572DB9CF3E5B \n"


@dataclass
class FakeDrbd:
    minors: dict[int, dict[str, Any]] = field(default_factory=dict)
    metadata: set[str] = field(default_factory=set)
    unclean: set[str] = field(default_factory=set)
    calls: list[list[str]] = field(default_factory=list)
    version: str = VERSION_84
    loaded: bool = True
    #: the disk state attach finds in the metadata (UpToDate once a pair has synced)
    attach_state: str = "Inconsistent"
    #: a peer that answers: connect reaches Connected with a Secondary peer (else WFConnection)
    peer_up: bool = False
    #: resources by minor: /proc/drbd does not list them, only their minors
    resources: set[int] = field(default_factory=set)
    #: new-minor fails (e.g. the kernel is out of memory for it)
    new_minor_fails: bool = False

    def changes(self) -> list[list[str]]:
        return [c for c in self.calls if c[1:2] != ["show"] and c[-1] != "dump-md"]

    async def read_proc(self) -> str | None:
        if not self.loaded:
            return None
        lines = [self.version]
        for minor, m in sorted(self.minors.items()):
            if m["cs"] == "Unconfigured":
                lines.append(f" {minor}: cs:Unconfigured\n")
            else:
                lines.append(
                    f" {minor}: cs:{m['cs']} ro:{m['role']}/{m['peer_role']} ds:{m['disk']}/DUnknown C r-----\n"
                )
                lines.append("    ns:0 nr:0 dw:0 dr:0 al:8 bm:0 lo:0 pe:0 ua:0 ap:0 ep:1 wo:f oos:0\n")
        return "".join(lines)

    def _fail(self, line: str, rc: int = 10) -> DrbdCommandError:
        return DrbdCommandError(f"failed: {line}", line, rc)

    async def __call__(self, argv: list[str]) -> str:
        self.calls.append(argv)
        if argv[0] == "drbdmeta":
            return self._drbdmeta(argv)
        return getattr(self, "_" + argv[1].replace("-", "_"))(argv)  # type: ignore[no-any-return]

    def _drbdmeta(self, argv: list[str]) -> str:
        meta, action = argv[-3], argv[-1]
        if action == "create-md":
            self.metadata.add(meta)
            self.unclean.discard(meta)
            return "New drbd meta data block successfully created.\n"
        if meta not in self.metadata:
            raise self._fail("No valid meta data found", 1)
        if action == "apply-al":
            self.unclean.discard(meta)
        return ""

    def _minor(self, argv: list[str], index: int = 2) -> dict[str, Any]:
        minor = int(argv[index].removeprefix("resource"))
        if minor not in self.minors:
            raise self._fail("Failure: (127) Device minor not allocated")
        return self.minors[minor]

    def _new_resource(self, argv: list[str]) -> str:
        minor = int(argv[2].removeprefix("resource"))
        if minor in self.resources:
            raise self._fail(f"Failure: (174) Resource resource{minor} already exists")
        self.resources.add(minor)
        return ""

    def _new_minor(self, argv: list[str]) -> str:
        if self.new_minor_fails:
            raise self._fail("Failure: (122) kmalloc() failed. Out of memory?")
        self.minors[int(argv[3])] = {
            "cs": "Unconfigured",
            "role": "Secondary",
            "peer_role": "Unknown",
            "disk": "Diskless",
        }
        return ""

    def _attach(self, argv: list[str]) -> str:
        m = self._minor(argv)
        data, meta = argv[3], argv[4]
        if meta in self.unclean:
            raise self._fail("Failure: (165) Unclean meta-data found.")
        self.unclean.add(meta)  # an attached device's metadata is unclean until apply-al, as with 8.4.11
        m.update(cs="StandAlone" if m["cs"] == "Unconfigured" else m["cs"], disk=self.attach_state,
                 data=data, meta=meta, rate=int(argv[argv.index("--resync-rate") + 1]))  # fmt: skip
        return ""

    def _disk_options(self, argv: list[str]) -> str:
        m = self._minor(argv)
        if "data" not in m:
            raise self._fail("Failure: (138) Device does not have a disk-config")
        m["rate"] = int(argv[argv.index("--resync-rate") + 1])
        return ""

    def _connect(self, argv: list[str]) -> str:
        m = self._minor(argv)
        m.update(
            cs="Connected" if self.peer_up else "WFConnection", peer_role="Secondary" if self.peer_up else "Unknown"
        )
        m.update(local=argv[3].removeprefix("ipv4:"), remote=argv[4].removeprefix("ipv4:"))
        m["two"] = "--allow-two-primaries" in argv
        m["secret"] = argv[argv.index("--shared-secret") + 1]
        return ""

    def _disconnect(self, argv: list[str]) -> str:
        for m in self.minors.values():
            if m.get("remote") == argv[3].removeprefix("ipv4:"):
                m["cs"] = "StandAlone"
        return ""

    def _primary(self, argv: list[str]) -> str:
        m = self._minor(argv)
        if m["disk"] != "UpToDate" and "--force" not in argv:
            raise self._fail("State change failed: (-2) Need access to UpToDate data", 17)
        m.update(role="Primary", disk="UpToDate")
        return ""

    def _secondary(self, argv: list[str]) -> str:
        self._minor(argv)["role"] = "Secondary"
        return ""

    def _down(self, argv: list[str]) -> str:
        minor = int(argv[2].removeprefix("resource"))
        self.minors.pop(minor, None)
        self.resources.discard(minor)
        return ""

    def _resize(self, argv: list[str]) -> str:
        self._minor(argv)
        return ""

    def _show(self, argv: list[str]) -> str:
        m = self._minor(argv)
        out = [f"resource resource{argv[2]} {{\n"]
        if "remote" in m:
            two = "        allow-two-primaries\tyes;\n" if m.get("two") else ""
            out.append(f'    net {{\n{two}        shared-secret   \t"{m["secret"]}";\n    }}\n')
            out.append(f"    _remote_host {{\n        address\t\t\tipv4 {m['remote']};\n    }}\n")
        out.append("    _this_host {\n        volume 0 {\n            device\t\t\tminor 0;\n")
        if "data" in m:
            out.append(f'            disk\t\t\t"{m["data"]}";\n            meta-disk\t\t\t"{m["meta"]}" [ 0 ];\n')
            out.append(f"            disk {{\n                resync-rate     \t{m['rate']}k; # bytes/second\n")
            out.append("                c-plan-ahead    \t0; # 1/10 seconds\n            }\n")
        return "".join(out) + "        }\n    }\n}\n"


@pytest.fixture(autouse=True)
def node(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "node1"
    root.mkdir()
    monkeypatch.setenv("GNT_ROOTDIR", str(root))
    monkeypatch.setenv("GNT_HOSTNAME", "node1")
    return root


def view(**changes: Any) -> dict[str, Any]:
    base = {"minor": 0, "port": 11000, "local_ip": "192.168.77.1", "remote_ip": "192.168.77.2", "remote_minor": 0,
            "data": ["xenvg", "d1.disk0_data"], "meta": ["xenvg", "d1.disk0_meta"], "secret": SECRET,
            "primary": True, "resync_rate": 61440}  # fmt: skip
    return {**base, **changes}


def disk(size: int = 1024, **changes: Any) -> DiskSpec:
    return DiskSpec(uuid="d1", index=0, size=size, dev_type="drbd", logical_id=[], params={"drbd": view(**changes)})


def device(drbd: FakeDrbd | None = None, lvm: FakeLvm | None = None) -> tuple[DrbdDevice, FakeDrbd, FakeLvm]:
    drbd, lvm = drbd or FakeDrbd(), lvm or FakeLvm()
    return DrbdDevice(drbd, lvm, drbd.read_proc), drbd, lvm


def test_create_makes_both_lvs_metadata_and_a_connected_forced_primary() -> None:
    dev, drbd, lvm = device()
    assert asyncio.run(dev.create(disk(), "inst1")) == "/dev/drbd0"
    assert [c[:2] for c in lvm.changes()] == [["lvcreate", "-y"], ["lvcreate", "-y"]]
    assert {(vg, lv): v["size"] for (vg, lv), v in lvm.lvs.items()} == {
        ("xenvg", "d1.disk0_data"): 1024,
        ("xenvg", "d1.disk0_meta"): 128,
    }
    assert [describe(c) for c in drbd.changes()] == [
        "drbdmeta create-md", "drbdsetup new-resource", "drbdsetup new-minor", "drbdmeta apply-al",
        "drbdsetup attach", "drbdsetup connect", "drbdsetup primary",
    ]  # fmt: skip
    assert drbd.changes()[-1] == ["drbdsetup", "primary", "0", "--force"]


def test_create_on_the_secondary_is_not_promoted() -> None:
    dev, drbd, _ = device()
    asyncio.run(dev.create(disk(primary=False), "inst1"))
    assert drbd.minors[0]["role"] == "Secondary" and drbd.minors[0]["cs"] == "WFConnection"


def test_create_reads_the_volume_group_once_for_both_lvs() -> None:
    """Each `vgs`/`lvs` costs a test-bed host about 0.6 s (bench_drbd_steps.py): the room check's
    one read plans both LVs (and says whether the meta LV exists); no read before either lvcreate."""
    dev, _, lvm = device()
    asyncio.run(dev.create(disk(), "inst1"))
    assert [c[0] for c in lvm.calls] == ["vgs", "lvs", "lvcreate", "lvcreate"]


def test_a_retried_create_changes_nothing() -> None:
    dev, drbd, lvm = device()
    asyncio.run(dev.create(disk(), "inst1"))
    drbd.calls.clear()
    lvm.calls.clear()
    asyncio.run(dev.create(disk(), "inst1"))
    assert drbd.changes() == [] and lvm.changes() == []


def test_create_retried_after_the_lvs_but_before_the_metadata_writes_it() -> None:
    lvm = FakeLvm()
    lvm.lvs[("xenvg", "d1.disk0_data")] = {"size": 1024, "active": True, "origin": ""}
    lvm.lvs[("xenvg", "d1.disk0_meta")] = {"size": 128, "active": True, "origin": ""}
    dev, drbd, _ = device(lvm=lvm)
    asyncio.run(dev.create(disk(), "inst1"))
    assert drbd.changes()[0][-1] == "create-md"
    assert lvm.changes() == []


def test_existing_metadata_is_never_reset_and_is_replayed_before_attach() -> None:
    dev, drbd, lvm = device()
    asyncio.run(dev.create(disk(), "inst1"))
    asyncio.run(dev.shutdown(disk()))
    drbd.calls.clear()
    asyncio.run(dev.create(disk(), "inst1"))  # the meta LV exists and holds metadata left unclean
    assert "drbdmeta create-md" not in [describe(c) for c in drbd.changes()]
    assert [describe(c) for c in drbd.changes()][:4] == [
        "drbdsetup new-resource", "drbdsetup new-minor", "drbdmeta apply-al", "drbdsetup attach"]  # fmt: skip


def test_assemble_reattaches_and_promotes_without_force() -> None:
    dev, drbd, _ = device()
    asyncio.run(dev.create(disk(), "inst1"))
    asyncio.run(dev.shutdown(disk()))
    drbd.attach_state = "UpToDate"
    drbd.peer_up = True
    drbd.calls.clear()
    assert asyncio.run(dev.assemble(disk(), "inst1")) == "/dev/drbd0"
    assert [describe(c) for c in drbd.changes()] == [
        "drbdsetup new-resource", "drbdsetup new-minor", "drbdmeta apply-al", "drbdsetup attach",
        "drbdsetup connect", "drbdsetup primary",
    ]  # fmt: skip
    assert drbd.changes()[-1] == ["drbdsetup", "primary", "0"]


def test_assembling_an_attached_side_reads_no_volume_group() -> None:
    """A migration target's side is up already (accept_instance assembles it again): its LVs are
    active if DRBD holds them, and each vgs/lvs costs a test-bed host about 0.6 s."""
    dev, drbd, lvm = device(FakeDrbd(peer_up=True))
    asyncio.run(dev.create(disk(primary=False), "inst1"))
    lvm.calls.clear()
    drbd.calls.clear()
    assert asyncio.run(dev.assemble(disk(primary=False), "inst1")) == "/dev/drbd0"
    assert lvm.calls == [] and drbd.changes() == []


def test_assemble_of_an_inconsistent_side_as_primary_is_refused_by_drbd() -> None:
    dev, drbd, _ = device(FakeDrbd(peer_up=True))
    asyncio.run(dev.create(disk(primary=False), "inst1"))
    with pytest.raises(StorageError, match="Need access to UpToDate data"):
        asyncio.run(dev.assemble(disk(), "inst1"))


def test_promotion_while_the_peer_is_primary_is_refused() -> None:
    dev, drbd, _ = device()
    asyncio.run(dev.create(disk(primary=False), "inst1"))
    drbd.minors[0]["peer_role"] = "Primary"
    drbd.calls.clear()
    with pytest.raises(StorageError, match="its peer 192.168.77.2 is primary; demote it first"):
        asyncio.run(dev.set_role(disk(), True))
    assert drbd.changes() == []


def test_remove_takes_the_minor_down_and_both_lvs_away() -> None:
    dev, drbd, lvm = device()
    asyncio.run(dev.create(disk(), "inst1"))
    asyncio.run(dev.remove(disk()))
    assert drbd.minors == {} and lvm.lvs == {}
    drbd.calls.clear()
    asyncio.run(dev.remove(disk()))  # removing a missing disk succeeds and does nothing
    assert drbd.changes() == []


def test_a_set_up_failing_after_new_resource_leaves_no_resource_and_can_be_retried() -> None:
    dev, drbd, lvm = device(FakeDrbd(new_minor_fails=True))
    with pytest.raises(DrbdCommandError, match="kmalloc"):
        asyncio.run(dev.create(disk(), "inst1"))
    assert drbd.resources == set() and drbd.minors == {}  # /proc/drbd could never have shown it
    drbd.new_minor_fails = False
    asyncio.run(dev.create(disk(), "inst1"))  # the retry's new-resource does not trip over a leftover
    assert drbd.resources == {0} and drbd.minors[0]["role"] == "Primary"
    asyncio.run(dev.remove(disk()))
    assert drbd.resources == set() and drbd.minors == {} and lvm.lvs == {}


def test_a_minor_used_by_another_disk_is_not_taken_over() -> None:
    dev, drbd, lvm = device()
    asyncio.run(dev.create(disk(data=["xenvg", "other_data"], meta=["xenvg", "other_meta"]), "inst0"))
    drbd.calls.clear()
    with pytest.raises(StorageError, match=r"minor 0 is in use by another disk \(/dev/xenvg/other_data\)"):
        asyncio.run(dev.create(disk(), "inst1"))
    with pytest.raises(StorageError, match="in use by another disk"):
        asyncio.run(dev.remove(disk()))
    assert drbd.changes() == [] and 0 in drbd.minors


def test_a_drbd_9_module_is_refused_before_anything_is_made() -> None:
    drbd = FakeDrbd(version="version: 9.2.8 (api:2/proto:86-122)\nGIT-hash: 0 build by builder\n")
    dev, _, lvm = device(drbd)
    with pytest.raises(StorageError) as err:
        asyncio.run(dev.create(disk(), "inst1"))
    assert str(err.value).startswith("DRBD kernel module 9.2.8 is not supported")
    assert "#1892" in str(err.value) and "\n" not in str(err.value)
    assert lvm.changes() == [] and drbd.changes() == []


def test_a_missing_module_says_how_to_load_it() -> None:
    dev, _, lvm = device(FakeDrbd(loaded=False))
    with pytest.raises(StorageError, match=r"not loaded on this node; load it with `modprobe drbd usermode_helper"):
        asyncio.run(dev.create(disk(), "inst1"))
    assert lvm.changes() == []
    asyncio.run(dev.shutdown(disk()))  # nothing to shut down


def test_a_vg_without_room_for_data_and_meta_creates_neither() -> None:
    dev, drbd, lvm = device(lvm=FakeLvm(vgs={"xenvg": [2048, 1100]}))
    with pytest.raises(StorageError, match=r"needed 1152 MiB \(data and 128 MiB of metadata\), free 1100 MiB"):
        asyncio.run(dev.create(disk(), "inst1"))
    assert lvm.changes() == [] and drbd.changes() == []


def test_grow_resizes_the_device_on_the_primary_only() -> None:
    for primary, expected in ((False, []), (True, [["drbdsetup", "resize", "0"]])):
        dev, drbd, lvm = device()
        asyncio.run(dev.create(disk(primary=primary), "inst1"))
        drbd.calls.clear()
        asyncio.run(dev.grow(disk(primary=primary), 512))
        assert lvm.lvs[("xenvg", "d1.disk0_data")]["size"] == 1536
        assert drbd.changes() == expected


def test_info_reports_the_device_and_whether_it_is_in_sync() -> None:
    dev, drbd, _ = device()
    assert asyncio.run(dev.info(disk())).exists is False
    asyncio.run(dev.create(disk(), "inst1"))
    info = asyncio.run(dev.info(disk()))
    assert (info.exists, info.path, info.size, info.in_sync) == (True, "/dev/drbd0", 1024, False)
    drbd.minors[0].update(cs="Connected")
    assert asyncio.run(dev.status(disk())).cstate == "Connected"  # type: ignore[union-attr]


def test_info_reports_a_resyncs_progress_and_none_for_a_side_without_its_peer() -> None:
    """The master's sync wait tells a resync (progress) from a mirror that is not connected (none)."""
    dev, drbd, lvm = device()
    asyncio.run(dev.create(disk(), "inst1"))
    assert asyncio.run(dev.info(disk())).sync_percent is None  # WFConnection: degraded, not resyncing
    drbd.minors[0].update(cs="SyncSource", peer_role="Secondary")
    plain = drbd.read_proc

    async def resyncing() -> str | None:
        text = await plain()
        return (text or "") + "\t[=====>..............] sync'ed: 31.4% (44000/65536)K\n"

    dev = DrbdDevice(drbd, lvm, resyncing)
    info = asyncio.run(dev.info(disk()))
    assert (info.in_sync, info.sync_percent) == (False, 31.4)


def test_disconnect_only_a_linked_minor() -> None:
    dev, drbd, _ = device()
    asyncio.run(dev.create(disk(), "inst1"))
    drbd.calls.clear()
    asyncio.run(dev.disconnect(disk()))
    asyncio.run(dev.disconnect(disk()))
    assert drbd.changes() == [["drbdsetup", "disconnect", "ipv4:192.168.77.1:11000", "ipv4:192.168.77.2:11000"]]


def test_the_secret_is_never_logged(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    dev, drbd, _ = device()
    asyncio.run(dev.create(disk(), "inst1"))
    assert any("drbdsetup connect" in r.getMessage() for r in caplog.records)
    assert all(SECRET not in r.getMessage() for r in caplog.records)
    assert SECRET not in repr(DrbdView.parse({"drbd": view()}, "x"))


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"secret": "has space"}, "the shared secret must be 1 to 64 letters or digits"),
        ({"secret": "a" * 65}, "the shared secret must be 1 to 64 letters or digits"),
        ({"minor": -1}, "minor must be an integer from 0 to 1048575"),
        ({"minor": True}, "minor must be an integer"),
        ({"port": 70000}, "port must be an integer from 1 to 65535"),
        ({"remote_ip": "node2; rm -rf /"}, "remote_ip must be an IPv4 address"),
        ({"remote_ip": "192.168.77.1"}, "local and remote address are the same"),
        ({"remote_ip": "192.168.077.2"}, "remote_ip must be an IPv4 address"),
        ({"remote_ip": "192.168.77.256"}, "remote_ip must be an IPv4 address"),
        ({"remote_ip": "192.168.77.2\n"}, "remote_ip must be an IPv4 address"),
        ({"remote_ip": "192.168.٧٧.2"}, "remote_ip must be an IPv4 address"),
        ({"data": ["xenvg"]}, "data must be [volume group, logical volume]"),
        ({"meta": ["othervg", "m"]}, "volume group othervg is not one this node allows"),
        ({"data": ["xenvg", "../etc"]}, "invalid logical volume name"),
        ({"primary": "yes"}, "primary must be true or false"),
    ],
)
def test_a_bad_view_is_refused_before_any_command(changes: dict[str, Any], message: str) -> None:
    dev, drbd, lvm = device()
    with pytest.raises(RpcArgumentError) as err:
        asyncio.run(dev.create(disk(**changes), "inst1"))
    assert message in str(err.value)
    assert "has space" not in str(err.value)
    assert drbd.calls == [] and lvm.calls == []


@pytest.mark.parametrize(
    ("given", "kept"), [("10.0.0.255", "10.0.0.255"), (167772415, "10.0.0.255"), ("0.0.0.0", "0.0.0.0")]
)
def test_a_view_keeps_the_address_as_ipaddress_writes_it(given: object, kept: str) -> None:
    """The node checks two addresses per disk of a call: a dotted quad in ipaddress's own form is
    taken as it is, anything else still goes through ipaddress (an integer is an address too)."""
    assert DrbdView.parse({"drbd": view(local_ip=given)}, "x").local_ip == kept


def test_a_disk_without_a_view_is_refused() -> None:
    with pytest.raises(RpcArgumentError, match=r"needs its node's view in params\['drbd'\]"):
        DrbdDevice().node_paths(DiskSpec(uuid="d", index=0, size=1, dev_type="drbd"))


def test_node_paths_are_both_lvs() -> None:
    assert DrbdDevice().node_paths(disk()) == ["/dev/xenvg/d1.disk0_data", "/dev/xenvg/d1.disk0_meta"]


def test_the_runner_never_quotes_the_argv() -> None:
    script = "echo '0: Failure: (162) Invalid configuration request' >&2; exit 10"
    with pytest.raises(DrbdCommandError) as err:
        asyncio.run(run(["sh", "-c", script, "--shared-secret", SECRET]))
    assert str(err.value) == "sh -c failed (exit 10): Failure: (162) Invalid configuration request"
    assert err.value.line == "Failure: (162) Invalid configuration request"


def test_the_runner_names_a_missing_tool() -> None:
    with pytest.raises(StorageError, match="drbdsetup-does-not-exist not found on this node: install drbd-utils"):
        asyncio.run(run(["drbdsetup-does-not-exist", "connect", SECRET]))


def test_new_secrets_are_hex_and_distinct() -> None:
    first, second = new_secret(), new_secret()
    assert first != second and len(first) == 40 and int(first, 16) >= 0


def test_the_version_is_reported_at_start_and_a_drbd_9_module_is_named() -> None:
    from storage.drbd import report_version

    def reporting(drbd: FakeDrbd) -> str:
        return asyncio.run(report_version(device(drbd)[0]))

    assert reporting(FakeDrbd()) == "DRBD kernel module 8.4.11 (api 1, protocols 86-101)"
    assert reporting(FakeDrbd(version="version: 9.2.8 (api:2/proto:86-122)\n")).startswith(
        "DRBD kernel module 9.2.8 is not supported"
    )
    assert reporting(FakeDrbd(loaded=False)).startswith("The DRBD kernel module is not loaded on this node")


def test_a_side_that_cannot_reach_its_peer_is_not_promoted_unless_forced(monkeypatch: pytest.MonkeyPatch) -> None:
    """Its peer's role is unknown: promoting it could make two primaries (a split brain)."""
    from storage.drbd import _driver

    monkeypatch.setattr(_driver, "CONNECT_WAIT", 0.5)
    dev, drbd, _ = device()
    asyncio.run(dev.create(disk(primary=False), "inst1"))
    drbd.minors[0]["disk"] = "UpToDate"
    drbd.calls.clear()
    with pytest.raises(StorageError, match=r"not connected to its peer 192.168.77.2 \(WFConnection\)"):
        asyncio.run(dev.assemble(disk(), "inst1"))
    assert drbd.changes() == [] and drbd.minors[0]["role"] == "Secondary"
    asyncio.run(dev.set_role(disk(), True, force=True))  # failover --ignore-consistency: the peer is dead
    assert drbd.changes() == [["drbdsetup", "primary", "0", "--force"]]


def test_a_primary_whose_peer_the_master_says_is_down_is_promoted_at_once_without_drbds_force(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """gnt-instance startup --force past a dead secondary: no wait for a peer that will not come,
    and `drbdsetup primary` without --force, so DRBD still refuses data it does not hold as good."""
    from storage.drbd import _driver

    monkeypatch.setattr(_driver, "CONNECT_WAIT", 0.5)
    dev, drbd, _ = device()
    asyncio.run(dev.create(disk(primary=False), "inst1"))
    asyncio.run(dev.shutdown(disk()))
    drbd.attach_state = "UpToDate"
    drbd.calls.clear()
    assert asyncio.run(dev.assemble(disk(peer_down=True), "inst1")) == "/dev/drbd0"
    assert drbd.changes()[-1] == ["drbdsetup", "primary", "0"]
    assert drbd.minors[0]["role"] == "Primary"
    drbd.minors[0].update(role="Secondary", peer_role="Primary")  # the peer is primary after all
    with pytest.raises(StorageError, match="its peer 192.168.77.2 is primary"):
        asyncio.run(dev.set_role(disk(peer_down=True), True))


def test_two_primaries_only_inside_the_dual_primary_window() -> None:
    dev, drbd, _ = device(FakeDrbd(peer_up=True))
    asyncio.run(dev.create(disk(primary=False), "inst1"))
    drbd.minors[0].update(disk="UpToDate", peer_role="Primary")
    with pytest.raises(StorageError, match="its peer 192.168.77.2 is primary"):
        asyncio.run(dev.set_role(disk(), True))
    drbd.calls.clear()
    asyncio.run(dev.set_dual_primary(disk(), True))
    asyncio.run(dev.set_dual_primary(disk(), True))  # already open: nothing more
    assert [describe(c) for c in drbd.changes()] == ["drbdsetup disconnect", "drbdsetup connect"]
    assert "--allow-two-primaries" in drbd.changes()[-1]
    drbd.minors[0]["peer_role"] = "Primary"
    asyncio.run(dev.set_role(disk(), True))
    assert drbd.minors[0]["role"] == "Primary"
    with pytest.raises(StorageError, match="both primary; demote one before leaving dual-primary"):
        asyncio.run(dev.set_dual_primary(disk(), False))
    asyncio.run(dev.set_role(disk(), False))
    drbd.calls.clear()
    asyncio.run(dev.set_dual_primary(disk(), False))
    assert "--allow-two-primaries" not in drbd.changes()[-1] and drbd.changes()[-1][1] == "connect"


def many_disks(count: int, **last: Any) -> list[DiskSpec]:
    """`count` drbd disks on minors 0..count-1, the last one with `last` changed in its view."""
    disks = []
    for n in range(count):
        own = {"minor": n, "data": ["xenvg", f"d{n}.disk0_data"], "meta": ["xenvg", f"d{n}.disk0_meta"]}
        params = {"drbd": view(**{**own, **(last if n == count - 1 else {})})}
        disks.append(DiskSpec(uuid=f"d{n}", index=n % 16, size=4, dev_type="drbd", logical_id=[], params=params))
    return disks


def test_statuses_read_the_allowed_volume_groups_once_for_all_disks(monkeypatch: pytest.MonkeyPatch) -> None:
    """verify-disks asks each node for all of its drbd disks at once (bench_drbd_scale.py: 1 s for 48
    disks on a test-bed host when the allowed-VG file was read twice per disk): one read per call."""
    from gnt import confine

    reads = []
    real = confine._read_volume_groups
    monkeypatch.setattr(confine, "_read_volume_groups", lambda: reads.append(1) or real())
    dev, drbd, _ = device()
    for n in range(20):
        drbd.minors[n] = {"cs": "Connected", "role": "Secondary", "peer_role": "Primary", "disk": "UpToDate"}
    found = asyncio.run(dev.statuses(many_disks(20)))
    assert [s.minor for s in found if s is not None] == list(range(20))
    assert len(reads) == 1


def test_statuses_still_refuse_a_disk_outside_the_allowed_volume_groups() -> None:
    dev, drbd, _ = device()
    with pytest.raises(RpcArgumentError, match="volume group othervg is not one this node allows"):
        asyncio.run(dev.statuses(many_disks(5, meta=["othervg", "m"])))
    assert drbd.calls == []


def test_a_wipe_writes_the_primarys_drbd_device_and_never_the_secondarys() -> None:
    dev, drbd, _ = device(FakeDrbd(peer_up=True))
    asyncio.run(dev.create(disk(), "inst1"))
    assert asyncio.run(dev.wipe_target(disk(), "inst1")) == "/dev/drbd0"
    other, _, _ = device(FakeDrbd(peer_up=True))
    with pytest.raises(StorageError, match="is wiped on its primary node, not here"):
        asyncio.run(other.wipe_target(disk(primary=False), "inst1"))
