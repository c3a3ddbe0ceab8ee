"""The pages on a 390×844 phone (touch, a coarse pointer) and at 1440×900, in Chromium on the demo: the
bar's menu reaches the login, the logout and the language; the side panel folds so the map takes the
screen; the legend and the layer list fold too; every control is a 44 px touch target; nothing scrolls
sideways; pinch-zoom is allowed; 定位 (locate me) shows where the phone is or says why it cannot. And the
vendored scripts are cached by browsers while the app's own are checked on every visit."""

from __future__ import annotations

import re
from collections.abc import Iterator

import httpx
import pandas as pd
import pytest
from conftest import live_server

from shequ.api.app import create_app
from shequ.layers.store import Store
from shequ.settings import Settings

PASSWORD = "shequ-demo"
PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True}
DESKTOP = {"viewport": {"width": 1440, "height": 900}}
MAPS = ["/maps/coverage", "/maps/access"]
#: what a finger presses: buttons, fields, the bar's links, the map's controls, a checkbox's label (the box
#: itself is inside it); links inside running text (the map's attribution too) are exempt (WCAG 2.5.5's inline
#: exception)
CONTROLS = ("button, select, summary, a.sq, .sq-downloads a, header a, .leaflet-bar a, "
            "a.leaflet-control-layers-toggle, "
            "input:not([type=checkbox]):not([type=radio]):not([type=hidden]), "
            "label:has(> input[type=checkbox]), label:has(> input[type=radio])")
TOO_SMALL_JS = """(selector) => [...document.querySelectorAll(selector)].filter(el => {
  const r = el.getBoundingClientRect(), s = getComputedStyle(el);
  if (r.width === 0 || r.height === 0 || s.visibility === 'hidden') { return false; }
  if (r.bottom < 0 || r.right < 0 || r.top > innerHeight || r.left > innerWidth) { return false; }
  if (el.closest('[hidden]')) { return false; }
  return r.width < 43.5 || r.height < 43.5;
}).map(el => `${el.tagName.toLowerCase()}#${el.id}.${el.className} "${el.textContent.trim().slice(0, 20)}" `
              + `${Math.round(el.getBoundingClientRect().width)}×${Math.round(el.getBoundingClientRect().height)}`)"""
#: the folium map of a page
MAP_JS = "Object.keys(window).filter(k => /^map_[0-9a-f]+$/.test(k)).map(k => window[k])[0]"


@pytest.fixture(scope="module")
def server(demo_db: str) -> Iterator[str]:
    """The demo with the default access (analyses need a login)."""
    with live_server(create_app(demo_db, Settings(database_url=demo_db))) as base:
        yield base


@pytest.fixture
def phone(browser):
    context = browser.new_context(**PHONE)
    page = context.new_page()
    page.errors = []
    page.on("pageerror", lambda e: page.errors.append(str(e)))
    yield page
    context.close()


@pytest.fixture
def desktop(browser):
    context = browser.new_context(**DESKTOP)
    page = context.new_page()
    page.errors = []
    page.on("pageerror", lambda e: page.errors.append(str(e)))
    yield page
    context.close()


def _log_in(page, base: str, user: str = "planner") -> None:
    page.goto(f"{base}/")
    page.evaluate("([u, p]) => shequ.login(u, p)", [user, PASSWORD])


def _inside(page, selector: str) -> bool:
    """Shown, and wholly inside the viewport (no scrolling needed to reach it)."""
    box = page.locator(selector).bounding_box()
    size = page.viewport_size
    return (page.is_visible(selector) and box is not None and box["x"] >= 0 and box["y"] >= 0
            and box["x"] + box["width"] <= size["width"] + 0.5 and box["y"] + box["height"] <= size["height"] + 0.5)


def _ready(page, path: str) -> None:
    """Wait for what the page draws or fetches after its load event."""
    if path.startswith("/maps/"):
        page.wait_for_selector(".leaflet-control-layers")
    elif path == "/edit/grids":
        page.wait_for_selector("#community option", state="attached")
    elif path == "/exports":
        page.wait_for_load_state("networkidle")


def _no_sideways_scroll(page) -> None:
    width = page.viewport_size["width"]
    assert page.evaluate("innerWidth") == width  # a phone zooms out a page that is too wide
    assert page.evaluate("document.documentElement.scrollWidth") <= width


