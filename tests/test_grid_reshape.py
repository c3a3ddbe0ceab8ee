"""Shared boundaries edited once (issue 14): a grid's boundary moved in one request reshapes every
grid it touches in one transaction; a community's gaps and overlaps listed and a gap handed to a grid;
households counted again from the residences; what a restore would change, and a restore that keeps
attributes someone set since. On SpatiaLite and PostGIS, through the API as the editor page uses it."""

from __future__ import annotations

import json
from collections.abc import Iterator

import geopandas as gpd
import numpy as np
import pytest
import shapely
from fastapi.testclient import TestClient
from shapely.geometry import box, mapping, shape
from shapely.ops import split
from test_api_features import B1, EAST, PASSWORD, PEOPLE, WEST, A, Api, load_samples

from shequ.api.app import create_app
from shequ.gis.reshape import community_problems
from shequ.gis.reshape import reshape as reshape_grids
from shequ.layers import users

import samples

#: metres: every check below is done in UTM 48N, independently of the code's own CRS choice
UTM = 32648
COMMUNITY_A = box(104.080, 30.650, 104.086, 30.655)


@pytest.fixture
def api(db_url: str) -> Iterator[Api]:
    app = create_app(db_url)
    store = app.state.store
    load_samples(store)
    for name, (role, areas) in PEOPLE.items():
        users.add_user(store.engine, name, PASSWORD, role, areas)
    with TestClient(app) as client:
        tokens = {name: client.post("/token", data={"username": name, "password": PASSWORD}).json()["access_token"]
                  for name in PEOPLE}
        yield Api(client, store, tokens)
    store.dispose()


def metric(*geoms: shapely.Geometry) -> list[shapely.Geometry]:
    return list(gpd.GeoSeries(list(geoms), crs=4326).to_crs(UTM))


def grids_of_a(api: Api) -> dict[str, shapely.Geometry]:
    frame = api.store.read("grids", where={"community_code": A})
    return dict(zip(frame["code"], frame.geometry, strict=True))


def stored(api: Api, code: str) -> dict:
    frame = api.store.read("grids", where={"code": code})
    return frame.iloc[0].to_dict()


def reshape(api: Api, code: str, geom: shapely.Geometry | dict, who: str = "manager_a", etag: str | None = None,
            etags: dict | None = None):
    body = {"geometry": mapping(geom) if isinstance(geom, shapely.Geometry) else geom}
    if etags is not None:
        body["etags"] = etags
    return api.client.post(f"/collections/grids/items/{code}/reshape", json=body,
                           headers=api.headers(who, etag or api.etag("grids", code)))


def people_by_hand(grid: shapely.Geometry) -> tuple[float, float]:
    """The sample's courtyard (600 households, 1 500 people) shared by area: the residences layer read
    and measured here, not through the code under test."""
    res = samples.residences()
    courtyard = res.geometry.iloc[0]
    c, g = metric(courtyard, grid)
    share = c.intersection(g).area / c.area
    return 600 * share, 1500 * share


def m2(geom: shapely.Geometry) -> float:
    """Square metres of a small WGS84 geometry, measured in its own plane (degrees² scaled at its latitude).
    Not projected: a projected straight edge bows by millimetres, and the same edge with one more vertex
    on it bows differently, which over 600 m is a square metre that no one drew."""
    lat = np.radians(30.6525)
    return geom.area * (np.pi / 180 * 6_371_008.8) ** 2 * np.cos(lat)


def assert_tiles_community_a(api: Api) -> None:
    """No gap and no overlap above 1 m² among the grids of 水井坊 (overlaid where the vertices are)."""
    geoms = list(grids_of_a(api).values())
    assert m2(COMMUNITY_A.difference(shapely.union_all(geoms))) < 1.0
    for i in range(len(geoms)):
        for j in range(i + 1, len(geoms)):
            assert m2(geoms[i].intersection(geoms[j])) < 1.0


