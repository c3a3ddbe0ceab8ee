"""The coverage map explains itself and recomputes in place (issue 14, items 3, 4 and the search of 8), in
Chromium on the demo, on a 1440×900 desktop and a 390×844 phone: a legend row for every symbol; status
colours that stay apart under deuteranopia; the popup of an uncovered compound with the use case's nearest
facility and both distances; one type switch for the residences and the shading; a recompute without a page
load, with a progress state, one request at a time, errors said; the view kept in the address; a search."""

from __future__ import annotations

import io
import itertools
import re
from collections.abc import Iterator

import numpy as np
import pytest
from conftest import live_server

from shequ.api.app import create_app
from shequ.layers.store import Store
from shequ.settings import Settings
from shequ.usecases.access import LOCAL
from shequ.usecases.coverage import MAP_SEARCH_BEYOND_M, CoverageQuery, coverage
from shequ.usecases.workspace import Workspace
from shequ.web.coverage_map import COVERED, GAP, PALETTE, STATUSES, STRAIGHT_ONLY, UNCOVERED
from shequ.web.coverage_page import RATE_CLASSES

TYPE = "kindergarten"
VIEWPORTS = {"desktop": {"viewport": {"width": 1440, "height": 900}},
             "phone": {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True}}
#: Machado, Oliveira & Fernandes (2009), severity 1.0, on linear RGB: what Chromium's vision emulation uses
MACHADO = {"deuteranopia": np.array([[0.367322, 0.860646, -0.227968], [0.280085, 0.672501, 0.047413],
                                     [-0.011820, 0.042940, 0.968881]]),
           "protanopia": np.array([[0.152286, 1.052583, -0.204868], [0.114503, 0.786281, 0.099216],
                                   [-0.003882, -0.048116, 1.051998]])}
#: the smallest colour difference (CIE76 ΔE) between two status colours as a colour-blind eye sees them:
#: Okabe–Ito's blue, reddish purple and vermillion keep 42 apart for deuteranopia (and black for the gaps);
#: protanopia brings the blue and the purple to 23 (still apart, and their shapes differ)
#: the type switch in the legend, as a user changes it
SHOW_MARKET = ("() => { const s = document.getElementById('sq-show'); s.value = 'market'; "
               "s.dispatchEvent(new Event('change')); }")
MIN_DELTA_E = {None: 40.0, "deuteranopia": 40.0, "protanopia": 20.0}


# ---- colour science, for the checks (no browser) --------------------------------------------------------
def _rgb(colour: str | tuple) -> np.ndarray:
    if isinstance(colour, str):
        colour = tuple(int(colour[i:i + 2], 16) for i in (1, 3, 5))
    return np.asarray(colour[:3], dtype=float) / 255


def _linear(c: np.ndarray) -> np.ndarray:
    return np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)


def _lab(linear: np.ndarray) -> np.ndarray:
    xyz = np.array([[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722], [0.0193, 0.1192, 0.9505]]) @ linear
    f = xyz / np.array([0.95047, 1.0, 1.08883])
    f = np.where(f > 0.008856, np.cbrt(f), 7.787 * f + 16 / 116)
    return np.array([116 * f[1] - 16, 500 * (f[0] - f[1]), 200 * (f[1] - f[2])])


def _seen(colour: str | tuple, deficiency: str | None) -> np.ndarray:
    """The colour in CIELAB as an eye with ``deficiency`` (None: typical vision) sees it."""
    lin = _linear(_rgb(colour))
    return _lab(np.clip(MACHADO[deficiency] @ lin, 0, 1) if deficiency else lin)


def _contrast(a: tuple, b: tuple) -> float:
    """WCAG contrast ratio of two sRGB colours."""
    la, lb = (float(np.array([0.2126, 0.7152, 0.0722]) @ _linear(_rgb(c))) for c in (a, b))
    return (max(la, lb) + 0.05) / (min(la, lb) + 0.05)


@pytest.mark.parametrize("deficiency", [None, "deuteranopia", "protanopia"])
def test_status_colours_stay_apart_for_colour_blind_eyes(deficiency: str | None) -> None:
    colours = {"covered": COVERED, "straight line only": STRAIGHT_ONLY, "not covered": UNCOVERED, "gap": GAP}
    for (a, ca), (b, cb) in itertools.combinations(colours.items(), 2):
        delta = float(np.linalg.norm(_seen(ca, deficiency) - _seen(cb, deficiency)))
        assert delta >= MIN_DELTA_E[deficiency], (deficiency, a, b, delta)
    # and the shading shares no colour with them, nor do the facility squares
    shading = {c.lower() for _, c in RATE_CLASSES}
    statuses = {c.lower() for c in (COVERED, STRAIGHT_ONLY, UNCOVERED, GAP)}
    assert not shading & statuses and not {c.lower() for c in PALETTE} & (statuses - {GAP.lower()}) - {"#000000"}
    assert not {c.lower() for c in PALETTE} & shading
    assert len({shape for _, _, shape, _, _ in STATUSES}) == len(STATUSES)  # a shape each, not colour alone


