"""Actions: the exact argv of every DRBD 8.4 command the drbd driver runs, and the plans that pick
them from the facts (pure functions: golden-tested in tests/golden/drbd/).

The argv are Ganeti's (its DRBD 8.4 command generator): the resource is `resource<minor>`, the
backing devices are the disk's data and 128 MiB meta LVs with the metadata at index 0, the link
runs protocol C with Ganeti's after-split-brain policies, and peers authenticate with the disk's
shared secret (`--cram-hmac-alg md5 --shared-secret`). Plans read a minor's state first, so a
retried step does only what is missing; a minor used by another disk is a `StorageError` before
any command runs.
"""

from __future__ import annotations

from gnt.drbd import HMAC_ALG, DrbdView, device_path, resource_name
from gnt.errors import StorageError
from storage.drbd.status import MinorStatus, ShowFacts

Argv = list[str]


def lv_path(lv: list[str]) -> str:
    return f"/dev/{lv[0]}/{lv[1]}"


def _address(ip: str, port: int) -> str:
    return f"ipv4:{ip}:{port}"


# -- single commands ------------------------------------------------------------------------------


def create_md_argv(minor: int, meta: list[str]) -> Argv:
    """Fresh metadata (internal to the meta LV, index 0); `--force` answers drbdmeta's questions."""
    return ["drbdmeta", "--force", device_path(minor), "v08", lv_path(meta), "0", "create-md"]


def dump_md_argv(minor: int, meta: list[str]) -> Argv:
    """Reads the metadata: fails with "No valid meta data found" on a meta LV never initialised."""
    return ["drbdmeta", device_path(minor), "v08", lv_path(meta), "0", "dump-md"]


def apply_al_argv(minor: int, meta: list[str]) -> Argv:
    """Replay the activity log into the bitmap. A DRBD 8.4.11 module refuses to attach metadata
    left "unclean" (by any earlier attach, even one cleanly taken down: "Unclean meta-data found")
    until the userland has done this, as `drbdadm up` does before every attach."""
    return ["drbdmeta", device_path(minor), "v08", lv_path(meta), "0", "apply-al"]


def new_resource_argv(minor: int) -> Argv:
    return ["drbdsetup", "new-resource", resource_name(minor)]


def new_minor_argv(minor: int) -> Argv:
    return ["drbdsetup", "new-minor", resource_name(minor), str(minor), "0"]


def attach_argv(view: DrbdView) -> Argv:
    return [
        "drbdsetup", "attach", str(view.minor), lv_path(view.data), lv_path(view.meta), "0",
        "--on-io-error", "detach", "--c-plan-ahead", "0", "--resync-rate", str(view.resync_rate),
    ]  # fmt: skip


def disk_options_argv(view: DrbdView) -> Argv:
    """The view's resync rate on an attached minor (`-D drbd:resync-rate` changed since it attached)."""
    return ["drbdsetup", "disk-options", str(view.minor), "--c-plan-ahead", "0", "--resync-rate", str(view.resync_rate)]


def connect_argv(view: DrbdView, dual_primary: bool = False) -> Argv:
    """The network half. The secret is on the host's command line (drbdsetup takes it nowhere
    else); the driver's runner never logs or reports an argv."""
    argv = [
        "drbdsetup", "connect", view.resource,
        _address(view.local_ip, view.port), _address(view.remote_ip, view.port),
        "--protocol", "C", "--after-sb-0pri", "discard-zero-changes", "--after-sb-1pri", "consensus",
    ]  # fmt: skip
    if dual_primary:
        argv.append("--allow-two-primaries")
    return [*argv, "--cram-hmac-alg", HMAC_ALG, "--shared-secret", view.secret]


def disconnect_argv(view: DrbdView) -> Argv:
    return ["drbdsetup", "disconnect", _address(view.local_ip, view.port), _address(view.remote_ip, view.port)]


def detach_argv(minor: int) -> Argv:
    """Take the backing LVs away from a minor; its network (and a primary's service, read and
    written through the peer) stays: replace-disks swaps one side's LVs under a live link."""
    return ["drbdsetup", "detach", str(minor)]


def primary_argv(minor: int, force: bool = False) -> Argv:
    return ["drbdsetup", "primary", str(minor), *(["--force"] if force else [])]


def secondary_argv(minor: int) -> Argv:
    return ["drbdsetup", "secondary", str(minor)]


def down_argv(minor: int) -> Argv:
    return ["drbdsetup", "down", resource_name(minor)]


def resize_argv(minor: int) -> Argv:
    """Grow the device to the smaller of the two (already grown) data LVs."""
    return ["drbdsetup", "resize", str(minor)]


def show_argv(minor: int) -> Argv:
    return ["drbdsetup", "show", str(minor)]


# -- plans: facts in, commands out ---------------------------------------------------------------


def check_owner(view: DrbdView, status: MinorStatus | None, show: ShowFacts | None) -> None:
    """Refuse a minor whose backing devices or peer are another disk's: taking it over would
    attach one disk's LVs to another disk's replication link."""
    if status is None or show is None:
        return
    if show.disk is not None and show.disk != lv_path(view.data):
        raise StorageError(f"DRBD minor {view.minor} is in use by another disk ({show.disk}); not taking it over")
    if show.remote_address is not None and show.remote_address != f"{view.remote_ip}:{view.port}":
        raise StorageError(
            f"DRBD minor {view.minor} is linked to another peer ({show.remote_address}); not taking it over"
        )