def test_the_menu_reaches_login_logout_and_language_on_a_phone(server: str, phone) -> None:
    page = phone
    page.goto(f"{server}/")
    assert _inside(page, "#sq-menu-button") and page.get_attribute("#sq-menu-button", "aria-expanded") == "false"
    assert not page.is_visible("#sq-login-link") and not page.is_visible("#sq-lang")  # folded away
    _no_sideways_scroll(page)

    page.tap("#sq-menu-button")
    assert page.get_attribute("#sq-menu-button", "aria-expanded") == "true"
    for selector in ("#sq-login-link", "#sq-lang", "#sq-menu a[href='/maps/coverage']", "#sq-menu a[href='/exports']"):
        assert _inside(page, selector), selector
    page.keyboard.press("Escape")  # Escape folds it
    assert not page.is_visible("#sq-login-link")
    assert page.get_attribute("#sq-menu-button", "aria-expanded") == "false"

    page.tap("#sq-menu-button")
    page.tap("#sq-login-link")  # the login dialog opens; the menu folds
    assert _inside(page, "#sq-login-box form") and not page.is_visible("#sq-menu a[href='/exports']")
    assert page.get_attribute("#sq-login-box", "role") == "dialog"
    page.keyboard.press("Escape")  # Escape closes it too
    assert page.locator("#sq-login-box").count() == 0
    page.tap("#sq-menu-button")
    page.tap("#sq-login-link")
    page.fill("#sq-login-box input[name=username]", "planner")
    page.fill("#sq-login-box input[name=password]", PASSWORD)
    page.tap("#sq-login-box button[type=submit]")
    page.wait_for_selector("#sq-login-box", state="detached")

    page.goto(f"{server}/maps/coverage")  # the map's frame has the same menu
    page.wait_for_selector(".leaflet-control-layers")
    page.tap("#sq-menu-button")
    assert _inside(page, "#sq-logout") and "planner" in page.inner_text("#sq-user")
    assert _inside(page, "#sq-lang")
    page.tap("#sq-lang")
    assert page.evaluate("document.documentElement.lang") == "en"
    page.tap("#sq-menu-button")
    assert _inside(page, "#sq-lang") and page.inner_text("#sq-lang").strip() == "中文"
    page.tap("#sq-lang")
    assert page.evaluate("document.documentElement.lang") == "zh"
    page.tap("#sq-menu-button")
    page.tap("#sq-logout")
    page.tap("#sq-menu-button")
    assert _inside(page, "#sq-login-link") and page.evaluate("shequ.user()") is None
    assert page.errors == []


def test_the_bar_is_unfolded_on_a_desktop(server: str, desktop) -> None:
    page = desktop
    _log_in(page, server)
    page.goto(f"{server}/maps/coverage")
    page.wait_for_selector(".leaflet-control-layers")
    assert not page.is_visible("#sq-menu-button")
    for selector in ("#sq-logout", "#sq-lang", "header a[href='/reports/scorecard']"):
        assert _inside(page, selector), selector
    assert page.is_visible("aside.sq-panel") and page.is_visible("#legend")
    assert page.is_visible(".leaflet-control-layers-list")  # the layer list is open on a desktop
    assert page.errors == []


@pytest.mark.parametrize("width", [360, 430, 768, 901, 1024])
def test_the_bar_fits_and_reaches_everything_at_every_width(server: str, browser, width: int) -> None:
    """From a small phone to a narrow desktop, in both languages, logged in: nothing in the bar is pushed off
    the screen; the language switch and the logout are reached directly or through the menu."""
    context = browser.new_context(viewport={"width": width, "height": 800})
    page = context.new_page()
    _log_in(page, server)
    for lang in ("zh", "en"):
        page.evaluate(f"shequ.lang('{lang}')")
        page.goto(f"{server}/maps/coverage")
        page.wait_for_selector(".leaflet-control-layers")
        assert page.evaluate("(() => { const h = document.querySelector('header.sq-nav'); "
                             "return h.scrollWidth <= h.clientWidth; })()"), (width, lang)
        if page.is_visible("#sq-menu-button"):
            page.click("#sq-menu-button")
        assert _inside(page, "#sq-lang") and _inside(page, "#sq-logout"), (width, lang)
        _no_sideways_scroll(page)
    context.close()


