"""Every door gives the same answer: ``shequ analyze coverage``, ``POST /analyses/coverage`` and
``/maps/coverage`` run one coverage pipeline, so their per-residence results and summaries are
identical — on the Chengdu demo, and on a synthetic town at 45° N (Harbin), where a search box padded
in degrees would drop a facility within reach. And the pages and the API answer every role alike."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest
from fastapi.testclient import TestClient
from pyproj import Transformer
from shapely.geometry import LineString, Point, box

from shequ.api.app import create_app
from shequ.cli import main
from shequ.layers import users
from shequ.layers.schema import LAYERS
from shequ.layers.store import Store
from shequ.layers.validate import validate
from shequ.settings import Settings
from shequ.usecases.coverage import DEFAULT_TYPES
from shequ.usecases.demo import DEMO_PASSWORD

LOGIN = Settings(analyses_access="login")
PUBLIC = Settings(analyses_access="public")


_APPS: dict[tuple[str, str], object] = {}


def _client(url: str, settings: Settings = LOGIN) -> TestClient:
    """A client of its own (its own cookies) of one app per database and access setting: the app's
    workspace keeps its results, as a server does between its users' requests."""
    key = (url, settings.analyses_access)
    if key not in _APPS:
        _APPS[key] = create_app(url, settings.model_copy(update={"database_url": url}))
    return TestClient(_APPS[key])


def _bearer(client: TestClient, name: str, password: str = DEMO_PASSWORD) -> dict[str, str]:
    r = client.post("/token", data={"username": name, "password": password})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


def _by_residence(features: list[dict], types: list[str]) -> pd.DataFrame:
    cols = [f"{t}_{c}" for t in types for c in ("m", "covered", "facility", "line_m", "line_covered")]
    rows = [{"id": f["properties"]["id"], **{c: f["properties"][c] for c in cols}} for f in features]
    return pd.DataFrame(rows).set_index("id").sort_index()


def _doors(url: str, tmp_path: Path, *, area: str = "", level: str = "") -> dict[str, dict]:
    """The same question through the three doors: per residence, and the summary over the area."""
    out = tmp_path / "cli"
    args = ["--db", url, "analyze", "coverage", "--out", str(out), "--no-save", "--quiet"]
    args += ["--area", area] if area else []
    args += ["--level", level] if level else []
    assert main(args) == 0
    cli_res = json.loads((out / "residences_coverage.geojson").read_text(encoding="utf-8"))["features"]
    cli_sum = pd.read_csv(out / "summary.csv", encoding="utf-8-sig", dtype={"zone": str})
    cli_sum = cli_sum[cli_sum["zone_kind"] == "all"]

    client = _client(url)
    body = {k: v for k, v in (("area", area), ("level", level)) if v}
    api = client.post("/analyses/coverage", json=body, headers=_bearer(client, "planner"))
    assert api.status_code == 200, api.text
    api = api.json()
    types = api["query"]["types"]

    page = _client(url)
    assert page.post("/login", data={"username": "planner", "password": DEMO_PASSWORD}).status_code == 200
    query = "&".join(f"{k}={v}" for k, v in body.items())
    html = page.get(f"/maps/coverage?{query}")
    assert html.status_code == 200, html.text[:300]
    page_res = page.get(f"/maps/coverage/residences.geojson?{query}").json()["features"]
    page_sum = pd.read_csv(io.StringIO(page.get(f"/maps/coverage/summary.csv?{query}").text.lstrip("\ufeff")),
                           dtype={"zone": str})
    page_sum = page_sum[page_sum["zone_kind"] == "all"]
    return {"types": types, "html": html.text,
            "cli": {"res": _by_residence(cli_res, types), "sum": cli_sum},
            "api": {"res": _by_residence(api["residences"]["features"], types), "sum": pd.DataFrame(api["summary"])},
            "page": {"res": _by_residence(page_res, types), "sum": page_sum}}


