"""`gnt-cluster upgrade --to VERSION | --resume`, run on the master node, as Ganeti's steps go.

1. The target release must be known (gnt.config.upgrade.RELEASES) and every online node must run
   it (asked over RPC by the master); otherwise nothing changes.
2. An intent file on the master (`paths.upgrade_intent`) records the target and the queue's drain
   flag before the run, so an interrupted upgrade is finished with `--resume` (or by asking for
   the same target again) and the admin's own drain flag is restored at the end.
3. The queue is drained and the run waits until no job is left running or queued; the watcher
   is paused for an hour.
4. The master converts the config to the target's format (one change set, replicated).
5. The queue's drain flag is restored, the watcher continues, the intent file is removed.

A failure before the conversion undoes steps 2 and 3; after it, the intent file stays and the
message says to run `--resume`.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import time
from typing import Any

from gnt import durable, paths
from gnt.cli.common import client
from gnt.config import upgrade as formats
from gnt.errors import GntError, ParameterError
from gnt.watcher_pause import API_PATH as WATCHER_PATH

QUEUE_POLL_INTERVAL = 1.0
QUEUE_DRAIN_TIMEOUT = 3600.0
WATCHER_PAUSE = 3600


def intent_path() -> str:
    """Ganeti's INTENT_TO_UPGRADE: on the master, in its data directory."""
    return os.path.join(paths.data_dir(), "upgrade-intent")


def read_intent() -> dict[str, Any] | None:
    try:
        with open(intent_path()) as handle:
            data = json.load(handle)
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as err:
        raise GntError(f"Cannot read the upgrade intent file {intent_path()}: {err}; remove it by hand") from err
    if not isinstance(data, dict) or not isinstance(data.get("to"), str):
        raise GntError(f"The upgrade intent file {intent_path()} is damaged; remove it by hand")
    return data


def _write_intent(data: dict[str, Any]) -> None:
    durable.write_file(intent_path(), json.dumps(data), 0o600)


def _remove_intent() -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(intent_path())


def _active_jobs(cl: Any) -> list[int]:
    rows = cl.get("/2/jobs", bulk=1, fields="id,status")
    return [row["id"] for row in rows if row["status"] not in ("success", "error", "canceled")]


def _wait_for_empty_queue(cl: Any, timeout: float = QUEUE_DRAIN_TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while True:
        active = _active_jobs(cl)
        if not active:
            return
        if time.monotonic() > deadline:
            raise GntError(f"Failed to completely empty the queue (jobs {', '.join(map(str, active))} still there).")
        time.sleep(QUEUE_POLL_INTERVAL)


def _say(text: str) -> None:
    print(text, flush=True)


def run_upgrade(to: str | None, resume: bool) -> None:
    """The whole command (see the module docstring); raises a GntError on failure."""
    if (to is None) == (not resume) or (to is not None and resume):
        raise ParameterError("Precisely one of the options --to and --resume has to be given")
    intent = read_intent()
    if to is not None and intent is not None:
        if intent["to"] != to:
            raise ParameterError(
                f"An upgrade from {intent.get('from')} to {intent['to']} is in progress; "
                "use --resume to finish it first"
            )
        print("An upgrade is already in progress. Target version matches, resuming.", file=sys.stderr)
        resume = True
    if resume:
        if intent is None:
            _say("No upgrade in progress: nothing to resume.")
            return
        target = str(intent["to"])
    else:
        target = str(to)
    formats.check_release(target)
    cl = client()
    _say(f"Verifying {target} present on all nodes")
    formats.check_versions(cl.get("/gnt/upgrade/versions"), target)
    if intent is None:
        intent = {"from": _running_version(cl), "to": target, "was_drained": _drained(cl), "started": time.time()}
        _write_intent(intent)
    try:
        _say("Draining queue")
        cl.request("PUT", "/2/queue/drain", True)
        _wait_for_empty_queue(cl)
        _say("Pausing the watcher for one hour.")
        cl.request("PUT", WATCHER_PATH, {"duration": WATCHER_PAUSE})
        _say(f"Converting the configuration to the format of {target}")
        done = cl.request("POST", "/gnt/upgrade/config", {"version": target})
    except GntError:
        _roll_back(cl, intent)
        raise
    try:
        if done["steps"]:
            _say(f"Configuration converted from format {done['from']} to {done['to']} ({done['steps']} steps)")
        _say("Undraining the queue." if not intent.get("was_drained") else "Leaving the queue drained, as it was.")
        cl.request("PUT", "/2/queue/drain", bool(intent.get("was_drained")))
        cl.request("PUT", WATCHER_PATH, {"duration": None})
    except GntError as err:
        raise GntError(f"{err.message}; the configuration is converted: run gnt-cluster upgrade --resume") from err
    _remove_intent()
    _say(f"Upgrade to {target} done.")


def _roll_back(cl: Any, intent: dict[str, Any]) -> None:
    """Undo what ran before the conversion: the drain flag, the watcher pause, the intent file."""
    with contextlib.suppress(GntError):
        cl.request("PUT", "/2/queue/drain", bool(intent.get("was_drained")))
        cl.request("PUT", WATCHER_PATH, {"duration": None})
    _remove_intent()


def _drained(cl: Any) -> bool:
    return bool(cl.get("/2/queue")["drained"])


def _running_version(cl: Any) -> str:
    return str(cl.get("/2/info").get("software_version", ""))
