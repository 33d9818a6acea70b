"""gnt-masterd's start-up vote: when is this node no longer the master (gnt.cluster.voting.judge)."""

from __future__ import annotations

import pytest

from gnt.cluster.voting import judge

IPS = {"node1": "10.0.0.1", "node2": "10.0.0.2", "node3": "10.0.0.3"}


@pytest.mark.parametrize(
    ("answers", "master", "authoritative"),
    [
        ({}, "", False),  # nobody answers: a master whose peers are down starts
        ({"node2": {"serial": 5, "master": "node1"}, "node3": {"serial": 5, "master": "node1"}}, "", False),
        # a newer config names another master: it wins even against a majority
        ({"node2": {"serial": 6, "master": "node2"}, "node3": {"serial": 5, "master": "node1"}}, "node2", True),
        # an older config naming someone else is not enough on its own ...
        ({"node2": {"serial": 4, "master": "node2"}}, "", False),
        # ... but a majority naming another master is
        ({"node2": {"serial": 0, "master": "node3"}, "node3": {"serial": 5, "master": "node3"}}, "node3", False),
        # non-candidates (serial 0) vote with their ssconf but never outweigh this node alone
        ({"node2": {"serial": 0, "master": "node2"}, "node3": {"serial": 0, "master": "node1"}}, "", False),
    ],
)
def test_judge(answers: dict, master: str, authoritative: bool) -> None:
    verdict = judge("node1", 5, answers, IPS)
    assert verdict.master == master
    assert verdict.authoritative == authoritative
    if authoritative:
        assert verdict.master_ip == IPS[master] and "newer config (serial 6" in verdict.reason
