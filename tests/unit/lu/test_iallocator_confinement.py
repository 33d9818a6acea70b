"""Which external allocators the master runs, and how much of their answer it reads (issue 7 re-test).

Any job submitter names the allocator (`-I`, or the RAPI's `iallocator`), and the master runs it as
root with the request file as its argument: `-I /bin/sh` ran that JSON as a shell script, and a
`$(...)` in an instance tag ran as root. Only allocators installed in the search path may run now.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from gnt.errors import OpPrereqError
from gnt.instance import placement


@pytest.fixture
def ialloc_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Virtual node node1's first iallocator directory (cluster-wide /usr/local/lib/gnt/iallocators)."""
    root = tmp_path / "node1"
    monkeypatch.setenv("GNT_ROOTDIR", str(root))
    monkeypatch.setenv("GNT_HOSTNAME", "node1")
    directory = root / placement.IALLOCATOR_SEARCH_PATH[0].lstrip("/")
    directory.mkdir(parents=True)
    return directory


def _install(directory: Path, name: str, body: str) -> Path:
    script = directory / name
    script.write_text(f"#!/bin/sh\n{body}\n")
    script.chmod(0o755)
    return script


@pytest.mark.parametrize(
    "name", ["/bin/sh", "sh", "../../../../bin/sh", "/usr/local/lib/gnt/iallocators/../../../../bin/sh", "."]
)
def test_an_executable_outside_the_search_path_is_refused(ialloc_dir: Path, name: str) -> None:
    with pytest.raises(OpPrereqError, match="Unknown iallocator"):
        placement.check_allocator(name)


def test_a_shell_is_never_run_on_the_request(ialloc_dir: Path, tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    request = {"tags": [f"a$(touch {marker})"]}
    with pytest.raises(OpPrereqError, match="Unknown iallocator"):
        asyncio.run(placement._external("/bin/sh", request))
    assert not marker.exists()


def test_an_installed_allocator_runs_by_name_or_by_path(ialloc_dir: Path) -> None:
    script = _install(ialloc_dir, "mine", """echo '{"success": true, "info": "", "result": ["node2"]}'""")
    assert placement.find_allocator("mine") == str(script)
    assert placement.find_allocator("/usr/local/lib/gnt/iallocators/mine") == str(script)
    assert placement.find_allocator(str(script)) == str(script)
    assert asyncio.run(placement._external("mine", {}))["result"] == ["node2"]


def test_an_endless_answer_is_cut_off(ialloc_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(placement, "MAX_ANSWER_BYTES", 4096)
    _install(ialloc_dir, "chatty", "exec yes")
    with pytest.raises(OpPrereqError, match="wrote more than 4096 bytes"):
        asyncio.run(placement._external("chatty", {}))


@pytest.mark.parametrize("answer", ["5", "[]", '"x"'])
def test_an_answer_that_is_not_an_object_is_a_clear_error(ialloc_dir: Path, answer: str) -> None:
    _install(ialloc_dir, "odd", f"echo '{answer}'")
    with pytest.raises(OpPrereqError, match="not a JSON object"):
        asyncio.run(placement._external("odd", {}))


def test_an_allocator_that_never_answers_is_stopped(ialloc_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(placement, "EXTERNAL_TIMEOUT", 0.5)
    _install(ialloc_dir, "mute", "exec sleep 300")
    with pytest.raises(OpPrereqError, match="did not answer in 0.5s"):
        asyncio.run(placement._external("mute", {}))
