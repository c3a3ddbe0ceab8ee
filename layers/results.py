"""Analysis results in the store, so the API and pages can serve a run without recomputing it.

A run (``analysis_runs``) records what was asked (types, distances and their sources) and its
summary; its rows live in ``coverage_results`` (one per residence × type), ``coverage_gaps`` and
``service_areas``. Runs are never overwritten: each analysis adds one.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from geoalchemy2 import Geometry
from geoalchemy2.elements import WKBElement
from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    func,
    insert,
    select,
)

from shequ.layers.schema import STORAGE_SRID


def result_tables(metadata: MetaData) -> dict[str, Table]:
    """The result tables on ``metadata`` (the store creates them beside the layers)."""
    runs = Table(
        "analysis_runs", metadata,
        Column("run_id", Integer, primary_key=True, autoincrement=True),
        Column("kind", String, nullable=False),
        Column("created_at", DateTime(timezone=True), nullable=False),
        Column("params", Text, nullable=False),
        Column("summary", Text, nullable=False),
    )
    rows = Table(
        "coverage_results", metadata,
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("run_id", Integer, ForeignKey("analysis_runs.run_id"), nullable=False, index=True),
        Column("residence_id", String, nullable=False),
        Column("type", String, nullable=False),
        Column("distance_m", Float),
        Column("facility_id", String),
        Column("covered", Boolean, nullable=False),
        Column("straight_m", Float),
        Column("straight_facility_id", String),
        Column("covered_straight", Boolean, nullable=False),
        Column("island", Boolean, nullable=False),
    )
    gaps = Table(
        "coverage_gaps", metadata,
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("run_id", Integer, ForeignKey("analysis_runs.run_id"), nullable=False, index=True),
        Column("type", String, nullable=False),
        Column("residences", Integer),
        Column("households", Float),
        Column("population", Float),
        Column("elderly", Float),
        Column("children", Float),
        Column("geom", Geometry("GEOMETRY", srid=STORAGE_SRID, spatial_index=True), nullable=False),
    )
    areas = Table(
        "service_areas", metadata,
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("run_id", Integer, ForeignKey("analysis_runs.run_id"), nullable=False, index=True),
        Column("facility_id", String, nullable=False),
        Column("type", String, nullable=False),
        Column("distance_m", Float, nullable=False),
        Column("geom", Geometry("GEOMETRY", srid=STORAGE_SRID, spatial_index=True), nullable=False),
    )
    return {t.name: t for t in (runs, rows, gaps, areas)}


RESULT_TABLES = result_tables(MetaData())


def _geoms(gdf: gpd.GeoDataFrame) -> list[WKBElement]:
    wkb = shapely.to_wkb(np.asarray(gdf.to_crs(STORAGE_SRID).geometry.values), output_dimension=2)
    return [WKBElement(b, srid=STORAGE_SRID) for b in wkb]


def _plain(frame: pd.DataFrame) -> list[dict]:
    frame = frame.astype(object).where(frame.notna(), None)
    records = frame.to_dict("records")
    for r in records:
        for k, v in r.items():
            if isinstance(v, np.generic):
                r[k] = v.item()
            if isinstance(v, float) and not np.isfinite(v):
                r[k] = None
    return records


def save_coverage(engine, params: dict, summary: pd.DataFrame, long: pd.DataFrame,
                  gaps: gpd.GeoDataFrame, areas: gpd.GeoDataFrame | None) -> int:
    """Store one coverage run in one transaction; returns its run id."""
    t = RESULT_TABLES
    with engine.begin() as conn:
        run_id = conn.execute(insert(t["analysis_runs"]).values(
            kind="coverage", created_at=datetime.now(UTC), params=json.dumps(params, ensure_ascii=False),
            summary=json.dumps(_plain(summary), ensure_ascii=False)).returning(t["analysis_runs"].c.run_id)
        ).scalar_one()
        cols = ["residence_id", "type", "distance_m", "facility_id", "covered", "straight_m",
                "straight_facility_id", "covered_straight", "island"]
        rows = _plain(long[cols])
        for r in rows:
            r["run_id"] = run_id
        if rows:
            conn.execute(insert(t["coverage_results"]), rows)
        if len(gaps):
            g = _plain(gaps[["type", "residences", "households", "population", "elderly", "children"]]
                       .reindex(columns=["type", "residences", "households", "population", "elderly", "children"]))
            for r, geom in zip(g, _geoms(gaps), strict=True):
                r.update(run_id=run_id, geom=geom)
            conn.execute(insert(t["coverage_gaps"]), g)
        if areas is not None and len(areas):
            a = _plain(areas[["facility_id", "type", "distance_m"]])
            for r, geom in zip(a, _geoms(areas), strict=True):
                r.update(run_id=run_id, geom=geom)
            conn.execute(insert(t["service_areas"]), a)
    return int(run_id)


def latest_run(engine, kind: str = "coverage") -> dict | None:
    t = RESULT_TABLES["analysis_runs"]
    with engine.connect() as conn:
        row = conn.execute(select(t).where(t.c.kind == kind).order_by(t.c.run_id.desc()).limit(1)).mappings().first()
    if row is None:
        return None
    return {"run_id": row["run_id"], "kind": row["kind"], "created_at": row["created_at"],
            "params": json.loads(row["params"]), "summary": json.loads(row["summary"])}


def read_results(engine, run_id: int) -> pd.DataFrame:
    t = RESULT_TABLES["coverage_results"]
    with engine.connect() as conn:
        return pd.DataFrame(conn.execute(select(t).where(t.c.run_id == run_id)).mappings().all())


def read_gaps(engine, run_id: int, table: str = "coverage_gaps") -> gpd.GeoDataFrame:
    t = RESULT_TABLES[table]
    cols = [c for c in t.c if c.name != "geom"]
    with engine.connect() as conn:
        rows = conn.execute(select(*cols, func.ST_AsBinary(t.c.geom, type_=LargeBinary).label("wkb"))
                            .where(t.c.run_id == run_id)).mappings().all()
    frame = pd.DataFrame(rows, columns=[c.name for c in cols] + ["wkb"])
    geoms = shapely.from_wkb(np.asarray([bytes(b) for b in frame.pop("wkb")], dtype=object))
    return gpd.GeoDataFrame(frame, geometry=geoms, crs=STORAGE_SRID)
