"""Runs calls of Ganeti 3.0's own RAPI client (Debian's `ganeti-3.0`) and prints their outcomes as JSON.

Run by the system Python (the package's): `python3 ganeti_rapi_driver.py HOST PORT CAFILE [USER PASS]`
with a JSON list of `[method, args, kwargs]` on stdin; prints one `{"ok": ..., "result"|"error", "code"}`
per call. Kept out of the test process: Ganeti's client needs pycurl and the system's site-packages.
"""

import json
import sys

sys.path.insert(0, "/usr/share/ganeti/3.0")

import pycurl  # noqa: E402
from ganeti.rapi import client  # noqa: E402


def main() -> None:
    host, port, cafile = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    user, password = (sys.argv[4], sys.argv[5]) if len(sys.argv) > 5 else (None, None)
    pycurl.global_init(pycurl.GLOBAL_ALL)
    config = client.GenericCurlConfig(cafile=cafile, verify_hostname=False, timeout=60)
    rapi = client.GanetiRapiClient(host, port=port, username=user, password=password, curl_config_fn=config)
    outcomes = []
    for method, args, kwargs in json.load(sys.stdin):
        try:
            outcomes.append({"ok": True, "result": getattr(rapi, method)(*args, **kwargs)})
        except Exception as err:  # noqa: BLE001 - the client refuses some arguments itself (ValueError)
            outcomes.append({"ok": False, "error": str(err), "code": getattr(err, "code", None)})
    pycurl.global_cleanup()
    json.dump(outcomes, sys.stdout)


if __name__ == "__main__":
    main()
