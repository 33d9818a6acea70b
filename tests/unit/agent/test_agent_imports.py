"""The node daemon stores replicated job rows without importing the master's job code."""

import subprocess
import sys


def test_node_daemon_does_not_import_master_job_code() -> None:
    code = (
        "import sys, agent.server, agent.replica, daemons.noded\n"
        "print(','.join(sorted(m for m in sys.modules if m == 'gnt.jobs' or m.startswith('gnt.jobs.'))))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == ""


def test_old_store_module_still_names_the_shared_rows() -> None:
    from gnt import queue_rows
    from gnt.jobs import store

    assert store.SCHEMA is queue_rows.SCHEMA and store.check_row is queue_rows.check_row