# ---- reshape ---------------------------------------------------------------------------------------
def test_moving_a_shared_boundary_outward_reshapes_both_grids_once(api: Api) -> None:
    before = grids_of_a(api)
    area_before = sum(m2(g) for g in before.values())
    r = reshape(api, EAST, box(104.0815, 30.650, 104.086, 30.655), etags={WEST: api.etag("grids", WEST)})
    assert r.status_code == 200, r.text
    body = r.json()
    assert {f["id"] for f in body["features"]} == {EAST, WEST}
    assert body["warnings"] == []
    for code in (EAST, WEST):
        assert [h["action"] for h in api.history("grids", code)] == ["import", "reshape"]
        assert body["etags"][code] == api.etag("grids", code)
    after = grids_of_a(api)
    assert sum(m2(g) for g in after.values()) == pytest.approx(area_before, abs=1.0)
    assert after[WEST].bounds == pytest.approx((104.080, 30.650, 104.0815, 30.655))
    assert_tiles_community_a(api)
    # households follow the residences: the courtyard is now shared between the two grids
    answered = {f["id"]: f["properties"] for f in body["features"]}
    for code in (EAST, WEST):
        households, population = people_by_hand(after[code])
        assert 0 < households < 600
        assert abs(answered[code]["households"] - households) < 1
        assert abs(answered[code]["population"] - population) < 1
        assert stored(api, code)["households"] == answered[code]["households"]
    assert answered[EAST]["households"] + answered[WEST]["households"] == 600
    assert answered[EAST]["manager_phone"] == "13800000002"  # attributes ride along untouched


def test_moving_inward_gives_land_to_the_neighbour_and_at_the_edge_leaves_a_gap(api: Api) -> None:
    r = reshape(api, WEST, box(104.080, 30.650, 104.082, 30.655))
    assert r.status_code == 200, r.text
    assert {f["id"] for f in r.json()["features"]} == {EAST, WEST}
    assert r.json()["warnings"] == []
    assert grids_of_a(api)[EAST].bounds == pytest.approx((104.082, 30.650, 104.086, 30.655))
    assert_tiles_community_a(api)
    # away from the community's edge: that land touches no other grid, so it is left as a gap, said so
    r = reshape(api, WEST, box(104.0805, 30.650, 104.082, 30.655), etag=r.json()["etags"][WEST])
    assert r.status_code == 200, r.text
    assert [f["id"] for f in r.json()["features"]] == [WEST]
    (gap,) = r.json()["warnings"]
    assert gap["check"] == "gap"
    (expected,) = metric(box(104.080, 30.650, 104.0805, 30.655))
    assert gap["value"] == pytest.approx(expected.area, rel=1e-3)
    (drawn,) = metric(shape(gap["geometry"]))
    assert drawn.area == pytest.approx(expected.area, rel=1e-3)
    assert [h["action"] for h in api.history("grids", EAST)] == ["import", "reshape"]
    assert [h["action"] for h in api.history("grids", WEST)] == ["import", "reshape", "reshape"]


def test_a_stale_neighbour_etag_refuses_the_reshape_and_nothing_is_written(api: Api) -> None:
    c = api.client
    old_west = api.etag("grids", WEST)
    c.patch(f"/collections/grids/items/{WEST}", json={"properties": {"party_branch": "联合支部"}},
            headers=api.headers("manager_a", old_west))
    tags = {code: api.etag("grids", code) for code in (WEST, EAST)}
    histories = {code: api.history("grids", code) for code in (WEST, EAST)}
    r = reshape(api, EAST, box(104.0815, 30.650, 104.086, 30.655), etags={WEST: old_west})
    assert r.status_code == 412, r.text
    assert r.headers["ETag"] == tags[WEST]
    bad_own = reshape(api, EAST, box(104.0815, 30.650, 104.086, 30.655), etag=old_west)
    assert bad_own.status_code == 412
    no_tag = c.post(f"/collections/grids/items/{EAST}/reshape", json={"geometry": mapping(box(104.0815, 30.650,
                                                                                                104.086, 30.655))},
                    headers=api.headers("manager_a"))
    assert no_tag.status_code == 428
    assert {code: api.etag("grids", code) for code in (WEST, EAST)} == tags
    assert {code: api.history("grids", code) for code in (WEST, EAST)} == histories


def test_a_reshape_reaching_out_of_the_community_is_clipped_to_it(api: Api) -> None:
    b1 = api.etag("grids", B1)
    r = reshape(api, EAST, box(104.083, 30.650, 104.088, 30.656))
    assert r.status_code == 200, r.text
    assert [f["id"] for f in r.json()["features"]] == [EAST]
    assert any("clipped" in note for note in r.json()["fixes"])
    assert any("裁去" in note for note in r.json()["fixes_zh"])  # the Chinese page says it in Chinese
    assert shape(r.json()["features"][0]["geometry"]).bounds == pytest.approx((104.083, 30.650, 104.086, 30.655))
    assert api.etag("grids", B1) == b1  # the other community's grid is not touched
    assert_tiles_community_a(api)


