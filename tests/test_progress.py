"""Progress by year: each dated target beside today's scorecard, the gap in communities, years left, and
the trend of the saved runs — on a hand-built town of seven communities, and through the three doors on
the demo (the command line's files, the page in Chromium, the JSON route)."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import geopandas as gpd
import httpx
import pandas as pd
import pytest
from conftest import live_server
from fastapi.testclient import TestClient
from shapely.geometry import MultiPolygon, Point, box
from sqlalchemy import inspect, text

from shequ.api.app import create_app
from shequ.cli import main
from shequ.errors import NotLoggedIn
from shequ.layers import results
from shequ.layers.profiles import load_profile
from shequ.layers.schema import LAYERS
from shequ.layers.store import Store
from shequ.layers.validate import validate
from shequ.settings import Settings
from shequ.usecases.access import LOCAL
from shequ.usecases.demo import DEMO_PASSWORD
from shequ.usecases.progress import gap, progress, write_progress
from shequ.usecases.workspace import Workspace

TODAY = date(2025, 6, 1)
#: the town's service centres: community → floor area (m²); communities 6 and 7 have none
CENTRES = {1: 400.0, 2: 350.0, 3: 300.0, 4: 120.0, 5: 80.0}


def _town() -> dict[str, gpd.GeoDataFrame]:
    """Seven communities in a row, 500 households each; five with a service centre, three of them ≥ 300 m²."""
    cells = [box(104.00 + 0.01 * k, 30.60, 104.0099 + 0.01 * k, 30.61) for k in range(7)]
    communities = gpd.GeoDataFrame({"code": [f"51010400100{k + 1}" for k in range(7)],
                                    "name": [f"第{k + 1}社区" for k in range(7)], "district": "锦江区",
                                    "households": [500] * 7, "population": [1250] * 7},
                                   geometry=[MultiPolygon([c]) for c in cells], crs=4326)
    facilities = gpd.GeoDataFrame({"id": [f"C{k}" for k in CENTRES], "type": "community_service_centre",
                                   "name": [f"第{k}社区党群服务中心" for k in CENTRES],
                                   "floor_area_m2": list(CENTRES.values())},
                                  geometry=[Point(104.005 + 0.01 * (k - 1), 30.605) for k in CENTRES], crs=4326)
    return {"communities": communities, "facilities": facilities}


def _rule(value, unit: str = "", clause: str = "第1条") -> dict:
    return {"value": value, "unit": unit, "applies_to": "every community", "source": "T", "clause": clause,
            "status": "verified", "scope": {"level": "community"}}


PROFILE = {
    "name": "testtown", "title_zh": "测试镇社区建设方案", "title_en": "Test town: community plan", "about": "",
    "sources": {"T": {"title": "测试镇社区建设方案", "year": 2020}},
    "rules": {
        "service_centre_types": _rule(["community_service_centre"], "types"),
        "service_centre_m2_per_100_households": _rule(30, "m²/100 households"),
        "service_centre_min_m2": _rule(300, "m²"),
        "targets": {**_rule([
            {"rule": "community_service_centre", "share": 1.0, "year": 2030, "applies_to": "every community",
             "clause": "第2条", "quote": "到2030年社区综合服务设施全覆盖"},
            {"rule": "service_centre_min_m2", "share": 0.5, "year": 2020, "applies_to": "every community",
             "clause": "第3条", "quote": "2020年服务用房300平米以上的社区达到50%"},
            {"rule": "harmonious_community", "share": 0.6, "year": 2027, "applies_to": "every community",
             "clause": "第4条", "quote": "60%的社区达到和谐社区标准"},
            {"rule": "social_organisations", "value": 15, "unit": "organisations per community", "year": 2026,
             "applies_to": "every community", "clause": "第5条", "quote": "平均每个社区有15个社区社会组织"},
        ], "share of communities", "第2–5条")},
    },
}


def _open_town(url: str, folder: Path, layers: tuple[str, ...] = ("communities", "facilities")
               ) -> tuple[Workspace, str]:
    """The town (``layers`` of it) written into the store at ``url``, and its profile file in ``folder``."""
    store = Store(url)
    for name, frame in _town().items():
        if name not in layers:
            continue
        store.write(name, validate(frame, LAYERS[name], source=name))
    path = folder / "testtown.json"
    path.write_text(json.dumps(PROFILE, ensure_ascii=False), encoding="utf-8")
    load_profile(str(path))  # a broken test profile fails here, not somewhere in the scorecard
    return Workspace(store, Settings(database_url=url)), str(path)


@pytest.fixture
def town(db_url: str, tmp_path: Path) -> Iterator[tuple[Workspace, str]]:
    """The town in a store of its own (both backends) and its profile file."""
    ws, profile = _open_town(db_url, tmp_path)
    yield ws, profile
    ws.close()


def _by_rule(outcome) -> dict[str, object]:
    return {t.rule: t for t in outcome.targets}


# ---- the arithmetic --------------------------------------------------------------------------------------
@pytest.mark.parametrize(("target", "communities", "meeting", "needed", "missing"), [
    (1.0, 7, 5, 7, 2),  # every community: two more
    (0.5, 7, 3, 4, 1),  # half of seven is 3.5: four must meet it
    (0.5, 7, 6, 4, 0),  # more than enough: never below 0
    (0.7, 10, 7, 7, 0),  # 0.7 × 10 is 7.000000000000001 in floating point: still 7
    (0.85, 20, 0, 17, 17),
    (0.3, 0, 0, 0, 0),  # no community it applies to
])
def test_gap_in_communities(target: float, communities: int, meeting: int, needed: int, missing: int) -> None:
    assert gap(target, communities, meeting) == (needed, missing)


def test_each_target_against_the_town_with_its_gap_and_years_left(town) -> None:
    ws, profile = town
    got = progress(ws, profile, user=LOCAL, local=True, record=False, today=TODAY)
    assert got.profile.name == "testtown" and got.communities == 7 and got.recorded is None and got.runs == []
    targets = _by_rule(got)
    assert list(targets) == ["community_service_centre", "service_centre_min_m2", "harmonious_community",
                             "social_organisations"]
    centre = targets["community_service_centre"]
    assert centre.measured and centre.measured_by == "service_centre_present"
    assert (centre.communities, centre.meeting, centre.needed, centre.gap) == (7, 5, 7, 2)
    assert centre.share == pytest.approx(5 / 7) and centre.target == 1.0
    assert (centre.year, centre.years_left, centre.state) == (2030, 5, "behind")
    assert centre.clause == "第2条" and "第2条" in centre.source and centre.quote == "到2030年社区综合服务设施全覆盖"
    assert centre.trend == []
    floor = targets["service_centre_min_m2"]
    assert floor.measured_by == "service_centre_min_m2"
    assert (floor.communities, floor.meeting, floor.needed, floor.gap) == (7, 3, 4, 1)
    assert (floor.years_left, floor.state) == (-5, "overdue")  # 2020 is past and the share is not reached
    # targets nothing measures are listed, with the reason
    harmony, organisations = targets["harmonious_community"], targets["social_organisations"]
    assert not harmony.measured and harmony.state == "not_measured" and harmony.gap is None
    assert "no rule of the scorecard measures" in harmony.reason and harmony.reason_zh and harmony.target == 0.6
    assert not organisations.measured and organisations.target is None
    assert "count or an average" in organisations.reason and "organisations per community" in organisations.reason
    assert [t.rule for t in got.not_measured] == ["harmonious_community", "social_organisations"]
    # the JSON shape
    body = json.loads(json.dumps(got.as_dict()))
    assert body["profile"] == "testtown" and body["today"] == "2025-06-01" and body["recorded"] is False
    row = next(t for t in body["targets"] if t["rule"] == "community_service_centre")
    assert {k: row[k] for k in ("target", "year", "meeting", "communities", "gap", "state", "trend")} == {
        "target": 1.0, "year": 2030, "meeting": 5, "communities": 7, "gap": 2, "state": "behind", "trend": []}


def test_met_when_enough_communities_meet_it(town) -> None:
    ws, profile = town
    doc = json.loads(Path(profile).read_text(encoding="utf-8"))
    doc["rules"]["targets"]["value"][1]["share"] = 0.4  # ⌈0.4 × 7⌉ = 3 communities: the town has 3
    Path(profile).write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    floor = _by_rule(progress(ws, profile, user=LOCAL, local=True, record=False, today=TODAY))["service_centre_min_m2"]
    assert (floor.needed, floor.gap, floor.state) == (3, 0, "met")


def test_a_target_the_data_cannot_judge_says_what_is_missing(tmp_path: Path) -> None:
    ws, profile = _open_town(f"sqlite:///{tmp_path / 'bare.db'}", tmp_path, layers=("communities",))
    got = _by_rule(progress(ws, profile, user=LOCAL, local=True, record=False, today=TODAY))
    ws.close()
    centre = got["community_service_centre"]
    assert centre.measured and centre.communities == 0 and centre.state == "no_data"
    assert centre.gap is None and centre.needed is None  # no gap of 0 where nothing is counted
    assert "import" in centre.reason and centre.reason_zh


def test_one_run_a_day_replaced_and_the_trend_of_earlier_runs(town) -> None:
    ws, profile = town
    engine = ws.store.engine
    # half a year ago: today's shares are saved as that day's run
    first = progress(ws, profile, user=LOCAL, local=True, today=date(2024, 12, 1))
    assert first.recorded is not None and first.runs == []
    saved = results.scorecard_history(engine, "testtown")
    assert [run["day"] for run in saved] == [date(2024, 12, 1)] and saved[0]["communities"] == 7
    # a year before that the town had two centres: a run inserted through the store's function
    older = [{**r, "meeting": 2, "share": 2 / 7} if r["rule"] == "service_centre_present" else r
             for r in saved[0]["rules"]]
    results.save_scorecard_run(engine, "testtown", older, communities=7, day=date(2023, 12, 1))
    # today, twice: one run for the day, the later one
    progress(ws, profile, user=LOCAL, local=True, today=TODAY)
    now = progress(ws, profile, user=LOCAL, local=True, today=TODAY)
    history = results.scorecard_history(engine, "testtown")
    assert [run["day"] for run in history] == [date(2023, 12, 1), date(2024, 12, 1), TODAY]
    with engine.connect() as conn:
        runs = conn.execute(text("SELECT count(*) FROM scorecard_runs WHERE profile = 'testtown'")).scalar_one()
        lines = conn.execute(text("SELECT count(*) FROM scorecard_run_rules")).scalar_one()
    assert runs == 3 and lines == sum(len(run["rules"]) for run in history)
    assert history[-1]["run_id"] == now.recorded
    # the trend: the earlier runs, oldest first, with their dates (today is "now", not a trend point)
    assert now.runs == ["2023-12-01", "2024-12-01"]
    centre = _by_rule(now)["community_service_centre"]
    assert [(p.date, p.meeting, p.communities) for p in centre.trend] == [("2023-12-01", 2, 7), ("2024-12-01", 5, 7)]
    assert [p.share for p in centre.trend] == pytest.approx([2 / 7, 5 / 7])
    floor = _by_rule(now)["service_centre_min_m2"]
    assert [(p.date, p.meeting) for p in floor.trend] == [("2023-12-01", 3), ("2024-12-01", 3)]
    assert _by_rule(now)["harmonious_community"].trend == []
    # saving a day again keeps the later numbers only
    results.save_scorecard_run(engine, "testtown", [{"rule": "x", "scope": "", "meeting": 1, "communities": 2,
                                                     "share": 0.5}], communities=2, day=date(2023, 12, 1))
    again = results.scorecard_history(engine, "testtown")
    assert len(again) == 3 and again[0]["rules"] == [{"rule": "x", "scope": "", "label": None, "communities": 2,
                                                      "meeting": 1, "share": 0.5}]
    assert results.scorecard_history(engine, "national") == []


def test_an_older_database_gets_the_runs_table(db_url: str) -> None:
    store = Store(db_url)
    with store.engine.begin() as conn:
        conn.execute(text("DROP TABLE scorecard_run_rules"))
        conn.execute(text("DROP TABLE scorecard_runs"))
    store.dispose()
    store = Store(db_url)  # opening it creates what is missing
    assert {"scorecard_runs", "scorecard_run_rules"} <= set(inspect(store.engine).get_table_names())
    results.save_scorecard_run(store.engine, "national", [], communities=0)
    assert len(results.scorecard_history(store.engine, "national")) == 1
    store.dispose()


def test_progress_needs_a_scorecard_login(town) -> None:
    ws, _ = town
    with pytest.raises(NotLoggedIn):
        progress(ws, "national", user=None)


def test_the_files_of_the_town(town, tmp_path: Path) -> None:
    ws, profile = town
    done = write_progress(ws, profile, tmp_path / "out", user=LOCAL, local=True)
    assert [f.name for f in done.files] == ["progress.html", "progress.csv", "progress.xlsx"]
    table = pd.read_csv(done.files[1])
    assert table["rule"].tolist() == ["community_service_centre", "service_centre_min_m2", "harmonious_community",
                                      "social_organisations"]
    assert table["gap"].tolist()[:2] == [2, 1] and table["measured"].tolist() == [True, True, False, False]
    html = done.files[0].read_text(encoding="utf-8")
    assert "目标进度" in html and "Progress towards the targets" in html and 'id="lang"' in html
    assert "harmonious_community" in html and "社区体检中没有衡量该项的规则" in html


def test_the_written_page_with_a_trend_in_chromium(tmp_path: Path, page, capsys) -> None:
    """The town's progress.html opened from the disk: the trend drawn, English on a click, no console error."""
    ws, profile = _open_town(f"sqlite:///{tmp_path / 'town.db'}", tmp_path)
    progress(ws, profile, user=LOCAL, local=True, today=date(2024, 12, 1))
    ws.close()
    out = tmp_path / "out"
    assert main(["--db", f"sqlite:///{tmp_path / 'town.db'}", "report", "progress", "--profile", profile,
                 "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "1 earlier run(s), the first on 2024-12-01" in printed
    line = next(row for row in printed.splitlines() if "has a community service centre" in row)
    assert "5/7 71%/100%" in line and line.split()[-3:] == ["71%", "→", "71%"]  # gap 2, trend 71 % → 71 %
    html = (out / "progress.html").read_text(encoding="utf-8")
    _offline(html)
    page.goto((out / "progress.html").as_uri())
    assert page.is_visible("h1 >> text=目标进度")
    assert page.locator("#progress-measured svg.trend").count() == 2  # the two measured targets
    assert page.locator("#progress-measured tr[data-state=overdue]").count() == 1
    assert page.locator("#progress-not-measured tr[data-rule]").count() == 2
    assert page.is_visible("text=2024-12-01 71%")
    page.click("#lang")
    assert page.is_visible("h1 >> text=Progress towards the targets") and not page.is_visible("h1 >> text=目标进度")
    assert page.is_visible("th >> text=Gap (communities)")
    assert page.console_errors == [] and page.external_requests == []


# ---- the doors on the demo ---------------------------------------------------------------------------
def _offline(html: str) -> None:
    """Nothing is loaded from anywhere: no script, style or picture from another address."""
    assert not re.findall(r"""(?:src|href)\s*=\s*["']?(?:https?:)?//|url\(\s*["']?(?:https?:)?//""", html)


@pytest.mark.parametrize("profile", ["zhuji", "xingtai"])
def test_the_command_writes_html_csv_and_xlsx_on_the_demo(demo_copy: str, tmp_path: Path, profile: str,
                                                          capsys) -> None:
    out = tmp_path / profile
    assert main(["--db", demo_copy, "report", "progress", "--profile", profile, "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert f"towards the targets of profile {profile}" in printed and "today's run saved" in printed
    assert "wrote " in printed
    html = (out / "progress.html").read_text(encoding="utf-8")
    assert "<script src" not in html and "<link" not in html
    _offline(html)
    assert "目标进度" in html and "Progress towards the targets" in html
    table = pd.read_csv(out / "progress.csv")
    items = load_profile(profile).value("targets")
    assert len(table) == len(items) and table["rule"].tolist() == [t["rule"] for t in items]
    sheets = pd.read_excel(out / "progress.xlsx", sheet_name=None)
    assert list(sheets) == ["progress 进度", "trend 趋势"] and len(sheets["progress 进度"]) == len(items)
    measured = table[table["measured"] & table["communities"].gt(0)]
    if len(measured):  # the printed table: target, year, years left, now, gap, trend
        assert "gap" in printed and "trend" in printed
        needed = [math.ceil(round(t * c, 9)) for t, c in zip(measured["target"], measured["communities"],
                                                             strict=True)]
        assert (measured["gap"] == [max(n - m, 0) for n, m in zip(needed, measured["meeting"], strict=True)]).all()
    if (~table["measured"]).any():
        assert "not measured:" in printed
    assert table.loc[~table["measured"], "reason"].str.len().gt(0).all()
    # the run of the day was saved; a second run the same day replaces it
    assert main(["--db", demo_copy, "report", "progress", "--profile", profile, "--out", str(out)]) == 0
    store = Store(demo_copy)
    assert len(results.scorecard_history(store.engine, profile)) == 1
    store.dispose()


def test_the_page_in_chromium_offline_and_in_english(demo_copy: str, page, shot) -> None:
    app = create_app(demo_copy, Settings(database_url=demo_copy, analyses_access="public"))
    with live_server(app) as base:
        overview = httpx.get(f"{base}/reports/scorecard?profile=xingtai", timeout=120)
        assert 'href="/reports/progress?profile=xingtai"' in overview.text  # linked from the overview
        page.goto(f"{base}/reports/progress?profile=xingtai", timeout=120_000)
        page.wait_for_selector("h1")
        assert page.is_visible("h1 >> text=目标进度")
        assert page.locator("header.sq-nav a.active").inner_text() == "目标进度"
        rows = page.locator("#progress-measured tr[data-rule], #progress-not-measured tr[data-rule]").count()
        assert rows == len(load_profile("xingtai").value("targets"))
        assert page.locator("#sq-profile").input_value() == "xingtai"
        page.screenshot(path=shot("progress-page.png"), full_page=False)
        page.click("#sq-lang")
        assert page.evaluate("document.documentElement.lang") == "en"
        assert page.is_visible("h1 >> text=Progress towards the targets") and not page.is_visible("h1 >> text=目标进度")
        page.select_option("#sq-profile", "zhuji")  # the profile choice reloads the page
        page.wait_for_url("**/reports/progress?profile=zhuji")
        assert page.is_visible("code >> text=zhuji")
        assert httpx.get(f"{base}/reports/progress?profile=atlantis", timeout=60).status_code == 400
    assert page.console_errors == []
    assert page.external_requests == []
    app.state.store.dispose()


def test_the_json_route_needs_a_login_and_answers_a_planner(demo_copy: str) -> None:
    app = create_app(demo_copy, Settings(database_url=demo_copy))  # the default: analyses need a login
    with TestClient(app) as client:
        anonymous = client.get("/analyses/progress?profile=xingtai")
        assert anonymous.status_code == 401 and anonymous.headers["WWW-Authenticate"].startswith("Bearer")
        token = client.post("/token", data={"username": "planner", "password": DEMO_PASSWORD}).json()["access_token"]
        r = client.get("/analyses/progress?profile=xingtai", headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 200, r.text
        body = r.json()
        # a GET never writes: the trend grows from `shequ report progress`, which records a run
        assert body["profile"] == "xingtai" and body["recorded"] is False and body["communities"] > 0
        assert len(body["targets"]) == len(load_profile("xingtai").value("targets"))
        for t in body["targets"]:
            assert {"rule", "label", "scope", "clause", "target", "year", "share", "meeting", "communities", "gap",
                    "years_left", "trend", "state", "reason"} <= set(t)
            counted = t["measured"] and t["communities"] > 0
            assert (t["gap"] is not None) == counted and (counted or t["reason"])
        assert client.get("/analyses/progress?profile=../etc", headers={"Authorization": f"Bearer {token}"}
                          ).status_code in (400, 422)
    app.state.store.dispose()