SUMMED = ["type", "residences", "residences_covered", "households", "households_covered", "households_rate",
          "households_covered_straight", "households_rate_straight", "population_covered", "distance_m"]


def _same(doors: dict[str, dict]) -> None:
    for door in ("api", "page"):
        pd.testing.assert_frame_equal(doors[door]["res"], doors["cli"]["res"], check_dtype=False)
        mine = doors[door]["sum"][SUMMED].sort_values("type").reset_index(drop=True)
        theirs = doors["cli"]["sum"][SUMMED].sort_values("type").reset_index(drop=True)
        pd.testing.assert_frame_equal(mine, theirs, check_dtype=False, rtol=1e-12)


def test_chengdu_coverage_is_identical_through_every_door(demo_db: str, tmp_path: Path) -> None:
    store = Store(demo_db)
    present = set(store.read("facilities")["type"])
    residences = store.count("residences")
    store.dispose()
    doors = _doors(demo_db, tmp_path)
    assert doors["types"] == [t for t in DEFAULT_TYPES if t in present]  # the one default list
    assert len(doors["types"]) >= 3 and len(doors["cli"]["res"]) == residences
    _same(doors)
    # the page says the same numbers beside the map
    for row in doors["api"]["sum"].to_dict("records"):
        assert f"{row['households_covered']:,.0f} / {row['households']:,.0f}" in doors["html"]
    # and per community (the CLI's summary.csv, the API's communities)
    assert doors["cli"]["res"].filter(like="_covered").any().any()


# ---- a town at 45° N ---------------------------------------------------------------------------
LON0, LAT0 = 126.60, 45.75  # Harbin
#: metres on the CGCS2000 Gauss-Krüger zone of 126° E (EPSG:4551), the CRS the analysis measures in
_GK = Transformer.from_crs(4326, 4551, always_xy=True)
_X0, _Y0 = _GK.transform(LON0, LAT0)


def _at(x: float, y: float) -> tuple[float, float]:
    """Longitude, latitude of the point ``x`` metres east and ``y`` north of the town's origin."""
    return _GK.transform(_X0 + x, _Y0 + y, direction="INVERSE")


@pytest.fixture
def harbin(tmp_path: Path) -> Iterator[str]:
    """A main street 3 km long; two communities (west, east); homes along the west part, one market
    960 m east of the first home, in the east community. A 15-minute walk is 1 000 m."""
    url = f"sqlite:///{tmp_path / 'harbin.db'}"
    store = Store(url)
    west = box(*_at(-200, -300), *_at(700, 300))
    east = box(*_at(700, -300), *_at(2000, 300))
    layers = {
        "communities": gpd.GeoDataFrame({"code": ["230102001001", "230102001002"], "name": ["西社区", "东社区"],
                                         "households": [300, 10]}, geometry=[west, east], crs=4326),
        "streets": gpd.GeoDataFrame({"id": ["main", "lane"], "class": ["residential", "footway"]},
                                    geometry=[LineString([_at(-200, 0), _at(300, 0), _at(2800, 0)]),
                                              LineString([_at(300, 0), _at(300, 150)])], crs=4326),
        "residences": gpd.GeoDataFrame({"id": ["h1", "h2", "h3"], "kind": ["building"] * 3,
                                        "households": [100, 120, 80], "population": [250, 300, 200]},
                                       geometry=[Point(_at(0, 20)), Point(_at(300, 150)), Point(_at(600, -40))],
                                       crs=4326),
        "facilities": gpd.GeoDataFrame({"id": ["m1"], "type": ["market"], "name": ["东市场"]},
                                       geometry=[Point(_at(960, -10))], crs=4326),
    }
    for name, frame in layers.items():
        store.write(name, validate(frame, LAYERS[name], source=name))
    users.add_user(store.engine, "planner", DEMO_PASSWORD, "planner")
    store.dispose()
    yield url


