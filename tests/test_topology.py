"""Grid topology checks: each finding with its area and the offending geometry."""

from __future__ import annotations

import geopandas as gpd
import pytest
import shapely
from shapely.geometry import Polygon, box

from shequ.gis.topology import GridRules, check_grids, rules_from_profile
from shequ.layers.profiles import load_profile

CRS = 4544
X, Y = 400_000.0, 3_390_000.0


def _b(x0: float, y0: float, x1: float, y1: float) -> Polygon:
    return box(X + x0, Y + y0, X + x1, Y + y1)


def _communities() -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame({"code": ["510104001001", "510104001002"]},
                            geometry=[shapely.multipolygons([_b(0, 0, 200, 100)]),
                                      shapely.multipolygons([_b(200, 0, 400, 100)])], crs=CRS).to_crs(4326)


def _grids(geoms: list, communities: list[str], **cols) -> gpd.GeoDataFrame:
    codes = [f"g{k}" for k in range(len(geoms))]
    return gpd.GeoDataFrame({"code": codes, "community_code": communities, **cols}, geometry=geoms,
                            crs=CRS).to_crs(4326)


def _by_check(findings: gpd.GeoDataFrame) -> dict[str, list]:
    return {k: v.to_dict("records") for k, v in findings.groupby("check")}


def test_a_clean_partition_has_no_findings() -> None:
    grids = _grids([_b(0, 0, 100, 100), _b(100, 0, 200, 100), _b(200, 0, 400, 100)],
                   ["510104001001", "510104001001", "510104001002"], households=[350, 400, 480],
                   manager=["张三", "李四", "王五"])
    rules = GridRules(households=(300, 500), manager_required=True)
    assert check_grids(grids, _communities(), rules).empty


def test_overlap_gap_outside_and_unknown_community() -> None:
    grids = _grids([_b(0, 0, 110, 100),  # overlaps g1 by 10 × 100 m
                    _b(100, 0, 180, 100),  # leaves a 20 × 100 m gap at x 180–200
                    _b(200, 0, 420, 100),  # 20 × 100 m stick out of its community
                    _b(500, 0, 600, 100)],
                   ["510104001001", "510104001001", "510104001002", "510104009999"])
    found = _by_check(check_grids(grids, _communities()))
    (overlap,) = found["overlap"]
    assert (overlap["grid"], overlap["other"]) == ("g0", "g1") and overlap["value"] == pytest.approx(1000, rel=1e-3)
    assert "overlap by 1,000 m²" in overlap["message"]
    (gap,) = found["gap"]
    assert gap["other"] == "510104001001" and gap["value"] == pytest.approx(2000, rel=1e-3)
    (outside,) = found["outside_community"]
    assert outside["grid"] == "g2" and outside["value"] == pytest.approx(2000, rel=1e-3)
    (unknown,) = found["unknown_community"]
    assert unknown["grid"] == "g3" and "'510104009999' does not exist" in unknown["message"]
    # the offending geometry comes with each finding, in WGS84, where the problem is
    findings = check_grids(grids, _communities())
    ov = findings[findings["check"] == "overlap"].to_crs(CRS).geometry.iloc[0]
    assert ov.area == pytest.approx(1000, rel=1e-3) and ov.centroid.x == pytest.approx(X + 105, abs=0.5)


def test_slivers_below_the_tolerance_are_not_findings() -> None:
    grids = _grids([_b(0, 0, 100.005, 100), _b(100, 0, 200, 100)], ["510104001001"] * 2)
    assert check_grids(grids, _communities().iloc[[0]]).empty


def test_invalid_geometry_is_named() -> None:
    bowtie = Polygon([(X, Y), (X + 100, Y + 100), (X + 100, Y), (X, Y + 100)])
    found = _by_check(check_grids(_grids([bowtie], ["510104001001"]), _communities().iloc[[0]], gaps=False))
    assert "Self-intersection" in found["invalid_geometry"][0]["message"]


def test_profile_rules_households_manager_party_branch() -> None:
    grids = _grids([_b(0, 0, 100, 100), _b(100, 0, 200, 100)], ["510104001001"] * 2, households=[250, 620],
                   manager=["张三", None], party_branch=[None, " "])
    found = _by_check(check_grids(grids, _communities().iloc[[0]], GridRules((300, 500), True, True)))
    assert [f["grid"] for f in found["households_below"]] == ["g0"]
    assert [f["grid"] for f in found["households_above"]] == ["g1"]
    assert [f["grid"] for f in found["no_manager"]] == ["g1"]
    assert sorted(f["grid"] for f in found["no_party_branch"]) == ["g0", "g1"]


def test_rules_come_from_the_profile() -> None:
    assert rules_from_profile(load_profile("national")) == GridRules((300, 500), False, False)
    assert rules_from_profile(load_profile("xingtai")).manager_required
    assert rules_from_profile(load_profile("zhuji")).party_branch_required
