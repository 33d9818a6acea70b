"""The htools text format: golden round trips and the older, shorter rows."""

from __future__ import annotations

import pytest

from gnt.alloc import format_text, generate_cluster, load_text, parse_text
from gnt.errors import OpPrereqError


def test_canonical_golden_file_round_trips_byte_for_byte(golden):
    text = (golden / "tags-groups.txt").read_text()
    assert format_text(parse_text(text)) == text


def test_non_canonical_file_keeps_its_content(golden):
    m = load_text(golden / "three-nodes.txt")
    again = parse_text(format_text(m))
    assert [(n.name, n.t_mem, n.f_mem, n.f_dsk) for n in again.nodes] == [
        (n.name, n.t_mem, n.f_mem, n.f_dsk) for n in m.nodes
    ]
    assert [(x.name, x.pnode, x.snode, x.status) for x in again.instances] == [
        (x.name, x.pnode, x.snode, x.status) for x in m.instances
    ]


def test_canonical_output_is_a_fixed_point(golden):
    m = load_text(golden / "tags-groups.txt")
    once = format_text(m)
    assert format_text(parse_text(once)) == once


def test_generated_cluster_round_trips():
    m = generate_cluster(6, seed=3)
    text = format_text(m)
    again = parse_text(text)
    assert format_text(again) == text
    assert [x.name for x in again.instances] == [x.name for x in m.instances]


def test_old_short_rows_take_htools_defaults():
    text = "g|u1|preferred|\n\nn1|1024|64|900|10000|9000|4|N|u1\nn2|1024|64|900|10000|9000|4|N|u1|2\n\n"
    text += "i1|128|100|1|running|Y|n1|n2|drbd|\n\n"
    m = parse_text(text)
    assert m.nodes[0].spindles == 1 and m.nodes[1].spindles == 2
    assert m.instances[0].spindle_use == 1 and not m.instances[0].forthcoming
    assert m.nodes[0].cpu_speed == 1.0


def test_unknown_fields_make_an_offline_node():
    text = "g|u1|preferred|\n\nn1|?|?|?|?|?|?|N|u1\n\n\n\n"
    m = parse_text(text)
    assert m.nodes[0].offline and m.nodes[0].unknown


@pytest.mark.parametrize(
    "bad",
    [
        "g|u1|preferred|\n\n",
        "g|u1|nope|\n\n\n\n",
        "g|u1|preferred|\n\nn1|1024|64|900|10000|9000|4|N|u9\n\n\n\n",
        "g|u1|preferred|\n\nn1|1024|64|900|10000|9000|4|N|u1\n\ni1|128|100|1|running|Y|n1|n1|drbd|\n\n\n",
        "g|u1|preferred|\n\nn1|1024|64|x|10000|9000|4|N|u1\n\n\n\n",
    ],
)
def test_malformed_input_is_wrong_input(bad):
    with pytest.raises(OpPrereqError) as err:
        parse_text(bad)
    assert err.value.code == "wrong_input"