def test_a_town_at_45_north_is_measured_the_same_through_every_door(harbin: str, tmp_path: Path) -> None:
    doors = _doors(harbin, tmp_path, area="230102001001", level="15min")
    assert doors["types"] == ["market"]
    res = doors["cli"]["res"]
    # the first home walks 20 + 960 + 10 = 990 m to the market in the next community: covered, although a
    # box padded by 1 000 m ÷ 100 000 m per degree (×1.2) reaches only 933 m east at this latitude
    assert res.loc["h1", "market_m"] == pytest.approx(990, abs=0.5) and bool(res.loc["h1", "market_covered"])
    assert res.loc["h2", "market_m"] == pytest.approx(150 + 660 + 10, abs=0.5)
    assert res.loc["h3", "market_m"] == pytest.approx(40 + 360 + 10, abs=0.5)
    _same(doors)
    # a box around the first home alone finds the market too
    client = _client(harbin)
    near = [*_at(-20, 0), *_at(20, 40)]
    r = client.post("/analyses/coverage", json={"types": ["market"], "level": "15min", "bbox": near},
                    headers=_bearer(client, "planner"))
    assert r.status_code == 200, r.text
    (home,) = r.json()["residences"]["features"]
    assert home["properties"]["id"] == "h1" and home["properties"]["market_covered"] is True


# ---- one access policy ---------------------------------------------------------------------------
WHO = [None, "planner", "bureau", "wangge", "admin"]
#: what each asks, through the API and through a page, and the status each of WHO gets (login mode)
ASKS = {
    "coverage": ([401, 200, 403, 403, 200],
                 lambda c, h: c.post("/analyses/coverage", json={"types": ["kindergarten"]}, headers=h),
                 lambda c: c.get("/maps/coverage?types=kindergarten")),
    "service areas": ([401, 200, 403, 403, 200],
                      lambda c, h: c.post("/analyses/coverage", json={"types": ["kindergarten"]}, headers=h),
                      lambda c: c.get("/maps/coverage/service-areas?types=kindergarten&type=kindergarten")),
    "per-residence numbers": ([401, 200, 403, 403, 200],
                              lambda c, h: c.post("/analyses/coverage", json={"types": ["kindergarten"]}, headers=h),
                              lambda c: c.get("/maps/coverage/residences.geojson?types=kindergarten")),
    "scorecards": ([401, 200, 200, 403, 200],
                   lambda c, h: c.get("/analyses/scorecard?profile=zhuji", headers=h),
                   lambda c: c.get("/reports/scorecard?profile=zhuji")),
    "one community's scorecard": ([401, 200, 200, 403, 200],
                                  lambda c, h: c.get("/analyses/scorecard?profile=zhuji", headers=h),
                                  lambda c: c.get(f"/reports/scorecard/{c.first_community}?profile=zhuji")),
}


@pytest.mark.parametrize("settings", [LOGIN, PUBLIC], ids=["login", "public"])
def test_the_pages_and_the_api_answer_every_role_alike(demo_db: str, settings: Settings) -> None:
    first = Store(demo_db).read("communities", limit=1)["code"].iloc[0]
    wrong = []
    for who in WHO:
        api, page = _client(demo_db, settings), _client(demo_db, settings)
        page.first_community = first
        headers = _bearer(api, who) if who else {}
        if who:
            assert page.post("/login", data={"username": who, "password": DEMO_PASSWORD}).status_code == 200
        for ask, (expected, by_api, by_page) in ASKS.items():
            want = 200 if settings.analyses_access == "public" else expected[WHO.index(who)]
            got_api, got_page = by_api(api, headers), by_page(page)
            if (got_api.status_code, got_page.status_code) != (want, want):
                wrong.append(f"{ask} as {who or 'anonymous'}: API {got_api.status_code}, page "
                             f"{got_page.status_code}, expected {want}")
            html = got_page.headers["content-type"].startswith("text/html")  # else the page's data (JSON)
            if got_page.status_code == 401 and html:  # the page says so in Chinese and opens the login box
                assert "请先登录" in got_page.text and "shequ.askLogin" in got_page.text
                assert got_api.headers["WWW-Authenticate"].startswith("Bearer")
            if got_page.status_code == 403 and html:
                assert "没有权限" in got_page.text and who in got_page.text
            if got_page.status_code >= 400 and not html:
                assert got_page.json()["code"] == got_api.json()["code"]
    assert not wrong, "\n".join(wrong)