@pytest.mark.parametrize("geometry", [
    "nonsense",
    {"type": "Point", "coordinates": [104.082, 30.652]},
    {"type": "Polygon", "coordinates": [["x", "y"]]},
    {"type": "Polygon", "coordinates": [[[104.0801, 30.6501], [104.0829, 30.6549], [104.0829, 30.6501],
                                         [104.0801, 30.6549], [104.0801, 30.6501]]]},  # a bow tie
    None,
])
def test_garbage_geometry_is_refused_naming_the_field_and_nothing_is_written(api: Api, geometry: object) -> None:
    tag = api.etag("grids", WEST)
    r = api.client.post(f"/collections/grids/items/{WEST}/reshape", json={"geometry": geometry},
                        headers=api.headers("manager_a", tag))
    assert 400 <= r.status_code < 500 and r.status_code not in (401, 403, 412, 428), r.text
    assert "geometry" in json.dumps(r.json())
    assert api.etag("grids", WEST) == tag
    assert api.etag("grids", EAST) == api.client.get(f"/collections/grids/items/{EAST}").headers["ETag"]
    assert [h["action"] for h in api.history("grids", WEST)] == ["import"]
    assert [h["action"] for h in api.history("grids", EAST)] == ["import"]


def test_a_grid_manager_of_another_community_may_not_reshape_or_absorb(api: Api) -> None:
    tag = api.etag("grids", B1)
    r = reshape(api, B1, box(104.086, 30.650, 104.091, 30.655), etag=tag)
    assert r.status_code == 403
    r = api.client.post(f"/collections/grids/items/{B1}/absorb", json={"geometry": mapping(box(104.091, 30.650,
                                                                                                104.092, 30.655))},
                        headers=api.headers("manager_a", tag))
    assert r.status_code == 403
    assert api.etag("grids", B1) == tag


# ---- problems and absorb ----------------------------------------------------------------------------
def test_problems_lists_a_gap_with_its_neighbours_and_absorb_hands_it_over(api: Api) -> None:
    c = api.client
    notch = box(104.082, 30.651, 104.083, 30.654)  # cut out of the west grid, on its edge with the east one
    west = box(104.080, 30.650, 104.083, 30.655).difference(notch)
    r = c.patch(f"/collections/grids/items/{WEST}", json={"geometry": mapping(west)},
                headers=api.headers("manager_a", api.etag("grids", WEST)))
    assert r.status_code == 200, r.text
    found = c.get(f"/collections/grids/problems?community_code={A}").json()
    (gap,) = found["gaps"]
    assert found["overlaps"] == []
    (expected,) = metric(notch)
    assert gap["area_m2"] == pytest.approx(expected.area, rel=1e-3)
    assert gap["neighbours"] == [WEST, EAST]  # west wraps it on three sides, east on one
    assert gap["id"] == "gap-1"
    # a gap not touching a grid cannot go to it
    assert c.get("/collections/grids/problems?community_code=510104017099").status_code == 404
    far = c.post(f"/collections/grids/items/{B1}/absorb", json={"geometry": gap["geometry"]},
                 headers=api.headers("admin", api.etag("grids", B1)))
    assert far.status_code == 422, far.text
    # to the east grid: one version, history "absorb", households counted with the courtyard's corner
    east_tag = api.etag("grids", EAST)
    r = c.post(f"/collections/grids/items/{EAST}/absorb", json={"geometry": gap["geometry"]},
               headers=api.headers("manager_a", east_tag))
    assert r.status_code == 200, r.text
    assert r.headers["ETag"] == api.etag("grids", EAST) != east_tag
    assert [h["action"] for h in api.history("grids", EAST)] == ["import", "absorb"]
    assert r.json()["fixes_zh"][0].startswith("已并入")
    assert c.get(f"/collections/grids/problems?community_code={A}").json() == {
        "community_code": A, "gaps": [], "overlaps": []}
    assert_tiles_community_a(api)
    households, _ = people_by_hand(grids_of_a(api)[EAST])
    assert households > 0 and abs(r.json()["properties"]["households"] - households) < 1


