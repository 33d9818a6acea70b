"""agent.os_pipe through agent.transfer: an export streams what the instance OS's `export` script
writes, an import feeds the dump to its `import` script, each with ganeti-os-interface(7)'s
environment (OSP_* with the private and secret parameters the master put in the spec); a failing
script fails the copy and leaves no finished-looking export."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from gnt import paths
from gnt.errors import RpcArgumentError, StorageError
from tests.unit.agent.test_transfer import _acall, _receive_into, _send_from, call, cluster_pem, node  # noqa: F401 - fixtures

EXPORT = '#!/bin/sh\nenv | grep -E "^(OSP_|EXPORT_|INSTANCE_NAME)" | sort\necho "--"\ncat "$EXPORT_DEVICE"\n'
IMPORT = '#!/bin/sh\n{ env | grep -E "^(OSP_|IMPORT_)" | sort; echo "--"; cat; } > "$IMPORT_DEVICE"\n'
FAILING = '#!/bin/sh\necho partial\necho "no space in the dump area" >&2\nexit 3\n'
DISK_PATH = "/srv/gnt/file-storage/inst1/disk0"


def _install_os(root: Path, export: str = EXPORT, import_: str = IMPORT) -> None:
    d = root / "srv/gnt/os/rec"
    d.mkdir(parents=True)
    scripts = {
        "create": "#!/bin/sh\n",
        "rename": "#!/bin/sh\n",
        "verify": "#!/bin/sh\n",
        "export": export,
        "import": import_,
    }
    for name, body in scripts.items():
        (d / name).write_text(body)
        (d / name).chmod(0o755)
    (d / "ganeti_api_version").write_text("20\n")
    (d / "parameters.list").write_text("root_password\ndhcp\n")


def _disk(root: Path, content: bytes = b"guest data") -> dict[str, Any]:
    disk_file = root / DISK_PATH.lstrip("/")
    disk_file.parent.mkdir(parents=True)
    disk_file.write_bytes(content)
    return {"uuid": "d0", "index": 0, "size": 1, "dev_type": "file", "logical_id": ["loop", DISK_PATH]}


def _spec(disk: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": "inst1",
        "uuid": "i1",
        "hypervisor": "fake",
        "memory": 64,
        "vcpus": 1,
        "os": "rec",
        "osparams": {"dhcp": "yes", "root_password": "s3cret"},
        "disks": [disk],
        "disk_template": "file",
    }


def _export(ticket: dict[str, Any], disk: dict[str, Any]) -> dict[str, Any]:
    args = _send_from(ticket, disk=disk, instance_name="inst1", os_instance=_spec(disk))
    args.pop("export_name"), args.pop("export_file")
    return args


def _os_logs(root: Path) -> str:
    return "".join(p.read_text() for p in (root / "var/log/gnt/os").glob("*.log"))


def test_an_export_is_what_the_os_export_script_writes_with_its_parameters(node: Path) -> None:  # noqa: F811
    _install_os(node)
    disk = _disk(node)

    async def scenario() -> dict[str, Any]:
        ticket = await _acall("disk_receive", _receive_into("dst"))
        return await _acall("disk_send", _export(ticket, disk))

    sent = asyncio.run(scenario())
    dump = (Path(paths.export_dir()) / "dst.new/disk0.dump").read_text()
    header, _, data = dump.partition("--\n")
    assert data == "guest data" and sent["bytes"] == len(dump)
    assert header.splitlines() == [
        f"EXPORT_DEVICE={node / DISK_PATH.lstrip('/')}",
        "EXPORT_INDEX=0",
        "INSTANCE_NAME=inst1",
        "OSP_DHCP=yes",
        "OSP_ROOT_PASSWORD=s3cret",
    ]
    assert "s3cret" not in _os_logs(node)  # the script's stderr only


def test_an_import_feeds_the_dump_to_the_os_import_script(node: Path) -> None:  # noqa: F811
    _install_os(node)
    disk = _disk(node, b"\0" * 64)
    source = Path(paths.export_dir()) / "src/disk0.dump"
    source.write_bytes(b"dumped file system")

    async def scenario() -> dict[str, Any]:
        receive = {"listen_address": "127.0.0.1", "disk": disk, "instance_name": "inst1", "os_instance": _spec(disk)}
        ticket = await _acall("disk_receive", receive)
        await _acall("disk_send", _send_from(ticket))
        return await _acall("transfer_status", {"transfer_id": ticket["transfer_id"]})

    assert asyncio.run(scenario())["done"] is True
    header, _, data = (node / DISK_PATH.lstrip("/")).read_text().partition("--\n")
    assert data == "dumped file system"
    assert "IMPORT_INDEX=0" in header.splitlines() and "OSP_ROOT_PASSWORD=s3cret" in header.splitlines()


def test_a_failing_export_script_leaves_no_export(node: Path) -> None:  # noqa: F811
    _install_os(node, export=FAILING)
    disk = _disk(node)

    async def scenario() -> None:
        ticket = await _acall("disk_receive", _receive_into("dst"))
        try:
            await _acall("disk_send", _export(ticket, disk))
        finally:  # as the master does after a failed copy: the receiver never saw the end marker
            await _acall("transfer_abort", {"transfer_id": ticket["transfer_id"]})

    with pytest.raises(StorageError, match=r"OS export script failed \(exit code 3\)"):
        asyncio.run(scenario())
    assert not (Path(paths.export_dir()) / "dst.new").exists()
    assert "no space in the dump area" in _os_logs(node)


def test_a_failing_import_script_fails_the_copy(node: Path) -> None:  # noqa: F811
    _install_os(node, import_="#!/bin/sh\ncat >/dev/null\necho 'bad dump' >&2\nexit 2\n")
    disk = _disk(node)

    async def scenario() -> None:
        receive = {"listen_address": "127.0.0.1", "disk": disk, "instance_name": "inst1", "os_instance": _spec(disk)}
        ticket = await _acall("disk_receive", receive)
        await _acall("disk_send", _send_from(ticket))

    with pytest.raises(StorageError, match=r"refused the data: OS import script failed \(exit code 2\)"):
        asyncio.run(scenario())


def test_an_os_script_runs_on_a_disk_only(node: Path) -> None:  # noqa: F811
    _install_os(node)
    disk = _disk(node)
    with pytest.raises(RpcArgumentError, match="an OS import script runs on a disk, not on an export file"):
        call("disk_receive", _receive_into("dst", os_instance=_spec(disk)))