# ---- the pages --------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def server(demo_db: str) -> Iterator[str]:
    with live_server(create_app(demo_db, Settings(database_url=demo_db, analyses_access="public"))) as base:
        yield base


@pytest.fixture(scope="module")
def outcome(demo_db: str):
    """The use case's answer for the page's question (the same query the page asks)."""
    ws = Workspace.open(demo_db, Settings(database_url=demo_db))
    try:
        yield coverage(ws, CoverageQuery.parse([TYPE], search_beyond_m=MAP_SEARCH_BEYOND_M), user=LOCAL)
    finally:
        ws.close()


@pytest.fixture(params=list(VIEWPORTS))
def view(request, browser):
    """A desktop or a phone page that records console errors, requests leaving the machine and the page's
    own coverage requests (finished or failed)."""
    from urllib.parse import urlparse

    context = browser.new_context(**VIEWPORTS[request.param])
    pg = context.new_page()
    pg.kind = request.param
    pg.console_errors, pg.external_requests, pg.finished, pg.failed = [], [], [], []
    pg.on("console", lambda m: pg.console_errors.append(m.text) if m.type == "error" else None)
    pg.on("pageerror", lambda e: pg.console_errors.append(str(e)))

    def record(req) -> None:
        url = urlparse(req.url)
        if url.scheme in ("http", "https") and url.hostname not in ("127.0.0.1", "localhost"):
            pg.external_requests.append(req.url)

    pg.on("request", record)
    pg.on("requestfinished", lambda r: pg.finished.append(r.url) if "/maps/coverage?" in r.url else None)
    pg.on("requestfailed", lambda r: pg.failed.append(r.url) if "/maps/coverage?" in r.url else None)
    yield pg
    context.close()


def _open(page, url: str) -> None:
    page.goto(url)
    page.wait_for_function("() => window.shequCoverage && window.shequCoverage._sqSetUp")


def _state(page) -> dict:
    return page.evaluate("""() => { const r = window.shequCoverage, c = r.map.getCenter();
        return {shown: r.shown, zoom: r.map.getZoom(), lat: c.lat, lng: c.lng, types: r.config.types,
                on: Object.keys(r.layers).filter(k => r.map.hasLayer(r.layers[k]))}; }""")


def _colours(text: str) -> set[str]:
    return {c.lower() for c in re.findall(r"#[0-9a-fA-F]{6}\b", text)}


def test_the_legend_has_a_row_for_every_symbol(server: str, view, shot) -> None:
    _open(view, f"{server}/maps/coverage?types={TYPE}&types=primary_school&types=market")
    legend = view.text_content("#legend")
    for _code, _colour, _shape, zh, en in STATUSES:
        assert zh in legend and en in legend
    for words in ("缺口区域", "社区户数覆盖率", "≥ 80%", "< 20%", "社区内无居住单元", "道路", "服务范围",
                  "幼儿园", "小学", "菜市场"):
        assert words in legend, words
    if not view.is_visible("#legend"):  # folded on a phone: opened, as a reader does
        view.click(".sq-legend-button")
    shown = view.inner_text("#legend")  # what a reader sees: Chinese only (the page is in Chinese)
    assert "幼儿园" in shown and "Kindergarten" not in shown and "Facilities" not in shown
    # every colour drawn on the map, in the legend's symbols
    drawn = view.evaluate("""() => { const r = window.shequCoverage, out = [];
        r.map.eachLayer(l => { if (l.options && l.feature) { out.push(l.options.fillColor, l.options.color); } });
        document.querySelectorAll('.sq-fac svg rect, .sq-mark svg *').forEach(e => {
          out.push(e.getAttribute('fill'), e.getAttribute('stroke')); });
        return out.filter(c => typeof c === 'string'); }""")
    symbols = _colours(view.inner_html("#legend"))
    assert _colours(" ".join(drawn)) - {"#444444", "#ffffff"} <= symbols, _colours(" ".join(drawn)) - symbols
    # the legend's text is readable: at least 4.5:1 against its box
    pairs = view.evaluate("""() => { const box = getComputedStyle(document.getElementById('legend')).backgroundColor;
        return Array.from(document.querySelectorAll('#legend li span, #legend b, #legend .sq-leg-note, #legend label'))
          .map(e => [getComputedStyle(e).color, box]); }""")
    assert pairs
    for fg, bg in pairs:
        f, b = (tuple(int(v) for v in re.findall(r"\d+", c)[:3]) for c in (fg, bg))
        assert _contrast(f, b) >= 4.5, (fg, bg)
    assert view.console_errors == [] and view.external_requests == []


