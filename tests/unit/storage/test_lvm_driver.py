"""The plain driver's run step against a small in-memory LVM, its confinement, and the real runner.

`FakeLvm` answers the argv the driver builds the way lvm2 does (the report format recorded in
tests/golden/lvm/recorded, the same error lines), so these tests check that the driver reads the
facts, runs exactly the planned commands and nothing when there is nothing to do.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from gnt.confine import write_volume_groups
from gnt.errors import RpcArgumentError, StorageError
from gnt.runtime import DiskSpec
from storage.lvm import PlainDevice
from storage.lvm.run import LvmCommandError, run


@dataclass
class FakeLvm:
    vgs: dict[str, list[int]] = field(default_factory=lambda: {"xenvg": [4096, 4096]})  # name -> [size, free]
    lvs: dict[tuple[str, str], dict[str, object]] = field(default_factory=dict)
    calls: list[list[str]] = field(default_factory=list)

    def changes(self) -> list[list[str]]:
        return [c for c in self.calls if c[0] not in ("vgs", "lvs", "pvs")]

    async def __call__(self, argv: list[str]) -> str:
        self.calls.append(argv)
        handler = getattr(self, f"_{argv[0]}")
        return handler(argv)  # type: ignore[no-any-return]

    def _fail(self, line: str) -> LvmCommandError:
        return LvmCommandError(f"failed: {line}", line, 5)

    def _vg(self, name: str) -> list[int]:
        if name not in self.vgs:
            raise self._fail(f"Cannot process volume group {name}")
        return self.vgs[name]

    def _vgs(self, argv: list[str]) -> str:
        size, free = self._vg(argv[-1])
        count = sum(1 for vg, _ in self.lvs if vg == argv[-1])
        return f"  {argv[-1]}|{size}.00|{free}.00|4.00|{count}|1\n"

    def _lvs(self, argv: list[str]) -> str:
        vg = argv[-1]
        self._vg(vg)
        rows = []
        for (v, name), lv in sorted(self.lvs.items()):
            if v == vg:
                attr = ("s" if lv["origin"] else "-") + "wi-" + ("a" if lv["active"] else "-") + "-----"
                if "devices" in argv[-2]:
                    rows.append(f"  {v}|{name}|{lv['size']}.00|/dev/vdb(0)\n")
                else:
                    rows.append(f"  {v}|{name}|{lv['size']}.00|{attr}|{lv['origin']}\n")
        return "".join(rows)

    def _take(self, vg: str, size: int) -> None:
        if self.vgs[vg][1] < size:
            raise self._fail(f'Volume group "{vg}" has insufficient free space')
        self.vgs[vg][1] -= size

    def _pvs(self, argv: list[str]) -> str:
        rows = [f"  /dev/pv-{vg}|{vg}|{size}.00|{free}.00|a--\n" for vg, (size, free) in sorted(self.vgs.items())]
        return "".join(rows) + "  /dev/vdc||1024.00|1024.00|---\n"  # a PV in no VG

    def _pvchange(self, argv: list[str]) -> str:
        return ""

    def _vgreduce(self, argv: list[str]) -> str:
        self._vg(argv[-1])
        return ""

    def _lvcreate(self, argv: list[str]) -> str:
        size = -(-int(argv[argv.index("-L") + 1].rstrip("m")) // 4) * 4
        name = argv[argv.index("-n") + 1]
        target = argv[-1]
        vg, origin = (target.split("/") + [""])[:2]
        self._take(vg, size)
        self.lvs[(vg, name)] = {"size": size, "active": True, "origin": origin}
        return ""

    def _lvremove(self, argv: list[str]) -> str:
        vg, name = argv[-1].split("/")
        lv = self.lvs.pop((vg, name))
        self.vgs[vg][1] += int(lv["size"])  # type: ignore[call-overload]
        return ""

    def _lvextend(self, argv: list[str]) -> str:
        vg, name = argv[-1].split("/")
        amount = int(argv[2].strip("+m"))
        self._take(vg, amount)
        self.lvs[(vg, name)]["size"] = int(self.lvs[(vg, name)]["size"]) + amount  # type: ignore[call-overload]
        return ""

    def _lvchange(self, argv: list[str]) -> str:
        vg, name = argv[-1].split("/")
        self.lvs[(vg, name)]["active"] = argv[1] == "-ay"
        return ""

    def _lvrename(self, argv: list[str]) -> str:
        _, vg, old, new = argv
        self.lvs[(vg, new)] = self.lvs.pop((vg, old))
        return ""


@pytest.fixture
def node(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "node1"
    root.mkdir()
    monkeypatch.setenv("GNT_ROOTDIR", str(root))
    monkeypatch.setenv("GNT_HOSTNAME", "node1")
    return root


def disk(lv: str = "u1.disk0", size: int = 128, vg: str = "xenvg") -> DiskSpec:
    return DiskSpec(uuid="u1", index=0, size=size, dev_type="plain", logical_id=[vg, lv])


def test_create_runs_lvcreate_and_returns_the_device_path(node: Path) -> None:
    lvm = FakeLvm()
    path = asyncio.run(PlainDevice(lvm).create(disk(), "inst1"))
    assert path == "/dev/xenvg/u1.disk0"
    assert lvm.changes() == [["lvcreate", "-y", "-L", "128m", "-n", "u1.disk0", "xenvg"]]
    assert lvm.vgs["xenvg"][1] == 4096 - 128


def test_create_again_does_nothing(node: Path) -> None:
    lvm = FakeLvm()
    dev = PlainDevice(lvm)
    asyncio.run(dev.create(disk(), "inst1"))
    asyncio.run(dev.create(disk(), "inst1"))
    assert len(lvm.changes()) == 1


def test_create_in_a_full_vg_runs_nothing_and_says_how_much_is_free(node: Path) -> None:
    lvm = FakeLvm(vgs={"xenvg": [4096, 100]})
    with pytest.raises(StorageError, match="Not enough free space in volume group xenvg .* needed 128 MiB, free 100"):
        asyncio.run(PlainDevice(lvm).create(disk(), "inst1"))
    assert lvm.changes() == [] and lvm.lvs == {}


def test_create_planned_makes_both_lvs_from_one_read_or_neither(node: Path) -> None:
    """drbd's two LVs per side: planned from the caller's one `vgs`/`lvs`, all plans made before any
    lvcreate, so a VG with room for the first LV only makes neither."""
    lvm = FakeLvm(vgs={"xenvg": [4096, 200]})
    dev = PlainDevice(lvm)

    async def make(sizes: list[int]) -> None:
        facts = await dev.vg_facts("xenvg")
        assert facts is not None
        disks = [disk(f"u1.disk0_{n}", size) for n, size in enumerate(sizes)]
        await dev.create_planned(facts, await dev.lv_facts("xenvg"), disks)

    with pytest.raises(StorageError, match="Not enough free space in volume group xenvg"):
        asyncio.run(make([128, 128]))
    assert lvm.changes() == [] and lvm.vgs["xenvg"][1] == 200
    asyncio.run(make([64, 128]))
    assert [c[0] for c in lvm.calls[-4:]] == ["vgs", "lvs", "lvcreate", "lvcreate"]
    assert lvm.vgs["xenvg"][1] == 8


def test_create_in_a_missing_vg_names_it(node: Path) -> None:
    lvm = FakeLvm(vgs={})
    with pytest.raises(StorageError, match="Volume group xenvg not found on this node"):
        asyncio.run(PlainDevice(lvm).create(disk(), "inst1"))


def test_grow_is_idempotent_and_remove_frees_the_space(node: Path) -> None:
    lvm = FakeLvm()
    dev = PlainDevice(lvm)
    asyncio.run(dev.create(disk(), "inst1"))
    asyncio.run(dev.grow(disk(), 64))
    asyncio.run(dev.grow(disk(), 64))  # retried: the LV already has 128 + 64 MiB
    assert asyncio.run(dev.info(disk())).size == 192
    assert lvm.changes()[1:] == [["lvextend", "-L", "+64m", "xenvg/u1.disk0"]]
    asyncio.run(dev.remove(disk()))
    asyncio.run(dev.remove(disk()))  # removing a missing LV succeeds
    assert lvm.lvs == {} and lvm.vgs["xenvg"][1] == 4096
    assert asyncio.run(dev.info(disk())).exists is False


def test_assemble_activates_and_shutdown_deactivates(node: Path) -> None:
    lvm = FakeLvm()
    dev = PlainDevice(lvm)
    asyncio.run(dev.create(disk(), "inst1"))
    asyncio.run(dev.shutdown(disk()))
    assert lvm.lvs[("xenvg", "u1.disk0")]["active"] is False
    assert asyncio.run(dev.assemble(disk(), "inst1")) == "/dev/xenvg/u1.disk0"
    assert lvm.changes()[1:] == [["lvchange", "-an", "xenvg/u1.disk0"], ["lvchange", "-ay", "xenvg/u1.disk0"]]
    with pytest.raises(StorageError, match="does not exist on this node"):
        asyncio.run(dev.assemble(disk("u2.disk0"), "inst1"))


def test_assemble_reads_the_vg_and_its_lvs_at_once_and_a_missing_vg_says_so(node: Path) -> None:
    """vgs and lvs are both in flight before either answers (a start pays one read, not two); a
    volume group that is not there fails with vgs's message, whichever read failed first."""
    lvm = FakeLvm()
    dev = PlainDevice(lvm)
    asyncio.run(dev.create(disk(), "inst1"))
    in_flight, most = [0], [0]
    answer = lvm.__call__

    async def slow_reads(argv: list[str]) -> str:
        in_flight[0] += 1
        most[0] = max(most[0], in_flight[0])
        await asyncio.sleep(0.01)
        in_flight[0] -= 1
        return await answer(argv)

    dev = PlainDevice(slow_reads)
    assert asyncio.run(dev.assemble(disk(), "inst1")) == "/dev/xenvg/u1.disk0"
    assert most[0] == 2
    del lvm.vgs["xenvg"]
    with pytest.raises(StorageError, match="Volume group xenvg not found on this node"):
        asyncio.run(dev.assemble(disk(), "inst1"))


