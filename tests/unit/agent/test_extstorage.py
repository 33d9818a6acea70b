"""ExtStorage provider discovery on a node: which directories are providers and why others are not."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from agent import extstorage
from agent.dispatcher import Dispatcher
from agent.handlers import HANDLERS
from gnt.errors import RpcArgumentError


def make_provider(top: Path, name: str, skip: str = "", params: str | None = "pool The RADOS pool\nsize\n") -> Path:
    d = top / name
    d.mkdir(parents=True)
    for script in (*extstorage.REQUIRED_SCRIPTS, "open"):
        if script != skip:
            (d / script).write_text("#!/bin/sh\nexit 0\n")
            (d / script).chmod(0o755)
    if params is not None:
        (d / "parameters.list").write_text(params)
    return d


def test_a_complete_provider_is_valid_with_its_parameters_and_optional_scripts(tmp_path: Path) -> None:
    provider = extstorage.load_provider(str(make_provider(tmp_path, "rbd")))
    assert provider.parameters == [["pool", "The RADOS pool"], ["size", ""]]
    assert provider.optional == ["open"]


@pytest.mark.parametrize(
    ("skip", "params", "message"),
    [
        ("setinfo", "x", "missing script 'setinfo' in provider p at"),
        ("", None, "missing file 'parameters.list' in provider p at"),
    ],
)
def test_an_incomplete_provider_says_what_is_missing(
    tmp_path: Path, skip: str, params: str | None, message: str
) -> None:
    make_provider(tmp_path, "p", skip=skip, params=params)
    (entry,) = asyncio.run(extstorage.diagnose([str(tmp_path)]))
    assert entry["valid"] is False and message in entry["message"]


def test_a_script_that_cannot_run_makes_the_provider_invalid(tmp_path: Path) -> None:
    d = make_provider(tmp_path, "p")
    (d / "grow").chmod(0o644)
    (entry,) = asyncio.run(extstorage.diagnose([str(tmp_path)]))
    assert "script 'grow' is not executable" in entry["message"]


def test_every_directory_of_the_search_path_is_listed_in_order(tmp_path: Path) -> None:
    first, second = tmp_path / "a", tmp_path / "b"
    make_provider(first, "rbd")
    make_provider(second, "rbd", skip="attach")
    make_provider(second, "gluster")
    (second / "README").write_text("not a provider")
    entries = asyncio.run(extstorage.diagnose([str(first), str(tmp_path / "missing"), str(second)]))
    assert [(e["name"], e["path"], e["valid"]) for e in entries] == [
        ("rbd", str(first / "rbd"), True),
        ("gluster", str(second / "gluster"), True),
        ("rbd", str(second / "rbd"), False),
    ]


def test_the_node_takes_its_search_path_from_its_own_root_never_from_the_caller(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "node1"
    make_provider(root / "srv/gnt/extstorage", "mine")
    monkeypatch.setenv("GNT_ROOTDIR", str(root))
    monkeypatch.setenv("GNT_HOSTNAME", "node1")
    dispatcher = Dispatcher(HANDLERS)
    entries = asyncio.run(dispatcher.call("extstorage_diagnose", {}))
    assert [e["path"] for e in entries if e["name"] == "mine"] == [str(root / "srv/gnt/extstorage/mine")]
    with pytest.raises(RpcArgumentError):
        asyncio.run(dispatcher.call("extstorage_diagnose", {"search_path": [str(tmp_path)]}))
