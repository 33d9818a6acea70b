"""N host VMs on a private network of their own, with power control and snapshot restore.

Each host is one QEMU/TCG process with:

- a qcow2 overlay over the shared image's root filesystem (vda) and a qcow2 data disk (vdb, for LVM);
- the read-only seed disk with the gnt checkout (vdc) and, optionally, a raw disk attached to
  every host (vdd, share-rw: a SAN LUN);
- a NIC on a `vde_switch` reached through a unix socket (the private network, 192.168.77.0/24: it
  exists only between the QEMU processes and never routes on this machine);
- optionally a directory of this machine exported to every host by QEMU's virtio-9p (`shared_dir`,
  a file server outside the hosts: a shared file system for sharedfile disks);
- a second NIC on QEMU's user-mode network with `restrict=on` that forwards a port on 127.0.0.1
  to the host's sshd (and any other guest ports asked for), and nothing else.

`save_snapshot()` stores every host's RAM and disks in its qcow2 files (QMP `snapshot-save` with an
explicit device list, so the read-only seed and the shared raw disk are left out; the latter is
copied aside sparsely, and so is the shared directory);
`restore()` brings every host (and the shared disk and directory) back to that instant in a couple of seconds.

The bed's state (PIDs, ports) is kept in `bed.json` in its directory, so the CLI can find hosts
booted by an earlier command.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import re
import shlex
import shutil
import socket
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from . import procs
from .errors import TestbedError
from .image import Image, build_image, cache_dir
from .qmp import Qmp
from .seed import make_seed
from .ssh import RunResult, SshClient, ensure_key

__all__ = ["Host", "TestBed", "NETWORK", "RUN_TOOLS", "SHARED_DIR_MOUNT", "mount_shared_dir", "unmount_shared_dir"]

NETWORK = "192.168.77"
RUN_TOOLS = ("qemu-system-x86_64", "qemu-img", "vde_switch", "mke2fs", "ssh-keygen", "git")
SNAPSHOT_DEVICES = ["root", "data"]
READY_MARKER = "TESTBED-READY"
#: the 9p mount tag of the shared directory (`TestBed(shared_dir=True)`) and where hosts mount it
SHARED_DIR_TAG = "gntshared"
SHARED_DIR_MOUNT = "/srv/shared"
#: 9p over virtio without a client cache (cache=none): every read and write goes to QEMU's file server,
#: so what one host wrote is what the other reads next (a guest migrated between them sees its disk);
#: 512 KiB messages, the virtio transport's largest, for the loop devices on top
SHARED_DIR_OPTIONS = "trans=virtio,version=9p2000.L,cache=none,msize=524288"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _qemu_img(*args: str) -> None:
    proc = subprocess.run(["qemu-img", *args], capture_output=True, text=True)
    if proc.returncode != 0:
        raise TestbedError(f"qemu-img {args[0]} failed: {proc.stderr.strip()}")


@dataclass
class HostState:
    """What is remembered about a host between commands (bed.json)."""

    name: str
    index: int
    ssh_port: int
    forwards: dict[str, int] = field(default_factory=dict)  # guest port (str, for JSON) -> host port
    pid: int = 0


class Host:
    """One host VM: run commands on it, power it off (pull the plug) and on (cold boot)."""

    def __init__(self, bed: TestBed, state: HostState) -> None:
        self.bed = bed
        self.state = state
        self.dir = os.path.join(bed.dir, "hosts", state.name)
        self.ssh = SshClient(bed.key, state.ssh_port)

    def __repr__(self) -> str:
        return f"Host({self.name!r}, ip={self.ip}, ssh=127.0.0.1:{self.ssh_port})"

    name = property(lambda self: self.state.name)
    ssh_port = property(lambda self: self.state.ssh_port)
    pid = property(lambda self: self.state.pid)

    @property
    def ip(self) -> str:
        """The host's address on the private network."""
        return f"{NETWORK}.{self.state.index}"

    @property
    def mac(self) -> str:
        return f"52:54:00:77:00:{self.state.index:02x}"

    @property
    def mgmt_mac(self) -> str:
        return f"52:54:00:78:00:{self.state.index:02x}"

    def port(self, guest_port: int) -> int:
        """The 127.0.0.1 port forwarded to `guest_port` on this host."""
        if guest_port == 22:
            return self.ssh_port
        try:
            return self.state.forwards[str(guest_port)]
        except KeyError:
            raise TestbedError(
                f"guest port {guest_port} of {self.name} is not forwarded (TestBed(forwards=...))"
            ) from None

    def path(self, name: str) -> str:
        return os.path.join(self.dir, name)

    @property
    def qmp_path(self) -> str:
        return self.path("qmp.sock")

    # -- running commands -------------------------------------------------------------------------
    def run(self, command: str, check: bool = True, timeout: float = 120.0, stdin: bytes | str = b"") -> RunResult:
        """Run a shell command on the host as root; with `check`, a non-zero exit raises TestbedError."""
        result = self.ssh.run(command, timeout=timeout, stdin=stdin)
        if check and result.rc != 0:
            raise TestbedError(
                f"{self.name}: {command!r} exited {result.rc}\nstdout: {result.stdout[-2000:]}\n"
                f"stderr: {result.stderr[-2000:]}"
            )
        return result

    # -- power ------------------------------------------------------------------------------------
    def is_running(self) -> bool:
        return bool(self.state.pid) and procs.alive(self.state.pid, self.qmp_path)

    def power_off(self) -> None:
        """Pull the plug: SIGKILL the QEMU process (no shutdown inside the host)."""
        self.ssh.close()
        if self.state.pid:
            procs.kill(self.state.pid, self.qmp_path)
        self.state.pid = 0
        self.bed.save_state()

    def power_on(self, wait: bool = True, timeout: float = 180.0) -> None:
        """Cold-boot the host from its disks as they are now (as after a power cut)."""
        if self.is_running():
            raise TestbedError(f"{self.name} is already running (pid {self.state.pid})")
        self._start()
        if wait:
            self.wait_ready(timeout)

    def wait_ready(self, timeout: float = 180.0) -> None:
        """Wait for the boot marker on the console, then for sshd to take a command."""
        deadline = time.monotonic() + timeout
        while READY_MARKER not in self.console():
            if not self.is_running():
                raise TestbedError(f"{self.name}: QEMU exited during boot\n{self._tail()}")
            if time.monotonic() > deadline:
                raise TestbedError(f"{self.name}: not booted after {timeout:.0f} s\n{self._tail()}")
            time.sleep(0.2)
        self.ssh.connect(max(5.0, deadline - time.monotonic()))

    def console(self) -> str:
        """Everything the host wrote to its serial console since it was (re)started."""
        try:
            with open(self.path("console.log"), errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def _tail(self) -> str:
        log = ""
        try:
            with open(self.path("qemu.log"), errors="replace") as f:
                log = f.read()[-1500:]
        except FileNotFoundError:
            pass
        return f"console: {self.console()[-1500:]}\nqemu: {log}"

    def _start(self, paused: bool = False) -> None:
        for name in ("console.log", "qmp.sock"):
            if os.path.exists(self.path(name)):
                os.unlink(self.path(name))
        argv = self.bed.qemu_argv(self)
        if paused:
            argv.append("-S")
        self.state.pid = procs.spawn(argv, self.path("qemu.log"), detached=self.bed.detached)
        self.bed.save_state()

    def _qmp(self) -> Qmp:
        return Qmp(self.qmp_path)


class TestBed:
    """A set of hosts sharing an image, a seed disk, a private network and (optionally) a LUN."""

    __test__ = False  # not a pytest test class despite the name

    def __init__(
        self,
        directory: str,
        hosts: int | list[str] = 2,
        memory: int = 1024,
        data_size: str = "4G",
        shared_size: str | None = None,
        shared_hosts: list[str] | None = None,
        forwards: tuple[int, ...] = (),
        udev: bool = False,
        image: Image | None = None,
        detached: bool = False,
        shared_dir: bool = False,
    ) -> None:
        """Describe a bed; `create()` makes its files and `start()` boots it.

        Args:
            directory: where the bed's disks, sockets and state go (keep it short: unix sockets).
            hosts: how many (named node1..nodeN), or the names.
            memory: MiB per host.
            data_size: each host's data disk (vdb).
            shared_size: size of a disk attached to every host (vdd), or None for none.
            shared_hosts: the hosts that see the shared disk (default: all).
            forwards: guest TCP ports to forward to 127.0.0.1 besides ssh (`Host.port()`).
            udev: run systemd-udevd in the hosts (slower boot; LVM syncs with udev).
            image: a built image; by default the default spec's, built if needed by `create()`.
            detached: hosts outlive this Python process (the CLI); otherwise they die with it.
            shared_dir: export the directory `shared_dir_path` of this machine to every host (virtio-9p,
                mount tag `gntshared`; `mount_shared_dir(host)` mounts it on /srv/shared).
        """
        self.dir = os.path.abspath(directory)
        names = [f"node{i}" for i in range(1, hosts + 1)] if isinstance(hosts, int) else list(hosts)
        if not names or len(names) > 200:
            raise TestbedError(f"a test bed has 1 to 200 hosts, not {len(names)}")
        for name in names:
            # A name goes on the kernel command line and into /etc/hosts: a plain host name only.
            if not re.fullmatch(r"[a-z][a-z0-9-]{0,31}", name):
                raise TestbedError(f"bad host name {name!r}: use lower-case letters, digits and '-' (up to 32)")
        if len(set(names)) != len(names):
            raise TestbedError(f"host names repeat: {', '.join(names)}")
        self.memory = memory
        self.data_size = data_size
        self.shared_size = shared_size
        unknown = sorted(set(shared_hosts or ()) - set(names))
        if unknown:
            raise TestbedError(f"shared disk for unknown hosts: {', '.join(unknown)}")
        self.shared_hosts = list(shared_hosts) if shared_hosts else None
        self.udev = udev
        self.image = image
        self.detached = detached
        self.shared_dir = shared_dir
        self.key = ensure_key(cache_dir())
        self.vde_pid = 0
        self.hosts = [
            Host(self, HostState(n, i, _free_port(), {str(p): _free_port() for p in forwards}))
            for i, n in enumerate(names, start=1)
        ]

    def __getitem__(self, name: str) -> Host:
        for host in self.hosts:
            if host.name == name:
                return host
        raise TestbedError(f"no host {name!r} in this test bed (hosts: {', '.join(h.name for h in self.hosts)})")

    # -- state ------------------------------------------------------------------------------------
    @property
    def state_path(self) -> str:
        return os.path.join(self.dir, "bed.json")

    def save_state(self) -> None:
        state = {
            "memory": self.memory,
            "data_size": self.data_size,
            "shared_size": self.shared_size,
            "shared_hosts": self.shared_hosts,
            "udev": self.udev,
            "image": dataclasses.asdict(self.image) if self.image else None,
            "vde_pid": self.vde_pid,
            "detached": self.detached,
            "shared_dir": self.shared_dir,
            "hosts": [dataclasses.asdict(h.state) for h in self.hosts],
        }
        with open(self.state_path + ".tmp", "w") as f:
            json.dump(state, f, indent=1)
        os.replace(self.state_path + ".tmp", self.state_path)
        with open(self.ssh_config_path, "w") as f:
            f.write(self.ssh_config())

    @property
    def ssh_config_path(self) -> str:
        """An OpenSSH config naming every host: `ssh -F <bed>/ssh_config node1` (for tools that shell out)."""
        return os.path.join(self.dir, "ssh_config")

    def ssh_config(self) -> str:
        options = (
            f"  HostName 127.0.0.1\n  User root\n  IdentityFile {self.key}\n  IdentitiesOnly yes\n"
            "  StrictHostKeyChecking no\n  UserKnownHostsFile /dev/null\n  LogLevel ERROR\n"
        )
        return "".join(f"Host {h.name}\n  Port {h.ssh_port}\n{options}" for h in self.hosts)

    @classmethod
    def load(cls, directory: str) -> TestBed:
        """The bed an earlier command created in `directory`."""
        try:
            with open(os.path.join(directory, "bed.json")) as f:
                state = json.load(f)
        except FileNotFoundError:
            raise TestbedError(f"no test bed in {directory} (start one with `tools/testbed/testbed up`)") from None
        bed = cls.__new__(cls)
        bed.dir = os.path.abspath(directory)
        bed.memory, bed.data_size, bed.shared_size = state["memory"], state["data_size"], state["shared_size"]
        bed.shared_hosts = state.get("shared_hosts")
        bed.udev = state["udev"]
        bed.image = Image(**state["image"]) if state["image"] else None
        bed.key = ensure_key(cache_dir())
        bed.vde_pid = state["vde_pid"]
        bed.detached = state.get("detached", True)
        bed.shared_dir = state.get("shared_dir", False)
        bed.hosts = [Host(bed, HostState(**h)) for h in state["hosts"]]
        return bed

    # -- building blocks --------------------------------------------------------------------------
    @property
    def switch_path(self) -> str:
        return os.path.join(self.dir, "switch")

    @property
    def seed_path(self) -> str:
        return os.path.join(self.dir, "seed.img")

    @property
    def shared_path(self) -> str:
        return os.path.join(self.dir, "shared.raw")

    @property
    def shared_dir_path(self) -> str:
        """The directory of this machine the hosts share (`shared_dir=True`): files written there are theirs."""
        return os.path.join(self.dir, "shared-dir")

    def kernel_args(self, host: Host) -> str:
        peers = ",".join(f"{h.name}={h.ip}" for h in self.hosts)
        return (
            f"root=/dev/vda rw console=ttyS0 quiet panic=-1 tb.name={host.name} tb.ip={host.ip}/24 "
            f"tb.mac={host.mac} tb.mgmt={host.mgmt_mac} tb.hosts={peers} tb.udev={int(self.udev)}"
        )

    def sees_shared(self, host: Host) -> bool:
        """Whether the shared disk (a SAN LUN) is attached to `host`."""
        return bool(self.shared_size) and (self.shared_hosts is None or host.name in self.shared_hosts)

    def boot_args(self, host: Host) -> list[str]:
        """How QEMU boots `host`: Debian's vmlinux (PVH) and the busybox initramfs.

        A bed of another kind overrides this (a Xen host boots xen as the kernel, with the dom0
        kernel and the initramfs as multiboot modules and `console=hvc0 tb.tty=hvc0`).
        """
        assert self.image is not None
        return ["-kernel", self.image.vmlinux, "-initrd", self.image.initrd, "-append", self.kernel_args(host)]

    def qemu_argv(self, host: Host) -> list[str]:
        """The QEMU command line of `host` (the same for a cold boot and a restore)."""
        fwd = [f"hostfwd=tcp:127.0.0.1:{host.ssh_port}-:22"]
        fwd += [f"hostfwd=tcp:127.0.0.1:{hp}-:{gp}" for gp, hp in sorted(host.state.forwards.items())]
        argv = [
            "qemu-system-x86_64",
            "-name",
            host.name,
            "-machine",
            "q35",
            "-accel",
            "tcg,tb-size=256",
            "-cpu",
            "max",
            "-smp",
            "1",
            "-m",
            str(self.memory),
            "-nodefaults",
            "-no-user-config",
            "-display",
            "none",
            *self.boot_args(host),
            "-serial",
            f"file:{host.path('console.log')}",
            "-qmp",
            f"unix:{host.qmp_path},server=on,wait=off",
            "-netdev",
            f"vde,id=priv,sock={self.switch_path}",
            "-device",
            f"virtio-net-pci,netdev=priv,mac={host.mac},addr=0x3",
            "-netdev",
            "user,id=mgmt,restrict=on,net=10.0.2.0/24," + ",".join(fwd),
            "-device",
            f"virtio-net-pci,netdev=mgmt,mac={host.mgmt_mac},addr=0x4",
        ]
        disks = [
            ("root", "qcow2", host.path("root.qcow2"), "0x5", ""),
            ("data", "qcow2", host.path("data.qcow2"), "0x6", ""),
            ("gnt", "raw", self.seed_path, "0x7", ",read-only=on"),
        ]
        if self.sees_shared(host):
            disks.append(("shared", "raw", self.shared_path, "0x8", ",file.locking=off"))
        for node, fmt, path, addr, extra in disks:
            argv += [
                "-blockdev",
                f"driver={fmt},node-name={node},file.driver=file,file.filename={path}{extra}",
                "-device",
                f"virtio-blk-pci,drive={node},serial={node},addr={addr}" + (",share-rw=on" if node == "shared" else ""),
            ]
        return argv + self.shared_dir_argv()

    def shared_dir_argv(self) -> list[str]:
        """QEMU's 9p file server for the shared directory, one per host, all serving the same directory.

        `passthrough`: files keep the owner and mode the hosts give them (QEMU runs as root here), so
        a host sees the same file whichever host made it. Not in the argv of a bed without it, so
        existing beds' snapshots load as before.
        """
        if not self.shared_dir:
            return []
        return [
            "-fsdev",
            f"local,id=shareddir,path={self.shared_dir_path},security_model=passthrough",
            "-device",
            f"virtio-9p-pci,fsdev=shareddir,mount_tag={SHARED_DIR_TAG},addr=0x9",
        ]

    # -- life cycle -------------------------------------------------------------------------------
    def create(self, log=None) -> None:
        """Build (or reuse) the image, make every host's disks, the seed disk and the switch."""
        missing = [t for t in RUN_TOOLS if not shutil.which(t)]
        if missing:
            raise TestbedError(f"the test bed needs {', '.join(missing)} (tools/install-deps.sh)")
        if self.image is None:
            self.image = build_image(log=log)
        os.makedirs(self.dir, exist_ok=True)
        with open(self.key + ".pub") as f:
            make_seed(self.seed_path, f.read())
        if self.shared_size:
            subprocess.run(["truncate", "-s", str(self.shared_size), self.shared_path], check=True)
        if self.shared_dir:
            os.makedirs(self.shared_dir_path, exist_ok=True)
        for host in self.hosts:
            os.makedirs(host.dir, exist_ok=True)
            _qemu_img("create", "-q", "-f", "qcow2", "-b", self.image.root, "-F", "raw", host.path("root.qcow2"))
            _qemu_img("create", "-q", "-f", "qcow2", host.path("data.qcow2"), self.data_size)
        self._start_switch()
        self.save_state()

    def _start_switch(self) -> None:
        argv = ["vde_switch", "--sock", self.switch_path]
        if self.detached:
            self._start_switch_daemon(argv)
        else:
            self.vde_pid = procs.spawn(argv, os.path.join(self.dir, "switch.log"), detached=False, keep_stdin=True)
        deadline = time.monotonic() + 10
        while not os.path.exists(os.path.join(self.switch_path, "ctl")):
            if time.monotonic() > deadline or not procs.alive(self.vde_pid):
                raise TestbedError(f"vde_switch did not create {self.switch_path}/ctl")
            time.sleep(0.05)

    def _start_switch_daemon(self, argv: list[str]) -> None:
        pidfile = os.path.join(self.dir, "switch.pid")
        if os.path.exists(pidfile):
            os.unlink(pidfile)
        proc = subprocess.run([*argv, "--daemon", "--pidfile", pidfile], capture_output=True, text=True)
        if proc.returncode != 0:
            raise TestbedError(f"vde_switch failed: {proc.stderr.strip()}")
        deadline = time.monotonic() + 10
        while True:
            try:
                with open(pidfile) as f:
                    self.vde_pid = int(f.read().strip())
                break
            except (FileNotFoundError, ValueError):
                if time.monotonic() > deadline:
                    raise TestbedError("vde_switch did not write its pid file") from None
                time.sleep(0.05)

    def start(self, timeout: float = 240.0) -> None:
        """Cold-boot every host that is not running (all at once) and wait until each takes commands."""
        starting = [h for h in self.hosts if not h.is_running()]
        for host in starting:
            host._start()
        with ThreadPoolExecutor(len(starting) or 1) as pool:
            for future in [pool.submit(h.wait_ready, timeout) for h in starting]:
                future.result()

    def save_snapshot(self, tag: str = "booted") -> None:
        """Store every host's RAM and disks (and the shared disk) under `tag`; a same-named one is replaced.

        Hosts keep running afterwards.
        """
        off = [h.name for h in self.hosts if not h.is_running()]
        if off:
            raise TestbedError(f"cannot snapshot: {', '.join(off)} powered off (power on first)")
        for host in self.hosts:
            host.ssh.close()
        time.sleep(0.5)  # let each sshd see its connection go, so the snapshot holds no session
        qmps = {h.name: h._qmp() for h in self.hosts}
        try:
            for qmp in qmps.values():
                qmp.execute("stop")
            if self.shared_size:
                self._copy_sparse(self.shared_path, self._shared_snapshot(tag))

            def save(host: Host) -> None:
                qmp = qmps[host.name]
                with contextlib.suppress(TestbedError):  # no snapshot of that name yet
                    qmp.run_job("snapshot-delete", "delete", tag=tag, devices=SNAPSHOT_DEVICES)
                qmp.run_job("snapshot-save", "save", tag=tag, vmstate="root", devices=SNAPSHOT_DEVICES)

            try:
                self._each(save)
                if self.shared_dir:  # after the hosts' snapshots: a refused one leaves no copy behind
                    self._copy_tree(self.shared_dir_path, self._shared_snapshot(tag, "dir"))
            except TestbedError as err:
                if "VirtFS" in str(err):  # QEMU's own words; the hosts run on (below)
                    raise TestbedError(f"{err} (unmount_shared_dir / `testbed unmount-shared` first)") from None
                raise
            finally:
                for qmp in qmps.values():  # a failed snapshot leaves the hosts running, not paused
                    qmp.execute("cont")
        finally:
            for qmp in qmps.values():
                qmp.close()

    def _shared_snapshot(self, tag: str, kind: str = "raw") -> str:
        return os.path.join(self.dir, f"shared.{tag}.{kind}")

    @staticmethod
    def _copy_tree(src: str, dest: str) -> None:
        """Make `dest`'s content `src`'s (sparse files stay sparse); `dest` itself stays the same directory.

        The shared directory is QEMU's 9p export root, which QEMU holds open: its content is replaced,
        never the directory.
        """
        os.makedirs(dest, exist_ok=True)
        for name in os.listdir(dest):
            path = os.path.join(dest, name)
            if os.path.isdir(path) and not os.path.islink(path):
                shutil.rmtree(path)
            else:
                os.unlink(path)
        proc = subprocess.run(
            ["cp", "-a", "--sparse=always", os.path.join(src, "."), dest], capture_output=True, text=True
        )
        if proc.returncode != 0:
            raise TestbedError(f"copying {src} to {dest} failed: {proc.stderr.strip()}")

    @staticmethod
    def _copy_sparse(src: str, dest: str) -> None:
        """Copy a disk image in place (the destination keeps its inode, so QEMUs that have it open see the copy)."""
        proc = subprocess.run(["cp", "--sparse=always", src, dest], capture_output=True, text=True)
        if proc.returncode != 0:
            raise TestbedError(f"copying {src} to {dest} failed: {proc.stderr.strip()}")

    def restore(self, tag: str = "booted", timeout: float = 60.0) -> None:
        """Bring every host back to the snapshot `tag`; hosts that were off are started.

        All hosts are paused first, then the shared disk gets its content at the snapshot back,
        then each host loads its snapshot and runs again with its clock set to now.
        """
        if self.shared_size and not os.path.exists(self._shared_snapshot(tag)):
            raise TestbedError(f"no snapshot {tag!r} in {self.dir} (take one with save_snapshot / `snapshot`)")
        if self.shared_dir and not os.path.isdir(self._shared_snapshot(tag, "dir")):
            raise TestbedError(f"no snapshot {tag!r} of the shared directory in {self.dir}")
        qmps: dict[str, Qmp] = {}
        try:
            for host in self.hosts:
                host.ssh.close()
                if host.is_running():
                    qmps[host.name] = host._qmp()
                    qmps[host.name].execute("stop")
                else:
                    host._start(paused=True)
                    qmps[host.name] = host._qmp()
            if self.shared_size:
                self._copy_sparse(self._shared_snapshot(tag), self.shared_path)
            if self.shared_dir:
                self._copy_tree(self._shared_snapshot(tag, "dir"), self.shared_dir_path)
            self._each(
                lambda h: qmps[h.name].run_job(
                    "snapshot-load", "load", tag=tag, vmstate="root", devices=SNAPSHOT_DEVICES
                )
            )
            for qmp in qmps.values():
                qmp.execute("cont")
        finally:
            for qmp in qmps.values():
                qmp.close()

        def reconnect(host: Host) -> None:
            host.ssh.connect(timeout)
            host.run(f"date -u -s @{time.time():.3f} >/dev/null")

        self._each(reconnect)

    def _each(self, func) -> None:
        """Call `func(host)` for every host at once (ssh handshakes against emulated CPUs are slow)."""
        with ThreadPoolExecutor(len(self.hosts)) as pool:
            for future in [pool.submit(func, h) for h in self.hosts]:
                future.result()

    def stop(self) -> None:
        """Kill every QEMU and the switch (by PID); disks stay, so `start()` boots the hosts again."""
        for host in self.hosts:
            host.power_off()
        if self.vde_pid:
            procs.kill(self.vde_pid, self.switch_path)
            self.vde_pid = 0
        if os.path.isdir(self.dir):
            self.save_state()

    def destroy(self) -> None:
        """Stop everything and remove the bed's directory."""
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


def mount_shared_dir(host: Host, mountpoint: str = SHARED_DIR_MOUNT) -> None:
    """Mount the bed's shared directory on `host` (idempotent).

    While a host has it mounted QEMU refuses to snapshot that host ("Migration is disabled when
    VirtFS export path ... is mounted"): unmount it on every host before `save_snapshot()`.
    """
    q = shlex.quote(mountpoint)
    host.run(
        f"modprobe -a 9pnet_virtio 9p && mkdir -p {q} &&"
        f" {{ mountpoint -q {q} || mount -t 9p -o {SHARED_DIR_OPTIONS} {SHARED_DIR_TAG} {q}; }}"
    )


def unmount_shared_dir(host: Host, mountpoint: str = SHARED_DIR_MOUNT) -> None:
    """Unmount the shared directory on `host` if it is mounted (QEMU then lets the host be snapshotted)."""
    q = shlex.quote(mountpoint)
    host.run(f"! mountpoint -q {q} || umount {q}")
