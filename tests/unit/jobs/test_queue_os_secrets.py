"""Secret and private OS parameters in the job queue: never stored / never shown, and lost secrets fail clearly."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from gnt.config.manager import ConfigManager
from gnt.db import SqliteWriter
from gnt.instance.admin_opcodes import OpInstanceReinstall
from gnt.jobs.job import JobStatus
from gnt.jobs.lu import LogicalUnit
from gnt.jobs.query import job_dict, rows
from gnt.os.secrets import REDACTED, lost_secrets_message
from tests.unit.jobs.test_queue import delay, make_queue, run, shutdown, stored, wait_final


@pytest.fixture
def queue_db(tmp_path: Path) -> str:
    return str(tmp_path / "queue.db")


@pytest.fixture
def writers(queue_db: str) -> Iterator[list[SqliteWriter]]:
    opened: list[SqliteWriter] = []
    yield opened
    for writer in opened:
        writer.close()


class QueuedOnly(LogicalUnit):
    """Accepts OP_INSTANCE_REINSTALL at submission; the job is never run here."""

    OPCODE = OpInstanceReinstall


SECRET = "s3cr3t-Value-never-stored"
PRIVATE = "pr1vate-Value-kept-hidden"


def secret_op(**secret: str) -> dict[str, object]:
    return {"OP_ID": "OP_TEST_OS_PARAMS", "osparams_secret": secret}


def files_under(path: Path) -> bytes:
    """Every byte of every file in `path` (the queue database, its WAL and shm files)."""
    return b"".join(p.read_bytes() for p in path.iterdir() if p.is_file())


def test_a_secret_reaches_the_lu_but_never_the_job_store_or_any_view(
    cfg: ConfigManager, queue_db: str, writers: list, tmp_path: Path
) -> None:
    async def main() -> None:
        queue = make_queue(queue_db, writers, cfg)
        queue.start()
        job_id = await queue.submit([secret_op(root_password=SECRET)])
        job = await wait_final(queue, job_id)
        assert job.status == JobStatus.SUCCESS, job.opresult
        # the LU got the value (its length), the log shows no value
        (entry,) = job.all_log()
        assert entry[3] == f"Secret OS parameters: root_password ({len(SECRET)} characters)"
        assert job.opresult == [["root_password"]]
        assert stored(queue_db, job_id)["ops"][0]["osparams_secret"] == {"root_password": REDACTED}  # type: ignore[index]
        assert job_dict(job)["ops"][0]["osparams_secret"] == {"root_password": REDACTED}
        assert rows([job], ["ops"])[0]["ops"][0]["osparams_secret"] == {"root_password": REDACTED}
        assert job.secrets == []  # dropped from memory once the job ended
        await shutdown(queue)

    run(main())
    assert SECRET.encode() not in files_under(tmp_path)


def test_private_parameters_are_stored_but_every_view_redacts_them(
    cfg: ConfigManager, queue_db: str, writers: list
) -> None:
    op = {
        "OP_ID": "OP_INSTANCE_REINSTALL",
        "instance_name": "inst1",
        "osparams_private": {"key": PRIVATE},
        "osparams_secret": {"pw": SECRET},
        "osparams": {"dhcp": "yes"},
    }

    async def main() -> None:
        queue = make_queue(queue_db, writers, cfg)  # not started: the job stays queued
        queue.registry = {**queue.registry, "OP_INSTANCE_REINSTALL": QueuedOnly}
        job_id = await queue.submit([op])
        data = stored(queue_db, job_id)
        assert data is not None
        # stored so that a queued job can still run after a restart; the secret is not
        assert data["ops"][0]["osparams_private"] == {"key": PRIVATE}
        assert data["ops"][0]["osparams_secret"] == {"pw": REDACTED}
        shown = job_dict(queue.get(job_id))["ops"][0]
        assert (shown["osparams_private"], shown["osparams_secret"], shown["osparams"]) == (
            {"key": REDACTED},
            {"pw": REDACTED},
            {"dhcp": "yes"},
        )
        assert PRIVATE not in repr(rows([queue.get(job_id)], ["ops", "summary"]))
        await shutdown(queue)

    run(main())


def test_a_job_whose_secrets_a_master_restart_lost_fails_clearly(
    cfg: ConfigManager, queue_db: str, writers: list, tmp_path: Path
) -> None:
    async def main() -> None:
        queue = make_queue(queue_db, writers, cfg, max_running=1)
        queue.start()
        blocker = await queue.submit([delay(30)])
        waiting = await queue.submit([delay(0), secret_op(pw=SECRET)])
        await asyncio.sleep(0.05)
        await shutdown(queue)  # the master stops: the secret was only in its memory

        restarted = make_queue(queue_db, writers, cfg, max_running=1)
        assert restarted.get(blocker).status == JobStatus.ERROR
        assert restarted.get(waiting).status == JobStatus.QUEUED
        restarted.start()
        job = await wait_final(restarted, waiting)
        assert job.status == JobStatus.ERROR
        assert job.opstatus == ["success", "error"]
        assert job.opresult[1] == ["OpExecError", [lost_secrets_message(waiting)]]
        await shutdown(restarted)

    run(main())
    assert SECRET.encode() not in files_under(tmp_path)


def test_test_osparams_without_secrets_fails(cfg: ConfigManager, queue_db: str, writers: list) -> None:
    async def main() -> None:
        queue = make_queue(queue_db, writers, cfg)
        queue.start()
        job = await wait_final(queue, await queue.submit([{"OP_ID": "OP_TEST_OS_PARAMS"}]))
        assert job.status == JobStatus.ERROR
        assert job.opresult == [["OpExecError", ["Opcode needs secret parameters"]]]
        await shutdown(queue)

    run(main())


@pytest.mark.parametrize("value", [{"a": ["list"]}, {"1bad": "x"}, {"a": "nul\0byte"}])
def test_a_bad_secret_is_refused_at_submission_without_echoing_it(
    cfg: ConfigManager, queue_db: str, writers: list, value: dict[str, object]
) -> None:
    from gnt.errors import OpPrereqError

    async def main() -> None:
        queue = make_queue(queue_db, writers, cfg)
        with pytest.raises(OpPrereqError) as err:
            await queue.submit([{"OP_ID": "OP_TEST_OS_PARAMS", "osparams_secret": value}])
        assert "value is not shown" in err.value.message
        assert "nul" not in err.value.message and "list" not in err.value.message
        await shutdown(queue)

    run(main())


def test_secrets_nested_in_a_multi_allocation_are_split_off_too() -> None:
    from gnt.os.secrets import has_lost_secrets, public_op, restore_secrets, split_secrets

    op = {
        "OP_ID": "OP_INSTANCE_MULTI_ALLOC",
        "instances": [
            {"instance_name": "a", "osparams_secret": {"pw": SECRET}, "osparams_private": {"k": PRIVATE}},
            {"instance_name": "b"},
        ],
    }
    stored, kept = split_secrets(op)
    assert SECRET not in repr(stored) and PRIVATE in repr(stored)
    assert has_lost_secrets(stored) and not has_lost_secrets(op)
    assert restore_secrets(stored, kept) == op
    shown = public_op(stored)
    assert shown["instances"][0]["osparams_private"] == {"k": REDACTED}
    assert shown["instances"][1] == {"instance_name": "b"}
    assert split_secrets({"OP_ID": "OP_TEST_DELAY", "duration": 0}) == ({"OP_ID": "OP_TEST_DELAY", "duration": 0}, {})
