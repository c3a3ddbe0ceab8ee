"""The planner's pages on the Chengdu demo, in Chromium: the coverage map (layers, straight-line
toggle, GCJ-02 basemap shift, English, tablet), bad parameters, and the scorecards. Offline: a page
makes no request beyond the app."""

from __future__ import annotations

import base64
import time
from collections.abc import Iterator

import geopandas as gpd
import httpx
import numpy as np
import pandas as pd
import pytest
from conftest import live_server
from jinja2.utils import htmlsafe_json_dumps

from shequ.api.app import create_app
from shequ.gis.coverage import Coverage
from shequ.layers.chinacrs import wgs84_to_gcj02
from shequ.layers.store import Store
from shequ.settings import Settings
from shequ.web.coverage_map import COVERED, STRAIGHT_ONLY, two
from shequ.web.coverage_page import RATE_CLASSES

#: the life circles' layer name as folium writes it into the page (JSON, HTML-safe)
LIFE_CIRCLES = htmlsafe_json_dumps(two("生活圈", "Life circles"))[1:-1]
FIRST = "kindergarten"  # the first default type on the demo (kindergarten, primary school, market)
#: a 1×1 transparent PNG, answered for every tile of the test basemap
PNG = base64.b64decode("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII=")

#: what the map holds, by kind of feature, from the Leaflet layers themselves
LAYERS_JS = """() => {
  const m = Object.keys(window).filter(k => k.startsWith('map_')).map(k => window[k])[0];
  const out = {residences: 0, covered: 0, straightOnly: 0, gaps: 0, gapPeople: 0, facilities: 0, communities: 0,
               colours: [],
               tiles: 0, bounds: {}, first: {}};
  const grow = (kind, b) => {
    const o = out.bounds[kind];
    out.bounds[kind] = o ? [Math.min(o[0], b.getSouth()), Math.min(o[1], b.getWest()), Math.max(o[2], b.getNorth()),
                            Math.max(o[3], b.getEast())] : [b.getSouth(), b.getWest(), b.getNorth(), b.getEast()];
  };
  m.eachLayer(l => {
    if (l instanceof L.TileLayer) { out.tiles++; return; }
    const p = l.feature && l.feature.properties;
    if (!p) { return; }
    let kind = null;
    if ('covered_straight' in p) {
      kind = 'residences'; out.residences++; if (l.options.fillColor === '__COVERED__') { out.covered++; }
      if (l.options.fillColor === '__STRAIGHT__') { out.straightOnly++; }
    } else if ('elderly' in p && 'residences' in p) { kind = 'gaps'; out.gaps++; out.gapPeople += p.population; }
    else if ('kind' in p) { kind = 'facilities'; out.facilities++; }
    else if ('rate' in p && 'code' in p) {
      kind = 'communities'; out.communities++; out.colours.push(l.options.fillColor);
    }
    else if (Object.keys(p).length === 0) { kind = 'streets'; }
    if (!kind) { return; }
    grow(kind, l.getBounds ? l.getBounds() : L.latLngBounds([l.getLatLng(), l.getLatLng()]));
    if (!out.first[kind]) {
      let ll = l.getLatLng ? l.getLatLng() : l.getLatLngs();
      while (Array.isArray(ll)) { ll = ll[0]; }
      out.first[kind] = [ll.lng, ll.lat];
    }
  });
  return out;
}""".replace("__COVERED__", COVERED).replace("__STRAIGHT__", STRAIGHT_ONLY)


@pytest.fixture(scope="module")
def server(demo_db: str) -> Iterator[str]:
    """One app for the module: its page cache is shared, as it is between a planner's requests. Analyses
    are public here (``SHEQU_ANALYSES_ACCESS=public``, an intranet); the access matrix tests the login."""
    with live_server(create_app(demo_db, Settings(database_url=demo_db, analyses_access="public"))) as base:
        yield base


