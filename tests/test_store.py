"""The store on both backends: tables, spatial indexes, reads, transactional writes."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import inspect, text

from shequ.layers.problems import LayerValidationError
from shequ.layers.schema import LAYERS, WRITE_ORDER
from shequ.layers.store import Store
from shequ.layers.validate import validate

import samples


def _load_all(store: Store) -> None:
    for name in WRITE_ORDER:
        store.write(name, validate(samples.SAMPLES[name](), LAYERS[name], source=f"{name}.sample"))


def test_every_layer_has_a_table_and_a_spatial_index(store: Store) -> None:
    tables = set(inspect(store.engine).get_table_names())
    assert set(LAYERS) <= tables
    with store.engine.connect() as conn:
        for name in LAYERS:
            if store.backend == "postgis":
                indexdefs = conn.execute(text("SELECT indexdef FROM pg_indexes WHERE tablename = :t"),
                                         {"t": name}).scalars().all()
                assert any("USING gist (geom)" in d for d in indexdefs), (name, indexdefs)
            else:
                enabled = conn.execute(text("SELECT spatial_index_enabled FROM geometry_columns "
                                            "WHERE f_table_name = :t"), {"t": name}).scalar_one()
                assert enabled == 1
                assert conn.execute(text(f"SELECT count(*) FROM idx_{name}_geom")).scalar_one() == 0


def test_write_then_read_gives_the_same_features(store: Store) -> None:
    _load_all(store)
    assert store.counts() == {n: len(samples.SAMPLES[n]()) for n in LAYERS}
    grids = store.read("grids")
    assert list(grids["code"]) == [samples.CODE_A + "001", samples.CODE_A + "002"]
    assert grids.geometry.iloc[0].equals(samples.grids().geometry.iloc[0])
    facilities = store.read("facilities")
    assert list(facilities["type"]) == ["kindergarten", "kindergarten", "community_service_centre"]
    assert list(facilities["status"]) == ["existing", "planned", "existing"]
    assert facilities["floor_area_m2"].iloc[0] == 1200.5
    residences = store.read("residences")
    assert list(residences.geom_type) == ["Polygon", "Point"]
    assert len(residences.geometry.iloc[0].interiors) == 1
    communities = store.read("communities")
    assert list(communities["kind"]) == ["urban", "town"]  # 城镇 is a town community (邢台 六(二)), not urban
    assert set(communities.geom_type) == {"MultiPolygon"}


def test_bbox_read_uses_the_geometry(store: Store) -> None:
    _load_all(store)
    west = store.read("facilities", bbox=(104.080, 30.650, 104.086, 30.655))
    assert sorted(west["id"]) == ["F1", "F3"]
    assert store.read("facilities", bbox=(100, 20, 101, 21)).empty


def test_a_failing_write_leaves_the_database_as_it_was(store: Store) -> None:
    _load_all(store)
    before = store.read("facilities")
    bad = validate(samples.facilities().assign(id=["N1", "N2", "N3"]), LAYERS["facilities"], source="x")
    bad.loc[3, "id"] = "N1"  # a duplicate the validator never saw: the database's unique index refuses it
    with pytest.raises(Exception):  # noqa: B017 - the driver's IntegrityError, whichever backend
        store.write("facilities", bad)
    after = store.read("facilities")
    assert after.drop(columns="geometry").equals(before.drop(columns="geometry"))
    assert store.count("facilities") == 3


def test_replace_refuses_to_orphan_grids(store: Store) -> None:
    _load_all(store)
    only_b = validate(samples.communities().iloc[[1]], LAYERS["communities"], source="b.geojson")
    with pytest.raises(LayerValidationError, match=re.escape("still referenced by grids.community_code")):
        store.write("communities", only_b, mode="replace")
    assert store.count("communities") == 2


def test_replace_swaps_the_layer(store: Store) -> None:
    _load_all(store)
    result = store.write("streets", validate(samples.streets().iloc[:1], LAYERS["streets"], source="s"),
                         mode="replace")
    assert (result.inserted, result.deleted) == (1, 3)
    assert list(store.read("streets")["id"]) == ["S1"]


def test_a_database_from_an_older_shequ_gets_new_optional_columns(store: Store) -> None:
    _load_all(store)
    with store.engine.begin() as conn:  # what a database made before the field existed looks like
        conn.execute(text('ALTER TABLE grids DROP COLUMN "boundary"'))
    assert "boundary" not in {c["name"] for c in inspect(store.engine).get_columns("grids")}
    store.dispose()
    reopened = Store(store.url)
    try:
        grids = reopened.read("grids")
        assert len(grids) == 2 and grids["boundary"].isna().all()
    finally:
        reopened.dispose()


def test_writing_a_geopackage_after_opening_spatialite_does_not_crash(tmp_path) -> None:
    # A fresh process, so that nothing earlier in the test run has loaded GDAL first.
    import subprocess
    import sys

    script = (
        "import geopandas as gpd, shapely, sys\n"
        "from shequ.layers.store import Store\n"
        f"Store('sqlite:///{tmp_path / 'a.db'}').count('grids')\n"
        "gdf = gpd.GeoDataFrame(geometry=[shapely.box(104, 30, 104.01, 30.01)], crs=4326)\n"
        f"gdf.to_file('{tmp_path / 'a.gpkg'}')\n"
        "print('written')\n"
    )
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0 and "written" in run.stdout, run.stderr[-2000:]
