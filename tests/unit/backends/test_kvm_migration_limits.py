"""Which convergence limits an outgoing kvm migration starts with (TCG: one pass at the limits)."""

from __future__ import annotations

from backends.kvm.argv import hvparams
from backends.kvm.migration import migration_limits, runs_tcg
from backends.kvm.policy import initial_parameters
from gnt.runtime import InstanceSpec

MIB = 1024 * 1024


def _state(accel: str) -> dict:
    return {"argv": ["qemu-system-x86_64", "-name", "x", "-machine", f"pc,accel={accel}", "-append", "accel=tcg"]}


def test_runs_tcg_reads_the_machine_option_only() -> None:
    assert runs_tcg(_state("tcg"))
    assert not runs_tcg(_state("kvm"))  # "accel=tcg" in the kernel command line does not count
    assert not runs_tcg({})


def test_tcg_starts_at_the_limits_kvm_at_the_start_values() -> None:
    params = hvparams(InstanceSpec("x", "u", "kvm", 128, 1))
    kvm = initial_parameters(migration_limits(params, _state("kvm")))
    tcg = initial_parameters(migration_limits(params, _state("tcg")))
    assert kvm["max-bandwidth"] == params["migration_bandwidth"] * MIB
    assert kvm["downtime-limit"] == params["migration_downtime"]
    assert tcg["max-bandwidth"] == params["migration_max_bandwidth"] * MIB
    assert tcg["downtime-limit"] == params["migration_max_downtime"]
    assert migration_limits(params, _state("tcg")).one_pass and not migration_limits(params, _state("kvm")).one_pass


def test_completed_counts_once_qemu_filled_in_the_figures() -> None:
    from backends.kvm.supervisor import status_from_query
    from gnt.runtime import MigrationPhase

    early = status_from_query({"status": "completed", "total-time": 0, "downtime": 0}, "tcp:x:1", [])
    done = status_from_query({"status": "completed", "total-time": 412, "downtime": 7}, "tcp:x:1", [])
    assert early.phase == MigrationPhase.ACTIVE
    assert done.phase == MigrationPhase.COMPLETED and done.total_time == 412
