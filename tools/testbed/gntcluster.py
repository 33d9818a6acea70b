"""A running gnt cluster on a bed's hosts, set up as an admin would on real machines.

Every host gets what `gnt-cluster init` and `gnt-node add` expect to find (issue 9 will make
`gnt-node add` do most of it itself): the data disk made a volume group, the test OS definition
(`noop`, from the checkout) in the OS search path, `gnt-noded` running (it waits for the cluster
certificate before it listens), and the master's root ssh key trusted by every other host, whose
host key the master knows (read through the bed's own ssh connection, never accepted blindly).
Then the first host runs `gnt-cluster init` with the fake hypervisor and `gnt-node add`s the others
over the private network, and a RAPI user is written for clients on other hosts.

The daemons are started with `setsid` (no systemd in the hosts) and log to /var/log/gnt.
"""

from __future__ import annotations

import shlex
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from .bed import Host, TestBed
from .errors import TestbedError
from .ssh import RunResult

__all__ = ["ClusterSpec", "GntCluster", "start_gnt_cluster", "start_noded"]

RAPI_PORT = 5080  # gnt.constants' default; the master's RAPI listens on its primary address
NODED_PORT = 1811


@dataclass(frozen=True)
class ClusterSpec:
    """What cluster to make: the first host in `hosts` is the master, the others are added."""

    hosts: tuple[str, ...] = ("node1", "node2")
    name: str = "cluster1"
    vg: str = "xenvg"
    disk_templates: tuple[str, ...] = ("plain", "file")
    hypervisor: str = "fake"
    os_name: str = "noop"
    rapi_user: str = "gnt-test"
    rapi_password: str = "testbed-rapi-secret"


@dataclass
class GntCluster:
    """A gnt cluster running on `bed`'s hosts; `gnt()` runs a command on the master."""

    bed: TestBed
    spec: ClusterSpec
    #: seconds each set-up step took ("prepare hosts", "init", "node add node2", ...)
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def master(self) -> Host:
        return self.bed[self.spec.hosts[0]]

    @property
    def nodes(self) -> list[Host]:
        """Every host of the cluster, the master first."""
        return [self.bed[name] for name in self.spec.hosts]

    def gnt(self, command: str, check: bool = True, timeout: float = 300.0) -> RunResult:
        """Run a gnt command line (`gnt-instance list`, ...) on the master node as root."""
        return self.master.run(command, check=check, timeout=timeout)

    def rapi_url(self, path: str) -> str:
        """The RAPI URL of `path` (`/2/info`) as other hosts reach it over the private network."""
        return f"https://{self.master.ip}:{RAPI_PORT}{path}"


def _prepare_host(host: Host, spec: ClusterSpec) -> None:
    """Volume group and OS definition on one host (gnt installed, no gnt daemon running)."""
    host.run(f"modprobe dm_mod && pvcreate -q /dev/vdb && vgcreate -q {shlex.quote(spec.vg)} /dev/vdb")
    os_dir = f"/opt/gnt/os/{shlex.quote(spec.os_name)}"
    host.run(f"mkdir -p /srv/gnt/os && cp -a {os_dir} /srv/gnt/os/")
    # no gnt-noded yet: `gnt-cluster init` starts the master's and `gnt-node add` each other node's


def start_noded(host: Host, wait_serving: bool = True, timeout: float = 120.0) -> None:
    """Start gnt-noded on `host` (detached, as after a reboot); with `wait_serving`, until its port answers.

    Hosts have no init system that would start it: after a power cycle a test starts it with this.
    """
    pid = host.run("mkdir -p /var/log/gnt && (setsid gnt-noded </dev/null >>/var/log/gnt/noded.out 2>&1 & echo $!)")
    host.run(f"sleep 0.5; test -d /proc/{int(pid.stdout.strip())} || {{ cat /var/log/gnt/noded.out; exit 1; }}")
    if wait_serving:
        probe = f"timeout 1 bash -c '</dev/tcp/127.0.0.1/{NODED_PORT}' 2>/dev/null"
        waited = host.run(
            f"for i in $(seq {int(timeout)}); do {probe} && exit 0; sleep 1; done; tail -3 /var/log/gnt/gnt-noded.log;"
            " exit 1",
            check=False,
            timeout=timeout + 30,
        )
        if waited.rc != 0:
            raise TestbedError(f"{host.name}: gnt-noded not serving after {timeout:.0f} s: {waited.stdout.strip()}")


def _trust_master(master: Host, others: list[Host]) -> None:
    """The master's root key in every other host's authorized_keys, their host keys in its known_hosts."""
    public = master.run(
        "test -f /root/.ssh/id_ed25519 || ssh-keygen -q -t ed25519 -N '' -f /root/.ssh/id_ed25519;"
        " cat /root/.ssh/id_ed25519.pub"
    ).stdout.strip()
    known = []
    for host in others:
        host.run("umask 077 && mkdir -p /root/.ssh && cat >> /root/.ssh/authorized_keys", stdin=public + "\n")
        key = host.run("cut -d' ' -f1,2 /etc/ssh/ssh_host_ed25519_key.pub").stdout.strip()
        known.append(f"{host.name},{host.ip} {key}\n")
    master.run("umask 077 && cat >> /root/.ssh/known_hosts", stdin="".join(known))


def _write_rapi_user(master: Host, spec: ClusterSpec) -> None:
    line = f"{spec.rapi_user} {{CLEARTEXT}}{spec.rapi_password} write\n"
    master.run("umask 077 && mkdir -p /var/lib/gnt/rapi && cat > /var/lib/gnt/rapi/users", stdin=line)


def start_gnt_cluster(bed: TestBed, spec: ClusterSpec | None = None) -> GntCluster:
    """Make a gnt cluster of `spec.hosts` on freshly booted hosts and return it (timings included)."""
    spec = spec or ClusterSpec()
    cluster = GntCluster(bed, spec)
    hosts = cluster.nodes
    if len(set(spec.hosts)) != len(spec.hosts) or not hosts:
        raise TestbedError(f"a cluster needs distinct hosts, not {spec.hosts}")

    def step(name: str, func, *args) -> None:  # type: ignore[no-untyped-def]
        start = time.monotonic()
        func(*args)
        cluster.timings[name] = time.monotonic() - start

    def prepare_all() -> None:
        with ThreadPoolExecutor(len(hosts)) as pool:
            for future in [pool.submit(_prepare_host, h, spec) for h in hosts]:
                future.result()

    step("prepare hosts (VG, OS)", prepare_all)
    step("ssh trust", _trust_master, cluster.master, hosts[1:])
    init = (
        f"gnt-cluster init --enabled-hypervisors {spec.hypervisor}"
        f" --enabled-disk-templates {','.join(spec.disk_templates)} --vg-name {shlex.quote(spec.vg)}"
        f" {shlex.quote(spec.name)}"
    )
    step("gnt-cluster init", cluster.gnt, init)
    _write_rapi_user(cluster.master, spec)
    for host in hosts[1:]:
        step(f"gnt-node add {host.name}", cluster.gnt, f"gnt-node add {host.name}")
    return cluster
