"""The node's instance_hotplug and instance_balloon_memory procedures, through the real dispatcher:
requests the node cannot honour are typed errors, never a traceback."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.unit.agent.test_confinement import call, node  # noqa: F401 - the fixture

SPEC = {"name": "inst1", "uuid": "u1", "hypervisor": "fake", "memory": 64, "vcpus": 1}
NIC = {"uuid": "n1", "mac": "aa:00:00:00:00:01"}


def error(answer: dict[str, Any]) -> str:
    assert answer["ok"] is False, answer
    return f"{answer['error']['class']}: {answer['error']['message']}"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ({"instance": SPEC, "action": "add", "nic": NIC}, "HypervisorError: Instance inst1 is not running"),
        ({"instance": SPEC, "action": "swap", "nic": NIC}, "Unknown hotplug action 'swap'"),
        ({"instance": SPEC, "action": "add"}, "exactly one NIC or one disk"),
        ({"instance": SPEC, "action": "add", "nic": {"uuid": "n1"}}, "RpcArgumentError"),
    ],
)
def test_bad_hotplug_requests_are_typed_errors(node: Path, args: dict[str, Any], message: str) -> None:  # noqa: F811
    assert message in error(call("instance_hotplug", args))


def test_balloon_of_a_guest_that_is_not_running(node: Path) -> None:  # noqa: F811
    assert "is not running" in error(call("instance_balloon_memory", {"instance": SPEC, "memory": 32}))
    assert "Invalid memory size 0 MiB" in error(call("instance_balloon_memory", {"instance": SPEC, "memory": 0}))
