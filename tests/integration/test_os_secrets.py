"""Private and secret OS parameters on a virtual cluster, through the real CLI and RAPI: the OS
scripts get them as OSP_*, and a grep of every file the cluster wrote finds the secret nowhere
(job store, config, logs, replicas on the other node) and the private value only where it is kept."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from tests.integration.conftest import running_cluster
from tests.integration.test_os_providers import _install_rec
from tests.integration.test_rapi import Rapi
from tests.integration.vcluster import VCluster

ADD = ["gnt-instance", "add", "--no-name-check", "--no-ip-check", "--no-nics", "--no-start", "-n", "node2"]
ADD_FILE = [*ADD, "-t", "file", "--disk", "0:size=1M", "-o", "rec+small"]
SECRET = "Secret-4f1c9e-never-written"
SECRET2 = "Secret-77ab02-second-install"
PRIVATE = "Private-9d3e51-kept-hidden"


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[VCluster]:
    """Two nodes (node2 a master candidate holding replicas) with the `rec` test OS, whose create
    script writes its environment onto the instance's disk 0."""
    directory = tmp_path_factory.mktemp("vc-secrets")
    with running_cluster(directory, 2) as vc:
        for node in ("node1", "node2"):
            _install_rec(vc.dir / node)
            with open(vc.dir / node / "srv/gnt/os/rec/parameters.list", "a") as params:
                params.write("dhcp_key A key the guest's DHCP client uses\nroot_pw The root password\npw A password\n")
        users = vc.dir / "node1/var/lib/gnt/rapi/users"
        users.parent.mkdir(parents=True, exist_ok=True)
        users.write_text("admin s3cret write\n")
        users.chmod(0o600)
        yield vc


def _disk_env(cluster: VCluster, name: str) -> dict[str, str]:
    (disk,) = (cluster.dir / "node2/srv/gnt/file-storage" / name).iterdir()
    lines = disk.read_bytes().decode(errors="replace").splitlines()
    return dict(line.split("=", 1) for line in lines if "=" in line)


def _files_holding(cluster: VCluster, needle: str) -> list[str]:
    """Every file under the cluster's directory holding `needle`, except instance disks (where the
    test OS wrote its environment on purpose)."""
    found = []
    for path in cluster.dir.rglob("*"):
        if not path.is_file() or path.is_symlink() or "file-storage" in path.parts:
            continue
        try:
            if needle.encode() in path.read_bytes():
                found.append(str(path.relative_to(cluster.dir)))
        except OSError:
            continue
    return found


def _job_of_last(cluster: VCluster, op_id: str) -> str:
    rows = cluster.ok("gnt-job", "list", "--no-headers", "-o", "id,summary").splitlines()
    return [line.split()[0] for line in rows if op_id in line][-1]


def test_secret_and_private_parameters_reach_the_os_scripts_and_no_file_holds_the_secret(cluster: VCluster) -> None:
    rapi = Rapi(cluster)
    try:
        cluster.ok(*ADD_FILE, "-O", "dhcp=no", "--os-parameters-private", f"dhcp_key={PRIVATE}",
                   "--os-parameters-secret", f"root_pw={SECRET}", "inst")  # fmt: skip
        env = _disk_env(cluster, "inst")
        assert (env["OSP_DHCP"], env["OSP_DHCP_KEY"], env["OSP_ROOT_PW"]) == ("no", PRIVATE, SECRET)
        job = _job_of_last(cluster, "INSTANCE_CREATE")
        info = cluster.ok("gnt-job", "info", job)
        assert "<redacted>" in info and SECRET not in info and PRIVATE not in info
        status, body = rapi.call("GET", f"/2/jobs/{job}", user="admin:s3cret")
        assert status == 200 and body["ops"][0]["osparams_secret"] == {"root_pw": "<redacted>"}
        assert body["ops"][0]["osparams_private"] == {"dhcp_key": "<redacted>"}
        status, bulk = rapi.call("GET", "/2/jobs?bulk=1", user="admin:s3cret")
        status2, inst = rapi.call("GET", "/2/instances/inst", user="admin:s3cret")
        shown = json.dumps([bulk, inst]) + cluster.ok("gnt-instance", "info", "inst")
        shown += cluster.ok("gnt-instance", "list", "-o", "name,osparams")
        assert (status, status2) == (200, 200) and SECRET not in shown and PRIVATE not in shown

        # a reinstall gets the stored private parameter again, and only this job's secret
        cluster.ok("gnt-instance", "reinstall", "-f", "--os-parameters-secret", f"root_pw={SECRET2}", "inst")
        env = _disk_env(cluster, "inst")
        assert (env["OSP_DHCP_KEY"], env["OSP_ROOT_PW"]) == (PRIVATE, SECRET2)
        cluster.ok("gnt-instance", "reinstall", "-f", "inst")
        assert "OSP_ROOT_PW" not in _disk_env(cluster, "inst") and _disk_env(cluster, "inst")["OSP_DHCP_KEY"] == PRIVATE
    finally:
        cluster.run("gnt-instance", "remove", "-f", "inst")
    assert _files_holding(cluster, SECRET) == []
    assert _files_holding(cluster, SECRET2) == []
    # the private value is kept: in the config and the job store (both nodes), nowhere else
    kept = _files_holding(cluster, PRIVATE)
    assert kept and all("/var/lib/gnt/" in f"/{path}" for path in kept), kept


