"""The bed's Xen hypervisor: Debian's own Xen 4.17 source, built with shadow paging.

Debian 12's `xen-hypervisor-4.17-amd64` is configured with `# CONFIG_SHADOW_PAGING is not set`.
A PV guest's dirty pages can only be tracked by shadow paging, so that hypervisor refuses log-dirty
mode and no PV guest can live-migrate on it, on any machine ("Failed to enable logdirty: 95,22,0").
Upstream's default is `CONFIG_SHADOW_PAGING=y`. So the bed builds the hypervisor itself: Debian's
source package of the same Xen branch, Debian's own build configuration taken from the binary
package with that one option turned on, and nothing else changed. The toolstack (`xl`, libxl,
xenstored) stays Debian's binary package inside the image; within a stable branch the
hypervisor-toolstack interface does not change.

Only the hypervisor is built (`make -C xen`, about a minute on two cores), once per hypervisor
package and dom0 kernel; the result lives in the bed's cache beside the stock files. Source
packages are read through a private apt state (its own lists and caches under the cache
directory), so the machine's apt configuration and package lists are left as they were.
"""

from __future__ import annotations

import functools
import glob
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterable

from .errors import TestbedError

__all__ = [
    "SHADOW_OPTION",
    "build_hypervisor",
    "deb_src_sources",
    "newest_first",
    "shadow_config",
    "source_versions",
]

SOURCE_PACKAGE = "xen"
SHADOW_OPTION = "CONFIG_SHADOW_PAGING"
#: make's and apt's limits: a hung download or build must end as an error, not a hung CI run
APT_TIMEOUT = 600.0
BUILD_TIMEOUT = 3600.0


def deb_src_sources(apt_dir: str = "/etc/apt") -> str:
    """The machine's enabled binary sources, as deb-src entries (deb822 text).

    Read from sources.list and sources.list.d/*.list|*.sources; disabled files (any other suffix)
    are skipped as apt skips them. A legacy `deb [opts] URI SUITE COMPONENTS` line becomes one
    deb822 stanza; a deb822 stanza keeps its fields with `Types:` changed to `deb-src`.
    """
    stanzas: list[str] = []
    lists = [
        os.path.join(apt_dir, "sources.list"),
        *sorted(glob.glob(os.path.join(apt_dir, "sources.list.d", "*.list"))),
    ]
    for path in lists:
        if os.path.exists(path):
            with open(path, encoding="utf-8", errors="replace") as f:
                stanzas.extend(_legacy_to_deb822(line) for line in f if line.strip().startswith("deb "))
    for path in sorted(glob.glob(os.path.join(apt_dir, "sources.list.d", "*.sources"))):
        with open(path, encoding="utf-8", errors="replace") as f:
            stanzas.extend(_deb822_to_src(block) for block in re.split(r"\n\s*\n", f.read()))
    return "\n\n".join(s for s in stanzas if s) + "\n"


def _legacy_to_deb822(line: str) -> str:
    body = re.sub(r"\[[^]]*\]", " ", line.split("#", 1)[0]).split()[1:]  # options dropped: none needed
    if len(body) < 3:
        return ""
    uri, suite, components = body[0], body[1], body[2:]
    return f"Types: deb-src\nURIs: {uri}\nSuites: {suite}\nComponents: {' '.join(components)}"


