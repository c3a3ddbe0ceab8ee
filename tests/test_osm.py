"""`shequ import-osm` on the real Chengdu extract, checked against an independent extraction
(tests/reference/chengdu_central.gpkg, made with pyosmium/pyrosm, not GDAL)."""

from __future__ import annotations

import json
from pathlib import Path

import geopandas as gpd
import numpy as np
import pyogrio
import pytest

from shequ.layers.osm import import_osm, load_config, parse_other_tags
from shequ.layers.problems import LayerValidationError
from shequ.layers.store import Store

REFERENCE = Path(__file__).resolve().parent / "reference" / "chengdu_central.gpkg"


@pytest.fixture
def chengdu(chengdu_url: str, chengdu_templates) -> tuple[Store, dict[str, int], list[str]]:
    """The extract as ``import_osm`` wrote it (imported once per backend, copied), and what it reported."""
    store = Store(chengdu_url)
    yield store, chengdu_templates.counts, chengdu_templates.notes
    store.dispose()


def test_counts_per_layer(chengdu: tuple) -> None:
    store, counts, _ = chengdu
    assert set(counts) == {"streets", "facilities", "residences"}
    assert store.counts()["streets"] == counts["streets"]
    assert 2000 < counts["streets"] < 2600
    assert counts["facilities"] > 300
    assert counts["residences"] >= 186


def test_streets_and_walkability_match_the_reference(chengdu: tuple) -> None:
    store, _, _ = chengdu
    ref = pyogrio.read_dataframe(REFERENCE, layer="streets")
    streets = store.read("streets").set_index("id")
    ref_ids = "osm:w" + ref["osm_id"].astype(str)
    # The reference clips ways to the bbox (2 288 pieces of 2 268 ways); we keep each way whole.
    assert len(streets) == ref["osm_id"].nunique()
    assert ref_ids.isin(streets.index).all()
    assert (streets.loc[ref_ids, "class"].to_numpy() == ref["highway"].to_numpy()).all()
    motorway = streets["class"] == "motorway"
    assert motorway.any() and not streets.loc[motorway, "walkable"].any()
    assert streets.loc[streets["class"] == "footway", "walkable"].all()


def test_kindergartens_and_police_rooms_are_found(chengdu: tuple) -> None:
    store, _, _ = chengdu
    ref = pyogrio.read_dataframe(REFERENCE, layer="pois")
    facilities = store.read("facilities").set_index("id")
    for amenity, code in (("kindergarten", "kindergarten"), ("police", "police_room"),
                          ("pharmacy", "pharmacy"), ("bank", "bank")):
        expected = ref[ref["amenity"] == amenity]
        ids = "osm:" + expected["osm_type"].str[0] + expected["osm_id"].astype(str)
        assert len(ids) > 0
        assert ids.isin(facilities.index).all(), (amenity, set(ids) - set(facilities.index))
        assert (facilities.loc[ids, "type"] == code).all()


def test_residence_estimate_follows_the_documented_rule(chengdu: tuple) -> None:
    store, _, _ = chengdu
    config = load_config()
    rules = {k: v["value"] for k, v in config["residences"].items()}
    ref = pyogrio.read_dataframe(REFERENCE, layer="residential_areas")
    residences = store.read("residences").set_index("id")
    ids = "osm:" + ref["osm_type"].str[0] + ref["osm_id"].astype(str)
    assert ids.isin(residences.index).all()
    # A named compound wholly inside the clip box: its area is the same in both extractions.
    name = "财富又一城"
    row = residences[residences["name"] == name].iloc[0]
    area = gpd.GeoSeries([row.geometry], crs=4326).to_crs(32648).area.iloc[0]  # UTM 48N
    households = round(area * rules["floor_area_ratio"] / rules["gross_m2_per_household"])
    assert abs(row["households"] - households) <= 1
    assert row["population"] == round(row["households"] * rules["persons_per_household"])
    assert row["elderly"] == round(row["population"] * rules["elderly_share"])
    assert row["kind"] == "area" and bool(row["estimated"])
    assert (residences["households"] >= 1).all()


def test_a_custom_config_changes_the_estimate(store: Store, chengdu_pbf: Path, tmp_path: Path) -> None:
    config = load_config()
    import_osm(store, chengdu_pbf, config=config, show_progress=False)
    before = store.read("residences").set_index("id")["households"]
    config["residences"]["floor_area_ratio"]["value"] = 4.0
    path = tmp_path / "mine.json"
    path.write_text(json.dumps(config), encoding="utf-8")
    import_osm(store, chengdu_pbf, config=load_config(path), show_progress=False)
    after = store.read("residences").set_index("id")["households"]
    areas = store.read("residences").set_index("id")["kind"] == "area"
    ratio = (after[areas] / before[areas]).to_numpy(dtype=float)
    assert np.allclose(ratio[before[areas].to_numpy() > 50], 2.0, rtol=0.02)


def test_a_failing_osm_import_writes_no_layer(store: Store, chengdu_pbf: Path, tmp_path: Path) -> None:
    config = load_config()
    config["residences"]["persons_per_household"]["value"] = -1.0  # → negative population
    with pytest.raises(LayerValidationError, match="population"):
        import_osm(store, chengdu_pbf, config=config, show_progress=False)
    assert sum(store.counts().values()) == 0  # streets and facilities were valid, yet none was written


def test_other_tags_parsing() -> None:
    assert parse_other_tags('"amenity"=>"kindergarten","name:en"=>"Sun \\"Kids\\""') == {
        "amenity": "kindergarten", "name:en": 'Sun "Kids"'}
    assert parse_other_tags(None) == {}