def test_rename_and_snapshot(node: Path) -> None:
    lvm = FakeLvm()
    dev = PlainDevice(lvm)
    asyncio.run(dev.create(disk(), "inst1"))
    assert asyncio.run(dev.snapshot(disk(), 32)) == ["xenvg", "u1.disk0.snap"]
    asyncio.run(dev.rename(disk(), ["xenvg", "u1.disk0_old"]))
    asyncio.run(dev.rename(disk(), ["xenvg", "u1.disk0_old"]))  # retried
    assert set(lvm.lvs) == {("xenvg", "u1.disk0.snap"), ("xenvg", "u1.disk0_old")}
    with pytest.raises(RpcArgumentError, match="othervg is not one this node allows"):
        asyncio.run(dev.rename(disk("u1.disk0_old"), ["othervg", "x"]))
    write_volume_groups(str(node / "var/lib/gnt/lvm-volume-groups"), ["xenvg", "othervg"])
    with pytest.raises(StorageError, match="within one volume group"):
        asyncio.run(dev.rename(disk("u1.disk0_old"), ["othervg", "x"]))


@pytest.mark.parametrize(
    ("logical_id", "reason"),
    [
        (["rootvg", "u1.disk0"], "volume group rootvg is not one this node allows"),
        (["xenvg", "-an"], "invalid logical volume name"),
        (["xenvg", "../sda"], "invalid logical volume name"),
        (["xenvg", "snapshot0"], "LVM reserves that name"),
        (["xenvg", "x_mimage_0"], "LVM reserves that name"),
        (["xenvg"], "must be \\[volume group, logical volume\\]"),
        (["xenvg", "a", "b"], "must be \\[volume group, logical volume\\]"),
    ],
)
def test_logical_ids_outside_the_nodes_volume_groups_are_refused(
    node: Path, logical_id: list[str], reason: str
) -> None:
    lvm = FakeLvm(vgs={"xenvg": [1, 1], "rootvg": [1, 1]})
    spec = DiskSpec(uuid="u1", index=0, size=1, dev_type="plain", logical_id=logical_id)
    with pytest.raises(RpcArgumentError, match=reason):
        PlainDevice(lvm).node_paths(spec)
    with pytest.raises(RpcArgumentError):
        asyncio.run(PlainDevice(lvm).remove(spec))
    assert lvm.calls == []


