"""What a hostile or careless client sends (issue 15, first pieces): numbers too large for the database,
page sizes above the maximum, codes written in other digits, spreadsheet formulas in a cell."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from fastapi.testclient import TestClient

from shequ.api.app import create_app
from shequ.layers.exporting import export_frame
from shequ.layers.importing import import_file
from shequ.layers.schema import LAYERS
from shequ.layers.validate import validate

import samples


def test_giant_offsets_are_a_clear_400_and_big_limits_are_clamped(db_url: str, tmp_path: Path) -> None:
    app = create_app(db_url)
    import_file(app.state.store, samples.write(samples.communities(), tmp_path / "c.geojson"), "communities")
    with TestClient(app) as client:
        for query in ("offset=99999999999999999999", "offset=9223372036854775808", "limit=99999999999999999999"):
            r = client.get(f"/collections/communities/items?{query}")
            assert r.status_code == 400, (query, r.status_code, r.text)
            assert r.json()["description"] and r.json()["description_zh"]
        r = client.get("/collections/communities/items?limit=100000000")  # above the maximum: the maximum is used
        assert r.status_code == 200 and r.json()["numberReturned"] == 2
        assert client.get("/collections/communities/items?offset=1000000000").json()["numberReturned"] == 0
    app.state.store.dispose()


@pytest.mark.parametrize("code", ["５１０１０４０１７００１", "٥١٠١٠٤٠١٧٠٠١", "51010401700１"])
def test_a_community_code_is_twelve_ascii_digits(code: str) -> None:
    frame = samples.communities().iloc[:1].copy()
    frame["code"] = [code]
    with pytest.raises(Exception) as refused:
        validate(frame, LAYERS["communities"], source="c.geojson")
    assert "code" in str(refused.value) and "12 digits" in str(refused.value)


def test_csv_export_defuses_formulas_and_keeps_numbers(tmp_path: Path) -> None:
    frame = validate(samples.communities(), LAYERS["communities"], source="c.geojson")
    frame["name"] = ['=HYPERLINK("http://example.invalid","点我")', "-12.5"]
    frame["code"] = frame.index.map(lambda i: f"51010401700{i}")
    path = export_frame(frame.reset_index(drop=True), "communities", tmp_path / "c.csv")
    names = pd.read_csv(path, dtype=str)["name"].tolist()
    assert names == ["'=HYPERLINK(\"http://example.invalid\",\"点我\")", "-12.5"]
