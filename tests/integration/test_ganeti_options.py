"""Ganeti options from the command tables on a real virtual cluster: `gnt-cluster init -I -m
--node-parameters`, `modify -m --node-parameters`, `verify-disks -g`, `gnt-node add
--node-parameters`, `power --print-jobid`, `info --roman` and Ganeti's aliases (`gnt-cluster show`)."""

from __future__ import annotations

from pathlib import Path

from tests.integration.conftest import make_cluster
from tests.integration.vcluster import VCluster


def test_init_modify_and_node_add_options_reach_the_config(tmp_path: Path) -> None:
    vc = make_cluster(tmp_path / "vc", 2)
    vc.start()
    try:
        shared = f"--shared-file-storage-dir={vc.dir / 'shared-file-storage'}"
        bad = vc.run("gnt-cluster", "init", shared, "--node-parameters", "oob_program=relative", "cluster")
        assert bad.rc == 1 and bad.err.strip().splitlines() == [
            "Parameter Error: Invalid --node-parameters: oob_program must be a normalised absolute path, not 'relative'"
        ]
        assert not (vc.dir / "node1/var/lib/gnt/config.db").exists()
        dsa = vc.run("gnt-cluster", "init", shared, "--ssh-key-type", "dsa", "cluster")
        assert dsa.rc == 1 and dsa.err.strip().splitlines() == [
            "Parameter Error: --ssh-key-type must be ed25519, rsa or ecdsa, not 'dsa'"
        ]
        assert not (vc.dir / "node1/var/lib/gnt/config.db").exists()

        vc.ok(
            "gnt-cluster",
            "init",
            shared,
            "-I",
            "hail",
            "-m",
            "aa:00:01",
            "--node-parameters",
            "spindle_count=2",
            "--ssh-key-type",
            "ecdsa",
            "--compression-tools",
            "gzip,gzip-slow",
            "cluster",
        )
        info = vc.ok("gnt-cluster", "show")  # Ganeti's alias of info
        assert "mac prefix: aa:00:01" in info and "spindle_count: 2" in info
        assert "default instance allocator: hail" in info
        assert "ssh_key_type: ecdsa" in info and "ssh_key_bits: 384" in info  # Ganeti's ecdsa default size
        assert "  compression tools: \n    - gzip\n    - gzip-slow\n" in info
        _check_ssh_key_follows_the_cluster(vc)

        roman = vc.ok("gnt-cluster", "info", "--roman")
        assert "candidate pool size: X" in roman and "spindle_count: II" in roman

        vc.ok("gnt-cluster", "modify", "-m", "aa:00:02", "--node-parameters", "spindle_count=3")
        info = vc.ok("gnt-cluster", "info")
        assert "mac prefix: aa:00:02" in info and "spindle_count: 3" in info

        vc.ok("gnt-node", "add", "--node-parameters", "cpu_speed=2", "node2")
        assert "cpu_speed: 2" in vc.ok("gnt-node", "show", "node2")

        assert vc.run("gnt-cluster", "verify-disks", "-g", "default").rc == 0
        unknown = vc.run("gnt-cluster", "verify-disks", "-g", "rack9")
        assert unknown.rc == 1 and "Node group 'rack9' not known" in unknown.err

        status = vc.run("gnt-node", "power", "--print-jobid", "status", "node2")
        assert status.out.splitlines()[0].isdigit()  # the job id first, then the (unavailable) status
    finally:
        vc.stop()


def _check_ssh_key_follows_the_cluster(vc: VCluster) -> None:
    """renew-crypto --new-ssh-keys makes the cluster's type and size; a new type given is stored."""
    public = vc.dir / "node1/var/lib/gnt/ssh/id_ed25519.pub"
    vc.ok("gnt-cluster", "renew-crypto", "--new-ssh-keys", "-f")
    assert public.read_text().startswith("ecdsa-sha2-nistp384 ")
    vc.ok("gnt-cluster", "renew-crypto", "--new-ssh-keys", "--ssh-key-type", "rsa", "-f")
    assert public.read_text().startswith("ssh-rsa ")
    info = vc.ok("gnt-cluster", "info")
    assert "ssh_key_type: rsa" in info and "ssh_key_bits: 2048" in info  # rsa's default: the type changed
    bad = vc.run("gnt-cluster", "renew-crypto", "--new-ssh-keys", "--ssh-key-bits", "384", "-f")
    assert bad.rc == 1 and "384 bits is not a size of rsa keys" in bad.err  # checked against the cluster's type
    assert public.read_text().startswith("ssh-rsa ")