@pytest.fixture(scope="module")
def direct(demo_db: str) -> dict:
    """The numbers straight from ``shequ.gis``, to hold the page to."""
    store = Store(demo_db)
    facilities = store.read("facilities")
    residences = store.read("residences")
    gates = [e.get("gates") for e in residences["extra"]]  # each compound's own gates, as the app uses them
    result = Coverage.from_geodataframes(store.read("streets"), residences, facilities, types=[FIRST],
                                         gates=gates).solve()
    part = result.long[result.long["type"] == FIRST]
    communities = store.count("communities")
    store.dispose()
    return {"communities": communities, "residences": len(part), "covered": int(part["covered"].sum()),
            "covered_straight": int(part["covered_straight"].sum()),
            "facilities": int((facilities["type"] == FIRST).sum()),
            "households_covered": float(result.summary()["households_covered"].iloc[0])}


def _open(page, url: str) -> dict:
    page.goto(url)
    page.wait_for_selector(".leaflet-control-layers")
    page.wait_for_function("() => Object.keys(window).some(k => k.startsWith('map_'))")
    return page.evaluate(LAYERS_JS)


def _first_paint(page) -> float:
    return page.evaluate("() => (performance.getEntriesByName('first-contentful-paint')[0] || {}).startTime || -1")


def test_coverage_map_shows_every_layer_offline(shot, server: str, direct: dict, page) -> None:
    started = time.perf_counter()
    drawn = _open(page, f"{server}/maps/coverage")
    cold = time.perf_counter() - started
    cold_paint = _first_paint(page)
    labels = page.inner_text(".leaflet-control-layers")
    for label in ("道路", "社区覆盖率", "服务范围：幼儿园", "居住单元：幼儿园 ≤ 300 m", "缺口：幼儿园",
                  "设施：幼儿园", "居住单元：小学"):
        assert label in labels, label
    assert "Streets" not in labels and "Kindergarten" not in labels  # one language at a time
    assert drawn["residences"] == direct["residences"]
    assert drawn["covered"] == direct["covered"]
    assert drawn["gaps"] > 0 and drawn["gapPeople"] > 0
    assert drawn["facilities"] >= direct["facilities"]  # every facility of the shown types
    assert drawn["communities"] == direct["communities"]  # every community of the demo
    assert set(drawn["colours"]) <= {c for _, c in RATE_CLASSES} | {"#bdbdbd"}
    assert drawn["tiles"] == 0 and page.locator(".leaflet-tile").count() == 0  # basemap none: no tiles
    assert page.is_visible("#legend") and "社区户数覆盖率" in page.inner_text("#legend")
    panel = page.inner_text(".sq-panel")
    assert f"{direct['households_covered']:,.0f} /" in panel
    assert "二手来源" in panel  # the catalog's distance status, said
    assert "估算" in panel  # households are OSM estimates
    # a gap's popup gives the people in it
    page.evaluate("""() => { const m = Object.keys(window).filter(k => k.startsWith('map_')).map(k => window[k])[0];
        let g = null; m.eachLayer(l => { if (!g && l.feature && 'elderly' in l.feature.properties) { g = l; } });
        g.fire('click', {latlng: g.getBounds().getCenter()}, true); }""")
    page.wait_for_selector(".leaflet-popup-content")
    assert "人口" in page.inner_text(".leaflet-popup-content")
    page.keyboard.press("Escape")
    page.evaluate("() => document.querySelectorAll('.leaflet-popup-close-button').forEach(b => b.click())")

    # service areas are loaded when switched on
    page.get_by_text("服务范围：幼儿园").click()
    page.wait_for_function("""() => { const m = Object.keys(window).filter(k => k.startsWith('map_'))
        .map(k => window[k])[0]; let n = 0;
        m.eachLayer(l => { if (l.feature && 'facility_id' in l.feature.properties) { n++; } }); return n > 0; }""")
    page.get_by_text("服务范围：幼儿园").click()

    started = time.perf_counter()
    _open(page, f"{server}/maps/coverage")
    warm = time.perf_counter() - started
    warm_paint = _first_paint(page)
    size = len(httpx.get(f"{server}/maps/coverage").content)
    print(f"\n/maps/coverage on the demo: {size / 1e6:.2f} MB; first request {cold:.2f} s to a drawn map "
          f"(first paint {cold_paint:.0f} ms), cached {warm:.2f} s (first paint {warm_paint:.0f} ms)")
    assert 0 < warm_paint < 2000
    assert size < 2_000_000
    page.wait_for_timeout(300)  # let the canvas settle before the picture
    page.screenshot(path=shot("coverage-map.png"))
    assert page.console_errors == []
    assert page.external_requests == []