@pytest.mark.parametrize("path", MAPS)
def test_the_panel_folds_and_the_map_takes_the_phone(server: str, phone, path: str, shot) -> None:
    page = phone
    _log_in(page, server)
    page.goto(f"{server}{path}")
    page.wait_for_selector(".leaflet-control-layers")
    area = 390 * 844

    def map_share() -> float:
        box = page.locator(".folium-map").bounding_box()
        size = page.evaluate(f"{MAP_JS}.getSize()")
        assert abs(size["x"] - box["width"]) <= 1 and abs(size["y"] - box["height"]) <= 1  # Leaflet knows its size
        return box["width"] * box["height"] / area

    # a phone starts with the panel folded: the map first
    assert not page.is_visible("aside.sq-panel")
    assert page.get_attribute("#sq-panel-button", "aria-expanded") == "false"
    assert map_share() >= 0.5
    page.tap("#sq-panel-button")
    assert page.is_visible("aside.sq-panel") and page.get_attribute("#sq-panel-button", "aria-expanded") == "true"
    page.wait_for_function(f"Math.abs({MAP_JS}.getSize().y - document.querySelector('.folium-map')"
                           ".getBoundingClientRect().height) <= 1")
    panel = page.locator("aside.sq-panel").bounding_box()
    assert panel["width"] >= 380  # the panel is the phone's width, above the map
    assert page.locator("aside.sq-panel select").first.is_visible()
    _no_sideways_scroll(page)
    page.tap("#sq-panel-button")
    assert not page.is_visible("aside.sq-panel")
    page.wait_for_function(f"Math.abs({MAP_JS}.getSize().y - document.querySelector('.folium-map')"
                           ".getBoundingClientRect().height) <= 1")
    assert map_share() >= 0.5

    # the legend and the layer list are folded to their buttons, and open and fold on a tap
    assert not page.is_visible("#legend") and not page.is_visible(".leaflet-control-layers-list")
    page.tap(".sq-legend-button")
    assert _inside(page, "#legend") and page.get_attribute(".sq-legend-button", "aria-expanded") == "true"
    legend = page.locator("#legend").bounding_box()
    assert legend["height"] <= 0.45 * 844  # it leaves most of the map in view
    page.screenshot(path=shot(f"phone-{path.rsplit('/', 1)[-1]}.png"))
    page.tap(".sq-legend-button")
    assert not page.is_visible("#legend")
    page.tap(".leaflet-control-layers-toggle")
    assert page.is_visible(".leaflet-control-layers-list")
    page.locator(".folium-map").tap(position={"x": 200, "y": 600})  # a tap on the map folds it again
    assert not page.is_visible(".leaflet-control-layers-list")
    assert page.errors == []


def test_the_panel_folds_on_a_desktop_too(server: str, desktop) -> None:
    page = desktop
    _log_in(page, server)
    page.goto(f"{server}/maps/access")
    page.wait_for_selector(".leaflet-control-layers")
    assert page.is_visible("aside.sq-panel") and page.get_attribute("#sq-panel-button", "aria-expanded") == "true"
    assert page.locator(".folium-map").bounding_box()["x"] >= 300
    page.click("#sq-panel-button")
    assert not page.is_visible("aside.sq-panel")
    assert page.locator(".folium-map").bounding_box()["x"] == 0
    page.wait_for_function(f"{MAP_JS}.getSize().x === innerWidth")
    page.click("#sq-panel-button")
    assert page.is_visible("aside.sq-panel")
    assert page.errors == []


def _pages(demo_db: str) -> list[tuple[str, str]]:
    code = pd.Series(Store(demo_db).read("communities")["code"]).iloc[0]
    return [("/", "planner"), ("/maps/coverage", "planner"), ("/maps/access", "planner"),
            ("/reports/scorecard", "planner"), (f"/reports/scorecard/{code}", "planner"),
            ("/reports/progress", "planner"), ("/exports", "planner"), ("/edit/grids", "wangge")]


