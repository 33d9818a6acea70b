"""`gnt-cluster balance` passes hbal's options to the balancer (-G, --evac-mode, --restricted-migration,
--select-instances, --exclude-instances, --no-disk-moves, --no-instance-moves), planning from a file."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from gnt.alloc import generate_cluster, save_text
from gnt.cluster.htools import balance


@pytest.fixture
def cluster_file(tmp_path: Path) -> Path:
    path = tmp_path / "c.txt"
    save_text(generate_cluster(6, seed=4, per_node=(3, 5)), path)
    return path


def _moves(output: str) -> list[tuple[str, str]]:
    return re.findall(r"^\s+\d+\. (\S+)\s+\S+\s+=>\s+(\S+)\s", output, re.M)


def test_select_and_exclude_limit_the_moved_instances(cluster_file: Path) -> None:
    free = CliRunner().invoke(balance, ["-t", str(cluster_file)])
    assert free.exit_code == 0, free.output
    moved = sorted({name for name, _ in _moves(free.output)})
    assert len(moved) > 2
    picked = moved[:2]
    only = CliRunner().invoke(balance, ["-t", str(cluster_file), "--select-instances", ",".join(picked)])
    assert only.exit_code == 0 and {n for n, _ in _moves(only.output)} <= set(picked)
    rest = CliRunner().invoke(balance, ["-t", str(cluster_file), "--exclude-instances", ",".join(picked)])
    assert rest.exit_code == 0 and not {n for n, _ in _moves(rest.output)} & set(picked)


def test_no_disk_moves_only_fails_over(cluster_file: Path) -> None:
    result = CliRunner().invoke(balance, ["-t", str(cluster_file), "--no-disk-moves"])
    assert result.exit_code == 0
    assert all(line.rstrip().endswith("a=f") for line in result.output.splitlines() if " a=" in line)


def test_evac_mode_without_offline_nodes_moves_nothing(cluster_file: Path) -> None:
    result = CliRunner().invoke(balance, ["-t", str(cluster_file), "--evac-mode"])
    assert result.exit_code == 0 and _moves(result.output) == [] and "Solution length=0" in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["-G", "nosuchgroup"], "Node group 'nosuchgroup' not found"),
        (["--select-instances", "nosuch"], "Unknown instance(s): nosuch"),
    ],
)
def test_bad_group_or_instance_is_a_one_line_error(cluster_file: Path, args: list[str], message: str) -> None:
    result = CliRunner().invoke(balance, ["-t", str(cluster_file), *args])
    assert result.exit_code != 0 and message in result.output and "Traceback" not in result.output