def test_straight_line_toggle_recolours_the_communities(server: str, direct: dict, page) -> None:
    """Residences show both measures at once (covered by walking, only in a straight line, neither: each its
    own colour and shape); the toggle says which one shades the communities."""
    walking = _open(page, f"{server}/maps/coverage?types={FIRST}&mode=network")
    straight = _open(page, f"{server}/maps/coverage?types={FIRST}&mode=straight")
    for drawn in (walking, straight):
        assert drawn["covered"] == direct["covered"]
        assert drawn["covered"] + drawn["straightOnly"] == direct["covered_straight"]
    assert straight["straightOnly"] > 0  # a circle overstates what a walk reaches
    assert straight["colours"] != walking["colours"]  # the shading follows the measure
    assert page.is_checked("input[name=mode][value=straight]")
    assert page.console_errors == [] and page.external_requests == []


def test_gcj02_basemap_shifts_every_layer(server: str, page) -> None:
    tiles: list[str] = []

    def tile(route) -> None:
        tiles.append(route.request.url)
        route.fulfill(body=PNG, content_type="image/png")

    page.route(f"{server}/tiles/**", tile)
    plain = _open(page, f"{server}/maps/coverage?types={FIRST}")
    url = f"{server}/tiles/{{z}}/{{x}}/{{y}}.png"
    shifted = _open(page, f"{server}/maps/coverage?types={FIRST}&basemap=xyz&gcj02=true&url={url}")
    page.wait_for_timeout(200)
    assert shifted["tiles"] == 1 and tiles, "the XYZ basemap is drawn"
    assert page.is_visible("#sq-shifted")
    for kind in ("residences", "gaps", "facilities", "communities", "streets"):
        a, b = np.asarray(plain["bounds"][kind]), np.asarray(shifted["bounds"][kind])
        lat, lon = (a[0] + a[2]) / 2, (a[1] + a[3]) / 2
        glon, glat = wgs84_to_gcj02(lon, lat)
        moved = np.hypot((b[1] - a[1]) * 111_320 * np.cos(np.radians(lat)), (b[0] - a[0]) * 110_540)
        assert 100 < moved < 1000, (kind, moved)  # GCJ-02 is a few hundred metres off in Chengdu
        assert abs(glon - lon) > 1e-3 and abs(glat - lat) > 1e-3  # the offset is not nil here
        # … and by the GCJ-02 offset itself: the first vertex of each kind lands where chinacrs puts it
        x, y = plain["first"][kind]
        expected = np.asarray(wgs84_to_gcj02(x, y))
        assert np.abs(expected - np.asarray(shifted["first"][kind])).max() < 2e-6, kind
    # the lazily loaded service areas move too
    base = f"{server}/maps/coverage/service-areas?types={FIRST}&type={FIRST}"
    flat = httpx.get(base).json()["features"][0]["geometry"]["coordinates"]
    gcj = httpx.get(f"{base}&basemap=xyz&gcj02=true&url={url}").json()["features"][0]["geometry"]["coordinates"]
    x0, y0 = np.asarray(flat[0] if np.ndim(flat) == 3 else flat[0][0])[0]
    x1, y1 = np.asarray(gcj[0] if np.ndim(gcj) == 3 else gcj[0][0])[0]
    ex, ey = wgs84_to_gcj02(x0, y0)
    assert abs(x1 - ex) < 2e-5 and abs(y1 - ey) < 2e-5
    assert page.console_errors == [] and page.external_requests == []