def test_touch_targets_and_no_sideways_scroll_on_a_phone(server: str, phone, demo_db: str) -> None:
    """Every control a finger presses is at least 44 × 44 px, with the menu, the panel and the legend open."""
    page = phone
    assert page.evaluate("matchMedia('(pointer: coarse)').matches")
    user = ""
    for path, who in _pages(demo_db):
        if who != user:
            _log_in(page, server, who)
            user = who
        page.goto(f"{server}{path}")
        _ready(page, path)
        _no_sideways_scroll(page)
        if path.startswith("/maps/") or path == "/edit/grids":
            assert _inside(page, ".sq-locate"), path  # 定位 on every map
        small = page.evaluate(TOO_SMALL_JS, CONTROLS)
        if page.locator("#sq-panel-button").count():
            page.tap("#sq-panel-button")
            small += page.evaluate(TOO_SMALL_JS, CONTROLS)
            page.tap("#sq-panel-button")
        if page.locator(".sq-legend-button").count():
            page.tap(".sq-legend-button")
            page.tap(".leaflet-control-layers-toggle")
            small += page.evaluate(TOO_SMALL_JS, CONTROLS)
        page.tap("#sq-menu-button")
        small += page.evaluate(TOO_SMALL_JS, CONTROLS)
        _no_sideways_scroll(page)
        assert small == [], f"{path}: {sorted(set(small))}"
    assert page.errors == []


def test_pinch_zoom_is_allowed_on_every_page(server: str, demo_db: str) -> None:
    with httpx.Client(base_url=server, timeout=120) as client:
        assert client.post("/login", data={"username": "planner", "password": PASSWORD}).status_code == 200
        for path, _who in _pages(demo_db):
            html = client.get(path, headers={"Accept": "text/html"}).text
            metas = re.findall(r"<meta[^>]+name=\"viewport\"[^>]*>", html)
            assert len(metas) == 1, (path, metas)
            assert "user-scalable=no" not in metas[0] and "maximum-scale" not in metas[0], (path, metas)


def test_locate_me_shows_where_the_phone_is(server: str, browser) -> None:
    here = {"latitude": 30.6600, "longitude": 104.0700}
    context = browser.new_context(**PHONE, geolocation=here, permissions=["geolocation"])
    page = context.new_page()
    _log_in(page, server)
    page.goto(f"{server}/maps/access")
    page.wait_for_selector(".sq-locate")
    assert _inside(page, ".sq-locate") and "定位" in page.inner_text(".sq-locate")
    page.tap(".sq-locate")
    page.wait_for_selector(".sq-map-note >> text=你的位置")
    # the map flies there (an animated zoom): wait for it to arrive
    page.wait_for_function(f"([y, x]) => {{ const c = {MAP_JS}.getCenter(); "
                           "return Math.abs(c.lat - y) < 1e-4 && Math.abs(c.lng - x) < 1e-4; }",
                           arg=[here["latitude"], here["longitude"]], timeout=10_000)
    assert page.evaluate(f"{MAP_JS}.getZoom()") >= 16
    context.close()


def test_locate_me_says_why_when_the_position_is_refused(server: str, browser) -> None:
    context = browser.new_context(**PHONE)  # no permission granted: the browser refuses
    page = context.new_page()
    _log_in(page, server)
    page.goto(f"{server}/maps/access")
    page.wait_for_selector(".sq-locate")
    page.evaluate("navigator.permissions.query({name: 'geolocation'}).then(p => p.state)")
    page.tap(".sq-locate")
    note = page.locator(".sq-map-note.warn")
    note.wait_for()
    assert "定位被拒绝" in note.inner_text() and "设置" in note.inner_text()  # why, and what to do
    assert note.get_attribute("role") == "status"
    page.tap(".sq-map-note-close")
    assert page.locator(".sq-map-note").count() == 0
    context.close()


def test_vendored_files_are_cached_and_the_app_s_own_are_revalidated(server: str) -> None:
    with httpx.Client(base_url=server) as client:
        vendored = client.get("/static/vendor/leaflet/leaflet.js", headers={"Accept-Encoding": "gzip"})
        own = client.get("/static/shequ.js")
        again = client.get("/static/shequ.js", headers={"If-None-Match": own.headers["etag"]})
    assert vendored.headers["cache-control"] == "public, max-age=604800"
    assert vendored.headers["content-encoding"] == "gzip"
    assert own.headers["cache-control"] == "no-cache" and again.status_code == 304
