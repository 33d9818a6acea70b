"""The CLI's HTTP client: errors it builds from answers and from a missing master."""

from __future__ import annotations

from pathlib import Path

import pytest

from gnt import paths
from gnt.cli import client
from gnt.errors import ApiError, GntError, JobQueueError, OpPrereqError


def test_typed_error_from_the_api_keeps_class_and_code() -> None:
    body = {"error_class": "OpPrereqError", "error_args": ["Node 'x' not known", "unknown_entity"], "explain": "..."}
    err = client._error_from(400, body)
    assert type(err) is OpPrereqError
    assert err.code == "unknown_entity"


def test_unknown_job_answer_is_a_job_queue_error() -> None:
    err = client._error_from(404, {"explain": "Job 42 not found"})
    assert type(err) is JobQueueError
    assert err.message == "Job 42 not found"


def test_other_http_errors_are_api_errors_with_status() -> None:
    err = client._error_from(401, {"message": "Unauthorized"})
    assert type(err) is ApiError and err.status == 401 and err.message == "Unauthorized"
    raw = client._error_from(502, "bad gateway")
    assert type(raw) is ApiError and raw.message == "HTTP 502"


@pytest.fixture
def vnode(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "node1"
    monkeypatch.setenv(paths.ENV_ROOTDIR, str(root))
    monkeypatch.setenv(paths.ENV_HOSTNAME, "node1")
    return root


def test_missing_socket_without_cluster_says_not_initialized(vnode: Path) -> None:
    with pytest.raises(GntError, match="Cluster not initialized or this machine is not part of a cluster"):
        client.Client().get("/2/info")


def test_missing_socket_on_a_non_master_names_the_master(vnode: Path) -> None:
    paths.ensure_dir(paths.data_dir())
    Path(paths.ssconf_file("master_node")).write_text("node2\n")
    with pytest.raises(GntError, match="This is not the master node, please connect to node 'node2'"):
        client.Client().get("/2/info")


def test_missing_socket_on_the_master_says_start_the_daemon(vnode: Path) -> None:
    paths.ensure_dir(paths.data_dir())
    Path(paths.ssconf_file("master_node")).write_text("node1\n")
    with pytest.raises(GntError, match="is gnt-masterd running"):
        client.Client().get("/2/info")
