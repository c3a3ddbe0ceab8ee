"""Exports tell the truth: the area list comes from ``GET /areas`` (codes and names, no geometry), a layer
with no feature in the chosen area is a message and no file, "N files downloaded" counts the files
saved, features without a community code are found by the area's outline, and each box sits on the
line of its label — on a desktop and on a 390×844 phone."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import geopandas as gpd
import pytest
from conftest import live_server
from fastapi.testclient import TestClient

from shequ.api.app import create_app
from shequ.layers import users
from shequ.layers.schema import LAYERS
from shequ.layers.store import Store
from shequ.layers.validate import validate
from shequ.settings import Settings
from shequ.usecases.areas import areas
from shequ.usecases.demo import DEMO_PASSWORD
from shequ.usecases.transfer import select
from shequ.usecases.workspace import Workspace

import samples

PHONE = {"width": 390, "height": 844}


# ---- the use cases and the API, on both backends -------------------------------------------------------
@pytest.fixture
def loaded(db_url: str) -> Iterator[str]:
    store = Store(db_url)
    store.write_layers({n: validate(f(), LAYERS[n], source=n) for n, f in samples.SAMPLES.items()})
    users.add_user(store.engine, "bureau", "pw-bureau-1", "bureau", [])
    store.dispose()
    yield db_url


def test_areas_are_codes_and_names_and_features_without_a_code_are_found_by_outline(loaded: str) -> None:
    ws = Workspace.open(loaded, Settings(database_url=loaded))
    try:
        found = areas(ws)
        # the street is named by the subdistricts layer; only streets with communities are areas
        assert [(a.code, a.name, a.parent) for a in found.streets] == [("510104017", "锦官驿街道", "锦江区")]
        assert [(a.code, a.name, a.parent) for a in found.communities] == [
            (samples.CODE_A, "水井坊社区", "510104017"), (samples.CODE_B, "崇德里社区", "510104017")]
        # R2 has no community code but lies in B: it belongs to B's export (it used to be in none)
        assert select(ws, "residences", area=samples.CODE_B)["id"].tolist() == ["R2"]
        assert select(ws, "residences", area=samples.CODE_A)["id"].tolist() == ["R1"]
        assert sorted(select(ws, "residences", area="510104017")["id"]) == ["R1", "R2"]
        assert sorted(select(ws, "facilities", area=samples.CODE_A)["id"]) == ["F1", "F3"]
        # a box that misses the area: nothing, not everything
        assert select(ws, "residences", area=samples.CODE_B, bbox=(104.0, 30.0, 104.01, 30.01)).empty
    finally:
        ws.store.dispose()


def test_the_export_says_how_many_features_and_areas_have_no_geometry(loaded: str, tmp_path: Path) -> None:
    app = create_app(loaded)
    with TestClient(app) as c:
        body = c.get("/areas").json()
        assert set(body) == {"streets", "communities"}
        assert all(set(a) == {"code", "name", "parent"} for a in body["streets"] + body["communities"])
        assert "coordinates" not in json.dumps(body)
        token = c.post("/token", data={"username": "bureau", "password": "pw-bureau-1"}).json()["access_token"]
        auth = {"Authorization": f"Bearer {token}"}
        r = c.get(f"/exports/residences?format=geojson&area={samples.CODE_B}", headers=auth)
        assert r.status_code == 200 and r.headers["X-Feature-Count"] == "1"
        assert [f["properties"]["id"] for f in r.json()["features"]] == ["R2"]
        r = c.get("/exports/lifecircles?format=gpkg&bbox=104.0,30.0,104.01,30.01", headers=auth)  # nothing there
        (path := tmp_path / "l.gpkg").write_bytes(r.content)
        assert r.headers["X-Feature-Count"] == str(len(gpd.read_file(path))) == "0"
    app.state.store.dispose()


# ---- the page in Chromium, on the demo ----------------------------------------------------------------------
@pytest.fixture
def served(demo_copy: str) -> Iterator[tuple[str, Store]]:
    app = create_app(demo_copy)
    with live_server(app) as base:
        yield base, app.state.store
    app.state.store.dispose()


def test_the_area_list_is_a_fraction_of_the_community_outlines(served) -> None:
    """The figure the issue quotes: the list used to cost every community's geometry."""
    import httpx

    base, _ = served
    plain = {"Accept-Encoding": "identity"}
    before = len(httpx.get(f"{base}/collections/communities/items?limit=10000", headers=plain).content)
    after = len(httpx.get(f"{base}/areas", headers=plain).content)
    print(f"area list: {before} bytes of communities with geometry → {after} bytes from /areas")
    assert after * 10 < before


