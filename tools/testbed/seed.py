"""The seed disk: the gnt checkout (plus the test bed's ssh key and gnt-* launchers) as a small
read-only ext4 image made for each run with `mke2fs -d`, so hosts always run the code under test.

Hosts mount it on /opt/gnt (a .pth file in the image puts /opt/gnt on Python's path) and link
/opt/gnt/.testbed/bin/* into /usr/local/bin.

The disk is read-only, so Python on a host could not keep the modules it compiles and would
compile gnt again in every process (seconds per command under TCG). The seed therefore carries
gnt's packages compiled for the hosts' Python when this one is the same version; otherwise the
launchers point Python at a writable cache directory on the host.
"""

from __future__ import annotations

import compileall
import os
import py_compile
import shutil
import subprocess
import sys
import tempfile
import tomllib

from .errors import TestbedError

__all__ = ["repo_root", "checkout_files", "make_seed"]

LAUNCHER = """#!/usr/bin/python3
import os
import sys
{pycache}from {module} import {func}
sys.exit({func}())
"""
#: without compiled modules on the seed: a writable cache, exported so the daemons a command starts use it too
PYCACHE_LINES = """os.environ.setdefault("PYTHONPYCACHEPREFIX", "/var/cache/gnt-pycache")
sys.pycache_prefix = os.environ["PYTHONPYCACHEPREFIX"]
"""
#: the host image's Python (Debian 12's 3.11): bytecode compiled by any 3.11 loads there as it is
HOST_CACHE_TAG = "cpython-311"
#: what the hosts import from the checkout (pyproject's packages)
RUNTIME_PACKAGES = ("gnt", "agent", "backends", "storage", "daemons")


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


def precompile(tree: str) -> bool:
    """Compile the runtime packages in `tree` for the hosts' Python, if this Python is that version.

    Unchecked hash-based .pyc files: the seed never changes under them, so the hosts need not
    compare them with the sources.
    """
    if sys.implementation.cache_tag != HOST_CACHE_TAG:
        return False
    for package in RUNTIME_PACKAGES:
        path = os.path.join(tree, package)
        if os.path.isdir(path):
            mode = py_compile.PycInvalidationMode.UNCHECKED_HASH
            if not compileall.compile_dir(path, quiet=2, ddir=f"/opt/gnt/{package}", invalidation_mode=mode):
                return False
    return True


def _launchers(root: str, bindir: str, compiled: bool) -> None:
    with open(os.path.join(root, "pyproject.toml"), "rb") as f:
        scripts = tomllib.load(f).get("project", {}).get("scripts", {})
    for name, target in scripts.items():
        module, _, func = target.partition(":")
        path = os.path.join(bindir, name)
        with open(path, "w") as f:
            f.write(LAUNCHER.format(module=module, func=func, pycache="" if compiled else PYCACHE_LINES))
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
        _launchers(root, os.path.join(meta, "bin"), compiled=precompile(tree))
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
