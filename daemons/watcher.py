"""gnt-watcher: one periodic maintenance pass (run it from cron or watcher-all)."""

from __future__ import annotations

import argparse
import sys


def main() -> None:
    about = (
        "restart crashed instances, remove leftover disks, archive jobs (on the master);"
        " stop the instances of a node marked offline (on that node, with maintain_node_health)"
    )
    parser = argparse.ArgumentParser(prog="gnt-watcher", description=about)
    parser.add_argument("--job-age", type=float, default=6 * 3600, help="archive jobs older than this (s)")
    args = parser.parse_args()
    from gnt import watcher
    from gnt.cli.client import Client
    from gnt.errors import GntError

    if not watcher.is_master():
        sys.exit(_node_health())
    try:
        done = watcher.run_pass(Client(), args.job_age)
    except GntError as err:
        print(f"gnt-watcher: {err}", file=sys.stderr)
        sys.exit(1)
    if done.get("paused_until"):
        import time

        print(f"Watcher is paused until {time.ctime(float(done['paused_until'][0]))}; doing nothing")
        return
    for name in done["restarted"]:
        print(f"Restarted instance {name}")
    for what in done["cleaned"]:
        print(f"Removed leftover {what}")
    for item in done["failed"]:
        print(f"Could not restart instance {item}", file=sys.stderr)
    for item in done["cleanup_errors"]:
        print(f"Could not finish pending cleanups: {item}", file=sys.stderr)
    sys.exit(1 if done["failed"] or done["cleanup_errors"] else 0)


def _node_health() -> int:
    """A node other than the master: Ganeti's node maintenance (agent.node_health); 1 on errors."""
    import asyncio

    from agent import node_health
    from gnt import watcher_pause

    if watcher_pause.paused_until() is not None:
        return 0
    outcome = asyncio.run(node_health.run_pass())
    for name in outcome.stopped:
        print(f"Shut down instance {name}: this node is offline")
    for what in outcome.deactivated:
        print(f"Deactivated {what}")
    for error in outcome.errors:
        print(f"gnt-watcher: node health: {error}", file=sys.stderr)
    return 1 if outcome.errors else 0


if __name__ == "__main__":
    main()
