"""gnt-cluster command and copyfile on real nodes go over SSH (gnt.cluster.remote_run.SshRemote):
a real sshd on loopback with its own host key, the client's own key, strict host keys."""

from __future__ import annotations

from pathlib import Path

from gnt.cluster.remote_run import TIMED_OUT, UNREACHABLE, NodeTarget, SshRemote, copy_everywhere, run_everywhere
from gnt.node.ssh import SshSettings
from tests.system.test_ssh_join import _free_port, pytestmark, sshd

__all__ = ["pytestmark", "sshd"]


def remote(sshd: dict[str, object], known: str | None = None) -> SshRemote:
    return SshRemote(
        SshSettings(
            port=int(sshd["port"]),
            user=str(sshd["user"]),
            timeout=5,
            key_filename=str(sshd["key"]),
            known_hosts=(known or str(sshd["known"]),),
        )
    )


def nodes(sshd: dict[str, object], *names: str) -> list[NodeTarget]:
    return [NodeTarget(name, "127.0.0.1", int(sshd["port"])) for name in names]


def test_command_runs_on_every_node_with_output_and_exit_code(sshd: dict[str, object]) -> None:
    results = run_everywhere(remote(sshd), nodes(sshd, "node2", "node3"), "echo out; echo err >&2; exit 7", 30)
    assert [(r.node, r.exit_code) for r in results] == [("node2", 7), ("node3", 7)]
    # the login shell's own start-up may print first (this machine's root profile does)
    assert all(r.output.endswith("out\nerr\n") for r in results)
    assert run_everywhere(remote(sshd), nodes(sshd, "node2"), "true", 30)[0].ok


def test_command_that_does_not_end_is_left_after_its_timeout(sshd: dict[str, object]) -> None:
    (result,) = run_everywhere(remote(sshd), nodes(sshd, "node2"), "echo started; sleep 30", 1)
    assert (
        result.exit_code == TIMED_OUT and result.output.startswith("started\n") and "no end after 1s" in result.output
    )


def test_copyfile_writes_the_whole_file_with_its_mode(sshd: dict[str, object], tmp_path: Path) -> None:
    target = tmp_path / "etc" / "copied.conf"
    target.parent.mkdir()
    target.write_text("old\n")
    errors = copy_everywhere(remote(sshd), nodes(sshd, "node2", "node3"), str(target), b"new content\n", 0o640)
    assert errors == [None, None]
    assert target.read_bytes() == b"new content\n" and target.stat().st_mode & 0o7777 == 0o640
    assert sorted(p.name for p in target.parent.iterdir()) == ["copied.conf"]  # no temporary file left


def test_copyfile_into_a_missing_directory_is_a_clear_error(sshd: dict[str, object], tmp_path: Path) -> None:
    missing = tmp_path / "nosuchdir" / "file"
    (error,) = copy_everywhere(remote(sshd), nodes(sshd, "node2"), str(missing), b"x", 0o644)
    assert error == f"directory {missing.parent} does not exist on node2"
    assert not missing.parent.exists()


def test_unknown_host_key_is_refused_and_nothing_runs(sshd: dict[str, object], tmp_path: Path) -> None:
    empty = tmp_path / "empty_known_hosts"
    empty.write_text("")
    marker = tmp_path / "ran"
    strict = remote(sshd, known=str(empty))
    (result,) = run_everywhere(strict, nodes(sshd, "node2"), f"touch {marker}", 30)
    assert result.exit_code == UNREACHABLE and "host key of node2 (127.0.0.1) is not known" in result.output
    (error,) = copy_everywhere(strict, nodes(sshd, "node2"), str(marker), b"x", 0o644)
    assert error is not None and "not known" in error
    assert not marker.exists()
    assert empty.read_text() == ""  # never added


def test_a_changed_host_key_is_refused(sshd: dict[str, object], tmp_path: Path) -> None:
    import subprocess

    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(tmp_path / "other")], check=True)
    kind, key = (tmp_path / "other.pub").read_text().split()[:2]
    wrong = tmp_path / "wrong_known_hosts"
    wrong.write_text(f"[127.0.0.1]:{sshd['port']} {kind} {key}\n")
    (result,) = run_everywhere(remote(sshd, known=str(wrong)), nodes(sshd, "node2"), "true", 30)
    assert result.exit_code == UNREACHABLE and "is not the one known" in result.output


def test_unreachable_node_reports_255(sshd: dict[str, object]) -> None:
    closed = NodeTarget("node9", "127.0.0.1", _free_port())
    results = run_everywhere(remote(sshd), [closed, *nodes(sshd, "node2")], "echo hi", 30)
    assert results[0].exit_code == UNREACHABLE and "cannot connect to node9 (127.0.0.1)" in results[0].output
    assert results[1].exit_code == 0 and results[1].output.endswith("hi\n")