def test_english_switch_and_a_tablet(server: str, page) -> None:
    _open(page, f"{server}/maps/coverage")
    assert page.is_visible(".sq-panel h3 >> text=设施类型")
    page.click("#sq-lang")
    assert page.evaluate("document.documentElement.lang") == "en"
    assert page.is_visible(".sq-panel h3 >> text=Facility types")
    assert page.is_visible("label.sq-check >> text=Kindergarten")
    assert not page.is_visible(".sq-panel h3 >> text=设施类型")
    page.reload()
    page.wait_for_selector(".leaflet-control-layers")
    assert page.is_visible(".sq-panel h3 >> text=Facility types")  # the choice is remembered

    page.set_viewport_size({"width": 800, "height": 1100})
    page.wait_for_timeout(200)
    panel, frame = page.locator("aside.sq-panel").bounding_box(), page.locator(".folium-map").bounding_box()
    assert panel["width"] <= 300 and frame["x"] >= panel["x"] + panel["width"] - 1
    assert frame["width"] >= 450 and frame["height"] >= 900
    assert page.is_visible(".leaflet-control-layers") and page.is_visible("#sq-coverage-form button")
    assert page.evaluate("() => Object.keys(window).filter(k => k.startsWith('map_')).map(k => window[k])[0]"
                         ".getSize().x") >= 450
    page.click("#sq-menu-button")  # a tablet's bar folds the links, the login and the language into a menu
    page.click("#sq-lang")
    assert page.console_errors == [] and page.external_requests == []


@pytest.mark.parametrize("query", ["types=kindergarden", "level=20min", "area=999", "area=510199900", "mode=walk",
                                   "basemap=google", "basemap=tianditu", "basemap=xyz&url=ftp://x/{z}/{x}/{y}",
                                   "basemap=xyz&url=https://t/{z}/{x}/{y}.png?a=%7B%7B7*7%7D%7D",
                                   "gcj02=maybe", "types=" + ",".join(["kindergarten"] * 1 + ["market", "bank",
                                   "clinic", "pharmacy", "post_office", "bus_stop", "supermarket", "nursery"])])
def test_bad_parameters_are_a_clear_400(server: str, query: str) -> None:
    r = httpx.get(f"{server}/maps/coverage?{query}")
    assert r.status_code == 400, r.text[:200]
    assert r.headers["content-type"].startswith("text/html")
    assert 'id="sq-error"' in r.text and "/static/shequ.css" in r.text


def test_bad_report_and_area_requests(server: str) -> None:
    r = httpx.get(f"{server}/maps/coverage/service-areas?types=kindergarten&type=market")
    assert r.status_code == 400 and "type must be one of" in r.json()["description"]
    assert httpx.get(f"{server}/reports/scorecard?profile=atlantis").status_code == 400
    assert httpx.get(f"{server}/reports/scorecard?profile=../../etc/passwd").status_code == 400
    r = httpx.get(f"{server}/reports/scorecard/999999999999")
    assert r.status_code == 404 and "999999999999" in r.text


def test_scorecard_overview_and_a_community(shot, server: str, page, demo_db: str) -> None:
    page.goto(f"{server}/reports/scorecard?profile=zhuji")
    assert page.is_visible("header.sq-nav a.active >> text=评分卡")
    assert page.locator("main svg").count() >= 2  # charts and district maps
    assert page.is_visible("text=社区体检报告")
    assert page.locator("#lang").count() == 0  # the frame's switch replaces the report's own
    page.click("#sq-lang")
    assert page.is_visible("h1 >> text=Community scorecard") and not page.is_visible("h1 >> text=社区体检报告")
    page.click("#sq-lang")
    assert page.console_errors == [] and page.external_requests == []

    code = pd.Series(Store(demo_db).read("communities")["code"]).iloc[0]
    page.select_option("#sq-community", code)
    page.wait_for_url(f"**/reports/scorecard/{code}?profile=zhuji")
    card = page.inner_text("#sq-community-card")
    assert code in card and "逐条规则" in card and "网格" in card
    assert page.locator("tr[data-rule=community_households]").count() == 1
    assert page.locator("tr[data-rule^='required:']").count() >= 1
    assert "verified" in page.inner_html("tr[data-rule=community_households]")  # its source's status
    assert page.locator("main svg path").count() >= 2  # the community and its grids
    assert page.is_visible("text=在覆盖地图上查看")
    page.screenshot(path=shot("scorecard-page.png"), full_page=False)
    assert page.console_errors == [] and page.external_requests == []


