"""The Xen hypervisor build's pure parts: deb-src sources, version choice, the configuration edit.

No VM, no network, no build: these run everywhere, like test_parts.py.
"""

from __future__ import annotations

import pytest

from tools.testbed import xenbuild

SHOWSRC = """Package: xen
Binary: xen-utils-4.17
Version: 4.17.5+72-g01140da4e8-1
Directory: pool/main/x/xen

Package: xen
Version: 4.17.7+13-g2445b30a44-0+deb12u1
Directory: pool/updates/main/x/xen

Package: xen
Version: 4.20.1-1
Directory: pool/main/x/xen

Package: xen
Version: 4.17.5+72-g01140da4e8-1
"""


def test_only_the_branch_s_versions_are_offered_once_each() -> None:
    assert xenbuild.source_versions(SHOWSRC, "4.17") == ["4.17.5+72-g01140da4e8-1", "4.17.7+13-g2445b30a44-0+deb12u1"]
    assert xenbuild.source_versions(SHOWSRC, "4.1") == []  # 4.17 is not 4.1
    assert xenbuild.source_versions(SHOWSRC, "4.20") == ["4.20.1-1"]


def test_the_binary_package_s_version_comes_first_then_newest() -> None:
    versions = ["4.17.5+72-g01140da4e8-1", "4.17.7+13-g2445b30a44-0+deb12u1", "4.17.10-1"]
    assert xenbuild.newest_first(versions) == [
        "4.17.10-1",
        "4.17.7+13-g2445b30a44-0+deb12u1",
        "4.17.5+72-g01140da4e8-1",
    ]
    preferred = xenbuild.newest_first(versions, prefer="4.17.5+72-g01140da4e8-1")
    assert preferred == ["4.17.5+72-g01140da4e8-1", "4.17.10-1", "4.17.7+13-g2445b30a44-0+deb12u1"]
    assert xenbuild.newest_first(versions, prefer="9.9-1")[0] == "4.17.10-1"  # not offered: ignored


@pytest.mark.parametrize(
    "line",
    ["# CONFIG_SHADOW_PAGING is not set", "CONFIG_SHADOW_PAGING=n", "CONFIG_SHADOW_PAGING=y", ""],
)
def test_shadow_paging_is_turned_on_and_nothing_else_changes(line: str) -> None:
    debian = f"CONFIG_PV=y\nCONFIG_HVM=y\n{line}\n# CONFIG_PV_SHIM_EXCLUSIVE is not set\n"
    config = xenbuild.shadow_config(debian)
    assert config.count("SHADOW_PAGING") == 1 and "CONFIG_SHADOW_PAGING=y\n" in config
    assert "CONFIG_PV=y\nCONFIG_HVM=y\n" in config and "# CONFIG_PV_SHIM_EXCLUSIVE is not set\n" in config


def test_deb_src_sources_mirror_the_enabled_binary_sources(tmp_path) -> None:
    parts = tmp_path / "sources.list.d"
    parts.mkdir()
    (tmp_path / "sources.list").write_text(
        "# a comment\ndeb [arch=amd64 signed-by=/k.gpg] http://mirror.example/debian bookworm main contrib\n"
        "deb-src http://mirror.example/debian bookworm main\n"
    )
    (parts / "debian.sources").write_text(
        "Types: deb\nURIs: http://deb.example/debian\nSuites: bookworm bookworm-updates\nComponents: main\n"
        "Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg\n\n"
        "Types: deb\nURIs: http://off.example/debian\nSuites: bookworm\nComponents: main\nEnabled: no\n"
    )
    (parts / "other.list.disabled-by-farm").write_text("deb http://never.example/ x main\n")
    text = xenbuild.deb_src_sources(str(tmp_path))
    stanzas = text.strip().split("\n\n")
    assert stanzas == [
        "Types: deb-src\nURIs: http://mirror.example/debian\nSuites: bookworm\nComponents: main contrib",
        "Types: deb-src\nURIs: http://deb.example/debian\nSuites: bookworm bookworm-updates\nComponents: main\n"
        "Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg",
    ]
    assert "never.example" not in text and "off.example" not in text


def test_a_missing_build_tool_is_named(monkeypatch, tmp_path) -> None:
    monkeypatch.setattr(xenbuild.shutil, "which", lambda tool: None if tool == "flex" else "/usr/bin/" + tool)
    with pytest.raises(xenbuild.TestbedError, match="building Xen needs flex"):
        xenbuild.build_hypervisor("x.deb", str(tmp_path), "4.17", str(tmp_path / "xen.elf"), str(tmp_path))
    assert not (tmp_path / "xen.elf").exists()
