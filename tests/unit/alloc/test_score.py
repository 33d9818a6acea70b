"""Ganeti's cluster score: known values (from hinfo 3.0.2) and live comparison with hinfo."""

from __future__ import annotations

import pytest

from gnt.alloc import cluster_score, detailed_score, generate_cluster, load_text, save_text

from .conftest import hinfo_score

# Values printed by `hinfo -t` (Ganeti 3.0.2) for the golden files.
KNOWN = {"three-nodes.txt": 5.67655781, "tags-groups.txt": 29.88765670}


@pytest.mark.parametrize("name", sorted(KNOWN))
def test_score_matches_hinfo_recorded_value(golden, name):
    assert cluster_score(load_text(golden / name)) == pytest.approx(KNOWN[name], abs=5e-8)


def test_components_of_tagged_cluster(golden):
    rows = {name: value for name, value, _ in detailed_score(load_text(golden / "tags-groups.txt"))}
    assert rows["pri_tags_score"] == 1.0  # i1 and i2 share web:a on node1
    assert rows["location_score"] == 1.0  # i2: node1 and node3 are both rack:a
    assert rows["offline_pri_cnt"] == 1.0  # i5 on offline node4
    assert rows["disk_load_cv"] == pytest.approx(1.47901995, abs=1e-8)
    assert rows["vcpu_ratio_cv"] == pytest.approx(0.27018151, abs=1e-8)


def test_weights_are_ganeti_3_0_weights(golden):
    weights = [w for _, _, w in detailed_score(load_text(golden / "three-nodes.txt"))]
    assert weights == [0.5, 0.5, 1, 1, 4, 16, 0.5, 1, 1, 1, 1, 2, 0.5, 0.5, 0.5, 0.5, 0.5, 1, 1, 0.25]


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_score_agrees_with_installed_hinfo(tmp_path, seed):
    m = generate_cluster(8 + seed, seed=seed)
    path = tmp_path / "c.txt"
    save_text(m, path)
    assert cluster_score(m) == pytest.approx(hinfo_score(path), abs=1e-7)


def test_golden_files_agree_with_installed_hinfo(golden):
    for name, value in KNOWN.items():
        assert hinfo_score(golden / name) == pytest.approx(value, abs=1e-8)
