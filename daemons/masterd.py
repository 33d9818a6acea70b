"""gnt-masterd: the master daemon (runs only on the node ssconf names as master)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys

from gnt import paths
from gnt.errors import GntError

log = logging.getLogger("gnt-masterd")


class AddressTaken(GntError):
    """The RAPI address is in use: the daemon exits with one line saying so, not a traceback."""


def _is_master() -> bool:
    try:
        with open(paths.ssconf_file("master_node")) as handle:
            return handle.read().strip() == paths.hostname()
    except OSError:
        return False


async def _serve(bind_rapi: bool, require_auth: bool = False) -> None:
    from aiohttp import web

    from daemons.common import remove_pid, stop_event, write_pid
    from daemons.registry import logical_units
    from gnt import certs
    from gnt.api.server import Api, UsersFile
    from gnt.jobs.master import Master

    master = Master(logical_units())
    api = Api(master)
    runners = []
    if bind_rapi:  # first: a port conflict must stop the daemon before clients can reach it
        certs.ensure_rapi_pem(paths.rapi_cert(), master.cfg.cluster.cluster_name)
        rapi = api.runner(UsersFile(paths.rapi_users()), require_auth=require_auth)
        await rapi.setup()
        site = web.TCPSite(
            rapi,
            master.cfg.master().primary_ip,
            master.cfg.cluster.rapi_port,
            ssl_context=certs.reloading_rapi_context(paths.rapi_cert()),  # renew-crypto: no restart
            reuse_address=True,
        )
        try:
            await site.start()
        except OSError as err:
            await rapi.cleanup()
            raise AddressTaken(
                f"cannot listen on {master.cfg.master().primary_ip}:{master.cfg.cluster.rapi_port} for the RAPI:"
                f" {err.strerror or err}; is another (virtual) cluster using this address?"
            ) from err
        runners.append(rapi)
    await master.start()
    sock = paths.master_socket()
    paths.ensure_dir(os.path.dirname(sock))
    if os.path.exists(sock):
        os.unlink(sock)
    runner = api.runner(None)
    await runner.setup()
    await web.UnixSite(runner, sock).start()
    os.chmod(sock, 0o600)
    runners.append(runner)
    pid_path = write_pid("gnt-masterd")
    from gnt import startup_error

    startup_error.clear("gnt-masterd")
    log.info("master daemon running (config serial %d)", master.cfg.serial)
    stop = stop_event()
    await asyncio.wait(
        [asyncio.create_task(stop.wait()), asyncio.create_task(master.stopping.wait())],
        return_when=asyncio.FIRST_COMPLETED,
    )
    log.info("stopping")
    for r in runners:
        await r.cleanup()
    await master.stop()
    remove_pid(pid_path)


def _check_databases() -> None:
    """Refuse to start on a missing, emptied or damaged config before anything listens or runs.

    The job queue is checked when it is opened (gnt.db.connect), also before anything listens.
    """
    from gnt.config.store import check_config_file

    check_config_file(paths.config_db())


def _refuse(message: str) -> None:
    """One line in the log, on stderr and where the CLI looks (gnt.startup_error); exit 1."""
    from gnt import startup_error

    log.error("not starting: %s", message)
    print(f"gnt-masterd: not starting: {message}", file=sys.stderr)
    startup_error.record("gnt-masterd", message)
    sys.exit(1)


def main() -> None:
    parser = argparse.ArgumentParser(prog="gnt-masterd", description="gnt master daemon")
    parser.add_argument("-f", "--foreground", action="store_true", help="log to stderr")
    parser.add_argument("--no-rapi", action="store_true", help="serve only the local unix socket")
    parser.add_argument("--force", action="store_true", help="start even if ssconf names another master")
    parser.add_argument(
        "--no-voting", action="store_true", help="do not ask the other nodes whether this node is still the master"
    )
    parser.add_argument(
        "--require-authentication", action="store_true", help="RAPI reads need a user too (Ganeti's ganeti-rapi option)"
    )
    args = parser.parse_args()
    from daemons.common import setup_logging

    setup_logging("gnt-masterd", args.foreground)
    if not args.force and not _is_master():
        print("gnt-masterd: this node is not the master (see ssconf_master_node); not starting", file=sys.stderr)
        sys.exit(0 if not os.path.exists(paths.config_db()) else 11)
    from gnt import startup_error
    from gnt.errors import GntError

    try:
        _check_databases()
        if not args.no_voting and not args.force:
            from gnt.cluster.voting import check_still_master

            check_still_master()
        asyncio.run(_serve(not args.no_rapi, args.require_authentication))
    except GntError as err:
        _refuse(err.message)
    except OSError as err:  # a port or socket taken, a directory not writable
        _refuse(f"{err.strerror or err}{f': {err.filename}' if err.filename else ''}")
    except Exception as err:
        log.exception("master daemon failed")
        where = paths.log_file("gnt-masterd")
        startup_error.record("gnt-masterd", f"{type(err).__name__}: {err} (traceback in {where})")
        raise


if __name__ == "__main__":
    main()
