"""`pip install` puts the man pages and the bash completion where a host admin looks for them:
PREFIX/share/man/man8 (`man gnt-instance`) and PREFIX/share/bash-completion/completions/<command>
(loaded by bash-completion the first time the command is completed)."""

from __future__ import annotations

import shutil
import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import pytest

from gnt.cli import manpage

REPO = Path(__file__).resolve().parents[3]


def _pip(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pip", *args], capture_output=True, text=True)


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel pip builds from a copy of the checkout (a build in place would leave build/ here)."""
    source = tmp_path_factory.mktemp("src") / "gnt"
    junk = shutil.ignore_patterns(".git", "build", "tests", "bench", "*.egg-info", "__pycache__", ".ruff_cache")
    shutil.copytree(REPO, source, ignore=junk)
    out = tmp_path_factory.mktemp("wheel")
    result = _pip("wheel", "--no-deps", "-q", "-w", str(out), str(source))
    assert result.returncode == 0, result.stderr
    (path,) = out.glob("gnt-*.whl")
    return path


def test_the_wheel_carries_every_man_page_and_completion(wheel: Path) -> None:
    commands = [cmd.name for cmd in manpage.cli_commands()]
    with zipfile.ZipFile(wheel) as archive:
        data = {n.split(".data/data/", 1)[1]: n for n in archive.namelist() if ".data/data/" in n}
        assert sorted(data) == sorted(
            [f"share/man/man8/{c}.8" for c in commands] + [f"share/bash-completion/completions/{c}" for c in commands]
        )
        for command in commands:
            shipped = (REPO / f"doc/man/{command}.8").read_bytes()
            assert archive.read(data[f"share/man/man8/{command}.8"]) == shipped


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
def test_an_installed_wheel_has_pages_man_finds_and_completion_bash_loads(wheel: Path, tmp_path: Path) -> None:
    # a venv of its own: `pip install --prefix` would first uninstall the gnt this test runs from
    prefix = tmp_path / "prefix"
    venv.create(prefix, with_pip=False)
    result = _pip("--python", str(prefix / "bin/python"), "install", "--no-deps", "--no-index", "-q", str(wheel))
    assert result.returncode == 0, result.stderr
    page = prefix / "share/man/man8/gnt-instance.8"
    assert page.read_text() == (REPO / "doc/man/gnt-instance.8").read_text()
    if shutil.which("man"):
        found = subprocess.run(["man", "-M", str(prefix / "share/man"), "-w", "gnt-instance"], capture_output=True)
        assert found.stdout.decode().strip() == str(page)
    completion = prefix / "share/bash-completion/completions/gnt-instance"
    registered = subprocess.run(
        ["bash", "-c", f"source {completion} && complete -p gnt-instance"], capture_output=True, text=True
    )
    assert registered.returncode == 0 and "_gnt_instance_completion gnt-instance" in registered.stdout
