"""gnt-noded: the node daemon (one per node)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import socket
import sys

log = logging.getLogger("gnt-noded")


async def _run(address: str, port: int) -> None:
    import agent.replica  # noqa: F401 - registers the replica procedures
    from agent import children
    from agent.server import serve
    from daemons.common import remove_pid, stop_event, write_pid

    children.reap_leftovers()  # what a killed predecessor's procedures left running
    pid_path = write_pid("gnt-noded")
    stop = stop_event()
    # Children (OS scripts, QEMU, the fake guests' launchers) are asyncio subprocesses, reaped by
    # asyncio's child watcher; a blanket waitpid(-1) here would steal their exit statuses.
    from agent import startup
    from agent.handlers import warm_up
    from storage.drbd import report_version as report_drbd_version

    # listed before serving: nothing can have been started or migrated here yet
    guests = await startup.local_guests()
    tasks = [
        asyncio.create_task(serve(address, port)),
        asyncio.create_task(warm_up()),
        asyncio.create_task(startup.stop_moved_guests(guests)),
        asyncio.create_task(report_drbd_version()),
    ]
    await stop.wait()
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    children.kill_all()
    remove_pid(pid_path)


def check_address_free(address: str, port: int) -> str | None:
    """Why the daemon could not listen on address:port, or None when it can.

    The daemon only listens once the node has a cluster certificate, and then retries a taken
    address for ever (a restart racing the old process). Probing once at start turns the common
    mistake, a second virtual cluster on the same addresses, into an immediate exit naming them.
    """
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((address, port))
        except OSError as err:
            return f"cannot listen on {address}:{port}: {err.strerror or err}"
    return None


def main() -> None:
    from gnt import constants

    parser = argparse.ArgumentParser(prog="gnt-noded", description="gnt node daemon")
    parser.add_argument("-f", "--foreground", action="store_true", help="log to stderr")
    parser.add_argument("-b", "--bind", default="0.0.0.0", help="address to listen on")
    parser.add_argument("-p", "--port", type=int, default=constants.DEFAULT_NODED_PORT, help="TCP port")
    args = parser.parse_args()
    from daemons.common import setup_logging

    setup_logging("gnt-noded", args.foreground)
    problem = check_address_free(args.bind, args.port)
    if problem is not None:
        log.error("%s; not starting", problem)
        print(f"gnt-noded: {problem}; is another (virtual) cluster using this address?", file=sys.stderr)
        sys.exit(1)
    asyncio.run(_run(args.bind, args.port))


if __name__ == "__main__":
    main()
