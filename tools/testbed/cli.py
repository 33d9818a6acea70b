"""`tools/testbed/testbed`: build the host image and boot, reach, power and restore hosts by hand.

Hosts outlive the command that booted them; their state lives in the bed directory
(--dir, GNT_TESTBED_DIR, default /tmp/gnt-testbed), so later commands find them by PID.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

from .bed import SHARED_DIR_MOUNT, TestBed, mount_shared_dir, unmount_shared_dir
from .errors import TestbedError
from .image import build_image
from .ssh import ssh_argv

__all__ = ["main"]

EPILOG = """examples:
  tools/testbed/testbed up -n 2 --shared 1G     boot node1 and node2 (192.168.77.1-2) with a shared LUN
  tools/testbed/testbed ssh node1 lvs           run a command (no command: a login shell)
  tools/testbed/testbed off node2; tools/testbed/testbed on node2
  tools/testbed/testbed snapshot; ...; tools/testbed/testbed restore
  tools/testbed/testbed cluster                 a running gnt cluster on every host (node1 the master)
  tools/testbed/testbed down                    kill every QEMU of the bed and remove its files
  tools/testbed/testbed up -n 1 --xen           a Xen 4.17 host (PV dom0, xl ready)
  tools/testbed/testbed up --shared-dir; tools/testbed/testbed mount-shared
                                                <dir>/shared-dir on /srv/shared in every host (9p)
