"""The `shequ` command line as a user runs it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from shequ.cli import main
from shequ.layers.store import Store

import samples

ROOT = Path(__file__).resolve().parent.parent


def shequ(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    exe = Path(sys.executable).with_name("shequ")
    return subprocess.run([str(exe), *args], capture_output=True, text=True, env={**os.environ, **(env or {})},
                          timeout=300)


def test_import_osm_prints_counts_with_a_progress_bar(tmp_path: Path, chengdu_pbf: Path) -> None:
    db = f"sqlite:///{tmp_path / 'cli.db'}"
    run = shequ("import-osm", str(chengdu_pbf), env={"SHEQU_DATABASE_URL": db})
    assert run.returncode == 0, run.stderr
    assert "import-osm" in run.stderr and "100%" in run.stderr  # tqdm's bar
    lines = {line.split()[0]: int(line.split()[1].replace(",", "")) for line in run.stdout.splitlines()
             if line.startswith("  ")}
    counts = Store(db).counts()
    assert all(lines[k] == counts[k] > 0 for k in ("streets", "facilities", "residences"))
    assert "© OpenStreetMap contributors" in run.stdout


def test_import_export_and_layers(db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    c = samples.write(samples.communities(), tmp_path / "c.geojson")
    assert main(["--db", db_url, "import", "communities", str(c)]) == 0
    out = capsys.readouterr().out
    assert "imported 2 communities" in out
    g = samples.write(samples.grids().to_crs(4490), tmp_path / "g.gpkg")
    assert main(["--db", db_url, "import", "grid", str(g)]) == 0
    assert "coordinates read as China Geodetic Coordinate System 2000" in capsys.readouterr().out
    assert main(["--db", db_url, "layers"]) == 0
    listing = capsys.readouterr().out
    assert "communities  社区" in listing and "grids        网格       " in listing
    out_file = tmp_path / "grids.geojson"
    assert main(["--db", db_url, "export", "网格", "-o", str(out_file)]) == 0
    doc = json.loads(out_file.read_text(encoding="utf-8"))
    assert [f["id"] for f in doc["features"]] == [samples.CODE_A + "001", samples.CODE_A + "002"]


def test_bad_input_exits_2_with_every_problem(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    db = f"sqlite:///{tmp_path / 'bad.db'}"
    csv = tmp_path / "f.csv"
    csv.write_text("id,type,lon,lat\nA,幼儿园,104.08,30.65\nB,kindergarden,104.09,30.65\nC,clinic,30.65,104.09\n",
                   encoding="utf-8")
    assert main(["--db", db, "import", "facilities", str(csv)]) == 2
    err = capsys.readouterr().err
    assert "error: 2 problems; nothing was written" in err
    assert "f.csv, row 2 (line 3), field 'type': unknown facility type 'kindergarden'" in err
    assert "f.csv, row 3 (line 4), field 'geometry'" in err and "swapped" in err
    assert Store(db).count("facilities") == 0
    assert main(["--db", db, "import", "parks", str(csv)]) == 2
    assert "unknown layer 'parks'" in capsys.readouterr().err
    assert main(["--db", db, "export", "grids", "-o", str(tmp_path / "g.geojson"), "--crs", "EPSG:3857"]) == 2
    assert "not offered" in capsys.readouterr().err


def test_schema_and_types(capsys: pytest.CaptureFixture) -> None:
    assert main(["schema", "grids"]) == 0
    assert "community_code" in capsys.readouterr().out
    assert main(["types"]) == 0
    assert "kindergarten" in capsys.readouterr().out


def test_docs_layers_md_is_generated_from_the_schema(capsys: pytest.CaptureFixture) -> None:
    assert main(["schema", "--markdown"]) == 0
    generated = capsys.readouterr().out
    assert (ROOT / "docs" / "layers.md").read_text(encoding="utf-8") == generated, "run `make docs`"
