"""The test bed's parts that need no VM: cache key, initramfs, QEMU command line, seed disk, PIDs.

These run everywhere (no root, no QEMU), so a broken test bed shows up even where it cannot boot.
"""

from __future__ import annotations

import dataclasses
import gzip
import os
import shutil
import subprocess
import sys
import time

import pytest

from tools.testbed import Image, TestbedError, image, initrd, procs, seed
from tools.testbed.bed import TestBed

from .conftest import REPO


def _cpio_names(data: bytes) -> dict[str, bytes]:
    """name -> content of a newc archive (enough to check what the initramfs holds)."""
    files, pos = {}, 0
    while True:
        header = data[pos : pos + 110]
        size, namesize = int(header[54:62], 16), int(header[94:102], 16)
        name = data[pos + 110 : pos + 110 + namesize - 1].decode()
        pos += 110 + namesize
        pos += -pos % 4
        if name == "TRAILER!!!":
            return files
        files[name] = data[pos : pos + size]
        pos += size + (-size % 4)


def test_module_closure_puts_dependencies_first(tmp_path) -> None:
    (tmp_path / "modules.dep").write_text(
        "kernel/fs/ext4/ext4.ko: kernel/fs/jbd2/jbd2.ko kernel/fs/mbcache.ko kernel/lib/crc16.ko\n"
        "kernel/fs/jbd2/jbd2.ko:\nkernel/fs/mbcache.ko:\nkernel/lib/crc16.ko:\n"
        "kernel/drivers/block/virtio_blk.ko:\nkernel/drivers/md/dm-mod.ko:\n"
    )
    order = initrd.module_closure(str(tmp_path), ("virtio_blk", "ext4", "virtio_pci"))
    assert order == [
        "kernel/drivers/block/virtio_blk.ko",
        "kernel/fs/jbd2/jbd2.ko",
        "kernel/fs/mbcache.ko",
        "kernel/lib/crc16.ko",
        "kernel/fs/ext4/ext4.ko",
    ]


def test_initrd_holds_busybox_init_and_the_boot_modules(tmp_path) -> None:
    moddir = tmp_path / "mods"
    (moddir / "kernel").mkdir(parents=True)
    (moddir / "kernel" / "ext4.ko").write_bytes(b"ext4-module")
    (moddir / "modules.dep").write_text("kernel/ext4.ko:\n")
    busybox = tmp_path / "busybox"
    busybox.write_bytes(b"\x7fELF-busybox")
    initrd.write_initrd(str(tmp_path / "initrd.img"), str(moddir), str(busybox))
    files = _cpio_names(gzip.decompress((tmp_path / "initrd.img").read_bytes()))
    assert files["bin/busybox"] == b"\x7fELF-busybox"
    assert files["lib/mods/ext4.ko"] == b"ext4-module"
    assert files["lib/order"] == b"ext4.ko\n"
    assert b"switch_root /newroot /usr/bin/tini" in files["init"]


def test_image_key_follows_every_input(tmp_path) -> None:
    deb = "/cache/debs/linux-image-6.1.0-56-amd64_6.1.192-2_amd64.deb"
    base = image.image_inputs(image.DEFAULT_SPEC, deb)
    assert image.image_inputs(image.DEFAULT_SPEC, deb) == base
    more = dataclasses.replace(image.DEFAULT_SPEC, packages=(*image.DEFAULT_SPEC.packages, "xen-utils-4.17"))
    assert image.image_inputs(more, deb)["spec"] != base["spec"]
    newer = image.image_inputs(image.DEFAULT_SPEC, deb.replace("-56-", "-57-"))
    assert newer["kernel"] != base["kernel"]
    assert "guest/init.sh" in base and "image.py" in base and "busybox" in base


