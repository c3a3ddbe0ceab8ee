"""`shequ analyze coverage` on the real Chengdu data: files, saved results, life-circle audit, map."""

from __future__ import annotations

import json
import re
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from shequ.cli import main
from shequ.gis.audit import generate_life_circles, load_requirements
from shequ.gis.network import WalkNetwork
from shequ.layers import results
from shequ.layers.schema import LAYERS
from shequ.layers.store import Store
from shequ.layers.validate import validate
from shequ.web.offline import external_urls

TYPES = ["kindergarten", "primary_school", "market"]


@pytest.fixture
def chengdu_store(chengdu_url: str) -> Store:
    store = Store(chengdu_url)
    yield store
    store.dispose()


def _add_life_circles(store: Store) -> gpd.GeoDataFrame:
    network = WalkNetwork.from_streets(store.read("streets"))
    centres = gpd.GeoDataFrame({"code": ["LC15-春熙路", "LC5-春熙路"], "name": ["春熙路15分钟", "春熙路5分钟"]},
                               geometry=gpd.points_from_xy([104.0785, 104.0785], [30.6570, 30.6570]), crs=4326)
    c15 = generate_life_circles(network, centres.iloc[[0]], "15min")
    c5 = generate_life_circles(network, centres.iloc[[1]], "5min")
    circles = pd.concat([c15, c5], ignore_index=True)
    store.write("lifecircles", validate(gpd.GeoDataFrame(circles, crs=4326), LAYERS["lifecircles"], source="gen"))
    return circles


def test_analyze_coverage_writes_every_output_and_saves_the_run(chengdu_store: Store, tmp_path: Path,
                                                                capsys: pytest.CaptureFixture) -> None:
    circles = _add_life_circles(chengdu_store)
    out = tmp_path / "cov"
    code = main(["--db", chengdu_store.url, "analyze", "coverage", "--types", "kindergarten,小学,market",
                 "--out", str(out), "--quiet"])
    printed = capsys.readouterr().out
    assert code == 0, printed
    assert "kindergarten 幼儿园" in printed and "saved as analysis run" in printed

    residences = chengdu_store.read("residences")
    wide = gpd.read_file(out / "residences_coverage.geojson")
    assert len(wide) == len(residences)
    for t in TYPES:
        covered = wide[f"{t}_covered"].astype(bool)
        assert (wide.loc[covered, f"{t}_m"] <= 500 + 1e-6).all()
        # the network never finds a shorter way than the straight line
        both = covered & wide[f"{t}_line_m"].notna()
        assert (wide.loc[both, f"{t}_m"] + 1e-6 >= wide.loc[both, f"{t}_line_m"]).all()
        # and straight-line circles overstate coverage
        assert wide[f"{t}_line_covered"].astype(bool).sum() >= covered.sum()

    summary = pd.read_csv(out / "summary.csv")
    overall = summary[summary["zone_kind"] == "all"].set_index("type")
    assert set(overall.index) == set(TYPES)
    assert overall.loc["kindergarten", "distance_m"] == 300
    assert overall.loc["kindergarten", "distance_status"] == "secondary"
    assert (overall["households_covered"] <= overall["households"]).all()
    assert overall.loc["primary_school", "households"] == residences["households"].sum()
    assert set(summary["zone_kind"]) == {"all", "lifecircles"}

    gaps = gpd.read_file(out / "gaps.geojson")
    for t in TYPES:
        uncovered = residences.loc[~wide[f"{t}_covered"].astype(bool).to_numpy(), "population"].sum()
        assert gaps.loc[gaps["type"] == t, "population"].sum() == pytest.approx(uncovered)

    areas = gpd.read_file(out / "service_areas.geojson")
    facilities = chengdu_store.read("facilities").set_index("id")
    assert len(areas) == facilities["type"].isin(TYPES).sum()
    metric = areas.to_crs(4544)
    origin = gpd.GeoSeries(facilities.loc[areas["facility_id"]].geometry.values, crs=4326).to_crs(4544)
    assert metric.contains(origin, align=False).all()
    assert (metric.area <= np.pi * areas["distance_m"] ** 2).all()

    audit = pd.read_csv(out / "lifecircle_audit.csv")
    required = load_requirements()
    assert set(audit.loc[audit["code"] == "LC5-春熙路", "type"]) == {r.type for r in required["5min"]}
    assert set(audit["status"]) <= {"present", "reachable", "missing"}
    assert "source_status" in audit and (audit["source_status"] != "").all()
    assert len(circles) == 2

    run = results.latest_run(chengdu_store.engine)
    assert run["params"]["types"] == TYPES
    assert run["params"]["thresholds"]["kindergarten"]["status"] == "secondary"
    saved = results.read_results(chengdu_store.engine, run["run_id"])
    assert len(saved) == len(residences) * len(TYPES)
    saved_gaps = results.read_gaps(chengdu_store.engine, run["run_id"])
    assert len(saved_gaps) == len(gaps)
    assert saved_gaps["population"].sum() == pytest.approx(gaps["population"].sum())