def test_absorb_of_a_polygon_not_touching_the_grid_is_refused(api: Api) -> None:
    c = api.client
    r = reshape(api, EAST, box(104.083, 30.650, 104.0855, 30.655))  # leaves a strip along the east edge
    assert r.status_code == 200 and len(r.json()["warnings"]) == 1
    (gap,) = c.get(f"/collections/grids/problems?community_code={A}").json()["gaps"]
    assert gap["neighbours"] == [EAST]
    tag = api.etag("grids", WEST)
    far = c.post(f"/collections/grids/items/{WEST}/absorb", json={"geometry": gap["geometry"]},
                 headers=api.headers("manager_a", tag))
    assert far.status_code == 422, far.text
    assert any(p["check"] == "not_adjacent" for p in far.json()["problems"])
    assert api.etag("grids", WEST) == tag
    nothing = c.post(f"/collections/grids/items/{WEST}/absorb",
                     json={"geometry": mapping(box(104.0805, 30.651, 104.081, 30.652))},
                     headers=api.headers("manager_a", tag))
    assert nothing.status_code == 422  # all of it is a grid's already


def test_problems_finds_overlaps_and_ranks_neighbours_by_shared_boundary() -> None:
    """The pure analysis, with an overlap the API would never let in: a and b overlap by a 0.0001° strip;
    an L-shaped gap runs between b and c and up between a and c, so c holds most of its boundary."""
    x, y = 104.08, 30.65
    grids = [box(x, y, x + 0.003, y + 0.005), box(x + 0.0029, y, x + 0.006, y + 0.003),
             box(x + 0.0031, y + 0.0032, x + 0.006, y + 0.005)]
    found = community_problems(np.array(grids, dtype=object), ["a", "b", "c"], box(x, y, x + 0.006, y + 0.005))
    assert [len(found.gaps), len(found.overlaps)] == [1, 1]
    (overlap,) = found.overlaps
    assert overlap["grids"] == ["a", "b"] and overlap["area_m2"] == pytest.approx(m2(box(0, 0, 0.0001, 0.003)),
                                                                                 rel=1e-2)
    (gap,) = found.gaps
    assert gap["neighbours"] == ["c", "b", "a"]
    assert gap["area_m2"] == pytest.approx(m2(box(0, 0, 0.003, 0.0002)) + m2(box(0, 0, 0.0001, 0.0018)), rel=1e-2)


# ---- diff and restore ---------------------------------------------------------------------------------
def test_diff_shows_a_later_phone_and_restore_keeps_it_unless_asked(api: Api) -> None:
    c = api.client
    original = api.store.read("grids", where={"code": WEST}).geometry.iloc[0]
    r = c.patch(f"/collections/grids/items/{WEST}", json={"geometry": mapping(box(104.080, 30.650, 104.082, 30.655))},
                headers=api.headers("manager_a", api.etag("grids", WEST)))
    assert r.status_code == 200
    r = c.patch(f"/collections/grids/items/{WEST}", json={"properties": {"manager_phone": "13900000009"}},
                headers=api.headers("admin", r.headers["ETag"]))
    assert r.status_code == 200
    assert c.get(f"/collections/grids/items/{WEST}/history/1/diff").status_code == 401
    d = c.get(f"/collections/grids/items/{WEST}/history/1/diff", headers=api.headers("manager_a")).json()
    assert d["version"] == 1 and d["current_version"] == 3
    (phone,) = [f for f in d["fields"] if f["name"] == "manager_phone"]
    assert phone == {"name": "manager_phone", "zh": "网格员电话", "en": "Grid manager's phone", "then": "13800000001",
                     "now": "13900000009", "changed_since": True, "changed_by": "admin", "changed_in": 3}
    assert not any(f["name"] in ("manager", "name", "code") for f in d["fields"])  # unchanged ones are left out
    (strip,) = metric(box(104.082, 30.650, 104.083, 30.655))
    assert d["geometry"]["added_m2"] == pytest.approx(strip.area, rel=1e-3)
    assert d["geometry"]["removed_m2"] == pytest.approx(0, abs=1e-3)
    assert shape(d["geometry"]["then"]).equals_exact(original, 1e-9)
    assert c.get(f"/collections/grids/items/{WEST}/history/9/diff", headers=api.headers("admin")).status_code == 404

    # without fields: the geometry comes back, the later phone stays
    url = f"/collections/grids/items/{WEST}/history/1/restore"
    back = c.post(url, headers=api.headers("manager_a", r.headers["ETag"]))
    assert back.status_code == 200, back.text
    assert back.json()["properties"]["manager_phone"] == "13900000009"
    assert shape(back.json()["geometry"]).equals_exact(original, 1e-9)
    assert back.json()["properties"]["households"] == 600  # counted again: the courtyard is all in it
    # with fields: those come back too
    bad = c.post(url, json={"fields": ["colour"]}, headers=api.headers("manager_a", back.headers["ETag"]))
    assert bad.status_code == 400 and "colour" in bad.text
    again = c.post(url, json={"fields": ["manager_phone"]}, headers=api.headers("manager_a", back.headers["ETag"]))
    assert again.status_code == 200, again.text
    assert again.json()["properties"]["manager_phone"] == "13800000001"
    assert [h["action"] for h in api.history("grids", WEST)] == ["import", "update", "update", "restore", "restore"]


