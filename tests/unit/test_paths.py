"""Filesystem locations, real and virtual-cluster."""

from __future__ import annotations

import pytest

from gnt import paths


@pytest.fixture
def real_node(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(paths.ENV_ROOTDIR, raising=False)


@pytest.fixture
def virtual_node(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(paths.ENV_ROOTDIR, "/tmp/vc/node1/")


def test_real_node_paths_are_unchanged(real_node: None) -> None:
    assert not paths.is_virtual()
    assert paths.config_db() == "/var/lib/gnt/config.db"
    assert paths.jobs_db() == "/var/lib/gnt/queue.db"
    assert paths.master_socket() == "/var/run/gnt/master.sock"
    assert paths.node_root("node2") == ""
    assert paths.vcluster_base() == ""


def test_virtual_node_roots_paths_under_its_directory(virtual_node: None) -> None:
    assert paths.is_virtual()
    assert paths.root_dir() == "/tmp/vc/node1"
    assert paths.config_db() == "/tmp/vc/node1/var/lib/gnt/config.db"
    assert paths.log_file("masterd") == "/tmp/vc/node1/var/log/gnt/masterd.log"
    assert paths.ssconf_file("master_node") == "/tmp/vc/node1/var/lib/gnt/ssconf_master_node"
    assert paths.instance_run_dir("kvm") == "/tmp/vc/node1/var/run/gnt/instances/kvm"


def test_paths_inside_the_vcluster_base_are_shared_not_rerooted(virtual_node: None) -> None:
    assert paths.vcluster_base() == "/tmp/vc"
    assert paths.localize("/tmp/vc/shared/disk0") == "/tmp/vc/shared/disk0"
    assert paths.localize("/tmp/vc") == "/tmp/vc"
    assert paths.localize("/tmp/vcx/a") == "/tmp/vc/node1/tmp/vcx/a"


def test_relative_paths_are_not_localized(virtual_node: None) -> None:
    assert paths.localize("relative/x") == "relative/x"


def test_node_root_names_a_sibling_virtual_node(virtual_node: None) -> None:
    assert paths.node_root("node2") == "/tmp/vc/node2"


def test_relative_rootdir_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(paths.ENV_ROOTDIR, "vc/node1")
    with pytest.raises(ValueError, match="must be an absolute path"):
        paths.root_dir()


def test_hostname_comes_from_env_in_a_virtual_cluster(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(paths.ENV_HOSTNAME, "node1.vc")
    assert paths.hostname() == "node1.vc"


def test_os_search_path_is_localized(virtual_node: None) -> None:
    assert paths.os_search_path()[0] == "/tmp/vc/node1/srv/gnt/os"


def test_os_search_path_has_ganetis_directories_after_gnts_own(virtual_node: None) -> None:
    """Debian's Ganeti OS packages (/usr/share/ganeti/os) are found as installed: directories under
    /usr are the machine's packages, shared by every virtual node, so they are not localized."""
    search = paths.os_search_path()
    assert search.index("/tmp/vc/node1/srv/gnt/os") < search.index("/tmp/vc/node1/srv/ganeti/os")
    assert search[-4:] == [
        "/tmp/vc/node1/srv/ganeti/os",
        "/usr/local/lib/ganeti/os",
        "/usr/lib/ganeti/os",
        "/usr/share/ganeti/os",
    ]