def test_one_type_switch_for_residences_and_shading(server: str, view) -> None:
    _open(view, f"{server}/maps/coverage?types={TYPE}&types=market")
    before = _state(view)
    assert before["shown"] == TYPE and f"residences:{TYPE}" in before["on"] and "residences:market" not in before["on"]
    shading = view.evaluate("""() => { const out = {}; window.shequCoverage.layers.communities.eachLayer(l => {
        out[l.feature.properties.code] = [l.options.fillColor, l.feature.properties.r_market]; }); return out; }""")
    view.evaluate(SHOW_MARKET)
    after = _state(view)
    assert after["shown"] == "market" and "residences:market" in after["on"] and f"residences:{TYPE}" not in after["on"]
    assert "gaps:market" in after["on"] and f"gaps:{TYPE}" not in after["on"]
    now = view.evaluate("""() => { const out = {}; window.shequCoverage.layers.communities.eachLayer(l => {
        out[l.feature.properties.code] = l.options.fillColor; }); return out; }""")

    def colour(rate: float | None) -> str:
        if rate is None:
            return "#bdbdbd"
        return next(c for low, c in RATE_CLASSES if rate >= low)

    assert all(now[code] == colour(rate) for code, (_old, rate) in shading.items())  # shaded by the market now
    assert now != {code: old for code, (old, _rate) in shading.items()}
    assert "show=market" in view.url
    assert view.console_errors == []


def test_an_uncovered_compound_says_its_nearest_facility(server: str, view, outcome) -> None:
    near = outcome.nearest()
    res = outcome.result.residences
    near = near[(near["type"] == TYPE)].set_index("residence")
    walk = outcome.result.long[outcome.result.long["type"] == TYPE].set_index("residence")
    names = res["name"].astype(str)
    ok = (~walk["covered"]) & np.isfinite(near["walk_m"]) & near["walk_name"].notna() \
        & res["kind"].eq("area").to_numpy() & ~names.duplicated(keep=False).to_numpy() & res["name"].notna().to_numpy()
    row = int(np.flatnonzero(ok.to_numpy())[0])
    rid, name = str(res["id"].iloc[row]), str(res["name"].iloc[row])
    expected = near.loc[row]
    point = res.geometry.iloc[row].representative_point()
    # the view comes from the address: the compound in the middle at zoom 18
    _open(view, f"{server}/maps/coverage?types={TYPE}#v=18/{point.y:.5f}/{point.x:.5f}")
    where = view.evaluate(f"""() => {{ const r = window.shequCoverage; let m = null;
        r.layers['residences:{TYPE}'].eachLayer(l => {{
          if (l._sqResidence && l._sqResidence.feature.properties.id === {rid!r}) {{ m = l; }} }});
        const p = r.map.latLngToContainerPoint(m.getLatLng()), box = r.map.getContainer().getBoundingClientRect();
        return [box.left + p.x, box.top + p.y, m.getElement().classList.contains('sq-st-0')]; }}""")
    assert where[2], "drawn as not covered"
    view.mouse.move(where[0], where[1])
    view.wait_for_selector(".leaflet-tooltip")
    assert name in view.inner_text(".leaflet-tooltip")  # hoverable: no gap area swallows it
    view.mouse.click(where[0], where[1])
    view.wait_for_selector(".leaflet-popup-content .sq-pop")
    popup = view.inner_text(".leaflet-popup-content")
    assert name in popup and "小区" in popup and "未覆盖" in popup
    assert view.inner_text(".sq-pop .sq-near-name") == expected["walk_name"]
    assert view.inner_text(".sq-pop .sq-walk") == f"{np.round(expected['walk_m']):,.0f} m"
    assert view.inner_text(".sq-pop .sq-line") == f"{np.round(expected['walk_line_m']):,.0f} m"
    assert expected["walk_m"] > outcome.thresholds[TYPE].distance_m >= 0  # uncovered: farther than the distance
    # the gap area over it is drawn, hatched, and takes no pointer
    gaps = view.evaluate(f"""() => {{ const out = [];
        window.shequCoverage.layers['gaps:{TYPE}'].eachLayer(g => g.eachLayer(l =>
        out.push([l.options.interactive, l.options.fillColor instanceof CanvasPattern]))); return out; }}""")
    assert gaps and all(not interactive and hatched for interactive, hatched in gaps)
    assert view.console_errors == [] and view.external_requests == []


