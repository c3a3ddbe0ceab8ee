"""Scorecard rule functions one at a time, on a handful of hand-made communities with hand-computed answers."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from shapely.geometry import Point, box

from shequ.gis.scorecard import (
    CHECKS,
    Inputs,
    Reads,
    centre_floor_area,
    centre_minimum,
    centre_present,
    community_size,
    funding,
    one_stop_hall,
    required_each,
    required_facilities,
    scorecard,
    service_centres,
    staff,
)
from shequ.layers.profiles import RULES, Profile, Rule

CENTRE_TYPES = ["community_service_centre", "community_service_station"]


def _profile(name: str = "test", **values: Any) -> Profile:
    """A profile stating exactly ``values``, each cited as clause 第1条 of one document."""
    rules = {key: Rule(key=key, value=value, unit="", applies_to="", source="doc", source_title="测试文件",
                       clause="第1条", status="verified", profile=name) for key, value in values.items()}
    return Profile(name=name, title_zh="测试", title_en="test", about="", extends=None, rules=rules,
                   sources={"doc": {"title": "测试文件"}}, path="test.json")


def _inputs(households: list[float], facilities: Sequence[tuple[int, str, float]] = (), **columns: Any) -> Inputs:
    """Communities c0, c1 … with these households; facilities as (community row, type, floor area or NaN)."""
    comm = pd.DataFrame({"code": [f"c{k}" for k in range(len(households))], "households": households, **columns})
    return Inputs(comm, np.asarray(households, dtype=float), np.array([f[0] for f in facilities], dtype=int),
                  np.array([f[1] for f in facilities]), np.array([f[2] for f in facilities], dtype=float))


def test_staff_formula_at_the_threshold_and_one_household_above() -> None:
    # 8–10 full-time, +1 per 300–400 households above 2 000
    profile = _profile(staff_formula={"base": [8, 10], "above_households": 2000, "extra_per_households": [300, 400]})
    got = staff(_inputs([2000, 2001, 2300, 2400, 0]), profile)
    # a worker per *full* 300–400 households above 2 000 (诸暨 二(三)12 "每增300—400户可增配1人"):
    # 2 001: 8 … 10 (one household adds nobody); 2 300: 8 + ⌊300/400⌋ = 8 … 10 + ⌊300/300⌋ = 11; 2 400: 9 … 11
    assert got.columns["staff_needed_min"].tolist() == [8, 8, 8, 9, 8]
    assert got.columns["staff_needed_max"].tolist() == [10, 10, 11, 11, 10]
    (row,) = got.rows
    assert row["rule"] == "staff" and row["meeting"] is None and row["communities"] == 5
    assert row["label"] == ("community workers needed: 8–10 full-time, +1 per full 300–400 households above 2,000 "
                            "(测试文件 第1条 (verified))")


def test_staff_per_households_rounds_up() -> None:
    got = staff(_inputs([400, 401, 0, 1]), _profile(staff_per_households=400))
    assert got.columns["staff_needed_min"].tolist() == [1, 2, 0, 1]
    assert got.columns["staff_needed_max"].tolist() == [1, 2, 0, 1]


def test_no_staff_rule_adds_nothing() -> None:
    got = staff(_inputs([1000]), _profile())
    assert got.columns == {} and got.rows == []


def test_community_size_counts_both_ends_as_within() -> None:
    got = community_size(_inputs([1499, 1500, 3000, 3001]), _profile(community_households=[1500, 3000]))
    assert got.columns["size_check"].tolist() == ["below", "within", "within", "above"]
    assert got.columns["size_off_by"].tolist() == [-1, 0, 0, 1]
    (row,) = got.rows
    assert (row["meeting"], row["communities"], row["share"]) == (2, 4, 0.5)
    assert row["label"] == "households per community 1,500–3,000" and row["value"] == "1,500–3,000"
    assert row["source"] == "测试文件 第1条" and row["inherited"] is False


def test_community_size_of_new_communities_says_so() -> None:
    (row,) = community_size(_inputs([1000]), _profile(new_community_households=[1000, 2000])).rows
    assert row["label"] == "households per community 1,000–2,000 (new communities)"
    assert row["label_zh"] == "新建社区规模 1,000–2,000 户"


# c0: 1 000 households, a 200 m² centre; c1: 2 000, 600 m²; c2: 500, none; c3: 1 000, a station of unknown area
CENTRES = _inputs([1000, 2000, 500, 1000], [(0, "community_service_centre", 200.0),
                                            (1, "community_service_centre", 350.0),
                                            (1, "community_service_station", 250.0),
                                            (3, "community_service_station", np.nan),
                                            (2, "police_room", 80.0)])


def test_centre_floor_area_below_the_minimum() -> None:
    # 30 m² per 100 households, at least 350 m²: c0 max(300, 350) = 350, has 200 → 150 short
    profile = _profile(service_centre_types=CENTRE_TYPES, service_centre_m2_per_100_households=30,
                       service_centre_min_m2=350)
    found = service_centres(CENTRES, profile).columns
    assert found["centre_count"].tolist() == [1, 2, 0, 1]
    assert found["centre_m2"].tolist() == [200.0, 600.0, 0.0, 0.0]
    assert found["centre_area_unknown"].tolist() == [0, 0, 0, 1]
    got = centre_floor_area(CENTRES, profile)
    assert got.columns["centre_required_m2"].tolist() == [350.0, 600.0, 350.0, 350.0]
    assert got.columns["centre_shortfall_m2"].tolist() == [150.0, 0.0, 350.0, 350.0]
    assert got.columns["centre_check"].tolist() == ["short", "meets", "no centre in the data", "floor area unknown"]
    (row,) = got.rows
    # c3's centre has no floor area: not judged, so not counted as failing (1 of the 3 judged meets)
    assert row["rule"] == "service_centre" and (row["meeting"], row["share"]) == (1, 1 / 3)
    assert (row["communities"], row["not_judged"]) == (3, 1)
    assert row["label"] == "service-centre floor area 30 m²/100 households, ≥ 350 m² (the larger, per community)"
    (present,) = centre_present(CENTRES, profile).rows
    assert present["rule"] == "service_centre_present" and present["meeting"] == 3
    (minimum,) = centre_minimum(CENTRES, profile).rows  # c3's unknown area does not count as meeting it
    assert minimum["rule"] == "service_centre_min_m2" and minimum["meeting"] == 1


def test_centre_minimum_alone_has_no_separate_row() -> None:
    profile = _profile(service_centre_types=CENTRE_TYPES, service_centre_min_m2=350)
    assert centre_floor_area(CENTRES, profile).columns["centre_required_m2"].tolist() == [350.0] * 4
    assert centre_minimum(CENTRES, profile).rows == []


def test_one_stop_hall_adds_up_halls() -> None:
    inputs = _inputs([1000, 1000, 1000], [(0, "one_stop_service_hall", 60.0), (0, "one_stop_service_hall", 60.0),
                                          (1, "one_stop_service_hall", 100.0), (2, "police_room", 500.0)])
    got = one_stop_hall(inputs, _profile(one_stop_min_m2=120))
    assert got.columns["one_stop_m2"].tolist() == [120.0, 100.0, 0.0]
    assert got.columns["one_stop_check"].tolist() == ["meets", "short", "none in the data"]
    assert got.rows[0]["meeting"] == 1 and got.rows[0]["label"] == "one-stop service hall ≥ 120 m²"


def test_required_facilities_and_each_type() -> None:
    inputs = _inputs([1000, 1000], [(0, "police_room", np.nan), (0, "community_health_station", np.nan),
                                    (1, "police_room", np.nan)])
    profile = _profile(required_facilities=[{"type": "police_room"}, {"type": "community_health_station",
                                                                       "clause": "第2条"}, {"type": "police_room"}])
    got = required_facilities(inputs, profile)
    assert got.columns["required_present"].tolist() == [2, 1] and got.columns["required_total"].tolist() == [2, 2]
    assert got.columns["required_missing"] == ["", "社区卫生服务站"]
    assert got.rows[0]["meeting"] == 1
    each = required_each(inputs, profile).rows
    assert [r["rule"] for r in each] == ["required:police_room", "required:community_health_station"]
    assert [(r["meeting"], r["share"]) for r in each] == [(2, 1.0), (1, 0.5)]
    assert [r["source"] for r in each] == ["测试文件 第1条", "测试文件 第2条"]


def test_funding_per_households_and_urban_only() -> None:
    inputs = _inputs([2500, 1000], urban_rural=["urban", "rural"])
    got = funding(inputs, _profile(funding=[
        {"item": "work funds", "value": 100000, "unit": "CNY/year", "per_households": 1000},
        {"item": "ratio", "value": 1, "unit": "ratio"},  # not yuan: not shown
        {"item": "urban grant", "value": 50000, "unit": "CNY/year", "applies_to": "urban communities"}]))
    assert list(got.columns) == ["funding_0_cny", "funding_2_cny"]
    # "每千户不低于10万元" (诸暨 六) is proportional: 2 500 households → ¥250 000, not ⌈2.5⌉ × 100 000
    assert got.columns["funding_0_cny"].tolist() == [250000, 100000]
    assert got.columns["funding_2_cny"].tolist() == [50000, pd.NA]
    assert [r["unit"] for r in got.rows] == ["CNY/year per 1,000 households", "CNY/year"]
    assert got.rows[1]["label"] == "urban grant, urban communities"


def test_every_check_declares_known_profile_keys_and_reads_only_those() -> None:
    assert all(key in RULES for check in CHECKS for key in check.reads)
    assert len({check.name for check in CHECKS}) == len(CHECKS)
    with pytest.raises(KeyError, match="without declaring"):
        Reads(_profile(staff_per_households=400), ("staff_formula",)).get("staff_per_households")


def test_targets_go_beside_the_measured_row_and_unmeasured_get_their_own() -> None:
    comm = gpd.GeoDataFrame({"code": ["c0", "c1"], "name": ["甲", "乙"], "households": [1000, 1000]},
                            geometry=[box(0, 0, 1, 1), box(1, 0, 2, 1)], crs=4326)
    fac = gpd.GeoDataFrame({"type": ["community_service_centre"], "floor_area_m2": [400.0]},
                           geometry=[Point(0.5, 0.5)], crs=4326)
    profile = _profile(service_centre_types=CENTRE_TYPES, service_centre_m2_per_100_households=30,
                       service_centre_min_m2=350, targets=[
                           {"rule": "service_centre_min_m2", "share": 0.4, "year": 2008},
                           {"rule": "service_centre_min_m2", "share": 0.8, "year": 2010},
                           {"rule": "harmonious_community", "share": 0.3, "year": 2009}])
    rules = scorecard(comm, fac, profile).rules
    assert rules["rule"].tolist() == ["service_centre_present", "service_centre", "service_centre_min_m2",
                                      "service_centre_min_m2", "target:harmonious_community"]
    assert rules["target"].iloc[:2].isna().all() and rules["target"].iloc[2:].tolist() == [0.4, 0.8, 0.3]
    assert rules["target_year"].iloc[2:].tolist() == [2008, 2010, 2009]
    assert rules["meeting"].iloc[2] == rules["meeting"].iloc[3] == 1
    assert pd.isna(rules["meeting"].iloc[4])
