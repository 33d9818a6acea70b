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
    assert cluster.ok("gnt-os", "list", "--no-headers").split() == ["noop", "rec+default", "rec+small"]
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
        assert cluster.instance_field("inst", "osparams") in ("dhcp=yes", "{'dhcp': 'yes'}", '{"dhcp": "yes"}')
    finally:
        cluster.run("gnt-instance", "remove", "-f", "inst")
        cluster.ok("gnt-os", "modify", "-O", "dhcp=default", "rec")
    assert "OS parameters" not in cluster.ok("gnt-os", "info", "rec")


def test_gnt_os_info_shows_the_definition_and_the_per_os_settings(cluster: VCluster) -> None:
    cluster.ok("gnt-os", "modify", "-O", "dhcp=no", "-H", "fake:migration_mode=live", "rec")
    try:
        out = cluster.ok("gnt-os", "info", "rec")
        assert out.splitlines()[:13] == [
            "rec:",
            "  - valid: True",
            "  - hidden: False",
            "  - blacklisted: False",
            "  - API versions:",
            "    - 20",
            "  - variants:",
            "    - default",
            "    - small",
            "  - parameters:",
            "    - dhcp: Whether the guest uses DHCP",
            "  - hypervisor parameters:",
            "    - fake:",
        ]
        assert "      - migration_mode: live" in out and "  - OS parameters:\n    - dhcp: no" in out
        result = cluster.run("gnt-os", "info", "nosuch")
        assert result.rc == 1 and "No information about OS 'nosuch' found" in result.err
    finally:
        cluster.ok("gnt-os", "modify", "-O", "dhcp=default", "-H", "fake:migration_mode=default", "rec")
    assert "hypervisor parameters" not in cluster.ok("gnt-os", "info", "rec")


def test_hidden_and_blacklisted_oses(cluster: VCluster) -> None:
    cluster.ok("gnt-os", "modify", "--hidden=yes", "noop")
    cluster.ok("gnt-os", "modify", "--blacklisted=yes", "rec")
    try:
        assert cluster.ok("gnt-os", "list", "--no-headers").split() == []
        diagnose = cluster.run("gnt-os", "diagnose")
        assert "OS: noop [global status: valid] [hidden]" in diagnose.out
        assert "OS: rec [global status: valid] [blacklisted]" in diagnose.out
        err = _refused(cluster, *ADD_FILE, "-o", "rec+small", "inst")
        assert "Guest OS 'rec+small' is not allowed for installation" in err
        cluster.ok(*ADD_FILE, "-o", "noop", "inst")  # hidden: only not listed
        cluster.ok("gnt-instance", "remove", "-f", "inst")
        result = cluster.run("gnt-os", "modify", "--hidden=maybe", "noop")
        assert result.rc != 0 and "--hidden takes yes or no" in result.err
        result = cluster.run("gnt-os", "modify", "noop")
        assert result.rc != 0 and "At least one of OS parameters or hypervisor parameters must be passed" in result.err
    finally:
        cluster.ok("gnt-os", "modify", "--hidden=no", "noop")
        cluster.ok("gnt-os", "modify", "--blacklisted=no", "rec")
    assert cluster.ok("gnt-os", "list").split() == ["Name", "noop", "rec+default", "rec+small"]


def test_diagnose_reports_a_broken_definition_and_exits_1(cluster: VCluster) -> None:
    broken = cluster.dir / "node1/srv/gnt/os/broken"
    broken.mkdir()
    (broken / "ganeti_api_version").write_text("20\n")
    try:
        result = cluster.run("gnt-os", "diagnose")
        assert result.rc == 1
        assert "OS: broken [global status: invalid]" in result.out
        assert "  Node: node1, status: invalid - OS broken at" in result.out
        assert "  Node: node2, status: OS not found" in result.out
        assert "broken" not in cluster.ok("gnt-os", "list")
    finally:
        shutil.rmtree(broken)


def test_rapi_lists_the_oses_as_gnt_os_list_does(cluster: VCluster) -> None:
    from tests.integration.test_rapi import READER, Rapi

    users = cluster.dir / "node1/var/lib/gnt/rapi/users"
    users.parent.mkdir(parents=True, exist_ok=True)
    users.write_text("reader r3ad\n")
    users.chmod(0o600)
    rapi = Rapi(cluster)
    cluster.ok("gnt-os", "modify", "--blacklisted=yes", "noop")
    try:
        assert rapi.call("GET", "/2/os", user=READER) == (200, ["rec+default", "rec+small"])
        status, bulk = rapi.call("GET", "/2/os?bulk=1", user=READER)
        by_name = {e["name"]: e for e in bulk}
        assert status == 200 and by_name["noop"]["blacklisted"] and by_name["rec"]["variants"] == ["default", "small"]
        assert by_name["noop"]["node_status"]["node1"][0][0] == str(DEBIAN_NOOP)
    finally:
        cluster.ok("gnt-os", "modify", "--blacklisted=no", "noop")


