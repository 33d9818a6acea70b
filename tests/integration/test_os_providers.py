"""Ganeti's OS providers as installed: Debian's ganeti-os-noop from /usr/share/ganeti/os, and a
test OS with variants, parameters and a verify script, through the real CLI on a virtual cluster."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.conftest import running_cluster
from tests.integration.vcluster import VCluster

DEBIAN_NOOP = Path("/usr/share/ganeti/os/noop")
ADD = ["gnt-instance", "add", "--no-name-check", "--no-ip-check", "--no-nics", "--no-start", "-n", "node2"]
ADD_FILE = [*ADD, "-t", "file", "--disk", "0:size=1M"]

REC_CREATE = '#!/bin/sh\nenv > "$DISK_0_PATH"\n'
REC_VERIFY = (
    '#!/bin/sh\n[ "$1" = parameters ] || exit 2\n'
    '[ "$OSP_DHCP" != bogus ] || { echo "dhcp must be yes or no"; exit 1; }\n'
)


def _install_rec(root: Path) -> None:
    """A test OS (API 20) that records its environment on disk 0 and refuses dhcp=bogus."""
    d = root / "srv/gnt/os/rec"
    d.mkdir(parents=True)
    for script, body in (("create", REC_CREATE), ("verify", REC_VERIFY)):
        (d / script).write_text(body)
    for script in ("import", "export", "rename"):
        (d / script).write_text("#!/bin/sh\nexit 0\n")
    for script in ("create", "verify", "import", "export", "rename"):
        (d / script).chmod(0o755)
    (d / "ganeti_api_version").write_text("20\n")
    (d / "variants.list").write_text("default\nsmall\n")
    (d / "parameters.list").write_text("dhcp Whether the guest uses DHCP\n")


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[VCluster]:
    """Two nodes without gnt's own noop, so `noop` is Debian's, plus the `rec` test OS."""
    assert DEBIAN_NOOP.is_dir(), "Debian's ganeti-os-noop is not installed (tools/install-deps.sh installs it)"
    directory = tmp_path_factory.mktemp("vc-os")
    with running_cluster(directory, 2) as vc:
        for node in ("node1", "node2"):
            shutil.rmtree(vc.dir / node / "srv/gnt/os/noop")
            _install_rec(vc.dir / node)
        yield vc


def test_debians_noop_is_listed_and_installs_an_instance(cluster: VCluster) -> None:
    assert cluster.ok("gnt-os", "list", "--no-headers").split() == ["noop", "rec"]
    diagnose = cluster.ok("gnt-os", "diagnose")
    assert "/usr/share/ganeti/os/noop" in diagnose
    cluster.ok(*ADD_FILE, "-o", "noop", "deb1")
    assert cluster.instance_field("deb1", "os") == "noop"
    logs = list((cluster.dir / "node2/var/log/gnt/os").glob("add-noop-deb1-*.log"))
    assert len(logs) == 1
    (disk,) = (cluster.dir / "node2/srv/gnt/file-storage/deb1").iterdir()
    assert disk.read_bytes()[:8] == b"\0" * 8  # Debian's noop writes nothing (gnt's would stamp it)
    cluster.ok("gnt-instance", "remove", "-f", "deb1")


def _refused(cluster: VCluster, *argv: str) -> str:
    result = cluster.run(*argv)
    assert result.rc == 1, result.text
    assert "inst" not in cluster.ok("gnt-instance", "list", "--no-headers", "-o", "name")
    assert not (cluster.dir / "node2/srv/gnt/file-storage/inst").exists()
    return result.err


def test_variants_and_parameters_are_checked_before_anything_is_created(cluster: VCluster) -> None:
    assert "OS name must include a variant" in _refused(cluster, *ADD_FILE, "-o", "rec", "inst")
    assert "Unsupported OS variant" in _refused(cluster, *ADD_FILE, "-o", "rec+huge", "inst")
    err = _refused(cluster, *ADD_FILE, "-o", "rec+small", "-O", "nosuch=1", "inst")
    assert "The following parameters are not supported by the OS rec: nosuch" in err
    err = _refused(cluster, *ADD_FILE, "-o", "rec+small", "-O", "dhcp=bogus", "inst")
    assert "OS Parameters validation failed on node node2: OS validation script failed" in err
    assert "dhcp must be yes or no" in err


def test_the_create_script_gets_the_variant_and_parameters(cluster: VCluster) -> None:
    cluster.ok("gnt-os", "modify", "-O", "dhcp=no", "rec")
    try:
        cluster.ok(*ADD_FILE, "-o", "rec+small", "inst")
        (disk,) = (cluster.dir / "node2/srv/gnt/file-storage/inst").iterdir()
        lines = disk.read_bytes().decode(errors="replace").splitlines()
        env = dict(line.split("=", 1) for line in lines if "=" in line)
        assert (env["OS_API_VERSION"], env["OS_NAME"], env["OS_VARIANT"]) == ("20", "rec", "small")
        assert env["OSP_DHCP"] == "no" and env["INSTANCE_NAME"] == "inst"
        cluster.ok("gnt-instance", "modify", "-O", "dhcp=yes", "inst")
        result = cluster.run("gnt-instance", "modify", "-O", "dhcp=bogus", "inst")
        assert result.rc == 1 and "dhcp must be yes or no" in result.err
        assert "'dhcp': 'yes'" in cluster.ok("gnt-instance", "info", "inst") or "dhcp: yes" in cluster.ok(
            "gnt-instance", "info", "inst"
        )
    finally:
        cluster.run("gnt-instance", "remove", "-f", "inst")
        cluster.ok("gnt-os", "modify", "-O", "", "rec")
