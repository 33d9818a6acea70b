"""An in-process master serving the RAPI on 127.0.0.1 (plain HTTP; TLS is not what these tests test).

The master's config has two nodes whose daemons are not running (every RPC is refused at once),
and its job queue is loaded but not started: a submitted job stays queued and changes nothing, so
a test can tell exactly what a request changed.
"""

from __future__ import annotations

import asyncio
import base64
import http.client
import json
import os
import socket
import threading
from collections.abc import Coroutine, Iterator
from pathlib import Path
from typing import Any

import pytest

from gnt import certs, paths
from gnt.api.auth import ha1
from gnt.api.server import Api, UsersFile
from gnt.config import store
from gnt.config.manager import ConfigManager
from gnt.db import SqliteWriter
from gnt.objects import Cluster, Node, NodeGroup

ADMIN = ("admin", "s3cret")  # stored as {HA1}
READER = ("reader", "r3ad")  # stored as {CLEARTEXT}
PLAIN = ("plain", "pl4in")  # stored as a bare password, with write access


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _make_config(noded_port: int) -> None:
    paths.ensure_dir(paths.data_dir())
    writer = SqliteWriter(paths.config_db(), store.SCHEMA)
    try:
        group = NodeGroup(name="default")
        node1 = Node(name="node1", primary_ip="127.0.0.1", group=group.uuid, master_candidate=True)
        node2 = Node(name="node2", primary_ip="127.0.0.2", group=group.uuid)
        cluster = Cluster(cluster_name="cluster.example.com", master_node=node1.uuid, noded_port=noded_port)
        ConfigManager(writer).commit_sync(put=[cluster, group, node1, node2])
    finally:
        writer.close()
    certs.write_pem(paths.cluster_cert(), certs.generate_pem("cluster.example.com"))


def write_users(path: str, mode: int = 0o600) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as handle:
        handle.write(
            "# name password options\n"
            f"{ADMIN[0]} {{HA1}}{ha1(*ADMIN)} write\n"
            f"{READER[0]} {{cleartext}}{READER[1]}\n"
            f"{PLAIN[0]} {PLAIN[1]} write\n"
        )
    os.chmod(path, mode)


class RapiServer:
    """The master and its HTTPS-profile RAPI app (users file, 1 MiB bodies) on a loop of its own."""

    def __init__(self, header_timeout: float, require_auth: bool = False) -> None:
        self.require_auth = require_auth
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.header_timeout = header_timeout
        self.port = free_port()
        self.run(self._start())

    def run(self, coro: Coroutine[Any, Any, Any], timeout: float = 60) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    async def _start(self) -> None:
        from aiohttp import web

        from daemons.registry import logical_units
        from gnt.jobs.master import Master

        self.master = Master(logical_units())
        self.master.queue.load()  # not started: jobs stay queued
        self.users = UsersFile(paths.rapi_users())
        self.runner = Api(self.master).runner(
            self.users, header_timeout=self.header_timeout, require_auth=self.require_auth
        )
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", self.port).start()

    async def _stop(self) -> None:
        await self.runner.cleanup()
        await self.master.stop()

    def close(self) -> None:
        self.run(self._stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)

    def state(self) -> tuple[Any, ...]:
        """What a refused request must leave as it was: config serial, jobs, drain flag, files."""
        queue = self.master.queue
        files = sorted(os.listdir(paths.data_dir()))
        return (self.master.cfg.serial, sorted(queue.jobs), queue.drained, files)

    def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        raw: bytes | None = None,
        user: tuple[str, str] | None = ADMIN,
        timeout: float = 30,
    ) -> tuple[int, Any]:
        headers = {}
        if user is not None:
            headers["Authorization"] = "Basic " + base64.b64encode(f"{user[0]}:{user[1]}".encode()).decode()
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        if data is not None:
            headers["Content-Type"] = "application/json"
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            conn.request(method, path, body=data, headers=headers)
            resp = conn.getresponse()
            payload = resp.read()
        finally:
            conn.close()
        try:
            return resp.status, json.loads(payload) if payload else None
        except ValueError:
            return resp.status, payload


@pytest.fixture(scope="module")
def rapi_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RapiServer]:
    root: Path = tmp_path_factory.mktemp("vc") / "node1"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(paths.ENV_ROOTDIR, str(root))
        mp.setenv(paths.ENV_HOSTNAME, "node1")
        _make_config(free_port())
        write_users(paths.rapi_users())
        server = RapiServer(header_timeout=1.0)
        try:
            yield server
        finally:
            server.close()
