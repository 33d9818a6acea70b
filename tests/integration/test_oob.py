"""Out-of-band management on a virtual cluster: a real OOB program (written here) powers a virtual
node's daemon off and on, and records every call; `gnt-node power|health`, `gnt-cluster epo`."""

from __future__ import annotations

from pathlib import Path

from tests.integration.vcluster import ADD_DISKLESS, VCluster, alive, wait_for

OOB_SCRIPT = r"""#!/bin/sh
# A virtual node's "power": its node daemon (and its guests). Records each call in CALLS.
DIR=@DIR@
printf '%s\n' "$*" >> @CALLS@
pidf="$DIR/$2/var/run/gnt/gnt-noded.pid"
up() {
  [ -s "$pidf" ] || return 1
  state=$(sed 's/.*) //' "/proc/$(cat "$pidf")/stat" 2>/dev/null | cut -d' ' -f1)
  [ -n "$state" ] && [ "$state" != Z ]
}
off() {
  if up; then pid=$(cat "$pidf"); kill -KILL "$pid"; while up; do sleep 0.05; done; fi
  rm -f "$pidf"
  for p in "$DIR/$2"/var/run/gnt/instances/fake/*/pid; do [ -e "$p" ] && kill -KILL "$(cat "$p")" 2>/dev/null; done
  return 0
}
case "$1" in
  power-status) if up; then echo '{"powered": true}'; else echo '{"powered": false}'; fi ;;
  health) if up; then echo '[["noded", "OK"], ["disk", "WARNING"]]'; else echo '[["noded", "CRITICAL"]]'; fi ;;
  power-off) off "$@" ;;
  power-on) "$DIR/start-all" >/dev/null 2>&1 ;;
  power-cycle) off "$@"; "$DIR/start-all" >/dev/null 2>&1 ;;
  *) echo "unknown command $1" >&2; exit 1 ;;
esac
"""


def _install_oob(vc: VCluster, tmp_path: Path, *nodes: str) -> tuple[Path, Path]:
    calls = tmp_path / "oob-calls"
    script = tmp_path / "oob-program"
    script.write_text(OOB_SCRIPT.replace("@DIR@", str(vc.dir)).replace("@CALLS@", str(calls)))
    script.chmod(0o755)
    for node in nodes:
        vc.ok("gnt-node", "modify", "--node-parameters", f"oob_program={script}", node)
    return script, calls


def _noded_up(vc: VCluster, node: str) -> bool:
    pid_file = vc.pid_path(node, "gnt-noded")
    return pid_file.exists() and alive(int(pid_file.read_text()))


def test_power_and_health_through_the_oob_program(fresh_cluster: VCluster, tmp_path: Path) -> None:
    vc = fresh_cluster
    # only an absolute, normalised path is accepted, and nothing is stored otherwise
    bad = vc.run("gnt-node", "modify", "--node-parameters", "oob_program=oob.sh", "node3")
    assert bad.rc == 1 and "oob_program must be a normalised absolute path" in bad.err
    _, calls = _install_oob(vc, tmp_path, "node3")
    assert vc.ok("gnt-node", "power", "status", "node3").splitlines() == ["Node  Status", "node3 powered"]
    # nodes without a program are "(unavail)" and make the exit code 1, as in Ganeti
    every = vc.run("gnt-node", "power", "--no-headers", "--separator=|", "status")
    assert every.rc == 1 and every.out.splitlines() == ["node1|(unavail)", "node2|(unavail)", "node3|powered"]
    health = vc.ok("gnt-node", "health", "node3")
    assert "WARNING: Item 'disk' on node 'node3' has status 'WARNING'" in health  # the job's log line
    assert health.splitlines()[-3:] == ["Node  Status", "node3 noded=OK", "      disk=WARNING"]
    # refusals: unknown subcommand, no node, no confirmation, the master
    assert vc.run("gnt-node", "power", "ping", "node3").err.strip().endswith("power subcommand ping not supported.")
    assert "at least one node" in vc.run("gnt-node", "power", "-f", "off").err
    assert "use -f/--force" in vc.run("gnt-node", "power", "off", "node3").err
    master = vc.run("gnt-node", "power", "-f", "--ignore-status", "off", "node1")
    assert master.rc == 1 and "Operating on the master node node1 is not allowed for power-off" in master.err
    assert calls.read_text().splitlines() == ["power-status node3", "power-status node3", "health node3"]
    # power off: the node is marked offline first, then its daemon is gone and it shows unpowered
    assert vc.ok("gnt-node", "power", "-f", "off", "node3").splitlines()[1] == "node3 invoked"
    assert not _noded_up(vc, "node3")
    listing = vc.ok("gnt-node", "list", "--no-headers", "-o", "name,offline,powered", "node3").split()
    assert listing == ["node3", "Y", "N"]
    refused = vc.run("gnt-node", "modify", "-O", "no", "node3")
    assert refused.rc == 1 and "Please power on node node3 first" in refused.err
    # power on brings the daemon back; then the admin clears the offline flag
    assert vc.ok("gnt-node", "power", "on", "node3").splitlines()[1] == "node3 invoked"
    assert _noded_up(vc, "node3")
    vc.ok("gnt-node", "modify", "-O", "no", "node3")
    listing = vc.ok("gnt-node", "list", "--no-headers", "-o", "name,offline,powered", "node3").split()
    assert listing == ["node3", "N", "Y"]
    assert calls.read_text().splitlines()[3:] == ["power-off node3", "power-on node3"]


