"""JSON (de)serialisation of dataclasses."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from gnt import serial
from gnt.objects import Disk, Instance, Nic


@dataclass
class Inner:
    a: int
    b: str = "x"


@dataclass
class Outer:
    inner: Inner
    many: list[Inner] = field(default_factory=list)
    by_name: dict[str, Inner] = field(default_factory=dict)
    maybe: Inner | None = None


def test_to_dict_recurses_into_nested_dataclasses_lists_and_dicts() -> None:
    obj = Outer(Inner(1), [Inner(2, "y")], {"k": Inner(3)}, None)
    assert serial.to_dict(obj) == {
        "inner": {"a": 1, "b": "x"},
        "many": [{"a": 2, "b": "y"}],
        "by_name": {"k": {"a": 3, "b": "x"}},
        "maybe": None,
    }


def test_from_dict_rebuilds_nested_dataclasses() -> None:
    obj = Outer(Inner(1), [Inner(2, "y")], {"k": Inner(3)}, Inner(4))
    assert serial.from_dict(Outer, serial.to_dict(obj)) == obj


def test_from_dict_strict_rejects_unknown_keys() -> None:
    with pytest.raises(ValueError, match="unknown field\\(s\\) for Inner: c, d"):
        serial.from_dict(Inner, {"a": 1, "d": 2, "c": 3}, strict=True)


def test_from_dict_lenient_drops_unknown_keys() -> None:
    assert serial.from_dict(Inner, {"a": 1, "zzz": 2}) == Inner(1)


def test_instance_with_disks_and_nics_round_trips_through_json() -> None:
    inst = Instance(
        name="inst1",
        disks=[Disk(uuid="d1", size=1024, dev_type="plain", logical_id=["vg", "lv"])],
        nics=[Nic(uuid="n1", mac="aa:00:00:00:00:01", nicparams={"mode": "bridged"})],
    )
    back = serial.from_dict(Instance, serial.loads(serial.dumps(inst)))
    assert back == inst
    assert isinstance(back.disks[0], Disk)
    assert isinstance(back.nics[0], Nic)


def test_dumps_is_compact_json() -> None:
    assert serial.dumps(Inner(1)) == '{"a":1,"b":"x"}'
    assert serial.loads(b'{"a":1}') == {"a": 1}
