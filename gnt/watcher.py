"""The watcher's pass: restart instances that should run but do not, finish pending disk cleanups,
and archive old jobs.

It runs as a short-lived process (cron, or the virtual cluster's `watcher-all`) and speaks to
the master like the CLI does. Instances their owner shut down from inside (USER_down) are left
alone; crashed ones (ERROR_down) are started again. Disks a failed create could not remove
(`gnt.cluster.pending`, a file beside the config on this master node) are handed to
`OP_CLUSTER_VERIFY_DISKS`, which removes those whose node answers again. While
`gnt-cluster watcher pause` holds (`gnt.watcher_pause`), a pass does nothing.
"""

from __future__ import annotations

from gnt import paths
from gnt.cli.client import Client

ARCHIVE_AGE = 6 * 3600
_OUTCOMES = ("restarted", "failed", "cleaned", "cleanup_errors", "archived")


def is_master() -> bool:
    try:
        with open(paths.ssconf_file("master_node")) as handle:
            return handle.read().strip() == paths.hostname()
    except OSError:
        return False


def run_pass(client: Client, archive_age: float = ARCHIVE_AGE) -> dict[str, list[str]]:
    """One watcher pass on the master; returns what it did (nothing, with `paused_until`, while
    `gnt-cluster watcher pause` holds)."""
    from gnt import watcher_pause

    until = watcher_pause.paused_until()
    if until is not None:
        return {"paused_until": [str(until)], **{k: [] for k in _OUTCOMES}}
    data = client.get("/2/query/instance", fields="name,status")
    down = [row[0][1] for row in data["data"] if row[1][0] == 0 and row[1][1] == "ERROR_down"]
    restarted, failed = [], []
    jobs = client.submit_many([[{"OP_ID": "OP_INSTANCE_STARTUP", "instance_name": n}] for n in down])
    for name, (ok, job_id) in zip(down, jobs, strict=True):
        if not ok:
            failed.append(name)
            continue
        from gnt.cli.jobs import wait_job

        try:
            wait_job(client, job_id, quiet=True)
            restarted.append(name)
        except Exception as err:  # noqa: BLE001 - one failure must not stop the pass
            failed.append(f"{name}: {err}")
    cleaned, cleanup_errors = finish_cleanups(client)
    archived = client.request("POST", "/2/jobs/archive", {"age": archive_age})
    return {
        "restarted": restarted,
        "failed": failed,
        "cleaned": cleaned,
        "cleanup_errors": cleanup_errors,
        "archived": [str(archived)],
    }


def finish_cleanups(client: Client) -> tuple[list[str], list[str]]:
    """Run verify-disks when rollbacks left disks to remove: (removed, still pending)."""
    from gnt.cli.jobs import wait_job
    from gnt.cluster import pending

    if not pending.entries():
        return [], []
    job_id = client.submit([{"OP_ID": "OP_CLUSTER_VERIFY_DISKS"}])
    try:
        result = wait_job(client, job_id, quiet=True)[0]
    except Exception as err:  # noqa: BLE001 - reported; the rest of the pass goes on
        return [], [f"verify-disks (job {job_id}): {err}"]
    return list(result.get("removed", [])), []
