"""gnt-watcher: one periodic maintenance pass (run it from cron or watcher-all)."""

from __future__ import annotations

import argparse
import sys


def main() -> None:
    about = "restart crashed instances, remove leftover disks, archive jobs"
    parser = argparse.ArgumentParser(prog="gnt-watcher", description=about)
    parser.add_argument("--job-age", type=float, default=6 * 3600, help="archive jobs older than this (s)")
    args = parser.parse_args()
    from gnt import watcher
    from gnt.cli.client import Client
    from gnt.errors import GntError

    if not watcher.is_master():
        return
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


if __name__ == "__main__":
    main()
