"""Capacity-aware access on the Chengdu demo, through the use case, the command line and the JSON API.

OpenStreetMap records no kindergarten capacity in the extract: without an assumption nothing can be
measured (and the answer says so); ``--assume-capacity 90`` measures, labelled as an assumption.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient

from shequ.api.app import create_app
from shequ.cli.main import main
from shequ.errors import Forbidden, InvalidInput, NotLoggedIn
from shequ.layers.users import User
from shequ.settings import Settings
from shequ.usecases import scenarios
from shequ.usecases.access import LOCAL
from shequ.usecases.catchment import AccessQuery, access_analysis
from shequ.usecases.demo import DEMO_PASSWORD
from shequ.usecases.workspace import Workspace


def _workspace(url: str) -> Workspace:
    return Workspace.open(url, Settings(database_url=url))


def test_the_command_writes_the_files_and_the_zones_are_means_of_the_residences(demo_copy: str, tmp_path: Path,
                                                                                 capsys) -> None:
    out = tmp_path / "access"
    assert main(["--db", demo_copy, "analyze", "access", "--type", "kindergarten", "--method", "e2sfca",
                 "--assume-capacity", "90", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "E2SFCA for kindergarten within 300 m" in printed
    assert "ASSUMPTION: 90 places for every facility without a capacity" in printed
    assert "places per 1000 children:" in printed
    for name in ("access_residences.geojson", "access_communities.csv", "access_grids.csv", "summary.csv"):
        assert (out / name).stat().st_size > 0, name
    features = json.loads((out / "access_residences.geojson").read_text(encoding="utf-8"))["features"]
    res = pd.DataFrame([f["properties"] for f in features])
    assert len(res) > 300 and res["demand_kind"].eq("children").all()
    assert (res["capacity_basis"] == "assumed (假设)").all()  # the assumption is on every row
    # per community: the children-weighted mean of the residences' places per 1 000, recomputed from the file
    comm = pd.read_csv(out / "access_communities.csv", dtype={"code": str}).set_index("code")
    res = res[res["community"].notna()]
    weighted = (res["demand"] * res["access_per_1000"]).groupby(res["community"]).sum()
    demand = res.groupby("community")["demand"].sum()
    mean = (weighted / demand).reindex(comm.index)
    np.testing.assert_allclose(comm["access_per_1000"].to_numpy(), mean.to_numpy(), rtol=1e-9)
    zero = res["demand"].where(res["zero_access"], 0).groupby(res["community"]).sum() / demand
    np.testing.assert_allclose(comm["zero_access_share"].to_numpy(), zero.reindex(comm.index).to_numpy(), rtol=1e-9)
    assert comm["residences"].sum() == len(res) and comm["access_per_1000"].gt(0).any()
    assert (comm["capacity_basis"] == "assumed (假设)").all()
    grids = pd.read_csv(out / "access_grids.csv", dtype={"code": str, "community_code": str})
    assert len(grids) and {"code", "community_code", "access_per_1000", "zero_access_share"} <= set(grids.columns)
    summary = pd.read_csv(out / "summary.csv", dtype=str).set_index("measure")
    assert summary.loc["assumed_capacity", "value"] == "90" and summary.loc["method", "value"] == "e2sfca"
    assert summary.loc["facilities_with_capacity", "value"] == "0"  # OSM has none
    notes = summary.loc["note"]
    assert notes["en"].iloc[0].startswith("Assumption:") and notes["zh"].iloc[0].startswith("假设")


def test_the_use_case_says_plainly_when_nothing_has_a_capacity_and_an_area_equals_the_whole(demo_copy: str) -> None:
    ws = _workspace(demo_copy)
    bare = access_analysis(ws, AccessQuery.parse("幼儿园"), user=LOCAL)
    assert not bare.measured and bare.value("facilities_excluded") == bare.value("facilities") > 0
    assert bare.notes[0][1].startswith("Not measured: none of the") and "--assume-capacity" in bare.notes[0][1]
    assert "无法计算" in bare.notes[0][0]
    assert bare.residences["access"].isna().all() and not bare.residences["zero_access"].any()
    assert bare.communities["access_per_1000"].isna().all()
    assert access_analysis(ws, AccessQuery.parse("kindergarten"), user=LOCAL) is bare  # cached per data version

    whole = access_analysis(ws, AccessQuery.parse("kindergarten", assume_capacity=90), user=LOCAL)
    assert whole.measured and whole.value("facilities_assumed_capacity") == whole.value("facilities")
    # no place made up or lost: the children-weighted access adds up to the places of the facilities with
    # children in reach
    places = whole.facilities.loc[~whole.facilities["idle"], "capacity_used"].sum()
    assert np.isclose((whole.residences["demand"] * whole.residences["access"]).sum(), places)
    # an area's residences get what they get in the whole (their kindergartens' catchments reach beyond it)
    best = whole.communities.sort_values("access_per_1000", ascending=False)["code"].iloc[0]
    part = access_analysis(ws, AccessQuery.parse("kindergarten", assume_capacity=90, area=best), user=LOCAL)
    mine = whole.residences.set_index("id").loc[part.residences["id"], "access"].to_numpy()
    np.testing.assert_allclose(part.residences["access"].to_numpy(), mine, rtol=1e-12)
    assert part.value("access_per_1000") > 0 and len(part.communities) == 1
    # a scenario's new kindergarten brings its own capacity: data beside the assumption, each said so
    first = whole.facilities[~whole.facilities["idle"]].iloc[0]
    scenarios.create(ws, "more-places", user=LOCAL)
    scenarios.add_changes(ws, "more-places", [scenarios.facility_change("kindergarten", first["lon"] + 0.001,
                                                                        first["lat"], capacity=120)], user=LOCAL)
    planned = access_analysis(ws, AccessQuery.parse("kindergarten", assume_capacity=90, scenario="more-places"),
                              user=LOCAL)
    assert planned.value("facilities_with_capacity") == 1 and planned.value("capacity_basis") == "data + assumed (假设)"
    assert planned.value("places") == whole.value("places") + 120
    assert planned.value("access_per_1000") > whole.value("access_per_1000")
    # who may ask: the coverage analyses' policy
    with pytest.raises(NotLoggedIn):
        access_analysis(ws, AccessQuery.parse("kindergarten"), user=None)
    with pytest.raises(Forbidden):
        access_analysis(ws, AccessQuery.parse("kindergarten"), user=User("b", "bureau"))
    with pytest.raises(InvalidInput, match="method"):
        AccessQuery.parse("kindergarten", "3sfca")
    with pytest.raises(InvalidInput, match="assumed capacity"):
        AccessQuery.parse("kindergarten", assume_capacity=0)
    ws.close()


def test_the_json_route_answers_a_planner_per_community(demo_copy: str) -> None:
    app = create_app(demo_copy, Settings(database_url=demo_copy))
    with TestClient(app) as client:
        assert client.get("/analyses/access", params={"type": "kindergarten"}).status_code == 401
        token = client.post("/token", data={"username": "planner", "password": DEMO_PASSWORD}).json()["access_token"]
        auth = {"Authorization": f"Bearer {token}"}
        r = client.get("/analyses/access", params={"type": "幼儿园", "method": "e2sfca", "assume_capacity": 90},
                       headers=auth)
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["measured"] is True and body["query"]["assume_capacity"] == 90
        assert body["query"]["type"] == "kindergarten" and body["query"]["demand"] == "children"
        assert len(body["communities"]) > 10 and "residences" not in body
        summary = {row["measure"]: row["value"] for row in body["summary"]}
        assert summary["capacity_basis"] == "assumed (假设)" and summary["access_per_1000"] > 0
        assert body["notes"][0]["en"].startswith("Assumption:")
        bare = client.get("/analyses/access", params={"type": "kindergarten"}, headers=auth).json()
        assert bare["measured"] is False and bare["communities"][0]["access_per_1000"] is None
        assert client.get("/analyses/access", params={"type": "nothing"}, headers=auth).status_code == 400
        assert client.get("/analyses/access", params={"type": "kindergarten", "scenario": "nope"},
                          headers=auth).status_code == 404
    app.state.store.dispose()
