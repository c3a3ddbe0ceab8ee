"""Scenarios and siting as a JSON client sees them, on SpatiaLite and PostGIS: creating, listing,
showing and deleting scenarios; changes with If-Match; who may read and write; every mistake a 4xx
that names the change and the field; a scenario's facility changing coverage while the real layers
stay as they are; siting on the sample layers, kept as a scenario."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from fastapi.testclient import TestClient

from shequ.api.app import create_app
from shequ.layers import users
from shequ.layers.schema import LAYERS, WRITE_ORDER
from shequ.layers.validate import validate

import samples

PEOPLE = {"planner": ("planner", []), "admin": ("admin", []), "bureau": ("bureau", []),
          "manager": ("grid_manager", [samples.CODE_A])}
#: on the sample street 水井街, 250 m east of 12号楼 (R2's) nearest kindergarten that serves: none does
#: (F2 is only planned), so a kindergarten here covers R2
NEW_KINDERGARTEN = {"kind": "add_facility", "properties": {"type": "幼儿园", "name": "新幼儿园", "capacity": 120},
                    "geometry": {"type": "Point", "coordinates": [104.0885, 30.6525]}}


@dataclass
class Api:
    client: TestClient
    app: object
    tokens: dict[str, str]

    def headers(self, who: str | None, **extra: str) -> dict:
        """The user's bearer header, and ``extra`` headers (``If_Match`` → ``If-Match``)."""
        h = {} if who is None else {"Authorization": f"Bearer {self.tokens[who]}"}
        return {**h, **{k.replace("_", "-"): v for k, v in extra.items()}}

    def get(self, path: str, who: str | None = "planner", **kw):
        return self.client.get(path, headers=self.headers(who), **kw)

    def post(self, path: str, body: dict, who: str | None = "planner", **headers: str):
        return self.client.post(path, json=body, headers=self.headers(who, **headers))

    def delete(self, path: str, who: str | None = "planner"):
        return self.client.delete(path, headers=self.headers(who))


@pytest.fixture
def api(db_url: str) -> Iterator[Api]:
    app = create_app(db_url)
    store = app.state.store
    store.write_layers({name: validate(samples.SAMPLES[name](), LAYERS[name], source=name) for name in WRITE_ORDER})
    tokens = {name: users.issue_token(store.engine, users.add_user(store.engine, name, "secret-123", role, areas))[0]
              for name, (role, areas) in PEOPLE.items()}
    with TestClient(app) as client:
        yield Api(client, app, tokens)
    store.dispose()


def described(response, *words: str) -> str:
    """The error's description, after checking it is a 4xx in the OGC exception shape that says ``words``."""
    assert 400 <= response.status_code < 500, (response.status_code, response.text)
    text = response.json()["description"]
    for word in words:
        assert word in text, (word, text)
    return text


# ---- scenarios: create, list, show, delete ----------------------------------------------------------
def test_create_list_show_and_delete_a_scenario(api: Api) -> None:
    made = api.post("/scenarios", {"name": "新幼儿园", "title": "两所新幼儿园", "description": "2027"})
    assert made.status_code == 201, made.text
    assert made.headers["Location"].endswith("/scenarios/%E6%96%B0%E5%B9%BC%E5%84%BF%E5%9B%AD")  # 新幼儿园
    assert made.headers["ETag"] == '"0"'
    body = made.json()
    assert (body["name"], body["title"], body["revision"], body["created_by"], body["changes"]) == \
        ("新幼儿园", "两所新幼儿园", 0, "planner", [])
    api.post("/scenarios", {"name": "closures"}, who="admin")
    listed = api.get("/scenarios").json()["scenarios"]
    assert [(s["name"], s["title"], s["changes"]) for s in listed] == [("closures", "closures", 0),
                                                                       ("新幼儿园", "两所新幼儿园", 0)]
    shown = api.get("/scenarios/新幼儿园")
    assert shown.status_code == 200 and shown.headers["ETag"] == '"0"'
    assert shown.json()["description"] == "2027"

    again = api.post("/scenarios", {"name": "新幼儿园"})
    assert again.status_code == 409 and described(again, "exists already")
    assert described(api.post("/scenarios", {"name": "no spaces allowed"}), "1–64").startswith("scenario name")
    assert api.post("/scenarios", {"title": "no name"}).status_code == 400

    assert api.delete("/scenarios/新幼儿园").status_code == 204
    assert api.get("/scenarios/新幼儿园").status_code == 404
    assert described(api.delete("/scenarios/新幼儿园"), "no scenario")
    assert api.get("/scenarios/no such!name").status_code == 404
    assert [s["name"] for s in api.get("/scenarios").json()["scenarios"]] == ["closures"]