def test_the_map_is_self_contained_and_shows_the_gaps(chengdu_store: Store, tmp_path: Path) -> None:
    if not chengdu_store.url.startswith("sqlite"):
        pytest.skip("the map does not depend on the backend")
    out = tmp_path / "cov"
    assert main(["--db", chengdu_store.url, "analyze", "coverage", "--types", "kindergarten", "--out", str(out),
                 "--quiet", "--no-save"]) == 0
    page = (out / "coverage_map.html").read_text(encoding="utf-8")
    assert external_urls(page) == []
    assert json.dumps("缺口：幼儿园")[1:-1] in page  # folium writes names JSON-escaped
    assert "© OpenStreetMap contributors" in page
    assert re.search(r"L\.control\.layers", page)
    assert results.latest_run(chengdu_store.engine) is None  # --no-save


def test_unknown_type_and_empty_store_are_clear(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    db = f"sqlite:///{tmp_path / 'empty.db'}"
    assert main(["--db", db, "analyze", "coverage", "--types", "kindergarden", "--out", str(tmp_path)]) == 2
    assert "kindergarten" in capsys.readouterr().err
    assert main(["--db", db, "analyze", "coverage", "--out", str(tmp_path)]) == 2
    assert "the streets layer is empty" in capsys.readouterr().err


def test_generated_life_circle_is_a_walking_area(chengdu_store: Store) -> None:
    network = WalkNetwork.from_streets(chengdu_store.read("streets"))
    centre = gpd.GeoDataFrame({"code": ["c"]}, geometry=gpd.points_from_xy([104.0785], [30.6570]), crs=4326)
    circle = generate_life_circles(network, centre, "10min").to_crs(4544)
    disc = centre.to_crs(4544).buffer(500)
    assert circle.geometry.iloc[0].area < disc.iloc[0].area  # the walk reaches less than the circle
    assert circle.contains(centre.to_crs(4544).geometry.iloc[0]).all()
    assert shapely.get_num_geometries(circle.geometry.iloc[0]) >= 1
    assert json.loads(circle.to_json())["features"][0]["properties"]["level"] == "10min"


def test_coverage_map_renders_offline_in_chromium(shot, chengdu_store: Store, tmp_path: Path, page) -> None:
    if not chengdu_store.url.startswith("sqlite"):
        pytest.skip("the map does not depend on the backend")
    out = tmp_path / "cov"
    assert main(["--db", chengdu_store.url, "analyze", "coverage", "--types", "kindergarten,market", "--out",
                 str(out), "--quiet", "--no-save"]) == 0
    page.goto((out / "coverage_map.html").as_uri())
    page.wait_for_selector(".leaflet-control-layers")
    labels = page.inner_text(".leaflet-control-layers")
    assert "缺口：幼儿园 ≤ 300 m" in labels and "设施：菜市场" in labels
    assert "Gaps" not in labels  # a map file on its own shows its labels in Chinese only
    drawn = page.evaluate("""() => {
        const m = Object.keys(window).filter(k => k.startsWith('map_')).map(k => window[k])[0];
        let n = 0; m.eachLayer(() => n++); return n; }""")
    assert drawn > 100  # streets, residences, gaps and facilities are on the map
    assert page.is_visible("#legend")
    assert "© OpenStreetMap contributors" in page.inner_text(".leaflet-control-attribution")
    page.wait_for_timeout(300)  # let the canvas redraw after fitBounds before the screenshot
    assert page.console_errors == []
    assert page.external_requests == []
    page.screenshot(path=shot("coverage_map.png"))