def test_life_circles_and_a_fresh_page_after_an_edit(demo_copy: str) -> None:
    """The demo has no life circles; once one is added the cached page is stale and the new one audits it."""
    from fastapi.testclient import TestClient

    from shequ.gis.audit import generate_life_circles
    from shequ.gis.network import WalkNetwork
    from shequ.layers.schema import LAYERS
    from shequ.layers.validate import validate

    app = create_app(demo_copy)
    client = TestClient(app)
    assert client.get("/maps/coverage?types=kindergarten").status_code == 401  # analyses need a login
    assert client.post("/login", data={"username": "planner", "password": "shequ-demo"}).status_code == 200
    before = client.get("/maps/coverage?types=kindergarten")  # the login cookie carries the planner
    assert before.status_code == 200 and LIFE_CIRCLES not in before.text
    assert "数据中没有生活圈" in before.text
    hits = app.state.page_cache.hits
    assert client.get("/maps/coverage?types=kindergarten").text == before.text
    assert app.state.page_cache.hits == hits + 1  # from the cache (counted, not timed)

    store = Store(demo_copy)
    centre = gpd.GeoDataFrame({"code": ["LC5-test"], "name": ["测试5分钟"]},
                              geometry=gpd.points_from_xy([104.0785], [30.6570]), crs=4326)
    circle = generate_life_circles(WalkNetwork.from_streets(store.read("streets")), centre, "5min")
    store.write("lifecircles", validate(gpd.GeoDataFrame(circle, crs=4326), LAYERS["lifecircles"], source="test"))
    store.dispose()
    after = client.get("/maps/coverage?types=kindergarten")
    assert after.status_code == 200
    assert "数据中没有生活圈" not in after.text  # not the cached page
    assert LIFE_CIRCLES in after.text  # the layer
    assert "Life-circle audit" in after.text and "LC5-test</td><td>5min" in after.text  # and its audit


def test_a_planner_logs_in_from_the_page_and_the_map_appears_on_a_phone(demo_db: str, browser) -> None:
    """Analyses need a login (the default): the page says so in Chinese with a login box, and after the
    login the same address shows the map — on a phone-sized screen."""
    with live_server(create_app(demo_db, Settings(database_url=demo_db, analyses_access="login"))) as base:
        context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        response = page.goto(f"{base}/maps/coverage?types=kindergarten")
        assert response.status == 401
        assert "请先登录" in page.inner_text("main") and page.is_visible("#sq-login-box")
        page.fill("#sq-login-box input[name=username]", "planner")
        page.fill("#sq-login-box input[name=password]", "shequ-demo")
        page.click("#sq-login-box button[type=submit]")
        page.wait_for_selector(".leaflet-control-layers", timeout=30_000)
        assert page.url.split("#")[0].endswith("/maps/coverage?types=kindergarten")  # the view follows the "#"
        assert "planner" in page.inner_text("#sq-user")
        box = page.locator(".folium-map").bounding_box()
        assert box["width"] >= 380 and box["height"] >= 300  # the map fills the phone's width
        assert errors == []
        context.close()


def test_pages_and_data_travel_compressed(server: str) -> None:
    """A slow intranet link gets the coverage page gzipped (under 300 KB on the demo) and the same page
    unchanged once unpacked; a client that does not ask gets it plain."""
    with httpx.Client(timeout=120) as client:
        packed = client.get(f"{server}/maps/coverage?types=kindergarten", headers={"Accept-Encoding": "gzip"})
        plain = client.get(f"{server}/maps/coverage?types=kindergarten", headers={"Accept-Encoding": "identity"})
    assert packed.status_code == plain.status_code == 200
    assert packed.headers["content-encoding"] == "gzip" and "content-encoding" not in plain.headers
    assert packed.num_bytes_downloaded < 300_000 < plain.num_bytes_downloaded
    assert packed.text == plain.text