# ---- changes, coverage and the real layers ---------------------------------------------------------
def _coverage(api: Api, scenario: str | None) -> dict:
    """Kindergarten coverage through POST /analyses/coverage (with ``scenario`` once that route takes
    it; until then the same use case the route calls, on the app's workspace)."""
    from shequ.api.analyses import CoverageRequest

    body = {"types": ["kindergarten"]}
    if scenario is None or "scenario" in CoverageRequest.model_fields:
        r = api.post("/analyses/coverage", {**body, **({"scenario": scenario} if scenario else {})})
        assert r.status_code == 200, r.text
        (row,) = r.json()["summary"]
        return row
    from shequ.usecases.coverage import CoverageQuery, coverage

    ws = api.app.state.workspace
    planner = users.user_for_token(ws.store.engine, api.tokens["planner"])
    outcome = coverage(ws, CoverageQuery.parse(["kindergarten"], scenario=scenario), user=planner)
    return outcome.summary.iloc[0].to_dict()


def test_a_planned_kindergarten_changes_coverage_in_its_scenario_only(api: Api) -> None:
    facilities_before = api.get("/collections/facilities/items", params={"limit": 100}).json()["features"]
    real_before = _coverage(api, None)
    assert api.post("/scenarios", {"name": "plan"}).status_code == 201

    added = api.post("/scenarios/plan/changes", {"changes": [NEW_KINDERGARTEN]}, If_Match='"0"')
    assert added.status_code == 200, added.text
    assert added.headers["ETag"] == '"1"'
    (change,) = added.json()["changes"]
    assert change["kind"] == "add_facility" and change["made_by"] == "planner"
    assert change["properties"] == {"type": "kindergarten", "name": "新幼儿园", "capacity": 120}  # the type resolved
    assert change["geometry"] == {"type": "Point", "coordinates": [104.0885, 30.6525]}

    planned = _coverage(api, "plan")
    assert real_before["households_covered"] == 0
    assert planned["households_covered"] == 48  # 12号楼 (R2), within 300 m of the new kindergarten
    assert planned["households_rate"] > real_before["households_rate"]
    # the real layers are as they were, and so is their coverage
    assert api.get("/collections/facilities/items", params={"limit": 100}).json()["features"] == facilities_before
    assert _coverage(api, None) == real_before

    # taking the change back: the scenario's coverage is the real one again, the revision still grows
    back = api.delete(f"/scenarios/plan/changes/{change['id']}")
    assert back.status_code == 200 and back.json()["changes"] == [] and back.headers["ETag"] == '"2"'
    assert _coverage(api, "plan")["households_covered"] == 0
    assert described(api.delete(f"/scenarios/plan/changes/{change['id']}"), "no change")
    assert api.delete("/scenarios/plan/changes/0").status_code == 400


def test_every_kind_of_change_is_kept_in_order_with_who_made_it(api: Api) -> None:
    api.post("/scenarios", {"name": "all"})
    changes = [NEW_KINDERGARTEN,
               {"kind": "remove_facility", "target_id": "F1"},
               {"kind": "set_capacity", "target_id": "F2", "properties": {"capacity": "200"}},
               {"kind": "add_residence", "properties": {"households": 300, "population": 800, "name": "新小区"},
                "geometry": {"type": "Polygon", "coordinates": [[[104.0865, 30.6510], [104.0875, 30.6510],
                                                                 [104.0875, 30.6520], [104.0865, 30.6520],
                                                                 [104.0865, 30.6510]]]}},
               {"kind": "build_planned"}]
    r = api.post("/scenarios/all/changes", {"changes": changes}, who="admin")
    assert r.status_code == 200, r.text
    got = r.json()
    assert got["revision"] == 5 and [c["kind"] for c in got["changes"]] == [c["kind"] for c in changes]
    assert {c["made_by"] for c in got["changes"]} == {"admin"}
    assert got["changes"][2]["properties"] == {"capacity": 200}
    assert got["changes"][3]["geometry"]["type"] == "Polygon"
    assert api.get("/scenarios").json()["scenarios"][0]["changes"] == 5