def test_the_nodes_file_decides_which_volume_groups_are_allowed(node: Path) -> None:
    write_volume_groups(str(node / "var/lib/gnt/lvm-volume-groups"), ["gntvg"])
    assert PlainDevice(FakeLvm()).node_paths(disk(vg="gntvg")) == ["/dev/gntvg/u1.disk0"]
    with pytest.raises(RpcArgumentError, match="xenvg is not one this node allows"):
        PlainDevice(FakeLvm()).node_paths(disk())


def test_vg_usage_reports_missing_and_disallowed_groups(node: Path) -> None:
    lvm = FakeLvm(vgs={"xenvg": [4096, 1000], "rootvg": [100, 10]})
    usage = asyncio.run(PlainDevice(lvm).vg_usage(["xenvg", "rootvg", "novg", "-x"]))
    assert usage[0] == {"type": "lvm-vg", "name": "xenvg", "allowed": True, "total": 4096, "free": 1000}
    assert usage[1]["allowed"] is False and usage[1]["free"] == 10
    assert usage[2]["error"] == "volume group novg not found"
    assert "invalid volume group name" in usage[3]["error"]
    assert sorted({c[0] for c in lvm.calls}) == ["vgs"]  # '-x' never reached a command line


def test_volumes_lists_lvs_of_allowed_groups_only(node: Path) -> None:
    lvm = FakeLvm(vgs={"xenvg": [4096, 4096], "rootvg": [100, 100]})
    asyncio.run(PlainDevice(lvm).create(disk(), "inst1"))
    lvm.lvs[("rootvg", "root")] = {"size": 50, "active": True, "origin": ""}
    rows = asyncio.run(PlainDevice(lvm).volumes(["xenvg", "rootvg"]))
    assert rows == [{"vg": "xenvg", "name": "u1.disk0", "size": 128, "phys": "/dev/vdb"}]