def _deb822_to_src(block: str) -> str:
    fields = [line for line in block.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    types = next((line for line in fields if line.lower().startswith("types:")), "")
    if "deb" not in types.split(":", 1)[-1].split() or any(
        line.lower().startswith("enabled:") and line.split(":", 1)[1].strip().lower() == "no" for line in fields
    ):
        return ""
    return "\n".join("Types: deb-src" if line is types else line for line in fields)


def source_versions(showsrc: str, branch: str) -> list[str]:
    """The versions `apt-cache showsrc xen` offers of one Xen branch (`4.17`), as apt lists them."""
    versions = re.findall(r"^Version: (\S+)$", showsrc, flags=re.MULTILINE)
    wanted = [v for v in versions if re.match(rf"(\d+:)?{re.escape(branch)}\.", v)]
    return list(dict.fromkeys(wanted))


def _dpkg_compare(a: str, b: str) -> int:
    if a == b:
        return 0
    newer = subprocess.run(["dpkg", "--compare-versions", a, "gt", b], capture_output=True).returncode == 0
    return 1 if newer else -1


def newest_first(versions: Iterable[str], prefer: str | None = None) -> list[str]:
    """Versions by Debian's ordering, newest first, with `prefer` (the binary package's) ahead."""
    ordered = sorted(set(versions), key=functools.cmp_to_key(_dpkg_compare), reverse=True)
    if prefer in ordered:
        ordered.remove(prefer)
        ordered.insert(0, prefer)
    return ordered


def shadow_config(debian_config: str) -> str:
    """Debian's hypervisor configuration with shadow paging turned on and nothing else changed."""
    lines = [
        line
        for line in debian_config.splitlines()
        if not re.fullmatch(rf"(# )?{SHADOW_OPTION}(=.*| is not set)", line.strip())
    ]
    return "\n".join([*lines, f"{SHADOW_OPTION}=y"]) + "\n"


class _PrivateApt:
    """apt-get/apt-cache with deb-src lists of their own (never the machine's lists or caches)."""

    def __init__(self, root: str) -> None:
        self.root = root
        for sub in ("lists/partial", "cache/archives/partial", "parts"):
            os.makedirs(os.path.join(root, sub), exist_ok=True)
        self.sources = os.path.join(root, "deb-src.sources")
        with open(self.sources, "w") as f:
            f.write(deb_src_sources())

    def _options(self) -> list[str]:
        return [
            "-o", f"Dir::Etc::SourceList={self.sources}",
            "-o", f"Dir::Etc::SourceParts={os.path.join(self.root, 'parts')}",
            "-o", f"Dir::State::Lists={os.path.join(self.root, 'lists')}",
            "-o", f"Dir::Cache={os.path.join(self.root, 'cache')}",
        ]  # fmt: skip

    def run(self, tool: str, *args: str, cwd: str | None = None) -> str:
        try:
            proc = subprocess.run(
                [tool, *self._options(), *args], cwd=cwd, capture_output=True, text=True, timeout=APT_TIMEOUT
            )
        except subprocess.TimeoutExpired:
            raise TestbedError(f"{tool} {' '.join(args)} took over {APT_TIMEOUT:.0f} s") from None
        if proc.returncode != 0:
            errors = [line for line in proc.stderr.splitlines() if line.startswith("E:")] or [proc.stderr.strip()]
            raise TestbedError(f"{tool} {' '.join(args)} failed: {errors[-1]}")
        return proc.stdout


def _debian_config(unpacked: str, branch: str) -> str:
    """Debian's build configuration, from the hypervisor package's files already unpacked."""
    found = sorted(glob.glob(os.path.join(unpacked, "boot", f"xen-{branch}*-amd64.config")))
    if not found:
        raise TestbedError(f"the hypervisor package has no boot/xen-{branch}-amd64.config")
    with open(found[0]) as f:
        return f.read()


def _deb_version(deb: str) -> str:
    proc = subprocess.run(["dpkg-deb", "-f", deb, "Version"], capture_output=True, text=True)
    return proc.stdout.strip()


def _fetch_source(apt: _PrivateApt, versions: list[str], work: str, log: Callable[[str], None]) -> tuple[str, str]:
    """Download the first version that the mirror has (a security update's source may be missing)."""
    failures = []
    for version in versions:
        dest = os.path.join(work, "src-" + re.sub(r"[^A-Za-z0-9.+-]", "_", version))
        os.makedirs(dest)
        try:
            apt.run("apt-get", "source", "--download-only", f"{SOURCE_PACKAGE}={version}", cwd=dest)
        except TestbedError as err:
            failures.append(f"{version}: {err}")
            log(f"xen source {version} not downloadable: {err}")
            continue
        tarballs = sorted(glob.glob(os.path.join(dest, f"{SOURCE_PACKAGE}_*.orig.tar.*")))
        if tarballs and not tarballs[0].endswith(".asc"):
            return version, tarballs[0]
        failures.append(f"{version}: no orig tarball")
    raise TestbedError("no Xen source could be downloaded: " + "; ".join(failures or ["apt offers none"]))


def _make(args: list[str], cwd: str, log_path: str) -> None:
    with open(log_path, "a") as out:
        try:
            proc = subprocess.run(["make", *args], cwd=cwd, stdout=out, stderr=subprocess.STDOUT, timeout=BUILD_TIMEOUT)
        except subprocess.TimeoutExpired:
            raise TestbedError(f"make {' '.join(args)} took over {BUILD_TIMEOUT:.0f} s (log: {log_path})") from None
    if proc.returncode != 0:
        with open(log_path) as f:
            tail = [line.rstrip() for line in f.readlines()[-5:]]
        raise TestbedError(f"make {' '.join(args)} failed (log: {log_path}): " + " | ".join(tail))


def build_hypervisor(
    hypervisor_deb: str,
    unpacked: str,
    branch: str,
    dest: str,
    cache: str,
    log: Callable[[str], None] | None = None,
) -> str:
    """Build Xen with shadow paging into `dest` (the ELF QEMU boots); returns the source version.

    `hypervisor_deb` gives the preferred source version, and its files unpacked in `unpacked` (the
    caller has them out already for the dom0 kernel) the build configuration. The build
    log stays beside the result (`build.log`); a failed build leaves nothing at `dest`.
    """
    say = log or (lambda _msg: None)
    for tool in ("make", "gcc", "flex", "bison"):
        if shutil.which(tool) is None:
            raise TestbedError(f"building Xen needs {tool} (tools/install-deps.sh installs it)")
    apt = _PrivateApt(os.path.join(cache, "xen-src-apt"))
    apt.run("apt-get", "update")
    versions = newest_first(
        source_versions(apt.run("apt-cache", "showsrc", SOURCE_PACKAGE), branch), _deb_version(hypervisor_deb)
    )
    work = tempfile.mkdtemp(prefix=".xen-build-", dir=os.path.dirname(dest))
    try:
        version, tarball = _fetch_source(apt, versions, work, say)
        say(f"building Xen {version} with {SHADOW_OPTION}=y")
        proc = subprocess.run(["tar", "-xf", tarball, "-C", work], capture_output=True, text=True)
        if proc.returncode != 0:
            raise TestbedError(f"cannot unpack {tarball}: {proc.stderr.strip()}")
        (tree,) = [p for p in glob.glob(os.path.join(work, f"{SOURCE_PACKAGE}-*")) if os.path.isdir(p)]
        xen_dir = os.path.join(tree, "xen")
        with open(os.path.join(xen_dir, ".config"), "w") as f:
            f.write(shadow_config(_debian_config(unpacked, branch)))
        log_path = os.path.join(work, "build.log")
        _make(["olddefconfig"], xen_dir, log_path)
        with open(os.path.join(xen_dir, ".config")) as f:
            if f"{SHADOW_OPTION}=y\n" not in f.read():
                raise TestbedError(f"Xen {version}'s configuration dropped {SHADOW_OPTION}=y")
        _make([f"-j{os.cpu_count() or 1}"], xen_dir, log_path)
        staged = dest + ".tmp"
        shutil.copy(os.path.join(xen_dir, "xen"), staged)
        shutil.copy(log_path, os.path.join(os.path.dirname(dest), "build.log"))
        with open(os.path.join(os.path.dirname(dest), "source-version"), "w") as f:
            f.write(version + "\n")
        os.replace(staged, dest)
        return version
    finally:
        shutil.rmtree(work, ignore_errors=True)