def test_if_match_appends_only_onto_the_revision_the_planner_read(api: Api) -> None:
    api.post("/scenarios", {"name": "shared"})
    first = api.post("/scenarios/shared/changes", {"changes": [NEW_KINDERGARTEN]}, If_Match='"0"')
    assert first.status_code == 200
    # a second planner, who also read revision 0, is refused and told the current revision
    stale = api.post("/scenarios/shared/changes", {"changes": [NEW_KINDERGARTEN]}, who="admin", If_Match='"0"')
    assert stale.status_code == 412 and stale.headers["ETag"] == '"1"'
    assert described(stale, "changed meanwhile")
    nonsense = api.post("/scenarios/shared/changes", {"changes": [NEW_KINDERGARTEN]}, If_Match="abc")
    assert nonsense.status_code == 412 and nonsense.headers["ETag"] == '"1"'
    assert api.get("/scenarios/shared").json()["revision"] == 1  # nothing was written
    # the current ETag (weak or not), "*" or no If-Match at all append
    assert api.post("/scenarios/shared/changes", {"changes": [NEW_KINDERGARTEN]}, If_Match='W/"1"').status_code == 200
    assert api.post("/scenarios/shared/changes", {"changes": [NEW_KINDERGARTEN]}, If_Match="*").status_code == 200
    assert api.post("/scenarios/shared/changes", {"changes": [NEW_KINDERGARTEN]}).headers["ETag"] == '"4"'


# ---- who may ----------------------------------------------------------------------------------------
def test_reading_needs_a_login_and_writing_a_planner_or_admin(api: Api) -> None:
    api.post("/scenarios", {"name": "mine"})
    c = api.client
    for method, path, body in [("GET", "/scenarios", None), ("GET", "/scenarios/mine", None),
                               ("POST", "/scenarios", {"name": "theirs"}),
                               ("POST", "/scenarios/mine/changes", {"changes": [NEW_KINDERGARTEN]}),
                               ("DELETE", "/scenarios/mine/changes/1", None), ("DELETE", "/scenarios/mine", None),
                               ("POST", "/analyses/siting", {"type": "kindergarten"})]:
        anonymous = c.request(method, path, json=body)
        assert anonymous.status_code == 401, (method, path, anonymous.text)
        assert anonymous.headers["WWW-Authenticate"].startswith("Bearer")
        for who in ("manager", "bureau"):
            refused = c.request(method, path, json=body, headers=api.headers(who))
            assert refused.status_code == 403, (who, method, path, refused.text)
            assert "planner" in refused.json()["description"]
    # the login cookie is read on GET only: a write with it alone is anonymous
    c.cookies.set("shequ_token", api.tokens["planner"])
    try:
        assert c.get("/scenarios/mine").status_code == 200
        assert c.post("/scenarios/mine/changes", json={"changes": [NEW_KINDERGARTEN]}).status_code == 401
    finally:
        c.cookies.clear()
    assert api.get("/scenarios/mine").json()["changes"] == []


# ---- mistakes ---------------------------------------------------------------------------------------
def _bad(api: Api, change: dict, *words: str, status: int = 400) -> str:
    r = api.post("/scenarios/checks/changes", {"changes": [NEW_KINDERGARTEN, change]})
    assert r.status_code == status, (change, r.status_code, r.text)
    return described(r, *words)


def test_every_mistake_is_a_clear_4xx_naming_the_change_and_the_field(api: Api) -> None:
    api.post("/scenarios", {"name": "checks"})
    point = NEW_KINDERGARTEN["geometry"]
    _bad(api, {**NEW_KINDERGARTEN, "properties": {"type": "spaceport"}}, "change 2: type", "spaceport")
    _bad(api, {**NEW_KINDERGARTEN, "properties": {"type": "幼儿园", "capacity": "many"}}, "change 2: capacity",
         "whole number")
    _bad(api, {**NEW_KINDERGARTEN, "properties": {"type": "幼儿园", "capacity": -5}}, "change 2: capacity",
         "at least 0")
    _bad(api, {**NEW_KINDERGARTEN, "geometry": {"type": "Point", "coordinates": [116.40, 39.90]}}, "change 2",
         "outside the data's area")
    _bad(api, {**NEW_KINDERGARTEN, "geometry": {"type": "Point", "coordinates": [30.6525, 104.0885]}}, "change 2",
         "longitude, latitude")
    _bad(api, {**NEW_KINDERGARTEN, "geometry": {"type": "Point", "coordinates": ["east", 30.65]}}, "change 2",
         "geometry")
    _bad(api, {**NEW_KINDERGARTEN, "geometry": {"type": "LineString", "coordinates": [[104.08, 30.65],
                                                                                     [104.09, 30.65]]}},
         "change 2: geometry", "Point or Polygon")
    _bad(api, {**NEW_KINDERGARTEN, "geometry": {"type": "Polygon", "coordinates": [[[104.08, 30.65],
                                                                                  [104.09, 30.65]]]}},
         "change 2", "geometry")
    _bad(api, {**NEW_KINDERGARTEN, "geometry": None}, "change 2", "geometry is needed")
    _bad(api, {"kind": "add_residence", "properties": {"households": 0}, "geometry": point}, "change 2: households",
         "at least 1")
    _bad(api, {"kind": "remove_facility", "target_id": "F99"}, "change 2: target_id", "F99")
    _bad(api, {"kind": "remove_facility", "target_id": "F1", "geometry": point}, "change 2: geometry", "takes none")
    _bad(api, {"kind": "set_capacity", "target_id": "F1"}, "change 2: capacity")
    _bad(api, {"kind": "demolish", "target_id": "F1"}, "changes.1.kind")
    _bad(api, {**NEW_KINDERGARTEN, "properties": {"type": "幼儿园", "capacity": 1e12}}, "changes.1.properties",
         "capacity")
    _bad(api, {**NEW_KINDERGARTEN, "properties": {"type": "幼儿园", "note": {"nested": True}}},
         "changes.1.properties", "note")
    _bad(api, {**NEW_KINDERGARTEN, "target_id": "F\x001"}, "changes.1.target_id", "NUL")
    described(api.post("/scenarios/checks/changes", {"changes": []}), "changes")
    too_many = api.post("/scenarios/checks/changes", {"changes": [NEW_KINDERGARTEN] * 1_001})
    assert too_many.status_code == 400 and described(too_many, "changes", "1000")
    assert described(api.post("/scenarios/checks/changes", {"change": [NEW_KINDERGARTEN]}), "changes")
    # all or none: the good first change of each refused request was not kept either
    assert api.get("/scenarios/checks").json()["revision"] == 0
    missing = api.post("/scenarios/nowhere/changes", {"changes": [NEW_KINDERGARTEN]})
    assert missing.status_code == 404 and described(missing, "nowhere")