def test_cache_dir_follows_the_environment(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("GNT_TESTBED_CACHE", str(tmp_path))
    assert image.cache_dir() == str(tmp_path)


def _bed(tmp_path, monkeypatch, **kwargs) -> TestBed:
    monkeypatch.setenv("GNT_TESTBED_CACHE", str(tmp_path / "cache"))
    if not shutil.which("ssh-keygen"):
        pytest.skip("needs ssh-keygen (openssh-client)")
    fake = Image("/img/root.img", "/img/vmlinux", "/img/initrd.img", "6.1.0-56-amd64", "k")
    return TestBed(str(tmp_path / "bed"), image=fake, **kwargs)


def test_qemu_command_line_keeps_the_hosts_off_this_machines_network(tmp_path, monkeypatch) -> None:
    bed = _bed(tmp_path, monkeypatch, hosts=3, shared_size="1G", forwards=(1811,))
    argv = " ".join(bed.qemu_argv(bed["node2"]))
    # Private network: a user-space switch over a unix socket; no tap, bridge or socket netdev.
    assert f"-netdev vde,id=priv,sock={bed.switch_path}" in argv
    assert "tap" not in argv and "bridge" not in argv
    # The only other link: user-mode networking restricted to forwards on 127.0.0.1.
    node2 = bed["node2"]
    mgmt = argv.split("-netdev user,")[1].split()[0]
    assert "restrict=on" in mgmt
    assert f"hostfwd=tcp:127.0.0.1:{node2.ssh_port}-:22" in mgmt
    assert f"hostfwd=tcp:127.0.0.1:{node2.port(1811)}-:1811" in mgmt
    assert mgmt.count("hostfwd=") == 2
    assert "tb.name=node2 tb.ip=192.168.77.2/24" in argv
    assert "tb.hosts=node1=192.168.77.1,node2=192.168.77.2,node3=192.168.77.3" in argv
    # Disks: overlay root, own data disk, read-only seed, the LUN shared with share-rw.
    assert f"file.filename={node2.path('root.qcow2')}" in argv
    assert f"driver=raw,node-name=gnt,file.driver=file,file.filename={bed.seed_path},read-only=on" in argv
    assert "drive=shared,serial=shared,addr=0x8,share-rw=on" in argv
    with pytest.raises(TestbedError, match="not forwarded"):
        node2.port(8080)


def test_bed_state_survives_a_new_process(tmp_path, monkeypatch) -> None:
    bed = _bed(tmp_path, monkeypatch, hosts=["alpha", "beta"])
    os.makedirs(bed.dir)
    bed.hosts[1].state.pid = 4242
    bed.save_state()
    again = TestBed.load(bed.dir)
    assert [h.name for h in again.hosts] == ["alpha", "beta"]
    assert again["beta"].pid == 4242 and again["beta"].ssh_port == bed["beta"].ssh_port
    with open(os.path.join(bed.dir, "ssh_config")) as f:
        config = f.read()
    assert f"Host beta\n  Port {bed['beta'].ssh_port}\n  HostName 127.0.0.1\n  User root\n" in config
    assert f"IdentityFile {bed.key}\n" in config
    with pytest.raises(TestbedError, match="no host 'gamma'"):
        again["gamma"]
    with pytest.raises(TestbedError, match="no test bed"):
        TestBed.load(str(tmp_path / "nowhere"))


def test_seed_disk_has_the_checkout_launchers_and_key(tmp_path) -> None:
    if not shutil.which("git"):
        pytest.skip("needs git")
    repo = tmp_path / "repo"
    (repo / "gnt").mkdir(parents=True)
    (repo / "gnt" / "__init__.py").write_text("x = 1\n")
    (repo / "notes.txt").write_text("untracked but not ignored\n")
    (repo / "junk.pyc").write_text("ignored\n")
    (repo / ".gitignore").write_text("*.pyc\n")
    (repo / "pyproject.toml").write_text('[project]\nname = "gnt"\n[project.scripts]\ngnt-node = "gnt.node.cli:main"\n')
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    subprocess.run(["git", "-C", str(repo), "add", "gnt", "pyproject.toml", ".gitignore"], check=True)
    assert sorted(seed.checkout_files(str(repo))) == [".gitignore", "gnt/__init__.py", "notes.txt", "pyproject.toml"]
    if not shutil.which("mke2fs") or not shutil.which("debugfs"):
        pytest.skip("needs e2fsprogs")
    img = seed.make_seed(str(tmp_path / "seed.img"), "ssh-ed25519 AAAA test", root=str(repo))
    listing = subprocess.run(["debugfs", "-R", "ls -p /.testbed/bin", img], capture_output=True, text=True).stdout
    assert "gnt-node" in listing
    launcher = subprocess.run(["debugfs", "-R", "cat /.testbed/bin/gnt-node", img], capture_output=True, text=True)
    assert "from gnt.node.cli import main" in launcher.stdout
    key = subprocess.run(["debugfs", "-R", "cat /.testbed/authorized_keys", img], capture_output=True, text=True)
    assert key.stdout == "ssh-ed25519 AAAA test\n"
    top = subprocess.run(["debugfs", "-R", "ls -p /", img], capture_output=True, text=True).stdout
    assert "notes.txt" in top and "junk.pyc" not in top


@pytest.mark.parametrize("same_python", [True, False])
def test_seed_carries_gnt_compiled_for_the_hosts_python_or_a_writable_cache(tmp_path, monkeypatch, same_python) -> None:
    """The seed is read-only: without bytecode on it every gnt process on a host compiles gnt again."""
    if not shutil.which("git") or not shutil.which("mke2fs") or not shutil.which("debugfs"):
        pytest.skip("needs git and e2fsprogs")
    repo = tmp_path / "repo"
    (repo / "gnt").mkdir(parents=True)
    (repo / "gnt" / "__init__.py").write_text("x = 1\n")
    (repo / "pyproject.toml").write_text('[project]\nname = "gnt"\n[project.scripts]\ngnt-node = "gnt.node.cli:main"\n')
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    tag = sys.implementation.cache_tag if same_python else "cpython-00"
    monkeypatch.setattr(seed, "HOST_CACHE_TAG", tag)
    img = seed.make_seed(str(tmp_path / "seed.img"), "ssh-ed25519 AAAA test", root=str(repo))
    cache = subprocess.run(["debugfs", "-R", "ls -p /gnt/__pycache__", img], capture_output=True, text=True).stdout
    launcher = subprocess.run(["debugfs", "-R", "cat /.testbed/bin/gnt-node", img], capture_output=True, text=True)
    assert (f"__init__.{sys.implementation.cache_tag}.pyc" in cache) is same_python
    assert ("PYTHONPYCACHEPREFIX" in launcher.stdout) is not same_python


def test_kill_spares_a_process_that_is_not_ours() -> None:
    # A PID read back from bed.json in a later command: not our child, so its command line decides.
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        procs.kill(other.pid, marker="qemu-system-x86_64 /some/bed")  # a reused PID: another command line
        assert procs.alive(other.pid)
        procs.kill(other.pid, marker="time.sleep(60)")
        other.wait(timeout=10)
        assert not procs.alive(other.pid)
    finally:
        other.kill()
        other.wait()


def test_own_child_counts_as_alive_before_it_has_exec_d(tmp_path) -> None:
    # Right after spawn the child may still show Python's command line: the marker is not required
    # (the CLI once reported "QEMU exited during boot" for a QEMU that had not exec'd yet).
    pid = procs.spawn([sys.executable, "-c", "import time; time.sleep(60)"], str(tmp_path / "log"))
    try:
        assert procs.alive(pid, marker="qemu-system-x86_64 /not/in/this/cmdline")
        procs.kill(pid, marker="unused for a child")
        assert not procs.alive(pid)
    finally:
        if procs.alive(pid):
            os.kill(pid, 9)


def test_tied_process_dies_with_the_process_that_started_it(tmp_path) -> None:
    # A test run killed outright must not leave QEMUs behind: what it spawns gets SIGKILL with it.
    starter = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, time; sys.path.insert(0, sys.argv[1]); from tools.testbed import procs; "
            "print(procs.spawn([sys.executable, '-c', 'import time; time.sleep(60)'], sys.argv[2], detached=False))",
            REPO,
            str(tmp_path / "log"),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    pid = int(starter.stdout)
    for _ in range(100):
        if not procs.alive(pid, marker="time.sleep(60)"):
            break
        time.sleep(0.05)
    assert not procs.alive(pid, marker="time.sleep(60)")


def test_prune_keeps_the_new_image_the_previous_one_and_other_specs(tmp_path) -> None:
    images = tmp_path / "images"
    for age, name in enumerate(["host-" + "a" * 16, "host-" + "b" * 16, "host-" + "c" * 16, "host-xen-" + "d" * 16]):
        (images / name).mkdir(parents=True)
        os.utime(images / name, (1000 + age, 1000 + age))
    (images / "host-new0000000000000").mkdir()  # not a cache key: left alone
    image._prune_old(str(images), "host", keep=str(images / ("host-" + "c" * 16)))
    assert sorted(os.listdir(images)) == [
        "host-" + "b" * 16,  # the newest older one, for beds booted before the rebuild
        "host-" + "c" * 16,
        "host-new0000000000000",
        "host-xen-" + "d" * 16,  # another spec whose name starts the same
    ]


@pytest.mark.parametrize("names", [["node 1"], ["a,b"], ["x=y"], ["Node1"], ["n1", "n1"], []])
def test_bad_host_names_are_refused(tmp_path, monkeypatch, names) -> None:
    with pytest.raises(TestbedError, match="bad host name|names repeat|1 to 200 hosts"):
        _bed(tmp_path, monkeypatch, hosts=names)


def test_shared_disk_only_on_the_hosts_named(tmp_path, monkeypatch) -> None:
    bed = _bed(tmp_path, monkeypatch, hosts=3, shared_size="1G", shared_hosts=["node1", "node3"])
    assert [h.name for h in bed.hosts if "serial=shared" in " ".join(bed.qemu_argv(h))] == ["node1", "node3"]
    with pytest.raises(TestbedError, match="unknown hosts: node9"):
        _bed(tmp_path, monkeypatch, hosts=2, shared_size="1G", shared_hosts=["node9"])


def test_shared_directory_is_one_9p_export_for_every_host_and_snapshots_its_content(tmp_path, monkeypatch) -> None:
    plain = _bed(tmp_path, monkeypatch, hosts=2)
    assert "virtio-9p" not in " ".join(plain.qemu_argv(plain["node1"]))  # beds without it keep their argv
    bed = _bed(tmp_path, monkeypatch, hosts=2, shared_dir=True)
    for host in bed.hosts:
        argv = " ".join(bed.qemu_argv(host))
        assert f"-fsdev local,id=shareddir,path={bed.shared_dir_path},security_model=passthrough" in argv
        assert "-device virtio-9p-pci,fsdev=shareddir,mount_tag=gntshared,addr=0x9" in argv
    os.makedirs(bed.dir)
    bed.save_state()
    assert TestBed.load(bed.dir).shared_dir is True

    # save: the content is copied aside; restore: the same directory (QEMU holds it open) gets it back
    share = tmp_path / "share"
    (share / "inst1").mkdir(parents=True)
    (share / "inst1" / "disk0").write_bytes(b"x")
    os.truncate(share / "inst1" / "disk0", 64 << 20)  # sparse, as gnt makes file disks
    saved = tmp_path / "saved"
    TestBed._copy_tree(str(share), str(saved))
    assert os.stat(saved / "inst1" / "disk0").st_blocks * 512 < 1 << 20  # still sparse
    (share / "inst1" / "disk0").unlink()
    (share / "later").write_text("made after the snapshot")
    inode = os.stat(share).st_ino
    TestBed._copy_tree(str(saved), str(share))
    assert os.stat(share).st_ino == inode
    assert sorted(os.listdir(share)) == ["inst1"] and os.path.getsize(share / "inst1" / "disk0") == 64 << 20


def test_a_reaped_child_entry_does_not_hide_a_reused_pid(tmp_path) -> None:
    # CI once gave a new process the PID of a test-bed child that had already exited and been reaped:
    # the stale entry said "exited", so kill() spared the new process it was asked to end.
    stale = subprocess.Popen([sys.executable, "-c", "pass"])
    stale.wait()
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    procs._children[other.pid] = stale  # what the table holds after the PID is reused
    try:
        assert procs.alive(other.pid, marker="time.sleep(60)")
        procs.kill(other.pid, marker="time.sleep(60)")
        other.wait(timeout=10)
        assert not procs.alive(other.pid)
    finally:
        procs._children.pop(other.pid, None)
        other.kill()
        other.wait()
