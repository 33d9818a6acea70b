"""The OS interface: discovery, validation, and the create/rename scripts' environment and errors."""

from __future__ import annotations

import asyncio
import os
import stat
from pathlib import Path

import pytest

from agent import os_scripts
from gnt.errors import OpExecError, OpPrereqError
from gnt.runtime import DiskSpec, InstanceSpec, NicSpec

REPO_OS_DIR = str(Path(__file__).resolve().parents[3] / "os")


def make_os(top: Path, name: str, create: str = "exit 0", versions: str = "20\n", variants: str = "") -> Path:
    """A test OS definition whose scripts are tiny sh scripts."""
    d = top / name
    d.mkdir(parents=True)
    for script in os_scripts.SCRIPTS:
        body = create if script == "create" else "exit 0"
        (d / script).write_text(f"#!/bin/sh\n{body}\n")
        (d / script).chmod(0o755)
    (d / "ganeti_api_version").write_text(versions)
    if variants:
        (d / "variants.list").write_text(variants)
    (d / "parameters.list").write_text("dhcp Whether to use DHCP\n# comment\n\nroot_size Root size\n")
    return d


def inst(disks: list[DiskSpec] | None = None, os_name: str = "noop") -> InstanceSpec:
    return InstanceSpec(
        name="inst1.example.com",
        uuid="u-1",
        hypervisor="fake",
        memory=128,
        vcpus=1,
        os=os_name,
        osparams={"dhcp": "yes"},
        beparams={"memory": 128},
        disks=disks or [],
        nics=[NicSpec(uuid="n-1", mac="aa:00:00:11:22:33", mode="bridged", link="br0", ip="192.0.2.10")],
    )


def test_noop_os_creates_and_stamps_disk_0(tmp_path: Path) -> None:
    image = tmp_path / "disk0"
    image.write_bytes(b"\0" * 4096)
    disk = DiskSpec(uuid="d-1", index=0, size=1, dev_type="file", logical_id=["loop", str(image)])
    log = asyncio.run(os_scripts.run_create("noop", inst([disk]), [str(image)], [REPO_OS_DIR], str(tmp_path / "log")))
    assert image.read_bytes().startswith(b"gnt-noop inst1.example.com\n")
    assert len(image.read_bytes()) == 4096  # conv=notrunc
    name = os.path.basename(log)
    assert name.startswith("add-noop-inst1.example.com-") and name.endswith(".log")
    assert "1 disk(s), 1 nic(s)" in Path(log).read_text()


