"""One language at a time on the map pages (issue 14): in Chromium on the demo, the coverage, capacity-access
and comparison pages in Chinese show no English word in their legend, layer list and form (only the
allowed names and units), and after the 中文/English switch, without a reload, the legend, the layer list
and the form's options are English — also after the coverage map is recomputed in place."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from conftest import live_server

from shequ.api.app import create_app
from shequ.settings import Settings
from shequ.usecases import scenarios
from shequ.usecases.access import LOCAL
from shequ.usecases.siting import SitingQuery, plan_sites
from shequ.usecases.workspace import Workspace

#: Latin words a Chinese page may show: names, units, formats and methods (everything else is English)
ALLOWED = {"shequ", "m", "km", "OSM", "OpenStreetMap", "Leaflet", "XYZ", "GCJ-02", "WGS84", "CGCS2000", "tk", "CSV",
           "GeoJSON", "XLSX", "PDF", "E2SFCA", "2SFCA", "units"}
CJK = re.compile(r"[\u3400-\u9fff\uff00-\uffef\u3000-\u303f]")
SCENARIO = "新幼儿园"
#: what a reader sees, and the texts of what holds no markup (options, prompts, names for a screen reader)
SEEN_JS = """([sel, attrs]) => { const out = [];
  // the notes quote their sources and commands as they are (a citation, a command line): not read here
  const quoted = Array.from(document.querySelectorAll('ul.sq-notes'));
  quoted.forEach((q) => { q.style.display = 'none'; });
  document.querySelectorAll(sel).forEach((el) => {
    out.push(el.innerText);
    if (!attrs) { return; }
    el.querySelectorAll('option').forEach((o) => out.push(o.textContent));
    el.querySelectorAll('[placeholder], [title], [aria-label]').forEach((e) => {
      ['placeholder', 'title', 'aria-label'].forEach((a) => {
        if (e.hasAttribute(a)) { out.push(e.getAttribute(a)); } });
    });
  });
  quoted.forEach((q) => { q.style.display = ''; });
  return out.join('\\n'); }"""


def _english(text: str) -> list[str]:
    """The words of three or more Latin letters that are not on the allowed list (an address is an example
    to type, not a word)."""
    words = re.findall(r"[A-Za-z0-9][A-Za-z0-9\-]*", re.sub(r"https?://\S+", "", text))
    return sorted({w for w in words if len(re.sub(r"[^A-Za-z]", "", w)) >= 3 and w not in ALLOWED})


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, demo_db: str) -> Iterator[str]:
    """The demo with a scenario holding one planned kindergarten (at the best site), served."""
    import shutil

    path = tmp_path_factory.mktemp("language") / "shequ.db"
    shutil.copy(demo_db.removeprefix("sqlite:///"), path)
    url = f"sqlite:///{path}"
    ws = Workspace.open(url, Settings(database_url=url))
    try:
        best = plan_sites(ws, SitingQuery.parse("kindergarten", add=1), user=LOCAL).sites.iloc[0]
        scenarios.create(ws, SCENARIO, user=LOCAL)
        scenarios.add_changes(ws, SCENARIO, [scenarios.facility_change("kindergarten", best["lon"], best["lat"],
                                                                       capacity=90, name="规划幼儿园")], user=LOCAL)
    finally:
        ws.close()
    app = create_app(url, Settings(database_url=url, analyses_access="public"))
    with live_server(app) as base:
        yield base
    app.state.store.dispose()


PAGES = {
    "coverage": ("/maps/coverage?types=kindergarten&types=market", "#sq-coverage-form"),
    "access": ("/maps/access?type=kindergarten", "#sq-access-form"),
    "compare": (f"/maps/compare?scenario={SCENARIO}&types=kindergarten", None),
}


@pytest.mark.parametrize("name", list(PAGES))
def test_one_language_at_a_time(server: str, page, shot, name: str) -> None:
    path, form = PAGES[name]
    page.set_viewport_size({"width": 1440, "height": 900})
    page.goto(server + path, timeout=120_000)
    page.wait_for_selector(".leaflet-control-layers")
    page.wait_for_selector(".sq-search input")
    assert page.evaluate("document.documentElement.lang") == "zh"
    # the panel's visible text; the legend, the layer list, the search and the form with their options and
    # attributes too (the panel's badges have a rule's source as their title: a citation, left as it is)
    parts = {"legend": "#legend", "layers": ".leaflet-control-layers", "search": ".sq-search",
             "panel": "aside.sq-panel", **({"form": form} if form else {})}
    for part, sel in parts.items():
        seen = page.evaluate(SEEN_JS, [sel, part != "panel"])
        assert CJK.search(seen), (name, part, seen)  # it shows something, in Chinese
        assert _english(seen) == [], (name, part, [line for line in seen.splitlines() if _english(line)])
    page.screenshot(path=shot(f"language-{name}-zh.png"), full_page=False)

    # English, without a reload
    page.click("#sq-lang")
    assert page.evaluate("document.documentElement.lang") == "en"
    legend = page.inner_text("#legend")
    layers = page.inner_text(".leaflet-control-layers")
    heads = "#legend li.sq-leg-head, #legend > b" if name == "coverage" else "#legend > div:not(:last-child)"
    for head in page.locator(heads).all_inner_texts():
        assert not CJK.search(head), (name, head)
    assert "Legend" in legend or name != "coverage"
    assert ("Facilities" if name == "coverage" else "facility") in legend, legend
    assert "Residences" in layers and not CJK.search(layers.replace(SCENARIO, "")), layers
    assert "Search" in page.get_attribute(".sq-search input", "placeholder")
    if form:
        options = page.evaluate(f"() => Array.from(document.querySelectorAll('{form} option'))"
                                ".map(o => o.textContent)")
        assert "Current layers" in options
        if name != "coverage":  # the coverage form lists the communities by their (Chinese) names: below
            assert [o for o in options if CJK.search(o.replace(SCENARIO, ""))] == [], options
    page.screenshot(path=shot(f"language-{name}-en.png"), full_page=False)

    if name == "coverage":
        # a community's name is Chinese data: the area list keeps it, the rest of the options are English
        area = page.evaluate("() => Array.from(document.querySelectorAll('#sq-area > option, #sq-level option,"
                             " #sq-basemap option, #sq-scenario option')).map(o => o.textContent)")
        assert "All communities" in area and "per facility type (catalog)" in area
        assert [o for o in area if CJK.search(o.replace(SCENARIO, ""))] == [], area
        # recomputed in place: the new panel and legend follow the language too
        page.evaluate("() => shequ.coverage.recompute(location.pathname + location.search, false)")
        page.wait_for_function("() => window.shequCoverage && window.shequCoverage._sqSetUp")
        assert page.evaluate("() => document.querySelector('#sq-area option').textContent") == "All communities"
        assert page.evaluate("() => document.querySelector('#sq-show option:checked').textContent") == "Kindergarten"
        assert "Facilities" in page.inner_text("#legend")

    # and back to Chinese
    page.click("#sq-lang")
    assert "Residences" not in page.inner_text(".leaflet-control-layers")
    assert "Facilities" not in page.inner_text("#legend") and "facility" not in page.inner_text("#legend")
    if form:
        assert page.evaluate(f"() => document.querySelector('{form} option').textContent") != "Current layers"
    assert page.console_errors == [] and page.external_requests == []
