"""The seed disk: the gnt checkout (plus the test bed's ssh key and gnt-* launchers) as a small
read-only ext4 image made for each run with `mke2fs -d`, so hosts always run the code under test.

Hosts mount it on /opt/gnt (a .pth file in the image puts /opt/gnt on Python's path) and link
/opt/gnt/.testbed/bin/* into /usr/local/bin.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import tomllib

from .errors import TestbedError

__all__ = ["repo_root", "checkout_files", "make_seed"]

LAUNCHER = """#!/usr/bin/python3
import sys
from {module} import {func}
sys.exit({func}())
"""


def repo_root() -> str:
    """The checkout this package lives in (tools/testbed/ -> ..)."""
    return os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def checkout_files(root: str) -> list[str]:
    """Tracked and untracked-but-not-ignored files (what the developer is working on), minus deleted ones."""
    proc = subprocess.run(
        ["git", "-C", root, "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        capture_output=True,
    )
    if proc.returncode != 0:
        raise TestbedError(f"git ls-files in {root} failed: {proc.stderr.decode(errors='replace').strip()}")
    names = [n for n in proc.stdout.decode().split("\0") if n]
    return [n for n in names if os.path.isfile(os.path.join(root, n))]


def _launchers(root: str, bindir: str) -> None:
    with open(os.path.join(root, "pyproject.toml"), "rb") as f:
        scripts = tomllib.load(f).get("project", {}).get("scripts", {})
    for name, target in scripts.items():
        module, _, func = target.partition(":")
        path = os.path.join(bindir, name)
        with open(path, "w") as f:
            f.write(LAUNCHER.format(module=module, func=func))
        os.chmod(path, 0o755)


def make_seed(dest: str, public_key: str, root: str | None = None) -> str:
    """Write the seed image for the checkout at `root` (default: this one) to `dest`."""
    root = root or repo_root()
    with tempfile.TemporaryDirectory(prefix="gnt-seed-") as tree:
        os.chmod(tree, 0o755)
        for name in checkout_files(root):
            target = os.path.join(tree, name)
            os.makedirs(os.path.dirname(target), exist_ok=True)
            shutil.copy2(os.path.join(root, name), target)
        meta = os.path.join(tree, ".testbed")
        os.makedirs(os.path.join(meta, "bin"))
        _launchers(root, os.path.join(meta, "bin"))
        with open(os.path.join(meta, "authorized_keys"), "w") as f:
            f.write(public_key.strip() + "\n")
        os.chmod(os.path.join(meta, "authorized_keys"), 0o644)
        size_mb = 32 + sum(os.path.getsize(os.path.join(d, n)) for d, _, ns in os.walk(tree) for n in ns) * 2 // 2**20
        proc = subprocess.run(
            ["mke2fs", "-q", "-F", "-t", "ext4", "-L", "gnt", "-d", tree, dest, f"{size_mb}M"],
            capture_output=True,
            text=True,
        )
        if proc.returncode != 0:
            raise TestbedError(f"mke2fs for the seed disk failed: {proc.stderr.strip()}")
    return dest
