"""tools/testguest.py as a program: what the demo runs to learn whether it can boot a real guest."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "tools"))

import testguest  # noqa: E402


def test_missing_qemu_is_one_line_and_exit_1(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    real = shutil.which
    monkeypatch.setattr(shutil, "which", lambda name: None if name == "qemu-system-x86_64" else real(name))
    assert testguest.main(["--hvparams"]) == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert err.strip().splitlines() == ["qemu-system-x86_64 not installed (as root: sh tools/install-deps.sh)"]


def test_unbuildable_guest_is_one_line_and_exit_1(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture, tmp_path: Path
) -> None:
    monkeypatch.setattr(testguest, "missing_tools", lambda: [])
    monkeypatch.setenv("GNT_TEST_GUEST_CACHE", str(tmp_path))

    def no_kernel(cache: str) -> str:
        raise RuntimeError("apt-get download linux-image-6.1.0-1-amd64 failed: network unreachable")

    monkeypatch.setattr(testguest, "_kernel_deb", no_kernel)
    assert testguest.main(["--hvparams"]) == 1
    out, err = capsys.readouterr()
    assert out == "" and err.strip() == (
        "cannot build the test guest: apt-get download linux-image-6.1.0-1-amd64 failed: network unreachable"
    )


def test_hvparams_name_the_cached_kernel_and_initramfs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(testguest, "kernel", lambda: "/cache/vmlinux")
    monkeypatch.setattr(testguest, "initramfs", lambda: "/cache/initramfs-x.gz")
    assert testguest.gnt_hvparams() == (
        "kernel_path=/cache/vmlinux,initrd_path=/cache/initramfs-x.gz,kernel_args=quiet panic=-1"
    )