def test_modify_os_type_records_the_os_that_the_next_reinstall_installs(cluster: VCluster) -> None:
    from tests.integration.test_rapi import ADMIN, Rapi
    from tests.integration.vcluster import wait_for

    cluster.ok(*ADD_FILE, "-o", "noop", "inst")
    try:
        for argv, message in (
            (["-o", "rec"], "OS name must include a variant"),
            (["-o", "rec+huge"], "Unsupported OS variant"),
            (["-o", "nosuch"], "OS 'nosuch' not in supported OS list for node node2"),
            (["-o", "bad os"], "is not a valid OS name"),
        ):
            result = cluster.run("gnt-instance", "modify", *argv, "inst")
            assert result.rc == 1 and message in result.err, (argv, result.text)
            assert cluster.instance_field("inst", "os") == "noop"
        out = cluster.ok("gnt-instance", "modify", "-o", "rec+small", "inst")
        assert " - os_name -> rec+small" in out and "gnt-instance reinstall inst" in out
        assert cluster.instance_field("inst", "os") == "rec+small"
        cluster.ok("gnt-instance", "reinstall", "-f", "inst")
        (disk,) = (cluster.dir / "node2/srv/gnt/file-storage/inst").iterdir()
        assert "OS_VARIANT=small" in disk.read_bytes().decode(errors="replace")
        cluster.ok("gnt-instance", "modify", "-o", "rec+huge", "--force-variant", "inst")
        assert cluster.instance_field("inst", "os") == "rec+huge"
        users = cluster.dir / "node1/var/lib/gnt/rapi/users"
        users.parent.mkdir(parents=True, exist_ok=True)
        users.write_text("admin s3cret write\nreader r3ad\n")
        users.chmod(0o600)
        rapi = Rapi(cluster)
        status, job_id = rapi.call("PUT", "/2/instances/inst/modify", {"os_name": "noop"}, user=ADMIN)
        assert status == 200, job_id
        wait_for(lambda: rapi.call("GET", f"/2/jobs/{job_id}", user=ADMIN)[1]["status"] == "success", 20)
        assert cluster.instance_field("inst", "os") == "noop"
        status, body = rapi.call("PUT", "/2/instances/inst/modify", {"os_name": "no/such"}, user=ADMIN)
        assert status == 400 and "is not a valid OS name" in body["explain"]
    finally:
        cluster.run("gnt-instance", "remove", "-f", "inst")


PIPE_EXPORT = '#!/bin/sh\nenv | grep "^OSP_" | sort\necho "-- $EXPORT_INDEX"\n'
PIPE_IMPORT = '#!/bin/sh\n{ env | grep "^OSP_" | sort | sed "s/^/import:/"; cat; } > "$IMPORT_DEVICE"\n'


def test_export_and_import_run_the_os_scripts_with_private_and_secret_parameters(cluster: VCluster) -> None:
    """Ganeti's export is what the OS export script writes; its import script restores it."""
    for node in ("node1", "node2"):
        d = cluster.dir / node / "srv/gnt/os/pipe"
        shutil.copytree(cluster.dir / node / "srv/gnt/os/rec", d)
        (d / "export").write_text(PIPE_EXPORT)
        (d / "import").write_text(PIPE_IMPORT)
        (d / "variants.list").unlink()
        (d / "parameters.list").write_text("token a private one\npw a secret one\n")
    cluster.ok(*ADD_FILE, "-o", "pipe", "--os-parameters-private", "token=priv1", "inst")
    try:
        cluster.ok("gnt-backup", "export", "-n", "node1", "inst")
        dump = (cluster.dir / "node1/srv/gnt/export/inst/disk0.dump").read_text()
        assert dump.splitlines() == ["OSP_TOKEN=priv1", "-- 0"]
        cluster.ok("gnt-instance", "remove", "-f", "inst")
        cluster.ok("gnt-backup", "import", "-n", "node2", "--src-node", "node1", "--no-name-check", "--no-ip-check",
                   "--no-nics", "--os-parameters-secret", "pw=sec1", "inst")  # fmt: skip
        (disk,) = (cluster.dir / "node2/srv/gnt/file-storage/inst").iterdir()
        restored = disk.read_bytes().rstrip(b"\0").decode().splitlines()
        assert restored == ["import:OSP_PW=sec1", "import:OSP_TOKEN=priv1", "OSP_TOKEN=priv1", "-- 0"]
        assert "sec1" not in cluster.ok("gnt-job", "info", cluster.ok("gnt-job", "list", "--no-headers",
                                                                      "-o", "id").split()[-1])  # fmt: skip
    finally:
        cluster.run("gnt-instance", "remove", "-f", "inst")
        cluster.run("gnt-backup", "remove", "inst")
