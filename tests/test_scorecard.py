"""Community scorecards: each rule measured exactly on hand-made communities; every profile renders."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest
import shapely
from shapely.geometry import Point, box

from shequ.cli import main
from shequ.gis.scorecard import scorecard
from shequ.layers.profiles import load_profile, shipped
from shequ.layers.store import Store

CRS = 4544
X, Y = 400_000.0, 3_390_000.0


def _communities() -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame({"code": ["510104001001", "510104001002", "510104001003"], "name": ["东", "西", "南"],
                             "district": "锦江区", "households": [1200, 2600, 3400], "population": [3000, 6800, 8900],
                             "urban_rural": ["urban", "urban", "rural"], "boundary": "official"},
                            geometry=[shapely.multipolygons([box(X + 1000 * k, Y, X + 1000 * k + 900, Y + 900)])
                                      for k in range(3)], crs=CRS).to_crs(4326)


def _facilities() -> gpd.GeoDataFrame:
    rows = [("c1", "community_service_centre", 300.0, Point(X + 100, Y + 100)),  # 东: 300 m² for 1 200 hh
            ("c2", "community_service_centre", 900.0, Point(X + 1100, Y + 100)),  # 西: 900 m² for 2 600 hh
            ("c3", "community_service_station", None, Point(X + 2100, Y + 100)),  # 南: area unknown
            ("h1", "community_health_station", None, Point(X + 150, Y + 150)),
            ("k1", "culture_sports_room", None, Point(X + 200, Y + 200))]
    return gpd.GeoDataFrame({"id": [r[0] for r in rows], "type": [r[1] for r in rows],
                             "floor_area_m2": [r[2] for r in rows]}, geometry=[r[3] for r in rows], crs=CRS
                            ).to_crs(4326)


def _grids() -> gpd.GeoDataFrame:
    parts = [box(X, Y, X + 450, Y + 900), box(X + 450, Y, X + 900, Y + 900), box(X + 1000, Y, X + 1900, Y + 900)]
    return gpd.GeoDataFrame({"code": ["g1", "g2", "g3"], "community_code": ["510104001001"] * 2 + ["510104001002"],
                             "households": [600, 600, 2600], "manager": ["张三", None, "李四"]},
                            geometry=parts, crs=CRS).to_crs(4326)


def test_zhuji_floor_area_size_and_staff() -> None:
    card = scorecard(_communities(), _facilities(), load_profile("zhuji"), grids=_grids())
    c = card.communities.set_index("code")
    # 35 m² per 100 households, at least 350 m²: 东 1 200 hh → max(420, 350) = 420, has 300 → 120 short
    assert c.loc["510104001001", "centre_required_m2"] == 420 and c.loc["510104001001", "centre_shortfall_m2"] == 120
    assert c.loc["510104001002", "centre_required_m2"] == 910 and c.loc["510104001002", "centre_shortfall_m2"] == 10
    assert c.loc["510104001003", "centre_check"] == "floor area unknown"
    # community size 1 500–3 000
    assert list(c["size_check"]) == ["below", "within", "above"] and list(c["size_off_by"]) == [-300, 0, 400]
    # 8–10 workers, +1 per *full* 300–400 households above 2 000
    # (诸暨 二(三)12 "户数超过2000户的,每增300—400户可增配1人"):
    # 南 3 400 hh, 1 400 above → 8 + ⌊1 400/400⌋ = 11 … 10 + ⌊1 400/300⌋ = 14
    assert (c.loc["510104001003", "staff_needed_min"], c.loc["510104001003", "staff_needed_max"]) == (11, 14)
    assert (c.loc["510104001001", "staff_needed_min"], c.loc["510104001001", "staff_needed_max"]) == (8, 10)
    # work funds ¥100 000 per 1 000 households (诸暨 六 "每千户不低于10万元"), in proportion: 东 1 200 → ¥120 000;
    # 南 is rural, and Zhuji's document is on urban communities: no amount
    work = [col for col in c.columns if col.startswith("funding_")]
    assert 120_000 in c.loc["510104001001", work].tolist()
    assert c.loc["510104001003", work].isna().all()
    rules = card.rules.set_index("rule")
    assert rules.loc["community_households", "meeting"] == 1
    assert "二(一)4" in rules.loc["community_households", "source"]
    assert rules.loc["community_households", "status"] == "verified"
    # grids: 东 has one grid without manager and both above 500 households; party branch required by Zhuji
    assert c.loc["510104001001", "grids"] == 2 and c.loc["510104001001", "grids_in_range"] == 0
    assert c.loc["510104001001", "grid_check"] == "findings" and c.loc["510104001003", "grid_check"] == "no grids"


def test_chifeng_required_facilities_and_one_stop() -> None:
    card = scorecard(_communities(), _facilities(), load_profile("chifeng"))
    c = card.communities.set_index("code")
    # 东 has the health station and the culture-sports room the 三(三)2 clause asks of every community
    assert "卫生服务站" not in c.loc["510104001001", "required_missing"]
    assert "综合性文体活动室" in c.loc["510104001002", "required_missing"]
    assert set(c["one_stop_check"]) == {"none in the data"}
    # 20 m²/100 households, at least 200 m²: 东 1 200 hh → 240 m², has 300
    assert c.loc["510104001001", "centre_shortfall_m2"] == 0 and c.loc["510104001001", "centre_check"] == "meets"
    # 1 worker per 400 households
    assert c.loc["510104001002", "staff_needed_min"] == 7


def test_targets_sit_beside_the_measured_share() -> None:
    card = scorecard(_communities(), _facilities(), load_profile("national"))
    rules = card.rules
    present = rules[rules["rule"] == "service_centre_present"]
    # national: every urban and town community by 2025, 80 % of rural ones — each share over its own kind
    urban = present[present["target_scope"].fillna("").str.contains("urban")].iloc[0]
    assert (urban["meeting"], urban["communities"], urban["target"]) == (2, 2, 1.0)
    assert urban["target_year"] == 2025
    rural = present[present["target_scope"].fillna("").str.contains("rural") & ~present["target_scope"]
                    .fillna("").str.contains("urban")].iloc[0]
    assert (rural["meeting"], rural["communities"], rural["target"]) == (1, 1, 0.8)
    assert (rules["status"] != "").all()


def test_national_scores_community_size_against_the_law() -> None:
    # 城市居民委员会组织法 第六条: generally 100–700 households; all three (1 200, 2 600, 3 400) are above
    card = scorecard(_communities(), _facilities(), load_profile("national"))
    c = card.communities.set_index("code")
    assert list(c["size_check"]) == ["above"] * 3 and c.loc["510104001001", "size_off_by"] == 500
    size = card.rules.set_index("rule").loc["community_households"]
    assert size["meeting"] == 0 and size["status"] == "secondary" and not size["inherited"]
    assert "第六条" in size["source"]


def test_urban_and_town_amounts_apply_to_their_communities() -> None:
    card = scorecard(_communities(), _facilities(), load_profile("xingtai"))
    c = card.communities.set_index("code")
    funds = card.rules[card.rules["rule"].str.startswith("funding_")].set_index("rule")
    urban_col = next(f"{k}_cny" for k in funds.index if "urban" in funds.loc[k, "label"])
    assert pd.isna(c.loc["510104001003", urban_col]) and c.loc["510104001001", urban_col] > 0


@pytest.fixture(scope="module")
def demo_store(demo_db: str) -> Store:
    """The session's demo (read only here)."""
    store = Store(demo_db)
    yield store
    store.dispose()


