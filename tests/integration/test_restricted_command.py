"""gnt-node restricted-command on a virtual cluster: each node runs only its own commands, by name."""

from __future__ import annotations

import shutil

from tests.integration.vcluster import VCluster


def test_restricted_command_runs_only_what_the_node_holds(cluster: VCluster) -> None:
    directory = cluster.dir / "node2/etc/gnt/restricted-commands"
    directory.mkdir(parents=True)
    try:
        directory.chmod(0o755)
        script = directory / "hello"
        script.write_text('#!/bin/sh\necho "hello from $(pwd)"\necho "args: $#"\n')
        script.chmod(0o755)
        out = cluster.ok("gnt-node", "restricted-command", "hello", "node2")
        assert out.splitlines() == ["------------------------------------------------", "node: node2", "hello from /",
                                    "args: 0", ""]  # fmt: skip
        machine = cluster.ok("gnt-node", "restricted-command", "-M", "--sync", "hello", "node2")
        assert machine.splitlines()[1:] == ["node2: hello from /", "node2: args: 0"]
        # node3 has no such command: the node refuses (after its delay) without saying why
        mixed = cluster.run("gnt-node", "restricted-command", "-M", "hello", "node2", "node3")
        assert mixed.rc == 1
        assert "node3: Command 'hello' on node 'node3' failed: Executing command 'hello' failed" in mixed.out
        assert "node2: hello from /" in mixed.out
        # a path or a shell word never leaves the CLI, and no job is made
        before = cluster.ok("gnt-job", "list", "--no-headers", "-o", "id").split()
        for bad in ("../../../../bin/sh", "hello;reboot", ""):
            result = cluster.run("gnt-node", "restricted-command", bad, "node2")
            assert result.rc == 1 and "plain name" in result.err and "Traceback" not in result.err, result.text
        assert cluster.run("gnt-node", "restricted-command", "hello").rc == 1
        assert cluster.ok("gnt-job", "list", "--no-headers", "-o", "id").split() == before
    finally:
        shutil.rmtree(cluster.dir / "node2/etc/gnt/restricted-commands", ignore_errors=True)
