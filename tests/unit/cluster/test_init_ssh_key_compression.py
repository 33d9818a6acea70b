"""The cluster's SSH key type and size (`gnt-cluster init --ssh-key-type/--ssh-key-bits`, renew-crypto):
Ganeti's defaults (rsa 2048, ecdsa 384), its choice of a size when none is given (DetermineKeyBits),
init's one-line refusals with nothing written, and the settings init stores; and the cluster's
compression tools as init and modify take them (their checks and use: tests/unit/lu/test_compression_tools.py)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from gnt import ssh_key_spec
from gnt.cluster import bootstrap
from gnt.errors import ParameterError
from tests.unit.cli.test_cli_init_ip_ialloc import _init_settings


@pytest.mark.parametrize(
    ("key_type", "bits", "old_type", "old_bits", "expected"),
    [
        ("rsa", None, None, None, 2048),  # Ganeti's default size of its default type
        ("ecdsa", None, None, None, 384),
        ("ed25519", None, "rsa", 4096, 256),
        ("rsa", None, "rsa", 4096, 4096),  # the type stays: the cluster's size stays
        ("ecdsa", None, "rsa", 4096, 384),  # a new type: its default
        ("rsa", 3072, "rsa", 4096, 3072),  # given: taken
    ],
)
def test_a_size_is_chosen_as_ganeti_does(
    key_type: str, bits: int | None, old_type: str | None, old_bits: int | None, expected: int
) -> None:
    assert ssh_key_spec.choose_bits(key_type, bits, old_type, old_bits) == expected


@pytest.mark.parametrize(
    ("key_type", "bits", "message"),
    [
        ("dsa", None, "--ssh-key-type must be ed25519, rsa or ecdsa, not 'dsa'"),
        ("rsa", 1024, "--ssh-key-bits 1024 is not valid for rsa keys"),
        ("ecdsa", 300, "--ssh-key-bits 300 is not valid for ecdsa keys"),
        ("ed25519", 512, "--ssh-key-bits 512 is not valid for ed25519 keys"),
        (None, 1024, "--ssh-key-bits 1024 is not valid for rsa keys"),  # init's type is then rsa
    ],
)
def test_init_refuses_a_bad_key_in_one_line_and_writes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, key_type: str | None, bits: int | None, message: str
) -> None:
    monkeypatch.setenv("GNT_ROOTDIR", str(tmp_path / "node1"))
    monkeypatch.setattr("gnt.netutil.resolve", lambda name: "127.0.0.1")
    with pytest.raises(ParameterError, match=f"^{message}$"):
        bootstrap.init_cluster("cluster1", {"ssh_key_type": key_type, "ssh_key_bits": bits})
    assert [f for _, _, files in os.walk(tmp_path) for f in files] == []


@pytest.mark.parametrize(
    ("given", "expected"),
    [((None, None), ("rsa", 2048)), (("ECDSA", None), ("ecdsa", 384)), (("rsa", 4096), ("rsa", 4096))],
)
def test_init_stores_the_type_and_the_size(given: tuple[Any, Any], expected: tuple[str, int]) -> None:
    assert bootstrap._ssh_key(*given) == expected  # noqa: SLF001


def test_init_options_reach_the_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    opts = _init_settings(monkeypatch, "--ssh-key-type", "ecdsa", "--ssh-key-bits", "521")
    assert (opts["ssh_key_type"], opts["ssh_key_bits"]) == ("ecdsa", 521)
    plain = _init_settings(monkeypatch)
    assert (plain["ssh_key_type"], plain["ssh_key_bits"]) == (None, None)


def test_renew_crypto_leaves_the_type_to_the_cluster_unless_given() -> None:
    from gnt.cluster.crypto_cli import build_opcode

    op = build_opcode({"new_ssh_keys": True})
    assert "ssh_key_type" not in op and "ssh_key_bits" not in op
    op = build_opcode({"new_ssh_keys": True, "ssh_key_type": "RSA", "ssh_key_bits": 4096})
    assert (op["ssh_key_type"], op["ssh_key_bits"]) == ("rsa", 4096)


# -- --compression-tools (init and modify) -------------------------------------------------------


def test_init_compression_tools_reach_the_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    assert _init_settings(monkeypatch, "--compression-tools", "gzip,gzip-fast")["compression_tools"] == [
        "gzip",
        "gzip-fast",
    ]
    assert _init_settings(monkeypatch)["compression_tools"] is None  # the default list, at init


def test_init_refuses_a_list_without_gzip(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GNT_ROOTDIR", str(tmp_path / "node1"))
    monkeypatch.setattr("gnt.netutil.resolve", lambda name: "127.0.0.1")
    with pytest.raises(ParameterError, match="^For compatibility reasons, the gzip utility must be present"):
        bootstrap.init_cluster("cluster1", {"compression_tools": ["gzip-slow"]})
    assert [f for _, _, files in os.walk(tmp_path) for f in files] == []


def test_modify_compression_tools_sends_the_list_and_empty_resets_it(monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.unit.cli.test_cli_ganeti_options import CheckingClient, only_op, run

    rec = CheckingClient()
    monkeypatch.setattr("gnt.cluster.cli.client", lambda: rec)
    from gnt.cluster.cli import main as cluster_main

    assert run(cluster_main, "modify", "--compression-tools", "gzip").exit_code == 0
    assert only_op(rec)["compression_tools"] == ["gzip"]
    rec.submitted.clear()
    assert run(cluster_main, "modify", "--compression-tools", "").exit_code == 0  # Ganeti: back to the default
    assert only_op(rec)["compression_tools"] == ["gzip", "gzip-fast", "gzip-slow"]
    rec.submitted.clear()
    result = run(cluster_main, "modify", "--compression-tools", "gzip,lzop")
    assert result.exit_code == 1 and rec.submitted == []
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and "Unsupported compression tool(s) lzop" in lines[0], lines
