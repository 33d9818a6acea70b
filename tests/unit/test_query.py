"""Query fields: evaluation into Ganeti's [status, value] pairs and field selection."""

from __future__ import annotations

from typing import Any

import pytest

from gnt import query
from gnt.errors import ECODE_INVAL, OpPrereqError


def _raise(exc: type[Exception]) -> Any:
    def getter(item: Any, ctx: Any) -> Any:
        raise exc()

    return getter


FIELDS = {
    "name": query.Field("name", "Node", "text", "Name", lambda item, ctx: item["name"]),
    "mem": query.Field("mem", "MTotal", "unit", "Memory", lambda item, ctx: item["mem"] * ctx, live=True),
    "na": query.Field("na", "NA", "other", "Not applicable", _raise(query.Unavailable)),
    "nodata": query.Field("nodata", "ND", "other", "No data", _raise(query.NoData)),
    "offline": query.Field("offline", "OFF", "other", "Offline", _raise(query.Offline)),
}


def test_evaluate_returns_normal_values_with_the_context() -> None:
    rows = query.evaluate([FIELDS["name"], FIELDS["mem"]], [{"name": "n1", "mem": 2}, {"name": "n2", "mem": 3}], 10)
    assert rows == [[[query.RS_NORMAL, "n1"], [0, 20]], [[0, "n2"], [0, 30]]]


@pytest.mark.parametrize(("name", "status"), [("na", 3), ("nodata", 2), ("offline", 4)])
def test_evaluate_maps_getter_exceptions_to_ganeti_statuses(name: str, status: int) -> None:
    assert query.evaluate([FIELDS[name]], [{"name": "n1"}], None) == [[[status, None]]]


def test_status_constants_match_ganeti() -> None:
    assert (query.RS_NORMAL, query.RS_UNKNOWN, query.RS_NODATA, query.RS_UNAVAIL, query.RS_OFFLINE) == (0, 1, 2, 3, 4)


def test_evaluate_does_not_swallow_bugs_in_getters() -> None:
    with pytest.raises(KeyError):
        query.evaluate([FIELDS["mem"]], [{"name": "n1"}], 1)


def test_select_keeps_the_requested_order() -> None:
    assert [f.name for f in query.select(FIELDS, ["mem", "name"])] == ["mem", "name"]


def test_select_rejects_unknown_fields() -> None:
    with pytest.raises(OpPrereqError, match="Unknown output fields selected: bogus, other") as info:
        query.select(FIELDS, ["name", "bogus", "other"])
    assert info.value.code == ECODE_INVAL


def test_as_dicts_gives_none_where_there_is_no_value() -> None:
    fields = [FIELDS["name"], FIELDS["na"]]
    rows = query.evaluate(fields, [{"name": "n1"}], None)
    assert query.as_dicts(fields, rows) == [{"name": "n1", "na": None}]


def test_describe_lists_name_title_kind_doc() -> None:
    assert FIELDS["mem"].describe() == {"name": "mem", "title": "MTotal", "kind": "unit", "doc": "Memory"}