def test_a_bad_secret_is_refused_without_echoing_it(cluster: VCluster) -> None:
    result = cluster.run(*ADD_FILE, "--os-parameters-secret", "1bad=" + SECRET, "inst")
    assert result.rc == 1 and "the value is not shown" in result.err and SECRET not in result.text
    result = cluster.run(*ADD_FILE, "-O", "dhcp=no", "--os-parameters-secret", "dhcp=" + SECRET, "inst")
    assert result.rc == 1 and "OS parameter 'dhcp' is given as both public and secret" in result.err
    assert SECRET not in result.text


def test_gnt_os_modify_private_parameters_are_used_and_shown_redacted(cluster: VCluster) -> None:
    cluster.ok("gnt-os", "modify", "--os-parameters-private", f"dhcp={PRIVATE}", "rec")
    try:
        assert "dhcp: <redacted>" in cluster.ok("gnt-os", "info", "rec")
        cluster.ok(*ADD_FILE, "inst2")
        assert _disk_env(cluster, "inst2")["OSP_DHCP"] == PRIVATE
    finally:
        cluster.run("gnt-instance", "remove", "-f", "inst2")
        cluster.ok("gnt-os", "modify", "--os-parameters-private", "dhcp=default", "rec")
    assert PRIVATE not in cluster.ok("gnt-os", "info", "rec")


def test_gnt_debug_test_osparams_reports_what_arrived(cluster: VCluster) -> None:
    out = cluster.ok("gnt-debug", "test-osparams", "--os-parameters-secret", f"pw={SECRET},b=x")
    assert f"Secret OS parameters: b (1 characters), pw ({len(SECRET)} characters)" in out
    result = cluster.run("gnt-debug", "test-osparams")
    assert result.rc == 1 and "Opcode needs secret parameters" in result.err
    assert _files_holding(cluster, SECRET) == []


def test_a_queued_job_with_secrets_fails_clearly_after_a_master_restart(cluster: VCluster) -> None:
    cluster.ok("gnt-cluster", "modify", "--max-running-jobs", "1")
    try:
        blocker = cluster.submit("gnt-debug", "delay", "60")
        queued = cluster.submit("gnt-debug", "test-osparams", "--os-parameters-secret", f"pw={SECRET}")
        assert cluster.job_status(queued) in ("queued", "waiting")
        cluster.kill_daemon("node1", "gnt-masterd")
        cluster.start_masterd("node1")
        assert cluster.wait_job(blocker) == "error"
        assert cluster.wait_job(queued) == "error"
        info = cluster.ok("gnt-job", "info", str(queued))
        assert "was submitted with secret OS parameters" in info and "submit the job again" in info
    finally:
        cluster.ok("gnt-cluster", "modify", "--max-running-jobs", "20")
    assert _files_holding(cluster, SECRET) == []
