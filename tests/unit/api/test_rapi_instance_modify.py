"""PUT /2/instances/I/modify with Ganeti's `nics`, `hotplug`, `runtime_mem` and `pnode` body keys
becomes OP_INSTANCE_SET_PARAMS as rlib2 builds it; a malformed NIC change is a 400 and no job."""

from __future__ import annotations

from typing import Any

import pytest

from tests.unit.api.conftest import RapiServer
from tests.unit.api.test_rapi_input import _refused


def test_modify_body_reaches_the_opcode(rapi_server: RapiServer) -> None:
    body = {
        "nics": [["add", -1, {"network": "net1", "ip": "pool"}], ["modify", "eth0", {"link": "br1"}]],
        "hotplug": True,
        "runtime_mem": 512,
        "pnode": "node2",
        "conflicts_check": False,
    }
    status, job_id = rapi_server.call("PUT", "/2/instances/inst1/modify", body=body)
    assert status == 200, job_id
    (op,) = rapi_server.master.queue.jobs[job_id].ops
    assert op["OP_ID"] == "OP_INSTANCE_SET_PARAMS" and op["instance_name"] == "inst1"
    assert {k: op[k] for k in body} == body


def test_modify_takes_ganetis_older_two_element_nic_form(rapi_server: RapiServer) -> None:
    status, job_id = rapi_server.call("PUT", "/2/instances/inst1/modify", body={"nics": [["add", {"link": "br2"}]]})
    assert status == 200, job_id


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"nics": [["add", -1, {"mac": "xx"}]]}, "Invalid MAC address 'xx'"),
        ({"nics": [["remove", 0, {"ip": "1.2.3.4"}]]}, "No settings should be passed when removing a NIC"),
        ({"nics": [["add", "eth1", {}]]}, "A new NIC's position is an index"),
        ({"nics": [["add", -1, {"network": "net1", "link": "br0"}]]}, "If network is given, mode or link should not"),
        ({"nics": [["plug", 0, {}]]}, "Invalid NIC operation 'plug'"),
        ({"nics": ["add"]}, "Invalid NIC modification"),
        ({"nics": [["add", -1, {"ip": 5}]]}, "NIC parameter ip must be a string"),
        ({"runtime_mem": 0}, "out of range"),
        ({"hotplug": "yes"}, "hotplug"),
        ({"pnode": "bad name"}, "pnode"),
    ],
)
def test_malformed_modify_is_400_and_no_job(rapi_server: RapiServer, body: dict[str, Any], message: str) -> None:
    assert message in _refused(rapi_server, "PUT", "/2/instances/inst1/modify", body=body)
