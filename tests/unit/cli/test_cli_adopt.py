"""`--disk N:adopt=NAME` on the command line: the size comes from the device, so none is needed."""

from __future__ import annotations

import pytest

from gnt.errors import ParameterError
from gnt.instance.cli import parse_disks


def test_adopt_needs_no_size_and_keeps_the_path_whole() -> None:
    path = "/dev/disk/by-path/pci-0000:00:04.0-scsi-0:0:0:1"
    assert parse_disks((f"0:adopt={path}",)) == [{"adopt": path}]
    assert parse_disks(("0:adopt=olddata,vg=xenvg", "1:adopt=more")) == [
        {"adopt": "olddata", "vg": "xenvg"},
        {"adopt": "more"},
    ]


@pytest.mark.parametrize(
    ("value", "message"),
    [("0:adopt=", "Empty name to adopt for disk 0"), ("0:mode=rw", "Missing size for disk 0 .*adopt=NAME")],
)
def test_adopt_refusals(value: str, message: str) -> None:
    with pytest.raises(ParameterError, match=message):
        parse_disks((value,))


@pytest.mark.parametrize("adopt", [5, "", ["x"]])
def test_a_malformed_adopt_is_refused_at_submission(adopt: object) -> None:
    """Before any job exists (RAPI: a 400), as every other malformed disk field."""
    from gnt.errors import OpPrereqError
    from gnt.opcodes import from_dict

    with pytest.raises(OpPrereqError, match="adopt must name an LV or a device path"):
        from_dict({"OP_ID": "OP_INSTANCE_CREATE", "instance_name": "i1", "disk_template": "blockdev",
                   "disks": [{"adopt": adopt}], "pnode": "node1"})  # fmt: skip
