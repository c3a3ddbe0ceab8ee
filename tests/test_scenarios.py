"""Scenarios: stored changes on top of the real layers, applied by every analysis, never written back;
the comparison of a scenario with the real layers. On both backends, with the sample layers."""

from __future__ import annotations

import re
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest
import shapely

from shequ.cli import main
from shequ.errors import AlreadyExists, Conflict, Forbidden, InvalidInput, NotFound
from shequ.layers.schema import LAYERS, WRITE_ORDER
from shequ.layers.users import User
from shequ.layers.validate import validate
from shequ.settings import Settings
from shequ.usecases import compare, scenarios
from shequ.usecases.access import LOCAL
from shequ.usecases.coverage import CoverageQuery, coverage
from shequ.usecases.workspace import Workspace

import samples

PLANNER, BUREAU = User("p", "planner"), User("b", "bureau")


@pytest.fixture
def ws(store) -> Workspace:
    for name in WRITE_ORDER:
        store.write(name, validate(samples.SAMPLES[name](), LAYERS[name], source=name))
    w = Workspace(store, Settings(database_url=store.url))
    yield w


def _kinder(ws: Workspace, scenario: str = "") -> pd.DataFrame:
    """Kindergarten coverage per residence, with the nearest one found up to 1 km beyond the distance."""
    out = coverage(ws, CoverageQuery.parse(["kindergarten"], scenario=scenario, search_beyond_m=1000), user=LOCAL)
    return out.residences().set_index("id")


def test_a_scenario_changes_the_analysis_and_never_the_layers(ws: Workspace) -> None:
    before_rows = ws.store.read("facilities")
    real = _kinder(ws)
    # F2 (崇德里幼儿园) is planned (规划): it serves nobody in the real layers
    assert real.loc["R2", "kindergarten_facility"] != "F2"
    scenarios.create(ws, "plan-a", title="两所新幼儿园", user=PLANNER)
    view = scenarios.add_changes(ws, "plan-a", [scenarios.facility_change("幼儿园", 104.0878, 30.6528, capacity=90)],
                                 user=PLANNER)
    assert view.revision == 1 and view.changes[0]["properties"] == {"type": "kindergarten", "capacity": 90}
    planned = _kinder(ws, "plan-a")
    assert planned.loc["R2", "kindergarten_covered"] and planned.loc["R2", "kindergarten_facility"] == "plan-a:1"
    assert planned.loc["R2", "kindergarten_m"] < real.loc["R2", "kindergarten_m"]
    # the real layers are as they were, and so is their analysis
    after_rows = ws.store.read("facilities")
    assert list(after_rows["id"]) == list(before_rows["id"]) and len(after_rows) == 3
    assert _kinder(ws)["kindergarten_m"].equals(real["kindergarten_m"])
    # the life-circle audit takes the scenario too
    from shequ.usecases.lifecircles import audit_all

    findings, _ = audit_all(ws, user=LOCAL)
    planned_findings, _ = audit_all(ws, user=LOCAL, scenario="plan-a")
    kinder = (planned_findings["type"] == "kindergarten") & (planned_findings["status"] != "missing")
    assert kinder.sum() >= ((findings["type"] == "kindergarten") & (findings["status"] != "missing")).sum()
    with pytest.raises(NotFound):
        audit_all(ws, user=LOCAL, scenario="nope")


def test_closing_building_planned_and_a_new_development(ws: Workspace) -> None:
    scenarios.create(ws, "s", user=PLANNER)
    scenarios.add_changes(ws, "s", [{"kind": "remove_facility", "target_id": "F1"}], user=PLANNER)
    closed = _kinder(ws, "s")
    assert not closed["kindergarten_facility"].eq("F1").any()
    scenarios.add_changes(ws, "s", [{"kind": "build_planned"}], user=PLANNER)
    built = _kinder(ws, "s")
    assert built.loc["R2", "kindergarten_facility"] == "F2"  # the planned one now counts as built
    scenarios.add_changes(ws, "s", [{"kind": "add_residence", "properties": {"households": 300, "children": 40},
                                     "geometry": shapely.Point(104.0899, 30.6531)}], user=PLANNER)
    grown = _kinder(ws, "s")
    assert len(grown) == 3 and grown.loc["s:3", "households"] == 300 and grown.loc["s:3", "kindergarten_covered"]
    c = compare.compare(ws, "real", "s", types=["kindergarten"], user=LOCAL)
    row = c.totals.iloc[0]
    res = c.residences.set_index("id")
    assert res.loc["s:3", "new_residence"] and res.loc["s:3", "change"] == "newly covered"
    assert row["households_after"] - row["households_before"] == row["households_change"]
    assert row["households_newly_covered"] - row["households_lost"] == pytest.approx(row["households_change"])
    # undo the closure: F1 serves again
    reopened = scenarios.remove_change(ws, "s", 1, user=PLANNER)
    assert [c["kind"] for c in reopened.changes] == ["build_planned", "add_residence"]
    assert "F1" in set(scenarios.snapshot_for(ws, "s").serving["id"])


