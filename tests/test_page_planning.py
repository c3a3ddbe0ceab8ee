"""The scenario flow in Chromium on the demo: a planner places a kindergarten by clicking the coverage
map, sees the comparison, goes back to the scenario, asks for the best sites, keeps them as a scenario
and sees what they change — offline, with no console error."""

from __future__ import annotations

import re

import pytest
from conftest import live_server

from shequ.api.app import create_app
from shequ.settings import Settings
from shequ.usecases.access import LOCAL
from shequ.usecases.siting import SitingQuery, plan_sites
from shequ.usecases.workspace import Workspace


def _number(text: str) -> int:
    return int(re.sub(r"[^\d\-+]", "", text))


@pytest.mark.slow
def test_place_compare_suggest_in_the_browser(demo_copy: str, page, shot) -> None:
    ws = Workspace.open(demo_copy, Settings(database_url=demo_copy))
    best = plan_sites(ws, SitingQuery.parse("kindergarten", add=1), user=LOCAL).sites.iloc[0]
    ws.close()
    app = create_app(demo_copy, Settings(database_url=demo_copy, analyses_access="public"))
    with live_server(app) as base:
        page.goto(f"{base}/maps/coverage?types=kindergarten", timeout=120_000)
        page.wait_for_selector(".leaflet-control-layers")
        page.fill("#sq-plan-name", "新幼儿园")
        page.select_option("#sq-plan-type", "kindergarten")
        page.fill("#sq-plan-capacity", "90")
        page.click("#sq-plan-click")
        # writing a scenario needs a planner: the login box opens, then the click mode is armed
        page.wait_for_selector("#sq-login-box")
        page.fill("#sq-login-box input[name=username]", "planner")
        page.fill("#sq-login-box input[name=password]", "shequ-demo")
        page.click("#sq-login-box button[type=submit]")
        page.wait_for_function("document.getElementById('sq-plan-msg').textContent.length > 0")
        # no animation: the click must land where the map will be, not where it is on the way
        page.evaluate(f"() => {{ window.shequMap.setView([{best['lat']}, {best['lon']}], 17, {{animate: false}}); }}")
        # the best site is now the map's centre: click the middle of the placing layer
        box = page.locator("#sq-plan-cover").bounding_box()
        centre = page.evaluate("() => { const c = window.shequMap.getCenter(); return [c.lat, c.lng]; }")
        assert centre == pytest.approx([best["lat"], best["lon"]], abs=1e-5)
        page.locator("#sq-plan-cover").click(position={"x": box["width"] / 2, "y": box["height"] / 2})
        try:
            page.wait_for_url("**/maps/compare?**", timeout=60_000)
        except Exception:
            raise AssertionError(page.inner_text("#sq-plan-msg") + " | " + str(page.console_errors)) from None
        row = page.locator("#sq-compare-totals tr[data-type=kindergarten]")
        change = _number(row.locator("td").nth(3).locator("b").inner_text())
        # the clicked point is the best single site: it covers what the siting found, to the metre's rounding
        assert change == pytest.approx(best["new_households"], abs=1)
        assert page.is_visible("#sq-compare-legend") and "新增覆盖" in page.inner_text("#sq-compare-legend")

        page.click("#sq-back")
        page.wait_for_selector("#sq-scenario-shown")
        assert page.locator("#sq-scenario").input_value() == "新幼儿园"
        page.fill("#sq-plan-name", "建议三处")
        page.fill("#sq-plan-k", "3")
        page.click("#sq-plan-suggest")
        assert "求解" in page.inner_text("#sq-plan-msg") or "Solving" in page.inner_text("#sq-plan-msg")
        page.wait_for_url("**/maps/compare?scenario=**", timeout=120_000)
        row = page.locator("#sq-compare-totals tr[data-type=kindergarten]")
        three = _number(row.locator("td").nth(3).locator("b").inner_text())
        assert three > change  # three sites on top of the first one cover more than it alone
        page.wait_for_selector(".leaflet-control-layers")
        layers = page.inner_text(".leaflet-control-layers")
        assert "新增覆盖" in layers and "建议/规划设施 (4)" in layers and "Proposed" not in layers
        page.wait_for_timeout(1000)  # the renderer redraws after fitting the bounds
        page.screenshot(path=shot("planning-compare.png"), full_page=False)
        xlsx = page.get_attribute("#sq-compare-xlsx", "href")
        assert page.request.get(f"{base}{xlsx}").status == 200
    assert page.console_errors == []
    assert page.external_requests == []
    app.state.store.dispose()


def test_the_capacity_access_view_says_what_it_assumes(demo_db: str, page, shot) -> None:
    """The coverage page links to the capacity view; without capacities it says it cannot measure, and
    with an assumed capacity it shows places per 1 000 labelled as an assumption — on a phone too."""
    app = create_app(demo_db, Settings(database_url=demo_db, analyses_access="public"))
    with live_server(app) as base:
        page.goto(f"{base}/maps/coverage?types=kindergarten", timeout=120_000)
        page.click("#sq-access-link a")
        page.wait_for_selector("#sq-access-summary")
        assert "容量可达性" in page.inner_text("h2")
        measured = page.locator("#sq-access-summary tr[data-measure=measured] td.num").inner_text()
        assert measured == "否"  # no capacity in the data: not measured
        page.fill("#sq-access-assume", "90")
        page.select_option("#sq-access-method", "e2sfca")
        page.click("#sq-access-form button[type=submit]")
        page.wait_for_url("**assume_capacity=90**")
        page.wait_for_selector(".leaflet-control-layers")
        per = page.locator("#sq-access-summary tr[data-measure=access_per_1000] td.num").inner_text()
        assert float(per.replace(",", "")) > 0
        assert "假设" in page.inner_text("ul.sq-notes")  # the assumption is said
        page.wait_for_timeout(800)
        page.screenshot(path=shot("access-view.png"), full_page=False)
        page.set_viewport_size({"width": 390, "height": 844})
        box = page.locator(".folium-map").bounding_box()
        assert box["width"] >= 380  # the map takes the phone's width
    assert page.console_errors == []
    assert page.external_requests == []
    app.state.store.dispose()
