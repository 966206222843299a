"""The one report table every detector scenario shares (storm/scenarios/detector_tables.py)."""

from __future__ import annotations

from stampede.loadtest.report.document import Heading, Paragraph, Table
from stampede.loadtest.storm.scenarios.detector_tables import detector_section, sections_for


def test_both_forms_build_the_same_table_and_skip_variants_without_a_finding():
    summary = {
        "variants": {
            "fixed": {"hz": {"finding": "clean", "evidence": "exact", "n": 3, "share": 0.25}},
            "broken": {"hz": {"finding": "wedged", "n": None, "share": 1.0}},
            "crashed": {"error": "exit 1"},
            "odd": {"hz": "not a block"},
        }
    }
    by_cells = sections_for("hz", "T", "about", ["n", "share"], lambda b: [b["n"], b["share"]])
    by_columns = detector_section(
        "T", "hz", "about", [("n", lambda b: b["n"]), ("share", lambda b: b["share"])]
    )
    blocks = by_cells(summary)
    assert blocks == by_columns(summary)
    assert blocks[:2] == [Heading("T"), Paragraph("about")]
    table = blocks[2]
    assert isinstance(table, Table)
    assert table.header == ["variant", "finding", "evidence", "n", "share"]
    assert table.rows == [
        ["fixed", "clean", "exact", "3", "0.25"],
        ["broken", "wedged", "-", "-", "1"],
    ]


def test_no_finding_anywhere_means_no_section():
    section = detector_section("T", "hz", "about", [("n", lambda b: b["n"])])
    assert section({"variants": {"a": {}, "b": {"hz": {}}}}) == []
    assert section({}) == []
