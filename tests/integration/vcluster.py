"""A real virtual cluster for tests: real daemons, real TLS, the real CLI as subprocesses."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from backends.fake._proc import read_state

REPO = Path(__file__).resolve().parents[2]
#: `gnt-instance add` with the noop OS and no name/IP checks or NICs: what most tests create
ADD_INSTANCE = ["gnt-instance", "add", "-o", "noop", "--no-name-check", "--no-ip-check", "--no-nics"]
ADD_DISKLESS = [*ADD_INSTANCE, "-t", "diskless"]
SETUP = REPO / "tools" / "vcluster-setup"
BINDIR = os.path.dirname(sys.executable)


@dataclass
class Result:
    rc: int
    out: str
    err: str

    @property
    def text(self) -> str:
        return self.out + self.err


class VCluster:
    """Owns one virtual cluster directory and every daemon it starts."""

    def __init__(self, directory: Path, count: int, subnet: int | None) -> None:
        """Set up (not start) the cluster; `subnet` None lets vcluster-setup pick a free one."""
        self.dir = directory
        self.count = count
        chosen = ["-s", str(subnet)] if subnet is not None else []
        self.setup_output = subprocess.run(
            [sys.executable, str(SETUP), "-c", str(count), *chosen, str(directory)],
            check=True,
            capture_output=True,
            text=True,
        )
        self.subnet = int(self.address("node1").split(".")[2])

    def env(self, node: str) -> dict[str, str]:
        """Node `node`'s environment; the gnt-* scripts of the interpreter running the tests come first.

        Otherwise `gnt-cluster` would be whichever install PATH finds first (another checkout's).
        """
        path = f"{BINDIR}{os.pathsep}{os.environ.get('PATH', '')}"
        return {**os.environ, "PATH": path, "GNT_ROOTDIR": str(self.dir / node), "GNT_HOSTNAME": node}

    def run(
        self,
        *argv: str,
        node: str = "node1",
        timeout: float = 120,
        input: str | None = None,
        cwd: Path | None = None,
    ) -> Result:
        proc = subprocess.run(
            list(argv), env=self.env(node), capture_output=True, text=True, timeout=timeout, input=input, cwd=cwd
        )
        return Result(proc.returncode, proc.stdout, proc.stderr)

    def ok(self, *argv: str, node: str = "node1", timeout: float = 120, cwd: Path | None = None) -> str:
        result = self.run(*argv, node=node, timeout=timeout, cwd=cwd)
        assert result.rc == 0, f"{' '.join(argv)} failed ({result.rc}):\n{result.text}"
        return result.out

    def run_script(self, name: str, cwd: Path | None = None) -> Result:
        """Run DIR/start-all, stop-all, ... and return what it said."""
        proc = subprocess.run([str(self.dir / name)], capture_output=True, text=True, timeout=120, cwd=cwd)
        return Result(proc.returncode, proc.stdout, proc.stderr)

    def script(self, name: str, cwd: Path | None = None) -> None:
        result = self.run_script(name, cwd)
        assert result.rc == 0, f"{name} failed ({result.rc}):\n{result.text}"

    def start(self, cwd: Path | None = None) -> None:
        self.script("start-all", cwd)

    def stop(self) -> None:
        self.script("stop-all")

    def init(self, nodes: int | None = None) -> None:
        self.ok("gnt-cluster", "init", f"--shared-file-storage-dir={self.dir / 'shared-file-storage'}", "cluster")
        for index in range(2, (nodes or self.count) + 1):
            self.ok("gnt-node", "add", f"node{index}")

    def pid_path(self, node: str, daemon: str) -> Path:
        return self.dir / node / "var/run/gnt" / f"{daemon}.pid"

    def kill_daemon(self, node: str, daemon: str, sig: int = signal.SIGKILL) -> None:
        pid = int(self.pid_path(node, daemon).read_text())
        os.kill(pid, sig)
        wait_for(lambda: not alive(pid), 10)
        self.pid_path(node, daemon).unlink(missing_ok=True)

    def start_noded(self, node: str) -> None:
        with open(self.dir / node / "var/log/gnt/noded.out", "ab") as log:
            subprocess.Popen(
                ["gnt-noded", "-b", self.address(node)],
                env=self.env(node),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                start_new_session=True,
            )
        wait_for(lambda: self.pid_path(node, "gnt-noded").exists())

    def start_masterd(self, node: str = "node1") -> None:
        with open(self.dir / node / "var/log/gnt/masterd.out", "ab") as log:
            subprocess.Popen(
                ["gnt-masterd"],
                env=self.env(node),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                start_new_session=True,
            )
        wait_for(lambda: self.run("gnt-job", "list", node=node).rc == 0)

    def address(self, node: str) -> str:
        for line in (self.dir / "hosts").read_text().splitlines():
            ip, name = line.split()
            if name == node:
                return ip
        raise KeyError(node)

    def guest_dir(self, node: str, instance: str) -> Path:
        return self.dir / node / "var/run/gnt/instances/fake" / instance

    def guest_counter(self, node: str, instance: str) -> int:
        """The fake guest's own counter, from the state file it keeps.

        The guest rewrites that file in place on every tick, so read it the way the driver does
        (retrying a torn read) rather than trusting one read to see a whole line.
        """
        state = read_state(str(self.guest_dir(node, instance)))
        if state is None:
            raise AssertionError(f"no readable guest state for {instance} on {node}")
        return state.counter

    def guest_pid(self, node: str, instance: str) -> int:
        return int((self.guest_dir(node, instance) / "pid").read_text())

    def job_status(self, job_id: int) -> str:
        return self.ok("gnt-job", "list", "--no-headers", "-o", "status", str(job_id)).strip()

    def wait_job(self, job_id: int, timeout: float = 60) -> str:
        wait_for(lambda: self.job_status(job_id) in ("success", "error", "canceled"), timeout)
        return self.job_status(job_id)

    def submit(self, *argv: str) -> int:
        return self.submit_on("node1", *argv)

    def submit_on(self, node: str, *argv: str) -> int:
        """Submit through `node`'s CLI (the master after a failover); the job id."""
        out = self.ok(*argv, "--submit", node=node)
        return int(out.strip().split()[-1])

    def instance_field(self, instance: str, field: str) -> str:
        return self.ok("gnt-instance", "list", "--no-headers", "-o", field, instance).strip()


def alive(pid: int) -> bool:
    """Exited processes may linger as zombies here; they count as gone."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")


def wait_for(predicate: Callable[[], object], timeout: float = 20, interval: float = 0.05) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {predicate}")
        time.sleep(interval)


__all__ = ["ADD_DISKLESS", "ADD_INSTANCE", "VCluster", "Result", "alive", "wait_for", "signal"]