def test_an_expired_login_on_a_page_asks_again_and_forgets_the_cookie(demo_copy: str) -> None:
    from sqlalchemy import update

    page = _client(demo_copy)
    assert page.post("/login", data={"username": "planner", "password": DEMO_PASSWORD}).status_code == 200
    assert page.get("/reports/scorecard?profile=zhuji").status_code == 200
    store = Store(demo_copy)
    with store.engine.begin() as conn:
        conn.execute(update(users.TOKENS).values(expires_at=pd.Timestamp("2000-01-01", tz="UTC").to_pydatetime()))
    store.dispose()
    r = page.get("/reports/scorecard?profile=zhuji")
    assert r.status_code == 401 and "shequ.askLogin" in r.text
    assert "shequ_token" in r.headers.get("set-cookie", "") and "Max-Age=0" in r.headers["set-cookie"]
    # a write never takes the cookie: it needs the token as a bearer header
    assert page.post("/analyses/coverage", json={}).status_code == 401


# ---- a grid edit is one call, one read, one check ------------------------------------------------
def test_a_grid_patch_reads_the_grid_once_and_checks_topology_once(demo_copy: str, monkeypatch) -> None:
    from sqlalchemy import event

    from shequ.usecases import editing

    client = _client(demo_copy)
    headers = _bearer(client, "wangge")
    me = client.get("/users/me", headers=headers).json()
    grid = client.get(f"/collections/grids/items?community_code={me['areas'][0]}&limit=1").json()["features"][0]
    key = grid["id"]
    etag = client.get(f"/collections/grids/items/{key}").headers["ETag"]
    statements: list[str] = []
    checks: list[int] = []
    real = editing.check_grids
    monkeypatch.setattr(editing, "check_grids", lambda *a, **k: checks.append(1) or real(*a, **k))
    engine = client.app.state.store.engine
    listen = lambda conn, cursor, sql, params, context, many: statements.append(sql)  # noqa: E731
    event.listen(engine, "before_cursor_execute", listen)
    r = client.patch(f"/collections/grids/items/{key}", json={"properties": {"party_branch": "第一党小组"}},
                     headers={**headers, "If-Match": etag})
    event.remove(engine, "before_cursor_execute", listen)
    assert r.status_code == 200, r.text
    reads = [s for s in statements if s.lstrip().upper().startswith("SELECT") and "FROM grids" in s]
    by_key = [s for s in reads if "grids.code =" in s]
    assert len(by_key) == 1, reads  # the grid itself, once
    assert len(reads) == 2, reads  # and its siblings, once
    assert len(checks) == 1  # one topology check gives the refusals and the gap warnings
    assert "warnings" in r.json()


def test_an_area_with_no_facility_within_reach_is_zero_not_an_error(harbin: str) -> None:
    """Within a 5-minute walk (300 m) of the west community's homes there is no market at all."""
    client = _client(harbin)
    headers = _bearer(client, "planner")
    r = client.post("/analyses/coverage", json={"types": ["market"], "level": "5min", "area": "230102001001"},
                    headers=headers)
    assert r.status_code == 200, r.text
    (row,) = r.json()["summary"]
    assert row["households_rate"] == 0 and row["households"] == 300
    assert {f["properties"]["market_facility"] for f in r.json()["residences"]["features"]} == {None}
    page = client.get("/maps/coverage?types=market&level=5min&area=230102001001", headers=headers)
    assert page.status_code == 200 and "0 / 300" in page.text