@pytest.mark.parametrize("profile", shipped())
def test_every_profile_renders_a_scorecard(demo_store: Store, profile: str, tmp_path: Path,
                                           capsys: pytest.CaptureFixture) -> None:
    code = main(["--db", demo_store.url, "report", "communities", "--profile", profile, "--out", str(tmp_path)])
    printed = capsys.readouterr().out
    assert code == 0, printed
    assert f"against profile {profile}" in printed
    page = (tmp_path / "scorecard.html").read_text(encoding="utf-8")
    assert "社区与网格边界为 shequ" in page and "© OpenStreetMap contributors" in page
    assert "<script src" not in page and "http" not in page.replace("https://", "").split("</style>")[0]
    assert load_profile(profile).title_zh in page
    table = pd.read_csv(tmp_path / "scorecard_communities.csv")
    assert len(table) == demo_store.count("communities")
    sheets = pd.read_excel(tmp_path / "scorecard.xlsx", sheet_name=None)
    assert {"communities 社区", "rules 规则", "profile 配置", "verdicts 逐条结论", "priorities 优先事项"} <= set(sheets)
    assert len(sheets["profile 配置"]) == len(load_profile(profile).rules)


def test_the_scorecard_page_works_offline_in_chromium(shot, demo_store: Store, tmp_path: Path, page) -> None:
    from shequ.usecases.access import LOCAL
    from shequ.usecases.scorecards import write_report
    from shequ.usecases.workspace import Workspace

    run = write_report(Workspace(demo_store), "xingtai", tmp_path, user=LOCAL)
    page.goto(run.files[0].as_uri())
    assert page.is_visible("text=社区体检报告") and not page.is_visible("text=Community scorecard")
    assert page.locator(".maps svg path").count() == demo_store.count("communities")
    page.click("#lang")
    assert page.is_visible("text=Community scorecard") and page.is_visible("text=Every community")
    assert page.console_errors == [] and page.external_requests == []
    page.click("#lang")
    page.set_viewport_size({"width": 1280, "height": 1000})
    page.screenshot(path=shot("scorecard.png"))
