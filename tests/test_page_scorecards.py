"""The scorecard and progress pages in Chromium, on the demo, desktop and a 390×844 phone: tables sort by a
header (click or keyboard; numbers as numbers; aria-sort says how), each community links to its page, the
district maps are labelled and a click opens a community, a rule with several targets is one row, the
table downloads as CSV and XLSX, the print layout hides the controls, and every report page is a PDF
(WeasyPrint, offline, the Chinese in its text layer)."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import httpx
import pandas as pd
import pytest
from conftest import live_server

from shequ.api.app import create_app
from shequ.layers.store import Store
from shequ.settings import Settings
from shequ.web.pdf import static_file

PHONE = {"width": 390, "height": 844}


@pytest.fixture
def served(demo_copy: str) -> Iterator[tuple[str, Store]]:
    app = create_app(demo_copy, Settings(database_url=demo_copy, analyses_access="public"))
    with live_server(app) as base:
        yield base, app.state.store
    app.state.store.dispose()


@pytest.fixture(params=["desktop", "phone"])
def viewport(request: pytest.FixtureRequest, page):
    if request.param == "phone":
        page.set_viewport_size(PHONE)
    return request.param


def _column(page, table: str, key: str) -> list[str]:
    index = page.evaluate(f"[...document.querySelectorAll('{table} thead th')]"
                          f".findIndex(th => th.dataset.key === '{key}')")
    return page.evaluate(f"[...document.querySelectorAll('{table} tbody tr')].map(r => r.cells[{index}].dataset.sort"
                         f" ?? r.cells[{index}].textContent.trim())")


def test_the_community_table_sorts_by_a_number_up_then_down(shot, page, viewport, served) -> None:
    base, store = served
    page.goto(f"{base}/reports/scorecard")
    th = page.locator("#sq-communities thead th[data-key=households]")
    button = th.locator("button.sq-sort")
    assert th.get_attribute("aria-sort") == "none"
    button.click()
    assert th.get_attribute("aria-sort") == "ascending"
    up = [float(v) for v in _column(page, "#sq-communities", "households")]
    assert len(up) == len(store.read("communities")) and up == sorted(up) and up[0] < up[-1]
    button.focus()
    page.keyboard.press("Enter")  # the keyboard does the same
    assert th.get_attribute("aria-sort") == "descending"
    down = [float(v) for v in _column(page, "#sq-communities", "households")]
    assert down == sorted(up, reverse=True)
    # the other headers say they are not the order
    assert page.locator("#sq-communities thead th[aria-sort=none]").count() == \
        page.locator("#sq-communities thead th").count() - 1
    page.screenshot(path=shot(f"scorecard_sorted_{viewport}.png"))
    assert page.console_errors == [] and page.external_requests == []


def test_a_row_and_a_map_shape_open_the_community(page, viewport, served) -> None:
    base, store = served
    page.goto(f"{base}/reports/scorecard")
    row = page.locator("#sq-communities tbody tr").first
    code = row.get_attribute("data-code")
    name = store.read("communities", where={"code": code})["name"].iloc[0]
    row.locator("a").first.click()
    page.wait_for_url(f"**/reports/scorecard/{code}?profile=national")
    assert name in page.inner_text("h1")
    # the district maps: one label per community, with its name; a click on a shape opens it
    page.goto(f"{base}/reports/scorecard")
    labels = page.locator("svg.sq-map text.sq-map-label")
    assert labels.count() == len(store.read("communities"))
    shapes = page.locator("svg.sq-map a.sq-map-link")
    last = shapes.nth(shapes.count() - 1)
    href = last.get_attribute("href")
    target = href.split("/reports/scorecard/")[1].split("?")[0]
    title = last.locator("title").text_content()
    short = last.locator("text").text_content()
    assert target in title and short in store.read("communities", where={"code": target})["name"].iloc[0]
    last.locator("path").scroll_into_view_if_needed()
    last.locator("path").click()
    page.wait_for_url(f"**/reports/scorecard/{target}?profile=national")
    assert page.console_errors == [] and page.external_requests == []


def test_a_rule_with_two_targets_is_one_row(served, page) -> None:
    """The national profile's 'has a community service centre' has an urban and a rural 2025 target: the
    scorecard repeats its row per target, which the page used to show as the same rule three times."""
    base, _ = served
    page.goto(f"{base}/reports/scorecard")
    labels = page.locator("#sq-rules tbody tr td:first-child").all_inner_texts()
    firsts = [text.split("\n")[0] for text in labels]
    assert len(firsts) == len(set(firsts)), firsts
    row = page.locator("#sq-rules tr[data-rule=service_centre_present]")
    assert row.count() == 1
    targets = row.locator(".sq-target").all_inner_texts()
    assert len(targets) == 2 and "100%" in targets[0] and "80%" in targets[1], targets


def test_the_table_downloads_as_csv_and_xlsx(page, served, tmp_path: Path) -> None:
    base, store = served
    codes = sorted(store.read("communities")["code"])
    page.goto(f"{base}/reports/scorecard")
    got = {}
    for fmt in ("csv", "xlsx"):
        with page.expect_download() as info:
            page.click(f".sq-downloads a[href*='format={fmt}']")
        path = tmp_path / info.value.suggested_filename
        info.value.save_as(path)
        assert path.name == f"scorecard_national.{fmt}" and path.stat().st_size > 0
        got[fmt] = pd.read_csv(path, dtype={"code": str}) if fmt == "csv" else \
            pd.read_excel(path, sheet_name="communities 社区", dtype={"code": str})
    for frame in got.values():
        assert sorted(frame["code"]) == codes
        assert {"name", "households"} <= set(frame.columns)
    # one community: its verdict on every rule
    code = codes[0]
    page.goto(f"{base}/reports/scorecard/{code}")
    with page.expect_download() as info:
        page.click(".sq-downloads a[href*='format=csv']")
    verdicts = pd.read_csv(info.value.path(), dtype={"code": str})
    assert set(verdicts["code"]) == {code} and len(verdicts) > 3


def test_the_print_layout_shows_the_report_only(shot, page, served) -> None:
    base, _ = served
    page.goto(f"{base}/reports/scorecard")
    page.emulate_media(media="print")
    for hidden in ("header.sq-nav", ".sq-bar", ".sq-downloads"):
        assert not page.locator(hidden).first.is_visible(), hidden
    assert page.locator("#sq-communities thead th").first.is_visible()  # the headers stay (their buttons too)
    assert page.locator("#sq-communities thead th").first.evaluate("th => getComputedStyle(th).position") == "static"
    page.screenshot(path=shot("scorecard_print.png"), full_page=False)


def _pdf_text(body: bytes) -> tuple[int, str]:
    from pypdf import PdfReader

    assert body.startswith(b"%PDF-")
    reader = PdfReader(io.BytesIO(body))
    return len(reader.pages), "\n".join(p.extract_text() for p in reader.pages)


def test_every_report_page_is_a_pdf_with_its_chinese(served) -> None:
    base, store = served
    comm = store.read("communities")
    code, name = str(comm["code"].iloc[0]), str(comm["name"].iloc[0])
    with httpx.Client(base_url=base, timeout=120) as c:
        r = c.get("/reports/scorecard", params={"format": "pdf"})
        assert r.status_code == 200 and r.headers["content-type"] == "application/pdf"
        assert 'filename="scorecard_national.pdf"' in r.headers["content-disposition"]
        pages, text = _pdf_text(r.content)
        assert 2 <= pages <= 40 and name in text and "社区体检报告" in text
        assert "覆盖地图" not in text  # no navigation bar in print
        r = c.get(f"/reports/scorecard/{code}", params={"format": "pdf"})
        pages, text = _pdf_text(r.content)
        assert r.headers["content-type"] == "application/pdf" and 1 <= pages <= 10 and name in text
        r = c.get("/reports/progress", params={"format": "pdf"})
        pages, text = _pdf_text(r.content)
        assert r.headers["content-type"] == "application/pdf" and 1 <= pages <= 10 and "目标进度" in text


def test_the_pdf_maker_fetches_nothing_but_the_apps_own_files() -> None:
    body, media = static_file("https://shequ.invalid/static/shequ.css")
    assert media == "text/css" and b"sq-nav" in body
    for url in ("http://127.0.0.1:8000/static/shequ.css", "https://example.com/static/x.css",
                "https://shequ.invalid/static/../pdf.py", "https://shequ.invalid/api", "file:///etc/passwd"):
        with pytest.raises(ValueError):
            static_file(url)


def test_the_comparisons_report_part_is_a_pdf(served) -> None:
    """/maps/compare?format=pdf: the panel's numbers (no map), from the same use case as the page."""
    from shequ.layers.users import list_users
    from shequ.usecases.scenarios import add_changes, create, facility_change
    from shequ.usecases.workspace import Workspace

    base, store = served
    planner = next(u for u in list_users(store.engine) if u.name == "planner")
    ws = Workspace.open(store.url, Settings(database_url=store.url, analyses_access="public"))
    try:
        create(ws, "pdf-test", title="一所新幼儿园", user=planner)
        where = store.read("communities").geometry.iloc[0].point_on_surface()
        add_changes(ws, "pdf-test", [facility_change("kindergarten", where.x, where.y, capacity=180,
                                                     name="规划幼儿园")], user=planner)
    finally:
        ws.store.dispose()
    with httpx.Client(base_url=base, timeout=180) as c:
        page = c.get("/maps/compare", params={"scenario": "pdf-test", "types": "kindergarten"})
        assert page.status_code == 200 and "format=pdf" in page.text  # the panel links its PDF
        r = c.get("/maps/compare", params={"scenario": "pdf-test", "types": "kindergarten", "format": "pdf"})
        assert r.status_code == 200 and r.headers["content-type"] == "application/pdf", r.text[:300]
        pages, text = _pdf_text(r.content)
        assert 1 <= pages <= 5 and "方案比较" in text and "幼儿园" in text