def _watch_progress(page) -> None:
    page.evaluate("""() => { window.__sawBusy = null;
        new MutationObserver(() => {
          if (document.documentElement.classList.contains('sq-computing') && !window.__sawBusy) {
            const p = document.getElementById('sq-progress');
            window.__sawBusy = {text: p ? p.textContent : '', visible: !!p && !p.hidden,
                                busy: document.querySelector('.folium-map').getAttribute('aria-busy')};
          }
        }).observe(document.documentElement, {attributes: true, attributeFilter: ['class']}); }""")


def test_a_recompute_stays_on_the_page_and_keeps_the_view(server: str, view, shot) -> None:
    _open(view, f"{server}/maps/coverage?types={TYPE}&types=market")
    view.evaluate("() => { window.__kept = 'same page'; "
                  "window.shequCoverage.map.setView([30.675, 104.08], 16, {animate: false}); }")
    view.evaluate(SHOW_MARKET)
    first = _state(view)
    old_map = view.evaluate("() => { window.__oldMap = window.shequCoverage.map; return 1; }")
    assert old_map == 1
    view.finished.clear()
    view.failed.clear()
    _watch_progress(view)
    if view.kind == "desktop":
        view.check("#sq-coverage-form input[name=types][value=primary_school]")
        assert "sq-pending" in view.get_attribute("#sq-coverage-form", "class")  # the form says it is not applied
    else:
        view.evaluate("() => { document.querySelector('#sq-coverage-form input[value=primary_school]').checked = true; "
                      "}")
    # two submits in a row: the first is cancelled, one request completes
    view.evaluate("() => { const f = document.getElementById('sq-coverage-form'); f.requestSubmit(); "
                  "f.requestSubmit(); }")
    view.wait_for_function("() => window.shequCoverage.map !== window.__oldMap && window.shequCoverage._sqSetUp "
                           "&& !document.documentElement.classList.contains('sq-computing')", timeout=120_000)
    busy = view.evaluate("window.__sawBusy")
    assert busy and "正在计算" in busy["text"] and busy["visible"] and busy["busy"] == "true"
    assert view.evaluate("window.__kept") == "same page"  # no page load
    # one completed request; the first is cancelled (reported as failed, unless it was stopped before it left)
    assert len(view.finished) == 1 and len(view.failed) <= 1, (view.finished, view.failed)
    assert "types=primary_school" in view.finished[0]
    view.wait_for_function(f"() => window.shequCoverage.map.getZoom() === {first['zoom']}")
    after = _state(view)
    assert after["types"] == [TYPE, "market", "primary_school"]
    assert after["shown"] == "market" and "residences:market" in after["on"]
    assert (after["zoom"], round(after["lat"], 4), round(after["lng"], 4)) == (16, 30.675, 104.08)
    assert "小学" in view.text_content("#sq-summary")  # the new numbers
    assert view.get_attribute(".folium-map", "aria-busy") == "false"
    assert "types=primary_school" in view.url and "v=16/" in view.url and "show=market" in view.url
    assert view.locator(".folium-map").count() == 1 and view.locator("#legend").count() == 1

    # the address alone brings it back
    view.reload()
    view.wait_for_function("() => window.shequCoverage && window.shequCoverage._sqSetUp")
    view.wait_for_function("() => window.shequCoverage.map.getZoom() === 16")
    again = _state(view)
    assert again["types"] == after["types"] and again["shown"] == "market"
    assert (round(again["lat"], 4), round(again["lng"], 4)) == (30.675, 104.08)
    assert again["on"] == after["on"]

    # Back: the previous choice, drawn in place
    view.evaluate("window.__kept = 'again'")
    view.go_back()
    view.wait_for_function("() => window.shequCoverage && window.shequCoverage.config.types.length === 2 "
                           "&& !document.documentElement.classList.contains('sq-computing')", timeout=120_000)
    assert view.evaluate("window.__kept") == "again"
    assert _state(view)["zoom"] == 16
    view.screenshot(path=shot(f"coverage-recompute-{view.kind}.png"))
    assert view.console_errors == [] and view.external_requests == []


