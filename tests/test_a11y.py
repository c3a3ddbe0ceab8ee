"""Accessibility: axe-core (vendored from npm in tests/vendor/axe-core, for the tests only — the pages never
load it) finds no serious or critical violation on any page, at 1440×900 and on a 390×844 phone, logged in as
the user who would open it: the home page, the coverage, access and comparison maps, the scorecards, the
progress report, the grid editor (a grid manager), the exports, and the login dialog. And keyboard focus is
always visible."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import httpx
import pandas as pd
import pytest
from conftest import live_server

from shequ.api.app import create_app
from shequ.layers.store import Store
from shequ.settings import Settings

AXE = Path(__file__).parent / "vendor" / "axe-core" / "axe.min.js"
PASSWORD = "shequ-demo"
VIEWPORTS = {"desktop": {"viewport": {"width": 1440, "height": 900}},
             "phone": {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True}}
SCENARIO = "axe-check"
#: the violations that fail the test, and how each is reported
SERIOUS = ("serious", "critical")
AXE_JS = """async () => (await axe.run(document, {resultTypes: ['violations']})).violations
  .filter(v => ['serious', 'critical'].includes(v.impact))
  .map(v => `${v.impact} ${v.id} (${v.help}): ` + v.nodes.slice(0, 5).map(n => n.target.join(' ')).join(' | '))"""

#: the focused element and the width of its focus ring
RING_JS = """() => { const el = document.activeElement, s = getComputedStyle(el);
  return {what: el.tagName + '#' + el.id + ' ' + (el.textContent || '').trim().slice(0, 15),
          width: s.outlineStyle === 'none' ? 0 : parseFloat(s.outlineWidth), body: el === document.body}; }"""


@pytest.fixture(scope="module")
def site(demo_db: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    """A private copy of the demo, served, with a scenario made through the API (the demo has none) for the
    comparison map."""
    folder = tmp_path_factory.mktemp("a11y")
    shutil.copyfile(demo_db.removeprefix("sqlite:///"), folder / "shequ.db")
    url = f"sqlite:///{folder / 'shequ.db'}"
    code = pd.Series(Store(url).read("communities")["code"]).iloc[0]
    with live_server(create_app(url, Settings(database_url=url))) as base, httpx.Client(base_url=base,
                                                                                        timeout=120) as client:
        token = client.post("/login", data={"username": "planner", "password": PASSWORD}).json()["access_token"]
        auth = {"Authorization": f"Bearer {token}"}
        point = client.get("/collections/facilities/items?limit=1", headers=auth).json()["features"][0]["geometry"]
        made = client.post("/scenarios", json={"name": SCENARIO, "title": "无障碍检查"}, headers=auth)
        assert made.status_code == 201, made.text
        changed = client.post(f"/scenarios/{SCENARIO}/changes", headers=auth, json={"changes": [
            {"kind": "add_facility", "properties": {"type": "kindergarten", "name": "新幼儿园"},
             "geometry": {"type": "Point", "coordinates": [point["coordinates"][0] + 0.004,
                                                           point["coordinates"][1] + 0.003]}}]})
        assert changed.status_code == 200, changed.text
        yield {"base": base, "code": code}


def _pages(code: str) -> list[tuple[str, str]]:
    """(path, user): each page as the user who would open it."""
    return [("/", "planner"), ("/maps/coverage", "planner"), ("/maps/access", "planner"),
            (f"/maps/compare?scenario={SCENARIO}", "planner"), ("/reports/scorecard", "bureau"),
            (f"/reports/scorecard/{code}", "bureau"), ("/reports/progress", "bureau"),
            ("/edit/grids", "wangge"), ("/exports", "planner")]


def _ready(page, path: str) -> None:
    """Wait for what the page draws or fetches after its load event."""
    if path.startswith("/maps/"):
        page.wait_for_selector(".leaflet-control-layers")
    elif path == "/edit/grids":
        page.wait_for_selector("#community option", state="attached")
        page.wait_for_selector(".leaflet-interactive")  # the grids are drawn
    elif path == "/exports":
        page.wait_for_load_state("networkidle")


def _axe(page) -> list[str]:
    if not page.evaluate("typeof window.axe === 'object'"):
        page.add_script_tag(path=str(AXE))
    return page.evaluate(AXE_JS)


@pytest.mark.parametrize("device", VIEWPORTS)
def test_no_serious_or_critical_violation_on_any_page(site: dict, browser, device: str) -> None:
    base = site["base"]
    context = browser.new_context(**VIEWPORTS[device])
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    found: dict[str, list[str]] = {}

    # the login dialog, logged out
    page.goto(f"{base}/")
    page.evaluate("() => { shequ.askLogin('请登录 Please log in'); }")
    page.wait_for_selector("#sq-login-box input[name=username]")
    found["login dialog"] = _axe(page)

    user = ""
    for path, who in _pages(site["code"]):
        if who != user:
            page.goto(f"{base}/")
            page.evaluate("([u, p]) => shequ.login(u, p)", [who, PASSWORD])
            user = who
        response = page.goto(f"{base}{path}")
        assert response is not None and response.status == 200, path
        _ready(page, path)
        found[path] = _axe(page)
        if device == "phone":  # and with what the phone folds away opened
            page.tap("#sq-menu-button")
            if page.locator("#sq-panel-button").count():
                page.tap("#sq-panel-button")
            if page.locator(".sq-legend-button").count():
                page.tap(".sq-legend-button")
            found[path + " (menu, panel, legend open)"] = _axe(page)
    context.close()
    assert {where: v for where, v in found.items() if v} == {}
    assert errors == []


def test_keyboard_focus_is_visible(site: dict, browser) -> None:
    """Tab through the bar, the panel and the map's controls: every stop shows a ring of at least 2 px."""
    base = site["base"]
    context = browser.new_context(**VIEWPORTS["desktop"])
    page = context.new_page()
    page.goto(f"{base}/")
    page.evaluate("([u, p]) => shequ.login(u, p)", ["planner", PASSWORD])
    for path in ("/", "/maps/access"):
        page.goto(f"{base}{path}")
        _ready(page, path)
        unseen = []
        for _ in range(20):
            page.keyboard.press("Tab")
            ring = page.evaluate(RING_JS)
            if not ring["body"] and ring["width"] < 2:
                unseen.append(ring["what"])
        assert unseen == [], path
    context.close()