def test_a_boundary_drawn_with_rounded_coordinates_leaves_no_sliver() -> None:
    """The editor's map sends 6 decimals; stored vertices have 15. Two grids share a jagged edge of 30
    vertices; one of them is sent back rounded with a shared vertex moved 10 m: no gap or overlap
    above 1 m² appears, and the land is conserved."""
    rng = np.random.default_rng(7)
    x, y = 104.08, 30.65
    community = box(x, y, x + 0.006, y + 0.005)
    ys = np.linspace(y - 0.0001, y + 0.0051, 30)
    edge = shapely.LineString(np.c_[x + 0.003 + rng.normal(0, 2e-4, len(ys)), ys])
    a, b = sorted(split(community, edge).geoms, key=lambda g: g.centroid.x)
    xy = shapely.get_coordinates(a)
    k = int(np.argmin(np.abs(xy[:, 1] - (y + 0.0025)) + np.abs(xy[:, 0] - (x + 0.003)) * 10))
    xy[k, 0] += 0.0001  # ≈ 10 m east, into b
    drawn = shapely.polygons(np.round(xy, 6))
    done = reshape_grids(np.array([a, b], dtype=object), 0, drawn, community)
    new_a, new_b = done.geometries[0], done.geometries[1]
    assert new_a.geom_type == new_b.geom_type == "Polygon"
    assert m2(new_a.intersection(new_b)) < 1.0
    assert m2(community.difference(shapely.union(new_a, new_b))) < 1.0
    assert m2(new_a) + m2(new_b) == pytest.approx(m2(community), abs=1.0)
    assert m2(new_a) > m2(a) + 10  # the moved vertex did move the boundary
    assert done.gaps == []


def test_two_editors_moving_the_same_boundary_at_once_cannot_both_win(db_url: str) -> None:
    """East pushes west while west pushes east, at the same moment, over real HTTP: each reshape
    changes both grids, so whichever is second holds a stale ETag and gets 412; the grids still tile."""
    import threading
    from concurrent.futures import ThreadPoolExecutor

    import httpx
    from conftest import live_server

    app = create_app(db_url)
    store = app.state.store
    load_samples(store)
    users.add_user(store.engine, "manager_a", PASSWORD, "grid_manager", [A])
    try:
        with live_server(app) as base:
            token = httpx.post(f"{base}/token", data={"username": "manager_a", "password": PASSWORD}).json()
            auth = {"Authorization": f"Bearer {token['access_token']}"}
            for round_ in range(3):
                start = threading.Barrier(2)

                def push(job: tuple[str, shapely.Geometry], start: threading.Barrier = start) -> int:
                    code, geom = job
                    with httpx.Client(headers=auth, timeout=60) as c:
                        tag = c.get(f"{base}/collections/grids/items/{code}").headers["ETag"]
                        start.wait()
                        return c.post(f"{base}/collections/grids/items/{code}/reshape",
                                      json={"geometry": mapping(geom)}, headers={"If-Match": tag}).status_code

                frame = store.read("grids", where={"community_code": A}).set_index("code")  # from where it is now
                west_edge = frame.geometry[WEST].bounds[2]
                jobs = [(WEST, box(104.080, 30.650, west_edge + 0.0005, 30.655)),
                        (EAST, box(west_edge - 0.0005, 30.650, 104.086, 30.655))]
                with ThreadPoolExecutor(2) as pool:
                    results = sorted(pool.map(push, jobs))
                assert results == [200, 412], f"round {round_}: {results}"
                geoms = list(store.read("grids", where={"community_code": A}).geometry)
                assert m2(geoms[0].intersection(geoms[1])) < 1.0
                assert m2(COMMUNITY_A.difference(shapely.union_all(geoms))) < 1.0
    finally:
        store.dispose()


def test_a_boundary_entirely_outside_the_community_is_refused(api: Api) -> None:
    tag = api.etag("grids", WEST)
    r = reshape(api, WEST, box(104.070, 30.650, 104.075, 30.655), etag=tag)  # all of it west of 水井坊
    assert r.status_code == 422, r.text
    assert any(p.get("field") == "geometry" for p in r.json()["problems"])
    assert api.etag("grids", WEST) == tag
