"""The node daemon's HTTPS server: mutual TLS, one POST route per declared procedure (agent.httpserver),
each call checked against the procedure table by agent.dispatcher before its handler runs.

Before the node joins a cluster it has no certificate; the server then waits for one to appear
(written by `gnt-cluster init` or `gnt-node add`) and starts serving. After `node_leave` it
goes back to waiting. A replaced certificate or trust file (gnt-cluster renew-crypto) is picked up
at the next handshake without closing the listener (certs.ReloadingContext): calls keep flowing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import ssl

from agent import candidate_files as _candidate_files  # noqa: F401 - registers candidate_files_write
from agent import crypto as _crypto  # noqa: F401 - registers crypto_trust and crypto_install
from agent import hotplug as _hotplug  # noqa: F401 - registers instance_hotplug and instance_balloon_memory
from agent import httpserver, replica
from agent import master_ip as _master_ip  # noqa: F401 - registers master_ip_activate/deactivate
from agent import node_addresses as _node_addresses  # noqa: F401 - registers node_has_ip_address
from agent import powercycle as _powercycle  # noqa: F401 - registers node_powercycle
from agent import recovery as _recovery  # noqa: F401 - registers config_export, _placement, _node_role
from agent import restricted as _restricted  # noqa: F401 - registers restricted_command
from agent import transfer as _transfer  # noqa: F401 - registers the disk transfer and export procedures
from agent import wipe as _wipe  # noqa: F401 - registers blockdev_wipe
from agent.dispatcher import Dispatcher
from agent.handlers import HANDLERS
from gnt import certs, paths

log = logging.getLogger("gnt-noded")
CERT_POLL_INTERVAL = 0.05
CERT_WATCH_INTERVAL = 0.5


def node_dispatcher() -> Dispatcher:
    """The node's dispatcher over its real handlers (agent.handlers, agent.replica, agent.recovery)."""
    return Dispatcher(HANDLERS)


async def wait_for_cert(path: str) -> None:
    while not os.path.exists(path):
        await asyncio.sleep(CERT_POLL_INTERVAL)


async def _until_cert_changes(path: str, identity: tuple[int, int, int] | None, left: asyncio.Event) -> None:
    """Return when the node leaves its cluster or its certificate is removed (a replaced one is reloaded)."""
    del identity
    while not left.is_set() and certs.file_identity(path) is not None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(left.wait(), CERT_WATCH_INTERVAL)


async def serve(address: str, port: int) -> None:
    """Serve until cancelled, re-arming whenever the node leaves its cluster or gets a new certificate."""
    cert = paths.cluster_cert()
    dispatcher = node_dispatcher()
    while True:
        await wait_for_cert(cert)
        identity = certs.file_identity(cert)
        left = asyncio.Event()
        replica.on_leave[:] = [left.set]
        server = httpserver.Server()
        try:
            await server.start(dispatcher.http, address, port, certs.ReloadingContext(cert).context)
        except (OSError, ssl.SSLError) as err:
            log.error("cannot serve on %s:%d: %s; retrying", address, port, err)
            await asyncio.sleep(1)
            continue
        log.info("serving on %s:%d", address, port)
        try:
            await _until_cert_changes(cert, identity, left)
        finally:
            await server.close()
        log.info("certificate removed or node left the cluster; re-arming")