def test_a_failed_recompute_says_so_and_keeps_the_map(server: str, view) -> None:
    _open(view, f"{server}/maps/coverage?types={TYPE}")
    view.evaluate("() => { window.__oldMap = window.shequCoverage.map; "
                  "document.getElementById('sq-basemap').value = 'tianditu'; "
                  "document.getElementById('sq-tk').value = ''; "
                  "document.getElementById('sq-basemap').dispatchEvent(new Event('change', {bubbles: true})); "
                  "document.getElementById('sq-coverage-form').requestSubmit(); }")
    view.wait_for_selector("#sq-recompute-msg.bad", state="attached", timeout=60_000)
    message = view.text_content("#sq-recompute-msg")
    assert "计算失败" in message and "天地图" in message  # the server's own reason, in Chinese
    assert view.evaluate("window.shequCoverage.map === window.__oldMap")  # the old map stays
    assert "sq-pending" in view.get_attribute("#sq-coverage-form", "class")
    assert view.get_attribute(".folium-map", "aria-busy") == "false"
    view.evaluate("document.getElementById('sq-revert').click()")
    assert view.input_value("#sq-basemap") == "none"  # back to what the map shows
    assert "basemap=tianditu" not in view.url
    assert [e for e in view.console_errors if "400" not in e] == []


def test_search_finds_a_community_and_opens_it(server: str, view, demo_db: str) -> None:
    store = Store(demo_db)
    communities = store.read("communities")
    store.dispose()
    name = str(communities["name"].iloc[len(communities) // 2])
    _open(view, f"{server}/maps/coverage?types={TYPE}")
    view.fill(".sq-search input", name)
    view.wait_for_selector(".sq-search li button")
    assert name in view.inner_text(".sq-search ul")
    view.press(".sq-search input", "Enter")
    view.wait_for_selector(".leaflet-popup-content")
    assert name in view.inner_text(".leaflet-popup-content")
    inside = view.evaluate(f"""() => {{ const r = window.shequCoverage; let hit = null;
        r.layers.communities.eachLayer(l => {{ if (l.feature.properties.name === {name!r}) {{ hit = l; }} }});
        return r.map.getBounds().intersects(hit.getBounds()) && r.map.getZoom() >= 13; }}""")
    assert inside
    # the capacity view has the same box
    view.goto(f"{server}/maps/access?type={TYPE}")
    view.wait_for_selector(".sq-search input")
    view.fill(".sq-search input", name)
    view.press(".sq-search input", "Enter")
    view.wait_for_selector(".leaflet-tooltip")
    assert name in view.inner_text(".leaflet-tooltip")
    assert view.console_errors == [] and view.external_requests == []


def test_a_colour_blind_screenshot_keeps_the_statuses_apart(server: str, browser, shot, outcome) -> None:
    """Chromium's own deuteranopia emulation (CDP): the picture for the docs (around a covered compound, so
    every status is in it), and the legend's status symbols as rendered stay apart."""
    from PIL import Image

    long = outcome.result.long
    covered = long[(long["type"] == TYPE) & long["covered"]]["residence"].to_numpy()
    middle = outcome.result.residences.geometry.iloc[int(covered[0])].representative_point()

    context = browser.new_context(viewport={"width": 1440, "height": 900})
    page = context.new_page()
    cdp = page.context.new_cdp_session(page)
    cdp.send("Emulation.setEmulatedVisionDeficiency", {"type": "deuteranopia"})
    _open(page, f"{server}/maps/coverage?types={TYPE}&types=market#v=16/{middle.y:.5f}/{middle.x:.5f}")
    page.wait_for_timeout(500)  # the canvas settles before the picture
    page.screenshot(path=shot("coverage-deuteranopia.png"))
    seen = {}
    for code, _colour, _shape, _zh, _en in STATUSES:
        png = page.locator(f"#legend li[data-key=status-{code}] svg").screenshot()
        pixels = np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).reshape(-1, 3).astype(int)
        # the symbol's own colour: neither its black edge nor the white around it
        coloured = pixels[(pixels.sum(axis=1) > 150) & (pixels.min(axis=1) < 215)]
        assert len(coloured) > 5, code
        seen[code] = tuple(np.median(coloured, axis=0))
    for a, b in itertools.combinations(seen, 2):
        delta = float(np.linalg.norm(_seen(seen[a], None) - _seen(seen[b], None)))
        assert delta >= 30, (a, b, seen[a], seen[b], delta)
    # the emulation is on: each rendered status colour is nearer its simulated self than its own colour
    for code, colour, _shape, _zh, _en in STATUSES:
        rendered = _lab(_linear(_rgb(seen[code])))
        simulated, plain = _seen(colour, "deuteranopia"), _seen(colour, None)
        assert np.linalg.norm(rendered - simulated) < np.linalg.norm(rendered - plain), (code, seen[code])
    context.close()
