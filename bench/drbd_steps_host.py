"""Run on a test-bed host by bench_drbd_steps.py: one drbd disk side created (or removed) through
storage.drbd, with every LVM and DRBD command it runs timed. Prints one JSON line:
{"steps": [[command, seconds], ...], "total": seconds, "error": message or absent}.

    python3 drbd_steps_host.py create|remove VIEW_JSON SIZE_MIB
"""

import asyncio
import json
import sys
import time

from gnt.errors import GntError
from gnt.runtime import DiskSpec
from storage.drbd import DrbdDevice
from storage.drbd.run import describe
from storage.drbd.run import run as drbd_run
from storage.lvm.run import run as lvm_run

STEPS: list = []


def timed(runner, name_of):  # type: ignore[no-untyped-def]
    async def wrapped(argv, *args, **kwargs):  # type: ignore[no-untyped-def]
        start = time.monotonic()
        try:
            return await runner(argv, *args, **kwargs)
        finally:
            STEPS.append([name_of(argv), round(time.monotonic() - start, 4)])

    return wrapped


def lvm_name(argv: list) -> str:
    return argv[0] if argv else "?"


async def main(op: str, view: dict, size: int) -> dict:
    dev = DrbdDevice(timed(drbd_run, describe), timed(lvm_run, lvm_name))
    disk = DiskSpec(uuid="bench", index=0, size=size, dev_type="drbd", logical_id=[], params={"drbd": view})
    out: dict = {}
    start = time.monotonic()
    try:
        if op == "create":
            await dev.create(disk, "bench1")
        elif op == "remove":
            await dev.remove(disk)
    except GntError as err:
        out["error"] = f"{type(err).__name__}: {err}"
    out["total"] = round(time.monotonic() - start, 4)
    out["steps"] = STEPS
    return out


print(json.dumps(asyncio.run(main(sys.argv[1], json.loads(sys.argv[2]), int(sys.argv[3])))))