"""


def _log(msg: str) -> None:
    print(f"testbed: {msg}", file=sys.stderr, flush=True)


def _status(bed: TestBed) -> None:
    print(f"{'host':10} {'address':15} {'ssh':16} {'pid':>8}  state")
    for h in bed.hosts:
        state = "running" if h.is_running() else "off"
        fwd = "".join(f"  {gp}->127.0.0.1:{hp}" for gp, hp in sorted(h.state.forwards.items()))
        print(f"{h.name:10} {h.ip:15} 127.0.0.1:{h.ssh_port:<6} {h.pid or '-':>8}  {state}{fwd}")


def _load(directory: str) -> TestBed:
    """The bed in `directory`; a Xen bed (it has xen.json) as a XenTestBed."""
    if os.path.exists(os.path.join(directory, "xen.json")):
        from .xen import XenTestBed

        return XenTestBed.load(directory)
    return TestBed.load(directory)


def cmd_build(args: argparse.Namespace) -> int:
    t = time.monotonic()
    if args.xen:
        from .xen import build_xen

        image, boot = build_xen(log=_log)
        print(f"xen {boot.xen}\n  dom0 kernel {boot.dom0_kernel}")
    else:
        image = build_image(log=_log)
    print(f"image {image.key} (kernel {image.kernel_release}) in {time.monotonic() - t:.1f} s")
    print(f"  root {image.root}\n  kernel {image.vmlinux}\n  initrd {image.initrd}")
    return 0


def cmd_up(args: argparse.Namespace) -> int:
    if os.path.exists(os.path.join(args.dir, "bed.json")):
        raise TestbedError(f"a test bed already exists in {args.dir}: `down` it first or pass --dir")
    hosts: int | list[str] = args.names.split(",") if args.names else args.hosts
    bed_class = TestBed
    if args.xen:
        from .xen import XenTestBed

        bed_class = XenTestBed
    bed = bed_class(
        args.dir,
        hosts=hosts,
        memory=args.memory or (2048 if args.xen else 1024),
        data_size=args.data_size,
        shared_size=args.shared,
        shared_hosts=args.shared_hosts.split(",") if args.shared_hosts else None,
        forwards=tuple(args.forward),
        udev=args.udev,
        detached=True,
        shared_dir=args.shared_dir,
    )
    t = time.monotonic()
    try:
        bed.create(log=_log)
        _log(f"booting {len(bed.hosts)} hosts")
        bed.start()
    except BaseException:
        bed.destroy()
        raise
    _log(f"ready in {time.monotonic() - t:.1f} s")
    _status(bed)
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    _status(_load(args.dir))
    return 0


def cmd_ssh(args: argparse.Namespace) -> int:
    bed = _load(args.dir)
    host = bed[args.host]
    argv = ssh_argv(bed.key, host.ssh_port) + ([" ".join(args.command)] if args.command else [])
    os.execvp(argv[0], argv)
    return 1  # not reached


def cmd_off(args: argparse.Namespace) -> int:
    _load(args.dir)[args.host].power_off()
    return 0


def cmd_on(args: argparse.Namespace) -> int:
    bed = _load(args.dir)
    bed[args.host].power_on()
    if os.path.exists(os.path.join(args.dir, "xen.json")):
        from .xen import start_xen

        start_xen(bed[args.host])
    _status(bed)
    return 0


def cmd_snapshot(args: argparse.Namespace) -> int:
    _load(args.dir).save_snapshot(args.tag)
    return 0


def cmd_restore(args: argparse.Namespace) -> int:
    t = time.monotonic()
    _load(args.dir).restore(args.tag)
    _log(f"restored '{args.tag}' in {time.monotonic() - t:.1f} s")
    return 0


def cmd_mount_shared(args: argparse.Namespace) -> int:
    bed = _load(args.dir)
    if not bed.shared_dir:
        raise TestbedError(f"the bed in {args.dir} has no shared directory (`up --shared-dir`)")
    for name in args.hosts or [h.name for h in bed.hosts]:
        (unmount_shared_dir if args.cmd == "unmount-shared" else mount_shared_dir)(bed[name])
    _log(f"{bed.shared_dir_path} on {SHARED_DIR_MOUNT}" if args.cmd == "mount-shared" else "unmounted")
    return 0


def cmd_cluster(args: argparse.Namespace) -> int:
    from .gntcluster import ClusterSpec, start_gnt_cluster

    bed = _load(args.dir)
    names = tuple(args.hosts.split(",")) if args.hosts else tuple(h.name for h in bed.hosts)
    t = time.monotonic()
    cluster = start_gnt_cluster(bed, ClusterSpec(hosts=names))
    for step, seconds in cluster.timings.items():
        _log(f"{step}: {seconds:.1f} s")
    _log(f"cluster {cluster.spec.name} up in {time.monotonic() - t:.1f} s; `ssh {names[0]} gnt-cluster verify`")
    return 0


def cmd_down(args: argparse.Namespace) -> int:
    if not os.path.exists(os.path.join(args.dir, "bed.json")):
        _log(f"no test bed in {args.dir}")
        return 0
    _load(args.dir).destroy()
    return 0


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="testbed", description=__doc__, epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--dir", default=os.environ.get("GNT_TESTBED_DIR", "/tmp/gnt-testbed"), help="bed directory")
    sub = p.add_subparsers(dest="cmd", required=True)
    build = sub.add_parser("build", help="build the host image (or say it is cached)")
    build.add_argument("--xen", action="store_true", help="the Xen image and boot files instead")
    build.set_defaults(func=cmd_build)
    up = sub.add_parser("up", help="create the bed and boot its hosts")
    up.add_argument("-n", "--hosts", type=int, default=2, help="number of hosts, named node1..nodeN (default 2)")
    up.add_argument("--names", help="comma-separated host names instead of -n")
    up.add_argument("--memory", type=int, default=0, help="MiB per host (default 1024, 2048 with --xen)")
    up.add_argument("--xen", action="store_true", help="hosts run Xen 4.17 with a PV dom0 (the bookworm-xen image)")
    up.add_argument("--data-size", default="4G", help="each host's data disk, for LVM (default 4G)")
    up.add_argument("--shared", metavar="SIZE", help="a disk attached to every host (a SAN LUN)")
    up.add_argument("--shared-hosts", metavar="A,B", help="attach the shared disk to these hosts only")
    up.add_argument("--forward", type=int, action="append", default=[], help="also forward this guest TCP port")
    up.add_argument(
        "--shared-dir",
        action="store_true",
        help="export <dir>/shared-dir to every host (virtio-9p, mount tag gntshared; `testbed mount-shared`)",
    )
    up.add_argument("--udev", action="store_true", help="run systemd-udevd in the hosts (about 5 s more boot)")
    up.set_defaults(func=cmd_up)
    sub.add_parser("status", help="hosts, addresses, ports and PIDs").set_defaults(func=cmd_status)
    ssh = sub.add_parser("ssh", help="ssh to a host (with a command: run it)")
    ssh.add_argument("host")
    ssh.add_argument("command", nargs=argparse.REMAINDER)
    ssh.set_defaults(func=cmd_ssh)
    for name, func, text in (("off", cmd_off, "pull a host's plug"), ("on", cmd_on, "cold-boot a host")):
        sp = sub.add_parser(name, help=text)
        sp.add_argument("host")
        sp.set_defaults(func=func)
    for name, func, text in (
        ("snapshot", cmd_snapshot, "save every host's RAM and disks"),
        ("restore", cmd_restore, "bring every host back to a snapshot"),
    ):
        sp = sub.add_parser(name, help=text)
        sp.add_argument("tag", nargs="?", default="booted")
        sp.set_defaults(func=func)
    for name, text in (
        ("mount-shared", f"mount the shared directory (up --shared-dir) on {SHARED_DIR_MOUNT}"),
        ("unmount-shared", "unmount it (QEMU snapshots no host that has it mounted)"),
    ):
        sp = sub.add_parser(name, help=text)
        sp.add_argument("hosts", nargs="*", help="default: every host")
        sp.set_defaults(func=cmd_mount_shared)
    cl = sub.add_parser("cluster", help="make a gnt cluster of freshly booted hosts (the first is the master)")
    cl.add_argument("--hosts", metavar="A,B", help="hosts of the cluster, the master first (default: all)")
    cl.set_defaults(func=cmd_cluster)
    sub.add_parser("down", help="kill the hosts and remove the bed").set_defaults(func=cmd_down)
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return args.func(args)
    except TestbedError as err:
        print(f"testbed: error: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
