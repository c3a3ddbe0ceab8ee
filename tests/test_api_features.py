"""OGC API – Features as a client sees it, on SpatiaLite and PostGIS: reading, writing with ETags,
validation and grid topology on every write, history and restore, and who may do what."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest
import shapely
from fastapi.testclient import TestClient
from shapely.geometry import box, mapping
from sqlalchemy import update

from shequ.api.app import create_app
from shequ.layers import users
from shequ.layers.schema import LAYERS
from shequ.layers.store import Store
from shequ.layers.validate import validate

import samples

A, B = samples.CODE_A, samples.CODE_B
WEST, EAST, B1 = A + "001", A + "002", B + "001"
PASSWORD = "secret-123"
#: name → (role, areas); the street manager looks after the whole 锦官驿街道 (9-digit street code)
PEOPLE = {"planner": ("planner", []), "bureau": ("bureau", []), "manager_a": ("grid_manager", [A]),
          "manager_street": ("grid_manager", [A[:9]]), "admin": ("admin", [])}


@dataclass
class Api:
    client: TestClient
    store: Store
    tokens: dict[str, str]

    def headers(self, who: str | None, etag: str | None = None) -> dict:
        h = {} if who is None else {"Authorization": f"Bearer {self.tokens[who]}"}
        if etag:
            h["If-Match"] = etag
        return h

    def etag(self, layer: str, key: str) -> str:
        return self.client.get(f"/collections/{layer}/items/{key}").headers["ETag"]

    def history(self, layer: str, key: str) -> list[dict]:
        r = self.client.get(f"/collections/{layer}/items/{key}/history", headers=self.headers("admin"))
        return [f["properties"] | {"geometry": f["geometry"]} for f in r.json()["features"]] if r.status_code == 200 \
            else []


def load_samples(store: Store) -> None:
    grids = samples.grids()
    b1 = grids.iloc[[0]].copy()
    b1["code"], b1["community_code"], b1["name"], b1["manager"], b1["households"] = B1, B, "崇德里一网格", "王五", 400
    b1.geometry = [box(104.086, 30.650, 104.092, 30.655)]
    frames = {"communities": samples.communities(), "grids": pd.concat([grids, b1], ignore_index=True),
              "facilities": samples.facilities(), "residences": samples.residences(), "streets": samples.streets()}
    store.write_layers({n: validate(f, LAYERS[n], source=n) for n, f in frames.items()})


@pytest.fixture
def api(db_url: str) -> Iterator[Api]:
    app = create_app(db_url)
    store = app.state.store
    load_samples(store)
    for name, (role, areas) in PEOPLE.items():
        users.add_user(store.engine, name, PASSWORD, role, areas)
    with TestClient(app) as client:
        tokens = {}
        for name in PEOPLE:
            r = client.post("/token", data={"username": name, "password": PASSWORD})
            assert r.status_code == 200, r.text
            tokens[name] = r.json()["access_token"]
        yield Api(client, store, tokens)
    store.dispose()


def polygon(minx: float, miny: float, maxx: float, maxy: float) -> dict:
    return mapping(box(minx, miny, maxx, maxy))


# ---- reading -------------------------------------------------------------------------------------
def test_the_service_describes_itself_as_ogc_api_features(api: Api) -> None:
    c = api.client
    landing = c.get("/").json()
    rels = {link["rel"] for link in landing["links"]}
    assert {"self", "service-desc", "conformance", "data"} <= rels
    assert "http://www.opengis.net/spec/ogcapi-features-4/1.0/conf/optimistic-locking-etags" in \
        c.get("/conformance").json()["conformsTo"]
    ids = [x["id"] for x in c.get("/collections").json()["collections"]]
    assert set(ids) == set(LAYERS)
    grids = c.get("/collections/grids").json()
    assert "http://www.opengis.net/def/crs/EPSG/0/4490" in grids["crs"]
    bbox = grids["extent"]["spatial"]["bbox"][0]
    assert bbox == pytest.approx([104.080, 30.650, 104.092, 30.655])
    assert c.get("/collections/roads").status_code in (400, 404)
    assert c.get("/api").json()["openapi"].startswith("3.")


def test_items_page_with_next_and_prev_links_and_number_matched(api: Api) -> None:
    c = api.client
    first = c.get("/collections/grids/items?limit=2")
    assert first.status_code == 200
    assert first.headers["content-type"].startswith("application/geo+json")
    body = first.json()
    assert body["numberMatched"] == 3 and body["numberReturned"] == 2
    nxt = next(link["href"] for link in body["links"] if link["rel"] == "next")
    assert not any(link["rel"] == "prev" for link in body["links"])
    second = c.get(nxt).json()
    assert second["numberReturned"] == 1
    assert not any(link["rel"] == "next" for link in second["links"])
    assert any(link["rel"] == "prev" for link in second["links"])
    seen = [f["id"] for f in body["features"] + second["features"]]
    assert sorted(seen) == sorted([WEST, EAST, B1])
    assert c.get("/collections/grids/items?limit=0").status_code == 400
    # above the maximum the maximum is used (OGC API – Features Part 1, 7.15.3), not refused
    assert c.get("/collections/grids/items?limit=10001").json()["numberReturned"] == 3
    assert c.get("/collections/grids/items?offset=-1").status_code == 400


def test_bbox_and_property_filters(api: Api) -> None:
    c = api.client
    west_only = c.get("/collections/grids/items?bbox=104.0801,30.651,104.0825,30.654").json()
    assert [f["id"] for f in west_only["features"]] == [WEST] and west_only["numberMatched"] == 1
    # EPSG:4326 is latitude first
    lat_lon = c.get("/collections/grids/items", params={"bbox": "30.651,104.0801,30.654,104.0825",
                                                       "bbox-crs": "http://www.opengis.net/def/crs/EPSG/0/4326"})
    assert [f["id"] for f in lat_lon.json()["features"]] == [WEST]
    in_b = c.get(f"/collections/grids/items?community_code={B}").json()
    assert [f["id"] for f in in_b["features"]] == [B1]
    assert c.get("/collections/grids/items?households=420").json()["numberMatched"] == 1
    for bad in ("bbox=1,2,3", "bbox=a,b,c,d", "bbox=104.09,30.65,104.08,30.66", "households=many",
                "colour=red", "crs=EPSG:3857", "bbox-crs=EPSG:32648&bbox=1,2,3,4"):
        r = c.get(f"/collections/grids/items?{bad}")
        assert r.status_code == 400, bad
        assert r.json()["description"], bad


def test_crs_parameter_returns_lat_lon_for_epsg_and_says_content_crs(api: Api) -> None:
    c = api.client
    default = c.get("/collections/facilities/items/F1")
    assert default.headers["Content-Crs"] == "<http://www.opengis.net/def/crs/OGC/1.3/CRS84>"
    lon, lat = default.json()["geometry"]["coordinates"]
    assert (lon, lat) == pytest.approx((104.0812, 30.6513))
    cgcs = c.get("/collections/facilities/items/F1?crs=http://www.opengis.net/def/crs/EPSG/0/4490")
    assert cgcs.headers["Content-Crs"] == "<http://www.opengis.net/def/crs/EPSG/0/4490>"
    y, x = cgcs.json()["geometry"]["coordinates"]
    assert (x, y) == pytest.approx((lon, lat), abs=1e-5)  # CGCS2000 and WGS84 differ by centimetres
    many = c.get("/collections/facilities/items?crs=EPSG:4490").json()["features"]
    assert {f["id"]: f["geometry"]["coordinates"][0] for f in many}["F1"] == pytest.approx(lat, abs=1e-5)


def test_personal_fields_need_a_login(api: Api) -> None:
    c = api.client
    anonymous = c.get(f"/collections/grids/items/{WEST}").json()["properties"]
    assert "manager" not in anonymous and "manager_phone" not in anonymous
    assert anonymous["households"] == 420
    for f in c.get("/collections/grids/items").json()["features"]:
        assert "manager_phone" not in f["properties"]
    r = c.get("/collections/grids/items?manager=张三")
    assert r.status_code == 401 and r.headers["WWW-Authenticate"].startswith("Bearer")
    logged = c.get(f"/collections/grids/items/{WEST}", headers=api.headers("bureau")).json()["properties"]
    assert logged["manager"] == "张三" and logged["manager_phone"] == "13800000001"
    found = c.get("/collections/grids/items?manager=张三", headers=api.headers("planner")).json()
    assert [f["id"] for f in found["features"]] == [WEST]


def test_a_bad_or_expired_token_is_refused_not_ignored(api: Api) -> None:
    c = api.client
    r = c.get("/collections/grids/items", headers={"Authorization": "Bearer nonsense"})
    assert r.status_code == 401 and "log in again" in r.json()["description"]
    with api.store.engine.begin() as conn:
        conn.execute(update(users.TOKENS).values(expires_at=datetime.now(UTC) - timedelta(minutes=1)))
    r = c.get("/users/me", headers=api.headers("admin"))
    assert r.status_code == 401 and "expired" in r.json()["description"]
    assert c.post("/token", data={"username": "admin", "password": "wrong-one"}).status_code == 400
    assert c.post("/token", data={"username": "nobody", "password": PASSWORD}).status_code == 400
    fresh = c.post("/token", data={"username": "admin", "password": PASSWORD}).json()
    assert fresh["token_type"] == "bearer" and 0 < fresh["expires_in"] <= 24 * 3600
    h = {"Authorization": f"Bearer {fresh['access_token']}"}
    assert c.get("/users/me", headers=h).json()["role"] == "admin"
    assert c.post("/logout", headers=h).status_code == 204
    assert c.get("/users/me", headers=h).status_code == 401


def test_passwords_are_stored_hashed_with_argon2(api: Api) -> None:
    with api.store.engine.connect() as conn:
        stored = conn.execute(users.USERS.select()).mappings().all()
    assert stored and all(row["password_hash"].startswith("$argon2id$") for row in stored)
    assert not any(PASSWORD in row["password_hash"] for row in stored)


# ---- writing -------------------------------------------------------------------------------------
def facility(fid: str = "F9", **props) -> dict:
    return {"type": "Feature", "geometry": {"type": "Point", "coordinates": [104.0840, 30.6530]},
            "properties": {"id": fid, "type": "clinic", "name": "水井坊卫生服务站", "community_code": A} | props}


def test_create_replace_update_delete_with_etags(api: Api) -> None:
    c, admin = api.client, api.headers("admin")
    created = c.post("/collections/facilities/items", json=facility(), headers=admin)
    assert created.status_code == 201, created.text
    assert created.headers["Location"].endswith("/collections/facilities/items/F9")
    tag1 = created.headers["ETag"]
    assert c.get("/collections/facilities/items/F9").headers["ETag"] == tag1
    again = c.post("/collections/facilities/items", json=facility(), headers=admin)
    assert again.status_code == 409 and "exists already" in again.json()["description"]

    # PUT: no If-Match → 428; a stale one → 412; neither changes anything
    replaced = facility(name="水井坊社区卫生服务站")
    assert c.put("/collections/facilities/items/F9", json=replaced, headers=admin).status_code == 428
    put = c.put("/collections/facilities/items/F9", json=replaced, headers=api.headers("admin", tag1))
    assert put.status_code == 200 and put.json()["properties"]["name"] == "水井坊社区卫生服务站"
    tag2 = put.headers["ETag"]
    assert tag2 != tag1
    stale = c.put("/collections/facilities/items/F9", json=facility(name="旧"), headers=api.headers("admin", tag1))
    assert stale.status_code == 412 and stale.headers["ETag"] == tag2
    assert "changed by someone else" in stale.json()["description"]
    assert c.get("/collections/facilities/items/F9").json()["properties"]["name"] == "水井坊社区卫生服务站"

    # PATCH: a merge patch of properties; geometry untouched
    p = c.patch("/collections/facilities/items/F9", json={"properties": {"capacity": 40}},
                headers=api.headers("admin", tag2))
    assert p.status_code == 200
    assert p.json()["properties"]["capacity"] == 40 and p.json()["properties"]["name"] == "水井坊社区卫生服务站"
    assert p.json()["geometry"]["coordinates"] == pytest.approx([104.0840, 30.6530])
    assert c.patch("/collections/facilities/items/F9", json={"properties": {"capacity": 1}},
                   headers=api.headers("admin", tag2)).status_code == 412
    assert c.patch("/collections/facilities/items/F9", json={"properties": {"id": "F10"}},
                   headers=api.headers("admin", p.headers["ETag"])).status_code == 400  # a key cannot change

    # DELETE: If-Match too; then 404, with the history kept
    tag3 = p.headers["ETag"]
    assert c.delete("/collections/facilities/items/F9", headers=admin).status_code == 428
    assert c.delete("/collections/facilities/items/F9", headers=api.headers("admin", tag2)).status_code == 412
    assert c.delete("/collections/facilities/items/F9", headers=api.headers("admin", tag3)).status_code == 204
    assert c.get("/collections/facilities/items/F9").status_code == 404
    assert c.patch("/collections/facilities/items/F9", json={}, headers=api.headers("admin", tag3)).status_code == 404
    steps = [(h["version"], h["action"], h["user"]) for h in api.history("facilities", "F9")]
    assert steps == [(1, "create", "admin"), (2, "replace", "admin"), (3, "update", "admin"), (4, "delete", "admin")]


def test_a_write_in_cgcs2000_lat_lon_is_stored_as_wgs84(api: Api) -> None:
    c = api.client
    body = facility("F8") | {"geometry": {"type": "Point", "coordinates": [30.6530, 104.0840]}}
    r = c.post("/collections/facilities/items", json=body,
               headers=api.headers("admin") | {"Content-Crs": "<http://www.opengis.net/def/crs/EPSG/0/4490>"})
    assert r.status_code == 201, r.text
    stored = api.store.read("facilities", where={"id": "F8"}).geometry.iloc[0]
    assert (stored.x, stored.y) == pytest.approx((104.0840, 30.6530), abs=1e-5)
    bad = c.post("/collections/facilities/items", json=facility("F7"),
                 headers=api.headers("admin") | {"Content-Crs": "<http://www.opengis.net/def/crs/EPSG/0/3857>"})
    assert bad.status_code == 400 and "Content-Crs" in bad.json()["description"]


@pytest.mark.parametrize("body, status, words", [
    ({"type": "FeatureCollection", "features": []}, 400, "GeoJSON Feature"),
    (facility() | {"geometry": {"type": "Point", "coordinates": ["x", 1]}}, 400, "geometry"),
    (facility() | {"geometry": {"type": "LineString", "coordinates": [[104.08, 30.65], [104.09, 30.65]]}}, 422,
     "Point"),
    (facility() | {"geometry": {"type": "Point", "coordinates": [2.35, 48.85]}}, 422, "China"),
    (facility() | {"geometry": None}, 422, "geometry"),
    (facility(type="casino"), 422, "casino"),
    (facility(capacity="many"), 422, "capacity"),
    (facility(community_code="510104017099"), 422, "510104017099"),
])
def test_a_bad_feature_is_refused_with_its_problems_and_nothing_is_written(api: Api, body: dict, status: int,
                                                                           words: str) -> None:
    before = api.store.count("facilities")
    r = api.client.post("/collections/facilities/items", json=body, headers=api.headers("admin"))
    assert r.status_code == status, r.text
    text = json.dumps(r.json(), ensure_ascii=False)
    assert words in text
    if status == 422:
        assert r.json()["problems"]
    assert api.store.count("facilities") == before
    assert api.history("facilities", "F9") == []


def test_a_self_intersecting_grid_is_refused_unless_fixed(api: Api) -> None:
    c = api.client
    tag = api.etag("grids", WEST)
    bowtie = {"type": "Polygon", "coordinates": [[[104.0801, 30.6501], [104.0829, 30.6549], [104.0829, 30.6501],
                                                  [104.0801, 30.6549], [104.0801, 30.6501]]]}
    r = c.patch(f"/collections/grids/items/{WEST}", json={"geometry": bowtie}, headers=api.headers("admin", tag))
    assert r.status_code == 422 and "valid" in json.dumps(r.json())
    assert c.get(f"/collections/grids/items/{WEST}").headers["ETag"] == tag
    fixed = c.patch(f"/collections/grids/items/{WEST}?fix=true", json={"geometry": bowtie},
                    headers=api.headers("admin", tag))
    assert fixed.status_code == 200, fixed.text
    assert any("valid" in note for note in fixed.json()["fixes"])
    assert shapely.is_valid(shapely.geometry.shape(fixed.json()["geometry"]))


# ---- grid topology on every write -----------------------------------------------------------------
def test_an_overlapping_grid_edit_gets_422_with_the_overlap_and_nothing_changes(api: Api) -> None:
    c = api.client
    tag = api.etag("grids", WEST)
    before = api.history("grids", WEST)
    wider = polygon(104.080, 30.650, 104.084, 30.655)  # 100 m into the east grid
    r = c.patch(f"/collections/grids/items/{WEST}", json={"geometry": wider}, headers=api.headers("manager_a", tag))
    assert r.status_code == 422, r.text
    body = r.json()
    assert "nothing was written" in body["description"]
    (overlap,) = [p for p in body["problems"] if p["check"] == "overlap"]
    assert overlap["other"] == EAST
    drawn = shapely.geometry.shape(overlap["geometry"])
    assert drawn.area == pytest.approx(box(104.083, 30.650, 104.084, 30.655).area, rel=1e-3)
    assert c.get(f"/collections/grids/items/{WEST}").headers["ETag"] == tag
    assert api.history("grids", WEST) == before
    # outside its community (into 崇德里): the problem names the community, with the part outside
    out = c.patch(f"/collections/grids/items/{EAST}", json={"geometry": polygon(104.083, 30.650, 104.087, 30.655)},
                  headers=api.headers("admin", api.etag("grids", EAST)))
    assert out.status_code == 422
    checks = {p["check"]: p for p in out.json()["problems"]}
    assert checks["outside_community"]["other"] == A and checks["outside_community"]["geometry"]
    outside = shapely.geometry.shape(checks["outside_community"]["geometry"])
    assert outside.area == pytest.approx(box(104.086, 30.650, 104.087, 30.655).area, rel=1e-3)


def test_fix_true_clips_and_snaps_and_says_what_it_changed(api: Api) -> None:
    c = api.client
    tag = api.etag("grids", WEST)
    nearly = polygon(104.080, 30.650, 104.0840, 30.655)
    r = c.patch(f"/collections/grids/items/{WEST}?fix=true", json={"geometry": nearly},
                headers=api.headers("manager_a", tag))
    assert r.status_code == 200, r.text
    fixes = r.json()["fixes"]
    assert any("overlapping" in f for f in fixes)
    west = shapely.geometry.shape(r.json()["geometry"])
    east = api.store.read("grids", where={"code": EAST}).geometry.iloc[0]
    assert west.intersection(east).area < 1e-12
    assert west.area == pytest.approx(box(104.080, 30.650, 104.083, 30.655).area, rel=1e-4)
    assert api.history("grids", WEST)[-1]["note"] == "; ".join(fixes)
    # a clean edit with fix=true changes nothing and says so
    shrink = polygon(104.080, 30.650, 104.0825, 30.655)
    r = c.patch(f"/collections/grids/items/{WEST}?fix=true", json={"geometry": shrink},
                headers=api.headers("manager_a", r.headers["ETag"]))
    assert r.status_code == 200 and r.json()["fixes"] == []


def test_moving_a_grid_to_an_unknown_community_is_refused(api: Api) -> None:
    r = api.client.patch(f"/collections/grids/items/{WEST}", json={"properties": {"community_code": "510104017099"}},
                         headers=api.headers("admin", api.etag("grids", WEST)))
    assert r.status_code == 422 and "510104017099" in r.text


def test_deleting_a_community_that_still_has_grids_is_refused(api: Api) -> None:
    tag = api.etag("communities", B)
    r = api.client.delete(f"/collections/communities/items/{B}", headers=api.headers("admin", tag))
    assert r.status_code == 422 and r.json()["problems"]
    assert api.store.count("communities") == 2


# ---- history ---------------------------------------------------------------------------------------
def test_every_write_is_in_the_history_and_any_version_can_be_restored(api: Api) -> None:
    c = api.client
    original = api.store.read("grids", where={"code": WEST}).geometry.iloc[0]
    r1 = c.patch(f"/collections/grids/items/{WEST}", json={"properties": {"households": 430}},
                 headers=api.headers("manager_a", api.etag("grids", WEST)))
    r2 = c.patch(f"/collections/grids/items/{WEST}", json={"geometry": polygon(104.080, 30.650, 104.082, 30.655)},
                 headers=api.headers("manager_street", r1.headers["ETag"]))
    assert r1.status_code == r2.status_code == 200
    assert c.get(f"/collections/grids/items/{WEST}/history").status_code == 401
    h = api.history("grids", WEST)
    assert [(x["version"], x["previous_version"], x["action"], x["user"]) for x in h] == [
        (1, None, "import", "import"), (2, 1, "update", "manager_a"), (3, 2, "update", "manager_street")]
    # a new boundary counts the households again from the residences (the courtyard's 600)
    assert [x["households"] for x in h] == [420, 430, 600]
    assert all(datetime.fromisoformat(x["at"]).tzinfo for x in h)
    assert shapely.geometry.shape(h[0]["geometry"]).equals_exact(original, 1e-9)

    # restoring needs If-Match too, and is itself a write
    url = f"/collections/grids/items/{WEST}/history/1/restore"
    assert c.post(url, headers=api.headers("manager_a")).status_code == 428
    assert c.post(url, headers=api.headers("manager_a", r1.headers["ETag"])).status_code == 412
    back = c.post(url, headers=api.headers("manager_a", r2.headers["ETag"]))
    assert back.status_code == 200, back.text
    # the geometry comes back; attributes stay as they are now and households are counted again
    assert back.json()["properties"]["households"] == 600 and back.json()["properties"]["version"] == 4
    assert shapely.geometry.shape(back.json()["geometry"]).equals_exact(original, 1e-9)
    assert api.history("grids", WEST)[-1]["action"] == "restore"
    assert c.post(f"/collections/grids/items/{WEST}/history/99/restore",
                  headers=api.headers("admin", back.headers["ETag"])).status_code == 404

    # a deleted grid comes back from its history; versions go on
    assert c.delete(f"/collections/grids/items/{WEST}", headers=api.headers("admin", back.headers["ETag"])) \
        .status_code == 204
    assert c.get(f"/collections/grids/items/{WEST}").status_code == 404
    assert c.post(f"/collections/grids/items/{WEST}/history/5/restore", headers=api.headers("admin")) \
        .status_code == 404  # version 5 is the delete
    again = c.post(f"/collections/grids/items/{WEST}/history/3/restore", headers=api.headers("manager_a"))
    assert again.status_code == 200, again.text
    assert again.json()["properties"]["version"] == 6
    assert [x["action"] for x in api.history("grids", WEST)] == ["import", "update", "update", "restore", "delete",
                                                                  "restore"]


# ---- who may do what --------------------------------------------------------------------------------
WHO = [None, "planner", "bureau", "manager_a", "manager_street", "admin"]


def _patch(api: Api, who: str | None, layer: str, key: str, props: dict) -> int:
    r = api.client.patch(f"/collections/{layer}/items/{key}", json={"properties": props},
                         headers=api.headers(who, api.etag(layer, key)))
    return r.status_code


def _delete_and_restore(api: Api, who: str | None, key: str) -> int:
    status = api.client.delete(f"/collections/grids/items/{key}",
                               headers=api.headers(who, api.etag("grids", key))).status_code
    if status == 204:  # put it back for the next caller
        last = api.history("grids", key)[-2]["version"]
        assert api.client.post(f"/collections/grids/items/{key}/history/{last}/restore",
                               headers=api.headers("admin")).status_code == 200
    return status


ACTIONS = {
    # action: (how, expected status per WHO)
    "read personal fields": (lambda api, who: 200 if "manager" in api.client.get(
        f"/collections/grids/items/{WEST}", headers=api.headers(who)).json()["properties"] else 401,
        [401, 200, 200, 200, 200, 200]),
    "read history": (lambda api, who: api.client.get(f"/collections/grids/items/{WEST}/history",
                                                     headers=api.headers(who)).status_code,
                     [401, 200, 200, 200, 200, 200]),
    "PATCH own community's grid": (lambda api, who: _patch(api, who, "grids", WEST, {"households": 421}),
                                   [401, 403, 403, 200, 200, 200]),
    "PATCH other community's grid": (lambda api, who: _patch(api, who, "grids", B1, {"households": 401}),
                                     [401, 403, 403, 403, 200, 200]),
    "move a grid to another community": (lambda api, who: _patch(api, who, "grids", EAST, {"community_code": B}),
                                         [401, 403, 403, 403, 422, 422]),  # allowed, but overlaps 崇德里's grid
    "DELETE own community's grid": (lambda api, who: _delete_and_restore(api, who, EAST),
                                    [401, 403, 403, 204, 204, 204]),
    "POST a grid in another community": (lambda api, who: api.client.post(
        "/collections/grids/items", headers=api.headers(who),
        json={"type": "Feature", "geometry": polygon(104.086, 30.650, 104.087, 30.651),
              "properties": {"code": B + "002", "community_code": B}}).status_code,
        [401, 403, 403, 403, 422, 422]),  # inside 崇德里一网格: overlap for those allowed
    "PATCH a community": (lambda api, who: _patch(api, who, "communities", A, {"population": 5300}),
                          [401, 403, 403, 403, 403, 200]),
    "POST a facility": (lambda api, who: api.client.post("/collections/facilities/items", headers=api.headers(who),
                                                         json=facility(f"X-{who}")).status_code,
                        [401, 403, 403, 403, 403, 201]),
    "export a layer": (lambda api, who: api.client.get("/exports/grids?format=csv", headers=api.headers(who))
                       .status_code, [401, 200, 200, 200, 200, 200]),
    "run a coverage analysis": (lambda api, who: api.client.post(
        "/analyses/coverage", json={"types": ["kindergarten"]}, headers=api.headers(who)).status_code,
        [401, 200, 403, 403, 403, 200]),
    "scorecards": (lambda api, who: api.client.get("/analyses/scorecard?profile=zhuji", headers=api.headers(who))
                   .status_code, [401, 200, 200, 403, 403, 200]),
    "list users": (lambda api, who: api.client.get("/users", headers=api.headers(who)).status_code,
                   [401, 403, 403, 403, 403, 200]),
    "add a user": (lambda api, who: api.client.post("/users", headers=api.headers(who), json={
        "name": f"new-{who}", "password": PASSWORD, "role": "bureau"}).status_code, [401, 403, 403, 403, 403, 201]),
}


def test_authorisation_matrix_role_by_area_by_method(api: Api) -> None:
    wrong = []
    for action, (how, expected) in ACTIONS.items():
        for who, want in zip(WHO, expected, strict=True):
            got = how(api, who)
            if got != want:
                wrong.append(f"{action} as {who or 'anonymous'}: {got}, expected {want}")
    assert not wrong, "\n".join(wrong)


def test_refusals_say_why(api: Api) -> None:
    c = api.client
    r = c.patch(f"/collections/grids/items/{B1}", json={"properties": {"households": 1}},
                headers=api.headers("manager_a", api.etag("grids", B1)))
    assert r.status_code == 403 and B in r.json()["description"] and "manager_a" in r.json()["description"]
    tag = api.etag("communities", A)
    r = c.patch(f"/collections/communities/items/{A}", json={}, headers=api.headers("bureau", tag))
    assert r.status_code == 403 and "admin" in r.json()["description"] and "bureau" in r.json()["description"]
    r = c.patch(f"/collections/grids/items/{WEST}", json={})
    assert r.status_code == 401 and "POST /token" in r.json()["description"]
    assert r.headers["WWW-Authenticate"] == "Bearer"


def test_admin_manages_users_over_the_api(api: Api) -> None:
    c, admin = api.client, api.headers("admin")
    new = c.post("/users", headers=admin, json={"name": "liu", "password": PASSWORD, "role": "grid_manager",
                                                "areas": [B]})
    assert new.status_code == 201 and new.json() == {"name": "liu", "role": "grid_manager", "areas": [B]}
    assert c.post("/users", headers=admin, json={"name": "liu", "password": PASSWORD, "role": "bureau"}) \
        .status_code == 409
    assert c.post("/users", headers=admin, json={"name": "x", "password": "short", "role": "bureau"}).status_code == 400
    assert c.post("/users", headers=admin, json={"name": "y", "password": PASSWORD, "role": "mayor"}).status_code == 400
    tok = c.post("/token", data={"username": "liu", "password": PASSWORD}).json()["access_token"]
    assert c.get("/users/me", headers={"Authorization": f"Bearer {tok}"}).json()["areas"] == [B]
    assert c.delete("/users/liu", headers=admin).status_code == 204
    assert c.get("/users/me", headers={"Authorization": f"Bearer {tok}"}).status_code == 401
    assert c.delete("/users/liu", headers=admin).status_code == 404


# ---- analyses and exports ---------------------------------------------------------------------------
def test_coverage_over_http_returns_geojson_and_a_summary(api: Api) -> None:
    r = api.client.post("/analyses/coverage", json={"types": ["kindergarten"], "distances": {"kindergarten": 300}},
                        headers=api.headers("planner"))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["thresholds"]["kindergarten"]["distance_m"] == 300
    (row,) = body["summary"]
    assert row["type"] == "kindergarten" and 0 <= row["households_rate"] <= 1
    assert body["residences"]["type"] == "FeatureCollection" and len(body["residences"]["features"]) == 2
    assert body["gaps"]["type"] == "FeatureCollection"
    bad = api.client.post("/analyses/coverage", json={"types": ["casino"]}, headers=api.headers("planner"))
    assert bad.status_code == 400 and "casino" in bad.json()["description"]
    empty = api.client.post("/analyses/coverage", json={"bbox": [73.5, 40.0, 73.6, 40.1]},
                            headers=api.headers("planner"))
    assert empty.status_code == 400 and "no walkable streets or no residences" in empty.json()["description"]


@pytest.mark.parametrize("fmt", ["geojson", "gpkg", "shapefile", "csv"])
def test_export_any_layer_in_wgs84_or_cgcs2000(api: Api, fmt: str, tmp_path) -> None:
    import geopandas as gpd
    import pandas as pd

    for crs in ("EPSG:4326", "EPSG:4490"):
        r = api.client.get(f"/exports/grids?format={fmt}&crs={crs}", headers=api.headers("bureau"))
        assert r.status_code == 200, r.text
        name = r.headers["content-disposition"].split("filename=")[1].strip('"')
        assert ("cgcs2000" in name) == (crs == "EPSG:4490")
        path = tmp_path / name
        path.write_bytes(r.content)
        if fmt == "csv":
            frame = pd.read_csv(path)
            assert len(frame) == 3
            continue
        frame = gpd.read_file(path)
        assert len(frame) == 3 and frame.crs.to_epsg() == int(crs.split(":")[1])
        assert sorted(frame["code"]) == sorted([WEST, EAST, B1])
    assert api.client.get("/exports/grids?format=dwg", headers=api.headers("bureau")).status_code == 400
    part = api.client.get("/exports/grids?format=geojson&bbox=104.0801,30.651,104.0825,30.654",
                          headers=api.headers("bureau"))
    assert [f["properties"]["code"] for f in part.json()["features"]] == [WEST]


# ---- split, merge, gaps -------------------------------------------------------------------------------
def test_a_grid_split_along_a_line_and_merged_back(api: Api) -> None:
    c = api.client
    tag = api.etag("grids", WEST)
    line = {"type": "LineString", "coordinates": [[104.0795, 30.6525], [104.0835, 30.6525]]}
    assert c.post(f"/collections/grids/items/{WEST}/split", json={"line": line},
                  headers=api.headers("manager_a")).status_code == 428
    assert c.post(f"/collections/grids/items/{B1}/split", json={"line": line},
                  headers=api.headers("manager_a", api.etag("grids", B1))).status_code == 403
    short = {"type": "LineString", "coordinates": [[104.0795, 30.6525], [104.081, 30.6525]]}
    r = c.post(f"/collections/grids/items/{WEST}/split", json={"line": short}, headers=api.headers("manager_a", tag))
    assert r.status_code == 422 and "from one edge to the other" in r.json()["description"]
    r = c.post(f"/collections/grids/items/{WEST}/split", json={"line": line, "name": "一网格南"},
               headers=api.headers("manager_a", tag))
    assert r.status_code == 200, r.text
    kept, new = r.json()["features"]
    assert kept["id"] == WEST and new["id"] == A + "003" and new["properties"]["name"] == "一网格南"
    # households counted from the residences: the courtyard (600) lies south of the line
    assert (kept["properties"]["households"], new["properties"]["households"]) == (600, 0)
    assert r.json()["fixes"] == ["households and population counted from the residences"]
    assert new["properties"]["manager"] == "张三"  # the personal fields go with the grid
    assert r.json()["warnings"] == []  # the two pieces tile the old grid
    assert api.store.count("grids", where={"community_code": A}) == 3
    assert [h["action"] for h in api.history("grids", A + "003")] == ["split"]
    # merge back: both ETags needed; the other grid is deleted with its history kept
    merged = c.post(f"/collections/grids/items/{WEST}/merge",
                    json={"other": A + "003", "other_etag": new["properties"]["etag"]},
                    headers=api.headers("manager_a", kept["properties"]["etag"]))
    assert merged.status_code == 200, merged.text
    (one,) = merged.json()["features"]
    assert one["properties"]["households"] == 600
    assert shapely.geometry.shape(one["geometry"]).area == pytest.approx(box(104.080, 30.650, 104.083, 30.655).area)
    assert c.get(f"/collections/grids/items/{A}003").status_code == 404
    assert [h["action"] for h in api.history("grids", A + "003")] == ["split", "delete"]
    # not neighbours (west and 崇德里's grid are in different communities)
    r = c.post(f"/collections/grids/items/{WEST}/merge", json={"other": B1, "other_etag": api.etag("grids", B1)},
               headers=api.headers("admin", one["properties"]["etag"]))
    assert r.status_code == 422


def test_a_split_that_breaks_a_rule_writes_neither_piece(api: Api) -> None:
    # make the east grid overlap nothing yet, then split west so that nothing changes if one piece fails:
    # a stale ETag on the split must leave both the grid and the sequence untouched
    c = api.client
    tag = api.etag("grids", WEST)
    c.patch(f"/collections/grids/items/{WEST}", json={"properties": {"households": 421}},
            headers=api.headers("admin", tag))
    line = {"type": "LineString", "coordinates": [[104.0795, 30.6525], [104.0835, 30.6525]]}
    r = c.post(f"/collections/grids/items/{WEST}/split", json={"line": line}, headers=api.headers("admin", tag))
    assert r.status_code == 412
    assert api.store.count("grids") == 3 and api.history("grids", A + "003") == []


def test_a_shrunk_grid_is_saved_with_the_gap_it_leaves(api: Api) -> None:
    shrunk = {"geometry": polygon(104.080, 30.650, 104.082, 30.655)}
    r = api.client.patch(f"/collections/grids/items/{WEST}", json=shrunk,
                         headers=api.headers("manager_a", api.etag("grids", WEST)))
    assert r.status_code == 200
    (gap,) = r.json()["warnings"]
    assert gap["check"] == "gap" and gap["other"] == A
    assert shapely.geometry.shape(gap["geometry"]).area == pytest.approx(box(104.082, 30.65, 104.083, 30.655).area,
                                                                          rel=1e-3)


def test_prefix_filters_find_a_streets_communities(api: Api) -> None:
    found = api.client.get(f"/collections/grids/items?community_code={A[:9]}*").json()
    assert found["numberMatched"] == 3
    assert api.client.get("/collections/grids/items?community_code=5101040170*1").json()["numberMatched"] == 0
    assert api.client.get("/collections/grids/items?name=%25*").json()["numberMatched"] == 0  # % is literal