# ---- siting ------------------------------------------------------------------------------------------
def test_siting_proposes_sites_and_keeps_them_as_a_scenario(api: Api) -> None:
    r = api.post("/analyses/siting", {"type": "幼儿园", "add": 1, "time_limit_s": 30})
    assert r.status_code == 200, r.text
    got = r.json()
    assert got["status"] == "optimal" and got["gap"] == 0 and got["seconds"] >= 0
    assert got["query"] == {"type": "kindergarten", "model": "mclp", "add": 1, "weight": "children", "area": None,
                            "scenario": None}
    (site,) = got["sites"]["features"]
    assert site["geometry"]["type"] == "Point" and site["properties"]["rank"] == 1
    assert site["properties"]["new_households"] == 48  # 12号楼, which no kindergarten serves yet
    assert got["summary"]["households_newly_covered"] == 48 and got["summary"]["sites"] == 1
    assert got["units"]["distance_m"] == "m"
    assert any("HiGHS" in n["en"] for n in got["notes"]) and all(n["zh"] for n in got["notes"])
    assert "scenario" not in got

    kept = api.post("/analyses/siting", {"type": "kindergarten", "add": 1, "save_as": "sited", "capacity": 90})
    assert kept.status_code == 200, kept.text
    scenario = kept.json()["scenario"]
    (change,) = scenario["changes"]
    assert scenario["name"] == "sited" and change["kind"] == "add_facility"
    assert change["properties"]["capacity"] == 90 and change["properties"]["type"] == "kindergarten"
    assert api.get("/scenarios/sited").json()["revision"] == 1
    # on top of that scenario there is nothing left to gain for 12号楼
    on_top = api.post("/analyses/siting", {"type": "kindergarten", "model": "lscp", "scenario": "sited"}).json()
    assert on_top["summary"]["households_covered_before"] == 48 and on_top["sites"]["features"] == []
    assert _coverage(api, "sited")["households_covered"] == 48


def test_siting_mistakes_are_4xx(api: Api) -> None:
    assert described(api.post("/analyses/siting", {"type": "spaceport"}), "spaceport")
    assert api.post("/analyses/siting", {"type": "kindergarten", "scenario": "nowhere"}).status_code == 404
    for body in ({"type": "kindergarten", "time_limit_s": 61}, {"type": "kindergarten", "add": 0},
                 {"type": "kindergarten", "model": "pmedian"}, {"type": "kindergarten", "weight": "cars"},
                 {"type": "kindergarten", "area": "5101"}, {"type": "kindergarten", "spacing_m": 1},
                 {"type": "kindergarten", "distance_m": 0}, {}):
        assert api.post("/analyses/siting", body).status_code == 400, body
    assert described(api.post("/analyses/siting", {"type": "kindergarten", "save_as": "bad name"}), "scenario name")
    assert described(api.post("/analyses/siting", {"type": "kindergarten", "area": "510104017009"}),
                     "510104017009")
    assert api.get("/scenarios").json()["scenarios"] == []
