"""The man pages and bash completion shipped in doc/ are what the click commands produce, render
cleanly, and complete for real in bash."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from gnt.cli import manpage

REPO = Path(__file__).resolve().parents[3]


def _same(path: Path, text: str) -> bool:
    return path.is_file() and path.read_text() == text


@pytest.fixture(scope="module")
def generated() -> dict[Path, str]:
    return manpage.generated_files()


def test_the_shipped_pages_and_completion_are_what_the_commands_produce(generated: dict[Path, str]) -> None:
    made_with = re.search(r"with click (\S+)", (REPO / "doc/man/gnt-job.8").read_text())
    if made_with is None or made_with.group(1) != manpage.click_version():
        # another click lays help out differently: the next test still checks every command is there
        pytest.skip(
            f"the shipped files were made with click {made_with and made_with.group(1)}, this is "
            f"click {manpage.click_version()}: byte equality only holds for the same release"
        )
    stale = [str(rel) for rel, text in generated.items() if not _same(REPO / rel, text)]
    assert stale == [], f"run tools/gen-cli-docs: {stale}"
    shipped = {p.relative_to(REPO) for p in (REPO / "doc/man").iterdir()}
    assert shipped == {rel for rel in generated if rel.parts[1] == "man"}  # no page of a removed command


def test_every_subcommand_and_option_is_in_its_page(generated: dict[Path, str]) -> None:
    for cmd in manpage.cli_commands():
        page = generated[Path("doc/man") / f"{cmd.name}.8"]
        titled = re.findall(r'^\.SS "([\w-]+)"$', page, re.M)
        assert titled == sorted(name for name, sub in cmd.group.commands.items() if not sub.hidden)
    page = generated[Path("doc/man/gnt-instance.8")]
    assert "--os-parameters-secret" in page and "Example:" in page


@pytest.mark.skipif(shutil.which("groff") is None, reason="rendering the pages needs groff (Debian groff-base)")
def test_pages_render_without_warnings(generated: dict[Path, str]) -> None:
    for rel, text in generated.items():
        if rel.parts[1] != "man":
            continue
        result = subprocess.run(["groff", "-man", "-Tutf8", "-ww", "-z"], input=text, capture_output=True, text=True)
        assert result.returncode == 0 and result.stderr == "", (rel, result.stderr)


def _command(name: str) -> str:
    beside = Path(sys.executable).parent / name
    found = str(beside) if beside.exists() else shutil.which(name)
    if found is None:
        pytest.skip(f"completion asks the installed {name}, which is not on PATH (pip install -e .)")
    return found


def _complete(words: list[str]) -> list[str]:
    """What bash offers after `words` (the last one being typed), through the shipped script."""
    func = "_" + words[0].replace("-", "_") + "_completion"
    script = (
        f"source {REPO / 'doc/completion/gnt.bash'}\n"
        f"COMP_WORDS=({' '.join(words)}); COMP_CWORD={len(words) - 1}\n"
        f"{func} {_command(words[0])}\n"
        'printf "%s\\n" "${COMPREPLY[@]}"\n'
    )
    result = subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return result.stdout.split()


def test_bash_completes_subcommands_and_options() -> None:
    assert _complete(["gnt-cluster", "ver"]) == ["verify", "verify-disks", "version"]
    assert "--disk-template" in _complete(["gnt-instance", "add", "--disk-t"])
    assert _complete(["gnt-job", "zzz"]) == []