def test_runner_passes_argv_without_a_shell_and_sets_lvm_environment() -> None:
    out = asyncio.run(run(["sh", "-c", 'echo "$LVM_SUPPRESS_FD_WARNINGS $LC_ALL $0"', "a b;c"]))
    assert out == "1 C a b;c\n"


def test_runner_error_carries_the_tools_reason() -> None:
    script = 'echo "  WARNING: noise" >&2; echo "  Volume group \\"xenvg\\" not found" >&2; exit 5'
    with pytest.raises(LvmCommandError, match=r'sh failed \(exit 5\): Volume group "xenvg" not found') as err:
        asyncio.run(run(["sh", "-c", script]))
    assert err.value.line == 'Volume group "xenvg" not found' and err.value.returncode == 5


def test_runner_missing_tool_says_to_install_lvm2() -> None:
    with pytest.raises(StorageError, match="install lvm2"):
        asyncio.run(run(["gnt-no-such-lvm-tool"]))


def test_vg_usage_without_lvm2_reports_the_reason_instead_of_failing(node: Path) -> None:
    async def no_lvm(argv: list[str]) -> str:
        raise StorageError(f"{argv[0]} not found on this node: install lvm2 to use plain disks")

    (entry,) = asyncio.run(PlainDevice(no_lvm).vg_usage(["xenvg"]))
    assert entry == {
        "type": "lvm-vg",
        "name": "xenvg",
        "allowed": True,
        "error": "vgs not found on this node: install lvm2 to use plain disks",
    }


def test_physical_volumes_of_allowed_groups_only(node: Path) -> None:
    lvm = FakeLvm(vgs={"xenvg": [4096, 1000], "rootvg": [100, 10]})
    pvs = asyncio.run(PlainDevice(lvm).physical_volumes(["xenvg", "rootvg"]))
    assert pvs == [{"vg": "xenvg", "name": "/dev/pv-xenvg", "size": 4096, "free": 1000, "allocatable": True}]
    assert lvm.calls == [["pvs", "--noheadings", "--units", "m", "--nosuffix", "--separator", "|", "-o",
                          "pv_name,vg_name,pv_size,pv_free,pv_attr"]]  # fmt: skip


def test_set_allocatable_only_on_pvs_of_allowed_groups(node: Path) -> None:
    lvm = FakeLvm(vgs={"xenvg": [4096, 1000], "rootvg": [100, 10]})
    dev = PlainDevice(lvm)
    asyncio.run(dev.set_allocatable("/dev/pv-xenvg", False))
    asyncio.run(dev.set_allocatable("/dev/pv-xenvg", True))  # already allocatable: nothing to run
    assert lvm.changes() == [["pvchange", "-x", "n", "/dev/pv-xenvg"]]
    for pv in ("/dev/pv-rootvg", "/dev/vdc", "-ff"):
        with pytest.raises(StorageError, match="is not a physical volume of the volume groups this node allows"):
            asyncio.run(dev.set_allocatable(pv, False))
    assert len(lvm.changes()) == 1


def test_repair_runs_vgreduce_on_allowed_groups_only(node: Path) -> None:
    lvm = FakeLvm(vgs={"xenvg": [4096, 1000], "rootvg": [100, 10]})
    asyncio.run(PlainDevice(lvm).repair("xenvg"))
    assert lvm.changes() == [["vgreduce", "--removemissing", "xenvg"]]
    with pytest.raises(RpcArgumentError, match="rootvg is not one this node allows"):
        asyncio.run(PlainDevice(lvm).repair("rootvg"))
    assert len(lvm.changes()) == 1
