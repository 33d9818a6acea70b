"""The migration convergence policy as a table of query-migrate samples -> escalations."""

from __future__ import annotations

from backends.kvm.argv import DEFAULT_HVPARAMS
from backends.kvm.policy import MIB, PolicyState, decide, initial_parameters, limits_from_hvparams
from backends.kvm.supervisor import status_from_query
from gnt.runtime import MigrationPhase


def _sample(remaining_mib: int, dirty_mib_s: int = 32, status: str = "active") -> dict:
    pages = dirty_mib_s * MIB // 4096
    return {"status": status, "ram": {"remaining": remaining_mib * MIB, "dirty-pages-rate": pages, "page-size": 4096}}


def _run(params: dict, samples: list[dict], step: float = 1.0) -> tuple[PolicyState, list]:
    limits = limits_from_hvparams({**DEFAULT_HVPARAMS, **params})
    state = PolicyState.start(limits, 0.0)
    actions = []
    for i, sample in enumerate(samples):
        action = decide(state, limits, sample, i * step)
        if action is not None:
            actions.append(action)
    return state, actions


def test_progressing_migration_is_left_alone() -> None:
    _, actions = _run({}, [_sample(r) for r in (120, 100, 80, 60, 40, 20, 5)])
    assert actions == []


def test_stall_raises_bandwidth_to_twice_the_dirty_rate() -> None:
    _, actions = _run({}, [_sample(20, dirty_mib_s=100)] * 4)
    assert actions[0].command == "migrate-set-parameters"
    assert actions[0].args == {"max-bandwidth": 200 * MIB}
    assert "32 -> 200 MiB/s" in actions[0].description


def test_escalation_order_bandwidth_downtime_throttle_postcopy_then_stop() -> None:
    params = {"migration_max_bandwidth": 64, "migration_max_downtime": 60, "migration_postcopy": True}
    state, actions = _run(params, [_sample(20, dirty_mib_s=10)] * 40)
    kinds = [a.description.split(":")[0].split(" ")[0] for a in actions]
    assert kinds == ["raised", "raised", "auto-converge", "switched", "no"]
    assert actions[1].args == {"downtime-limit": 60}
    assert actions[3].command == "migrate-start-postcopy"
    assert [a["action"] for a in state.actions] == [a.description for a in actions]


def test_no_postcopy_unless_allowed_and_no_throttle_when_zero() -> None:
    params = {"migration_max_bandwidth": 32, "migration_max_downtime": 30, "migration_max_throttle": 0}
    _, actions = _run(params, [_sample(20)] * 20)
    assert [a.command for a in actions] == [""]
    assert "limits reached" in actions[0].description


def test_initial_parameters_use_ganeti_defaults() -> None:
    args = initial_parameters(limits_from_hvparams(DEFAULT_HVPARAMS))
    assert args["max-bandwidth"] == 32 * MIB and args["downtime-limit"] == 30
    assert args["cpu-throttle-initial"] == 1 and args["max-cpu-throttle"] == 99


def test_query_migrate_maps_to_status() -> None:
    done = {"status": "completed", "downtime": 12, "total-time": 900, "ram": {"transferred": 5, "total": 9}}
    status = status_from_query(done, "tcp:127.0.0.1:1", [])
    assert status.phase == MigrationPhase.COMPLETED and status.downtime == 12 and status.total_time == 900
    failed = status_from_query({"status": "failed", "error-desc": "Connection reset"}, "tcp:x:1", [])
    assert failed.phase == MigrationPhase.FAILED and "Connection reset" in failed.message
    assert status_from_query({"status": "cancelled"}, "", []).phase == MigrationPhase.CANCELLED
    assert status_from_query({"status": "pre-switchover"}, "", []).phase == MigrationPhase.ACTIVE
