"""Golden cases: a JSON file holds the inputs and the exact expected output of a pure function.

Shared by the argv golden tests (kvm, lvm, drbd). With GNT_UPDATE_GOLDEN=1 a case's `expected` is
rewritten from what the code gives now; review that diff like any other change.
"""

from __future__ import annotations

import glob
import json
import os
from collections.abc import Callable
from typing import Any

UPDATE = os.environ.get("GNT_UPDATE_GOLDEN") == "1"


def case_paths(folder: str) -> list[str]:
    return sorted(glob.glob(os.path.join(folder, "*.json")))


def check_case(path: str, output: Callable[[dict[str, Any]], Any]) -> None:
    """Assert that `output(case)` equals the case's `expected` (or record it, when updating)."""
    with open(path) as f:
        case = json.load(f)
    got = output(case)
    if UPDATE:
        case["expected"] = got
        with open(path, "w") as f:
            json.dump(case, f, indent=1)
            f.write("\n")
    assert got == case["expected"]