def test_epo_stops_instances_then_powers_nodes_off_and_on(fresh_cluster: VCluster, tmp_path: Path) -> None:
    vc = fresh_cluster
    _, calls = _install_oob(vc, tmp_path, "node2", "node3")
    vc.ok(*ADD_DISKLESS, "-B", "memory=32M", "-n", "node2", "epo-a")
    # refusals before anything happens
    assert "Only one of --groups or --all are allowed" in vc.run("gnt-cluster", "epo", "--groups", "--all").err
    assert "with --all are not allowed" in vc.run("gnt-cluster", "epo", "--all", "node2").err
    master = vc.run("gnt-cluster", "epo", "-f", "node1", "node2")
    assert master.rc == 1 and "node1 is the master node, please do a master-failover" in master.err
    assert not calls.exists()
    off = vc.run("gnt-cluster", "epo", "-f", "node2", "node3")
    assert off.rc == 0, off.text
    assert "Submit shutdown of instance epo-a" in off.out and "All instances have been stopped successfully" in off.out
    assert calls.read_text().splitlines() == ["power-off node2", "power-off node3"]
    assert not _noded_up(vc, "node2") and not _noded_up(vc, "node3")
    # already off: skipped; --on brings them back and restarts the instance
    on = vc.run("gnt-cluster", "epo", "--on", "-f", "--power-delay=0", "node2", "node3")
    assert on.rc == 0, on.text
    assert calls.read_text().splitlines()[2:] == ["power-on node2", "power-on node3"]
    assert "All instances have been started successfully" in on.out
    wait_for(lambda: vc.instance_field("epo-a", "oper_state") == "Y", 30)


def _log_text(vc: VCluster, node: str) -> str:
    return "".join(p.read_text(errors="replace") for p in (vc.dir / node / "var/log/gnt").glob("*") if p.is_file())


def test_powercycle_reboots_only_that_virtual_node(fresh_cluster: VCluster) -> None:
    from tests.integration.test_rapi import Rapi

    vc = fresh_cluster
    vc.ok(*ADD_DISKLESS, "-B", "memory=32M", "-n", "node3", "pc-a")
    guest = vc.guest_pid("node3", "pc-a")
    noded = int(vc.pid_path("node3", "gnt-noded").read_text())
    unconfirmed = vc.run("gnt-node", "powercycle", "node3")
    assert unconfirmed.rc == 1 and "use --yes" in unconfirmed.err
    master = vc.run("gnt-node", "powercycle", "--yes", "node1")
    assert master.rc == 1 and "The node is the master and the force parameter was not set" in master.err
    assert vc.run("gnt-node", "powercycle", "--yes", "node9").rc == 1
    serving_before = _log_text(vc, "node3").count("serving on")
    done = vc.run("gnt-node", "powercycle", "--yes", "node3")
    assert done.rc == 0 and "Reboot scheduled in 5 seconds" in done.err, done.text
    # the virtual node "reboots": its guest dies, its daemon starts afresh (same process, re-executed)
    wait_for(lambda: not alive(guest), 30)
    wait_for(lambda: _log_text(vc, "node3").count("serving on") > serving_before, 30)
    assert "powercycling this node now" in _log_text(vc, "node3")
    assert alive(noded) and int(vc.pid_path("node3", "gnt-noded").read_text()) == noded
    assert alive(int(vc.pid_path("node2", "gnt-noded").read_text()))  # the other nodes are untouched
    answers = lambda: vc.run("gnt-node", "list", "--no-headers", "-o", "mtotal", "node3").out.strip()  # noqa: E731
    wait_for(lambda: answers() not in ("", "?", "*"), 30)
    # RAPI: Ganeti's resource; the master without force is the job's error
    users = vc.dir / "node1/var/lib/gnt/rapi/users"
    users.parent.mkdir(parents=True, exist_ok=True)
    users.write_text("admin s3cret write\n")
    users.chmod(0o600)
    rapi = Rapi(vc)
    status, job_id = rapi.call("POST", "/2/nodes/node1/powercycle", user="admin:s3cret")
    assert status == 200 and isinstance(job_id, int)
    wait_for(lambda: rapi.call("GET", f"/2/jobs/{job_id}", user="admin:s3cret")[1]["status"] == "error", 20)
    job = rapi.call("GET", f"/2/jobs/{job_id}", user="admin:s3cret")[1]
    assert job["ops"][0] == {**job["ops"][0], "OP_ID": "OP_NODE_POWERCYCLE", "node_name": "node1", "force": False}