def plan_meta(view: DrbdView, meta_created: bool, has_metadata: bool) -> list[Argv]:
    """Metadata is written once: on a meta LV made just now, or one that holds none (a create
    retried after it failed between lvcreate and create-md). Existing metadata is never reset."""
    return [] if has_metadata and not meta_created else [create_md_argv(view.minor, view.meta)]


def plan_up(view: DrbdView, status: MinorStatus | None, show: ShowFacts | None) -> list[Argv]:
    """Resource, minor, disk and network: whatever of these the minor is missing."""
    check_owner(view, status, show)
    plan: list[Argv] = []
    if status is None:
        plan += [new_resource_argv(view.minor), new_minor_argv(view.minor)]
    if status is None or not status.attached:
        plan += [apply_al_argv(view.minor, view.meta), attach_argv(view)]
    if status is None or not status.has_network:
        if status is not None and status.attached:
            plan += plan_rate(view, show)
        plan.append(connect_argv(view))
    return plan


def plan_rate(view: DrbdView, show: ShowFacts | None) -> list[Argv]:
    """Before an attached minor links to a peer: its resync rate made the view's (the cluster's now).

    On connecting, DRBD 8.4 peers send each other their sync parameters and each takes what it
    receives, so a side attached before `gnt-cluster modify -D drbd:resync-rate` changed the rate
    can hand its old rate to a freshly made peer; which one wins depends on which sends first. Seen
    on the test bed: a new secondary attached at 1024 KiB/s resynced at the primary's 61440."""
    if show is not None and show.resync_rate == view.resync_rate:
        return []
    return [disk_options_argv(view)]


def plan_role(
    view: DrbdView,
    status: MinorStatus | None,
    primary: bool,
    force: bool = False,
    two_primaries: bool = False,
    peer_down: bool = False,
) -> list[Argv]:
    """Promote or demote. A promotion while the peer is primary is only attempted on a link made
    with --allow-two-primaries (`two_primaries`, a migration's window): anywhere else two
    primaries would be a split brain (DRBD refuses too). Nor is one attempted while the peer is
    not connected, since its role is then unknown, unless forced: `force` is the caller's word
    that the peer is dead (a failover with --ignore-consistency) or that the disk is new.
    `peer_down` (a start forced past a dead secondary) waives only that connection check: DRBD's
    own promotion runs without --force, so it still refuses data it does not hold as good."""
    is_primary = status is not None and status.is_primary
    if primary == is_primary:
        return []
    if not primary:
        return [secondary_argv(view.minor)] if status is not None else []
    if status is not None and status.peer_role == "Primary" and not two_primaries:
        raise StorageError(
            f"Cannot make DRBD minor {view.minor} primary: its peer {view.remote_ip} is primary; demote it first"
        )
    if not (force or peer_down) and (status is None or not status.connected):
        state = status.cstate if status is not None else "not configured"
        raise StorageError(
            f"Cannot make DRBD minor {view.minor} primary: not connected to its peer {view.remote_ip} ({state}),"
            " which could be primary; only a failover with --ignore-consistency promotes a disconnected side"
        )
    return [primary_argv(view.minor, force)]


def plan_dual_primary(view: DrbdView, status: MinorStatus | None, show: ShowFacts | None, enabled: bool) -> list[Argv]:
    """Re-make the link with or without --allow-two-primaries (DRBD 8.4 takes it when connecting,
    as Ganeti's migration does): disconnect, then connect again. Leaving the window while both
    sides are primary is refused: one side must be demoted first."""
    if status is None or not status.attached:
        raise StorageError(f"DRBD minor {view.minor} is not attached on this node")
    check_owner(view, status, show)
    current = show is not None and show.two_primaries
    if status.has_network and current == enabled:
        return []
    if not enabled and status.is_primary and status.peer_role == "Primary":
        raise StorageError(
            f"DRBD minor {view.minor} and its peer are both primary; demote one before leaving dual-primary"
        )
    return [*plan_disconnect(view, status), connect_argv(view, dual_primary=enabled)]


def plan_down(minor: int, status: MinorStatus | None) -> list[Argv]:
    return [down_argv(minor)] if status is not None else []


def plan_disconnect(view: DrbdView, status: MinorStatus | None) -> list[Argv]:
    return [disconnect_argv(view)] if status is not None and status.has_network else []


def plan_relink(view: DrbdView, status: MinorStatus | None, show: ShowFacts | None) -> list[Argv]:
    """Link the minor to the peer its view names (replace-disks -n gave it a new one, or
    verify-disks reconnects a StandAlone side): drop whatever link it has to another address, then
    connect. Its backing disk must be this disk's (a minor of another disk is never taken over)."""
    if status is None or status.unconfigured:
        raise StorageError(f"DRBD minor {view.minor} is not set up on this node")
    if show is not None and show.disk is not None and show.disk != lv_path(view.data):
        raise StorageError(f"DRBD minor {view.minor} is in use by another disk ({show.disk}); not taking it over")
    wanted = f"{view.remote_ip}:{view.port}"
    current = show.remote_address if show is not None else None
    if status.has_network and current == wanted:
        return []
    plan: list[Argv] = []
    if status.has_network and current:
        local = (show.local_address if show is not None else None) or f"{view.local_ip}:{view.port}"
        plan.append(["drbdsetup", "disconnect", f"ipv4:{local}", f"ipv4:{current}"])
    elif status.has_network:
        plan.append(disconnect_argv(view))
    if status.attached:
        plan += plan_rate(view, show)
    return [*plan, connect_argv(view)]
