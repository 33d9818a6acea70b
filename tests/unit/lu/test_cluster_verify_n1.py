"""gnt-cluster verify's N+1 memory check (Ganeti's ENODEN1) and its reporting options: --error-codes,
-I/--ignore-errors, --no-nplus1-mem and -g/--node-group."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from gnt import PROTOCOL_VERSION, certs, node_certs, paths
from gnt.cluster.logic import LUClusterVerify
from gnt.cluster.verify_n1 import Shortfall, describe, n_plus_one_shortfalls
from gnt.errors import OpPrereqError
from gnt.opcodes import OpClusterVerify, from_dict
from tests.unit.lu.conftest import Harness


def _secondary_on_node2(h: Harness, name: str, minmem: int, **be: Any) -> None:
    """An instance with primary node1 and secondary node2 (the layout a drbd instance has)."""
    h.add_instance(
        name, "node1", up=False, secondary_nodes=[h.cfg.node("node2").uuid], beparams={"minmem": minmem, **be}
    )


def _healthy_facts(h: Harness) -> None:
    """Nodes whose other facts are in order and a cluster certificate, so only the N+1 check can fail."""
    cert = Path(paths.cluster_cert())
    cert.parent.mkdir(parents=True, exist_ok=True)
    ca = certs.generate_pem("cluster.example.com")
    certs.write_pem(paths.cluster_ca(), ca)
    node_pem = node_certs.issue(ca, "node1")
    certs.write_pem(str(cert), node_pem)
    expected = h.ctx.services.ssconf_values()
    for name in ("node1", "node2"):
        h.cfg.node(name).cert_digests = [node_certs.digest(node_pem)]  # a CA cluster lists each node's
        facts = {
            "version": PROTOCOL_VERSION,
            "hypervisors": {"fake": {"problems": [], "instances": {}, "version": "1"}},
            "disk_files": [],
            "ssconf": {k: expected[k] for k in ("cluster_name", "master_node", "node_list")},
            "node_cert": node_certs.inspect(node_pem).to_dict(),
        }
        h.nodes[name].do_node_verify = lambda args, facts=facts: facts  # type: ignore[attr-defined]


def verify(h: Harness, **kw: Any) -> bool:
    _healthy_facts(h)
    h.log.clear()
    return h.run(OpClusterVerify(**kw), LUClusterVerify)  # type: ignore[no-any-return]


def n1_lines(h: Harness) -> list[str]:
    return [line.strip() for line in h.log if "accomodate" in line]


def test_failover_that_does_not_fit_is_a_shortfall(harness: Harness) -> None:
    _secondary_on_node2(harness, "a", 3000, maxmem=3000)
    _secondary_on_node2(harness, "b", 2000, maxmem=2000)
    found = n_plus_one_shortfalls(harness.cfg, {"node1": 8000, "node2": 4096})
    assert found == [Shortfall("node2", "node1", 5000, 4096)]
    assert describe(found[0]) == (
        "not enough memory to accomodate instance failovers should node node1 fail (5000MiB needed, 4096MiB available)"
    )


def test_failover_that_fits_or_is_not_auto_balanced_is_fine(harness: Harness) -> None:
    _secondary_on_node2(harness, "a", 3000, maxmem=3000)
    _secondary_on_node2(harness, "b", 2000, maxmem=2000, auto_balance=False)
    assert n_plus_one_shortfalls(harness.cfg, {"node1": 8000, "node2": 4096}) == []
    assert n_plus_one_shortfalls(harness.cfg, {"node1": 8000}) == []  # node2 did not answer: not judged


def test_verify_reports_enoden1_and_fails(harness: Harness) -> None:
    _secondary_on_node2(harness, "a", 3000, maxmem=3000)
    _secondary_on_node2(harness, "b", 2000, maxmem=2000)
    assert verify(harness) is False
    assert n1_lines(harness) == [
        "- ERROR: node node2: not enough memory to accomodate instance failovers should node node1 fail"
        " (5000MiB needed, 4096MiB available)"
    ]


def test_verify_passes_a_layout_that_fits(harness: Harness) -> None:
    _secondary_on_node2(harness, "a", 3000, maxmem=3000)
    assert verify(harness) is True
    assert "* Verifying N+1 Memory redundancy" in harness.log and n1_lines(harness) == []


def test_error_codes_form_and_ignore_errors(harness: Harness) -> None:
    _secondary_on_node2(harness, "a", 5000, maxmem=5000)
    assert verify(harness, error_codes=True) is False
    assert n1_lines(harness) == [
        "- ERROR:ENODEN1:node:node2:not enough memory to accomodate instance failovers should node node1 fail"
        " (5000MiB needed, 4096MiB available)"
    ]
    assert verify(harness, error_codes=True, ignore_errors=["ENODEN1"]) is True
    assert n1_lines(harness)[0].startswith("- WARNING:ENODEN1:node:node2:")


def test_no_nplus1_mem_skips_the_check(harness: Harness) -> None:
    _secondary_on_node2(harness, "a", 5000, maxmem=5000)
    assert verify(harness, skip_checks=["nplusone_mem"]) is True
    assert "* Verifying N+1 Memory redundancy" not in harness.log and n1_lines(harness) == []


def test_node_group_limits_the_check_and_an_unknown_group_is_refused(harness: Harness) -> None:
    _secondary_on_node2(harness, "a", 5000, maxmem=5000)
    assert verify(harness, group_name="default") is False
    assert "* Verifying group 'default'" in harness.log
    with pytest.raises(OpPrereqError, match="Node group 'rack9' not known"):
        verify(harness, group_name="rack9")


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [("ignore_errors", ["ENOSUCH"], "Unknown verify error code"), ("skip_checks", ["bogus"], "Unknown verify check")],
)
def test_unknown_codes_and_checks_are_refused(field: str, value: list[str], message: str) -> None:
    with pytest.raises(OpPrereqError, match=message):
        from_dict({"OP_ID": "OP_CLUSTER_VERIFY", field: value})


def test_a_node_without_free_memory_is_a_warning_not_a_crash(harness: Harness) -> None:
    _secondary_on_node2(harness, "a", 5000, maxmem=5000)
    harness.nodes["node2"].do_node_info = lambda args: {"hv": {h: {} for h in args.hypervisors}}  # type: ignore[attr-defined]
    assert verify(harness) is True  # node2 is not judged
    assert "  - WARNING: node node2: cannot read its free memory from fake" in harness.log


def test_an_instance_outside_its_group_policy_is_a_warning(harness: Harness) -> None:
    harness.add_instance("big", "node1", up=False, beparams={"minmem": 40000, "maxmem": 40000})
    assert verify(harness, error_codes=True) is True  # a warning, as in Ganeti
    assert "  - WARNING:EINSTANCEPOLICY:instance:big:memory-size value 40000 is not in range [4, 32768]" in harness.log
