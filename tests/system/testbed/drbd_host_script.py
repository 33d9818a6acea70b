"""Run on a test-bed host (python3 drbd_host_script.py OP VIEW_JSON SIZE): one DrbdDevice
operation on one disk, its result as one JSON line. Used by test_drbd_pair.py."""

import asyncio
import json
import sys

from gnt.errors import GntError
from gnt.runtime import DiskSpec
from storage.drbd import DrbdDevice


async def main(op: str, view: dict, size: int) -> dict:
    dev = DrbdDevice()
    disk = DiskSpec(uuid="d1", index=0, size=size, dev_type="drbd", logical_id=[], params={"drbd": view})
    out: dict = {}
    try:
        if op == "create":
            out["path"] = await dev.create(disk, "inst1")
        elif op == "assemble":
            out["path"] = await dev.assemble(disk, "inst1")
        elif op == "primary":
            await dev.set_role(disk, True)
        elif op == "primary-force":
            await dev.set_role(disk, True, force=True)
        elif op == "secondary":
            await dev.set_role(disk, False)
        elif op == "shutdown":
            await dev.shutdown(disk)
        elif op == "remove":
            await dev.remove(disk)
        elif op == "disconnect":
            await dev.disconnect(disk)
        elif op == "dual-on":
            await dev.set_dual_primary(disk, True)
        elif op == "dual-off":
            await dev.set_dual_primary(disk, False)
        elif op == "replace-local":
            out["aside"] = await dev.replace_local(disk, "inst1")
        elif op == "relink":
            await dev.relink(disk)
        status = await dev.status(disk) if op != "remove" else None
        out["status"] = status.to_dict() if status is not None else None
        info = await dev.info(disk)
        out["exists"], out["size"], out["in_sync"] = info.exists, info.size, info.in_sync
    except GntError as err:
        out["error"] = f"{type(err).__name__}: {err}"
    return out


print(json.dumps(asyncio.run(main(sys.argv[1], json.loads(sys.argv[2]), int(sys.argv[3])))))