def test_bad_changes_say_which_and_why_and_nothing_is_kept(ws: Workspace) -> None:
    scenarios.create(ws, "s", user=PLANNER)
    good = scenarios.facility_change("kindergarten", 104.085, 30.652)
    cases = [
        (scenarios.facility_change("spaceport", 104.085, 30.652), "change 2: type"),
        (scenarios.facility_change("kindergarten", 116.4, 39.9), "change 2: the point lies outside"),
        ({"kind": "remove_facility", "target_id": "F9"}, "change 2: target_id: no facility 'F9'"),
        ({"kind": "set_capacity", "target_id": "F1", "properties": {"capacity": -3}}, "capacity must be at least 0"),
        ({"kind": "add_residence", "properties": {"households": "many"}, "geometry": shapely.Point(104.085, 30.652)},
         "households must be a whole number"),
        ({"kind": "teleport"}, "kind must be one of"),
    ]
    for bad, message in cases:
        with pytest.raises(InvalidInput, match=message):
            scenarios.add_changes(ws, "s", [good, bad], user=PLANNER)
    assert scenarios.show(ws, "s", user=PLANNER).changes == []  # all or nothing
    with pytest.raises(AlreadyExists):
        scenarios.create(ws, "s", user=PLANNER)
    with pytest.raises(InvalidInput, match="scenario name"):
        scenarios.create(ws, "../etc", user=PLANNER)
    with pytest.raises(NotFound):
        _kinder(ws, "nope")
    with pytest.raises(Forbidden):
        scenarios.add_changes(ws, "s", [good], user=BUREAU)
    # a planner who read revision 0 cannot write over a change made since
    scenarios.add_changes(ws, "s", [good], user=PLANNER, revision=0)
    with pytest.raises(Conflict):
        scenarios.add_changes(ws, "s", [good], user=PLANNER, revision=0)


def test_the_command_line_round(ws: Workspace, tmp_path: Path, capsys) -> None:
    url = ws.store.url
    assert main(["--db", url, "scenario", "create", "k", "--title", "幼儿园补点"]) == 0
    assert main(["--db", url, "scenario", "add-facility", "k", "--type", "幼儿园", "--at", "104.0878,30.6528",
                 "--capacity", "90"]) == 0
    sites = tmp_path / "sites.geojson"
    gpd.GeoDataFrame({"type": ["market"], "name": ["新菜市场"]}, geometry=[shapely.Point(104.084, 30.652)],
                     crs=4326).to_file(sites)
    assert main(["--db", url, "scenario", "add-facility", "k", "--file", str(sites)]) == 0
    assert main(["--db", url, "scenario", "show", "k"]) == 0
    shown = capsys.readouterr().out
    assert "add kindergarten" in shown and "capacity 90" in shown and "add market 新菜市场" in shown
    assert main(["--db", url, "scenario", "list"]) == 0
    assert "k " in capsys.readouterr().out
    out = tmp_path / "cmp"
    assert main(["--db", url, "compare", "real", "k", "--types", "kindergarten,market", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "current → scenario k" in printed
    summary = pd.read_csv(out / "compare_summary.csv")
    assert (summary["households_after"] >= summary["households_before"]).all()
    assert {p.name for p in out.iterdir()} >= {"compare.xlsx", "compare_residences.geojson", "compare_zones.csv",
                                               "compare_map_kindergarten.html", "compare_map_market.html"}
    page = (out / "compare_map_kindergarten.html").read_text(encoding="utf-8")
    assert "新增覆盖" in page and "newly covered" in page and "OpenStreetMap" in page
    assert not re.search(r"<(script|link)[^>]+(src|href)=[\"']?(https?:)?//", page)  # nothing loaded from afar
    assert main(["--db", url, "analyze", "coverage", "--scenario", "nope", "--quiet", "--no-save",
                 "--out", str(tmp_path / "x")]) == 2
    assert "no scenario 'nope'" in capsys.readouterr().err
    assert main(["--db", url, "scenario", "delete", "k"]) == 0
    assert main(["--db", url, "scenario", "show", "k"]) == 2


def test_a_second_siting_run_at_once_is_told_to_come_back(ws: Workspace, monkeypatch) -> None:
    """Siting takes a core for up to its time limit: one run at a time, a second is refused (429 on the API)."""
    from shequ.errors import Busy
    from shequ.usecases import siting

    monkeypatch.setattr(siting, "WAIT_S", 0.05)
    assert siting._RUNNING.acquire(timeout=1)  # a run in progress
    try:
        with pytest.raises(Busy, match="another siting run"):
            siting.plan_sites(ws, siting.SitingQuery.parse("kindergarten", add=1), user=PLANNER)
    finally:
        siting._RUNNING.release()
    assert len(siting.plan_sites(ws, siting.SitingQuery.parse("kindergarten", add=1), user=PLANNER).sites) <= 1