def test_create_script_gets_the_documented_environment_and_nothing_else(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("SECRET_NODED_VAR", "leak")
    make_os(tmp_path / "os", "envdump", create='env > "$DISK_0_PATH"', variants="default\nsmall\n")
    out = tmp_path / "env.txt"
    disk = DiskSpec(uuid="d-1", index=0, size=1, dev_type="file", logical_id=["loop", str(out)], name="root")
    spec = inst([disk], os_name="envdump+small")
    asyncio.run(
        os_scripts.run_create("envdump+small", spec, [str(out)], [str(tmp_path / "os")], str(tmp_path), reinstall=True)
    )
    env = dict(line.split("=", 1) for line in out.read_text().splitlines() if "=" in line)
    expected = {
        "OS_API_VERSION": "20",
        "OS_NAME": "envdump",
        "OS_VARIANT": "small",
        "INSTANCE_NAME": "inst1.example.com",
        "INSTANCE_OS": "envdump+small",
        "INSTANCE_REINSTALL": "1",
        "HYPERVISOR": "fake",
        "DISK_COUNT": "1",
        "DISK_0_PATH": str(out),
        "DISK_0_ACCESS": "rw",
        "DISK_0_UUID": "d-1",
        "DISK_0_NAME": "root",
        "DISK_0_BACKEND_TYPE": "file:loop",
        "NIC_COUNT": "1",
        "NIC_0_MAC": "aa:00:00:11:22:33",
        "NIC_0_IP": "192.0.2.10",
        "NIC_0_MODE": "bridged",
        "NIC_0_LINK": "br0",
        "NIC_0_BRIDGE": "br0",
        "OSP_DHCP": "yes",
        "INSTANCE_BE_memory": "128",
        "DEBUG_LEVEL": "0",
    }
    assert {k: env.get(k) for k in expected} == expected
    assert "SECRET_NODED_VAR" not in env


def test_failing_create_script_raises_with_the_log_tail(tmp_path: Path) -> None:
    make_os(tmp_path / "os", "broken", create='echo "mkfs: no space left on device" >&2; exit 3')
    with pytest.raises(OpExecError) as err:
        asyncio.run(os_scripts.run_create("broken", inst(), [], [str(tmp_path / "os")], str(tmp_path / "log")))
    assert "OS create script failed (exited with exit code 3)" in err.value.message
    assert "mkfs: no space left on device" in err.value.message


def test_create_script_timeout_kills_it(tmp_path: Path) -> None:
    make_os(tmp_path / "os", "slow", create="exec sleep 30")
    with pytest.raises(OpExecError, match="timed out after 0.2 seconds"):
        asyncio.run(os_scripts.run_create("slow", inst(), [], [str(tmp_path / "os")], str(tmp_path), timeout=0.2))


def test_unknown_os_and_bad_names(tmp_path: Path) -> None:
    with pytest.raises(OpExecError) as err:
        os_scripts.find_os("nosuchos", [str(tmp_path), REPO_OS_DIR])
    assert err.value.message == "Directory for OS nosuchos not found in search path"
    assert os_scripts.find_os("noop", [str(tmp_path), REPO_OS_DIR]) == os.path.join(REPO_OS_DIR, "noop")
    for bad in ("", "../etc", "a/b", "noop+", "+v", "no op"):
        with pytest.raises(OpPrereqError):
            os_scripts.split_name(bad)
    assert os_scripts.split_name("debootstrap+bookworm") == ("debootstrap", "bookworm")


def test_variants_follow_ganetis_rules(tmp_path: Path) -> None:
    top = [str(tmp_path)]
    make_os(tmp_path, "v", variants="default\nsmall\n")

    def validate(name: str, force: bool = False) -> None:
        asyncio.run(os_scripts.validate(name, {}, top + [REPO_OS_DIR], str(tmp_path / "log"), force_variant=force))

    validate("v+small")
    with pytest.raises(OpPrereqError, match="^OS name must include a variant$"):
        validate("v")
    with pytest.raises(OpPrereqError, match="^Unsupported OS variant$"):
        validate("v+huge")
    validate("v+huge", force=True)  # --force-variant
    with pytest.raises(OpPrereqError, match=r"OS 'noop' doesn't support variants \('x' passed\)"):
        validate("noop+x")
    # the scripts of an OS named without its variant get the first one listed
    assert os_scripts.get_os("v", top)[1] == "default"


def test_older_api_versions_get_their_own_environment(tmp_path: Path) -> None:
    """API 10 (Debian's ganeti-os-noop: "5 10", no verify, no parameters.list) and 15 are accepted;
    OS_VARIANT starts at 15 and OSP_* at 20."""
    for version, variants in (("5\n10\n", ""), ("15\n", "a\nb\n")):
        name = f"v{version.split()[-1]}"
        d = make_os(tmp_path / "os", name, create='env > "$DISK_0_PATH"', versions=version, variants=variants)
        (d / "verify").unlink()
        (d / "parameters.list").unlink()
        out = tmp_path / f"{name}.env"
        disk = DiskSpec(uuid="d-1", index=0, size=1, dev_type="file", logical_id=["loop", str(out)])
        spec = inst([disk], os_name=name)
        asyncio.run(os_scripts.run_create(name, spec, [str(out)], [str(tmp_path / "os")], str(tmp_path)))
        env = dict(line.split("=", 1) for line in out.read_text().splitlines() if "=" in line)
        assert env["OS_API_VERSION"] == version.split()[-1]
        assert env["INSTANCE_NAME"] == "inst1.example.com" and env["DISK_0_PATH"] == str(out)
        assert env["NIC_0_MAC"] == "aa:00:00:11:22:33"
        assert "OSP_DHCP" not in env
        assert env.get("OS_VARIANT") == ("a" if variants else None)
    entries = {e["name"]: e for e in asyncio.run(os_scripts.diagnose([str(tmp_path / "os")]))}
    assert entries["v10"]["valid"] and entries["v10"]["api_versions"] == [5, 10]
    assert entries["v15"]["valid"] and entries["v15"]["variants"] == ["a", "b"]


def test_api_20_requires_verify_and_parameters_list(tmp_path: Path) -> None:
    (make_os(tmp_path, "noverify") / "verify").unlink()
    (make_os(tmp_path, "noparams") / "parameters.list").unlink()
    entries = {e["name"]: e for e in asyncio.run(os_scripts.diagnose([str(tmp_path)]))}
    assert "missing script 'verify'" in entries["noverify"]["message"]
    assert "missing file 'parameters.list'" in entries["noparams"]["message"]


def test_diagnose_lists_valid_and_broken_definitions(tmp_path: Path) -> None:
    make_os(tmp_path, "good", variants="a\n")
    make_os(tmp_path, "oldapi", versions="5\n")
    noexec = make_os(tmp_path, "noexec")
    (noexec / "verify").chmod(stat.S_IRUSR | stat.S_IWUSR)
    (tmp_path / "a-file").write_text("ignored: not a directory")
    result = asyncio.run(os_scripts.diagnose([str(tmp_path), REPO_OS_DIR, str(tmp_path / "missing")]))
    by_name = {(r["name"], r["path"]): r for r in result}
    good = by_name[("good", str(tmp_path / "good"))]
    assert good["valid"] and good["api_versions"] == [20] and good["variants"] == ["a"]
    assert good["parameters"] == [["dhcp", "Whether to use DHCP"], ["root_size", "Root size"]]
    assert "API version mismatch" in by_name[("oldapi", str(tmp_path / "oldapi"))]["message"]
    assert "'verify' is not executable" in by_name[("noexec", str(noexec))]["message"]
    assert by_name[("noop", os.path.join(REPO_OS_DIR, "noop"))]["valid"]
    assert [r["name"] for r in result] == ["good", "noexec", "oldapi", "noop"]


def test_rename_and_verify_scripts(tmp_path: Path) -> None:
    top = tmp_path / "os"
    d = make_os(top, "r")
    (d / "rename").write_text('#!/bin/sh\necho "$OLD_INSTANCE_NAME>$INSTANCE_NAME"\n')
    (d / "verify").write_text(
        '#!/bin/sh\n[ "$1" = parameters ] && [ "$OSP_DHCP" != bogus ] || { echo "bad dhcp" >&2; exit 1; }\n'
    )
    log = asyncio.run(os_scripts.run_rename("r", inst(), "old.example.com", [], [str(top)], str(tmp_path)))
    assert "old.example.com>inst1.example.com" in Path(log).read_text()
    assert os.path.basename(log).startswith("rename-r-old.example.com-inst1.example.com-")
    asyncio.run(os_scripts.validate("r", {"dhcp": "yes"}, [str(top)], str(tmp_path)))
    with pytest.raises(OpExecError, match=r"(?s)OS validation script failed \(exited with exit code 1\).*bad dhcp"):
        asyncio.run(os_scripts.validate("r", {"dhcp": "bogus"}, [str(top)], str(tmp_path)))
    with pytest.raises(OpExecError, match="^The following parameters are not supported by the OS r: nosuch$"):
        asyncio.run(os_scripts.validate("r", {"nosuch": "1"}, [str(top)], str(tmp_path)))


def test_debians_debootstrap_layout_is_accepted_as_installed(tmp_path: Path) -> None:
    """ganeti-instance-debootstrap's shape: API "20 15 10 5", variants.list a symlink to its conffile
    in /etc, one parameter, a verify script that checks it; named NAME+VARIANT."""
    top = tmp_path / "usr/share/ganeti/os"
    d = make_os(top, "debootstrap", versions="20\n15\n10\n5\n")
    conf = tmp_path / "etc/ganeti/instance-debootstrap/variants.list"
    conf.parent.mkdir(parents=True)
    conf.write_text("default\n")
    (d / "variants.list").symlink_to(conf)
    (d / "parameters.list").write_text("filesystem The filesystem type to use for the root partition.\n")
    (d / "verify").write_text(
        '#!/bin/sh\ncase $OSP_FILESYSTEM in ""|ext2|ext3|ext4) ;; *) echo "Invalid value" >&2; exit 1 ;; esac\n'
    )
    (entry,) = asyncio.run(os_scripts.diagnose([str(top)]))
    assert entry["valid"] and entry["variants"] == ["default"] and entry["api_versions"] == [20, 15, 10, 5]
    log = str(tmp_path / "log")
    asyncio.run(os_scripts.validate("debootstrap+default", {"filesystem": "ext4"}, [str(top)], log))
    with pytest.raises(OpPrereqError, match="must include a variant"):
        asyncio.run(os_scripts.validate("debootstrap", {}, [str(top)], log))
    with pytest.raises(OpExecError, match="Invalid value"):
        asyncio.run(os_scripts.validate("debootstrap+default", {"filesystem": "zfs"}, [str(top)], log))