@pytest.fixture(params=["desktop", "phone"])
def viewport(request: pytest.FixtureRequest, page):
    if request.param == "phone":
        page.set_viewport_size(PHONE)
    return request.param


def _login(page) -> None:
    page.fill("#sq-login-box input[name=username]", "bureau")
    page.fill("#sq-login-box input[name=password]", DEMO_PASSWORD)
    page.click("#sq-login-box button[type=submit]")


def _empty_community(store: Store) -> tuple[str, str]:
    """A community of the demo with no facility inside it: (code, name)."""
    comm, fac = store.read("communities"), store.read("facilities")
    inside = gpd.sjoin(fac, comm[["code", "geometry"]], predicate="intersects")["code"]
    empty = comm[~comm["code"].isin(set(inside))].iloc[0]
    return str(empty["code"]), str(empty["name"])


def test_an_empty_export_is_a_message_not_a_file(shot, page, viewport, served) -> None:
    base, store = served
    code, name = _empty_community(store)
    downloads = []
    page.on("download", lambda d: downloads.append(d))
    requested = []
    page.on("request", lambda r: requested.append(r.url))
    page.goto(f"{base}/exports")
    page.wait_for_selector(f"#area option[value='{code}']", state="attached")
    assert not any("/collections/communities" in u for u in requested)  # the light list only
    assert page.locator("#area option[value='']").inner_text() == "全部（不限范围）"
    page.select_option("#area", code)
    page.uncheck("input[name=layer][value=grids]")
    page.check("input[name=layer][value=facilities]")
    page.click("#download")
    _login(page)
    page.wait_for_function("document.getElementById('msg').className.includes('warn')"
                           " && !document.getElementById('msg').textContent.includes('正在')")
    text = page.inner_text("#msg")
    assert "所选范围内没有设施（0 个要素）" in text and name in text, text
    assert "已下载" not in text
    assert "所选范围内没有设施（0 个要素）" in page.inner_text("#done li.empty")
    page.wait_for_timeout(300)  # a download would have started by now
    assert downloads == []
    page.screenshot(path=shot(f"exports_empty_{viewport}.png"))
    # in English, the words follow the switch; the option too
    page.evaluate("shequ.lang('en')")  # the switch's own place in the header is another test's
    assert "No facilities in the chosen area (0 features)" in page.inner_text("#msg")
    assert page.locator("#area option[value='']").inner_text() == "Everything (no area)"
    assert page.console_errors == [] and page.external_requests == []


def test_a_real_export_downloads_and_only_real_files_are_counted(page, viewport, served, tmp_path: Path) -> None:
    base, store = served
    code, _ = _empty_community(store)
    page.goto(f"{base}/exports")
    page.wait_for_selector(f"#area option[value='{code}']", state="attached")
    page.select_option("#area", code)
    page.check("input[name=layer][value=facilities]")  # grids (checked) have features, facilities none
    page.check("input[name=format][value=csv]")
    page.click("#download")
    with page.expect_download() as info:
        _login(page)
    path = tmp_path / info.value.suggested_filename
    info.value.save_as(path)
    assert path.name == "grids.csv"
    import pandas as pd

    got = pd.read_csv(path, dtype={"code": str})
    assert sorted(got["code"]) == sorted(store.read("grids", where={"community_code": code})["code"])
    page.wait_for_function("document.getElementById('msg').textContent.includes('已下载')")
    text = page.inner_text("#msg")
    assert "已下载 1 个文件" in text and "设施" in text, text
    assert page.locator("#done li").count() == 2 and page.locator("#done li.empty").count() == 1
    assert page.console_errors == [] and page.external_requests == []


def test_every_box_is_on_the_line_of_its_label(page, viewport, served) -> None:
    base, _ = served
    page.goto(f"{base}/exports")
    boxes = page.locator("#export-form label.sq-choice")
    assert boxes.count() == len(LAYERS) + 4 + 2
    for i in range(boxes.count()):
        label = boxes.nth(i)
        box = label.locator("input").bounding_box()
        words = label.locator("span").first.bounding_box()
        assert box and words and box["width"] < 40, (i, box)
        # the same line: the box's middle within the words' line, the words right of the box
        middle = box["y"] + box["height"] / 2
        assert words["y"] <= middle <= words["y"] + words["height"], (label.inner_text(), box, words)
        assert words["x"] >= box["x"] + box["width"]
    # no "全部everything": the option shows one language
    assert page.locator("#area option[value='']").inner_text() == "全部（不限范围）"
    assert page.console_errors == [] and page.external_requests == []
