"""Analysis results in the store, so the API and pages can serve a run without recomputing it.

A run (``analysis_runs``) records what was asked (types, distances and their sources) and its
summary; its rows live in ``coverage_results`` (one per residence × type), ``coverage_gaps`` and
``service_areas``. Runs are never overwritten: each analysis adds one.

A scorecard run (``scorecard_runs``) records where a profile's rules stood on one day; its rows
(``scorecard_run_rules``) are per rule the communities it applies to, how many meet it and the share,
so progress towards the documents' dated targets can be followed over time. A profile has at most
one run a day: saving again the same day replaces it.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from geoalchemy2 import Geometry
from geoalchemy2.elements import WKBElement
from sqlalchemy import (
    Boolean,
    Column,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    delete,
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
    scorecard_runs = Table(
        "scorecard_runs", metadata,
        Column("run_id", Integer, primary_key=True, autoincrement=True),
        Column("profile", String, nullable=False),
        Column("day", Date, nullable=False),  # the day it stands for (one run per profile and day)
        Column("created_at", DateTime(timezone=True), nullable=False),
        Column("communities", Integer, nullable=False),  # every community scored
        Index("ix_scorecard_runs_profile_day", "profile", "day"),
    )
    scorecard_rows = Table(
        "scorecard_run_rules", metadata,
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("run_id", Integer, ForeignKey("scorecard_runs.run_id"), nullable=False, index=True),
        Column("rule", String, nullable=False),  # the scorecard's rule key (service_centre_present, required:…)
        Column("scope", String, nullable=False),  # whom the count is over ("" for the rule's own scope)
        Column("label", Text),
        Column("communities", Integer),  # the communities the rule (in this scope) applies to
        Column("meeting", Integer),
        Column("share", Float),
    )
    return {t.name: t for t in (runs, rows, gaps, areas, scorecard_runs, scorecard_rows)}


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


# ---- scorecard runs ------------------------------------------------------------------------------
SCORECARD_ROW_FIELDS = ("rule", "scope", "label", "communities", "meeting", "share")


def _count(value) -> int | None:
    return None if value is None or (isinstance(value, float) and not np.isfinite(value)) else int(value)


def _share(value) -> float | None:
    return None if value is None or (isinstance(value, float) and not np.isfinite(value)) else float(value)


def save_scorecard_run(engine, profile: str, rules: list[dict], *, communities: int, day: date | None = None,
                       at: datetime | None = None) -> int:
    """Store where ``profile``'s rules stand on ``day`` (default today), replacing a run of the same
    profile and day, in one transaction; returns the run id.

    ``rules``: one dict per rule with ``rule``, ``scope`` (whom the count is over; "" for the rule's own),
    ``label``, ``communities`` (it applies to), ``meeting`` and ``share``; a (rule, scope) given twice is
    stored once.
    """
    t = RESULT_TABLES
    runs, rows = t["scorecard_runs"], t["scorecard_run_rules"]
    day = day or date.today()
    seen: set[tuple[str, str]] = set()
    records = []
    for r in rules:
        key = (str(r["rule"]), str(r.get("scope") or ""))
        if key in seen:
            continue
        seen.add(key)
        records.append({"rule": key[0], "scope": key[1], "label": r.get("label"),
                        "communities": _count(r.get("communities")), "meeting": _count(r.get("meeting")),
                        "share": _share(r.get("share"))})
    with engine.begin() as conn:
        old = select(runs.c.run_id).where(runs.c.profile == profile, runs.c.day == day)
        conn.execute(delete(rows).where(rows.c.run_id.in_(old)))
        conn.execute(delete(runs).where(runs.c.profile == profile, runs.c.day == day))
        run_id = conn.execute(insert(runs).values(
            profile=profile, day=day, created_at=at or datetime.now(UTC), communities=int(communities))
            .returning(runs.c.run_id)).scalar_one()
        if records:
            conn.execute(insert(rows), [{**r, "run_id": run_id} for r in records])
    return int(run_id)


def scorecard_history(engine, profile: str) -> list[dict]:
    """The saved runs of ``profile``, oldest first: ``run_id``, ``day``, ``created_at``, ``communities``
    and ``rules`` (dicts of ``SCORECARD_ROW_FIELDS``). Should two runs share a day (two writers saving at
    once), the later one counts."""
    t = RESULT_TABLES
    runs, rows = t["scorecard_runs"], t["scorecard_run_rules"]
    with engine.connect() as conn:
        found = conn.execute(select(runs).where(runs.c.profile == profile)
                             .order_by(runs.c.day, runs.c.run_id)).mappings().all()
        by_day = {r["day"]: dict(r) for r in found}  # the later run of a day wins
        ids = [r["run_id"] for r in by_day.values()]
        lines = conn.execute(select(rows).where(rows.c.run_id.in_(ids)).order_by(rows.c.id)).mappings().all() \
            if ids else []
    per_run: dict[int, list[dict]] = {i: [] for i in ids}
    for line in lines:
        per_run[line["run_id"]].append({k: line[k] for k in SCORECARD_ROW_FIELDS})
    return [{"run_id": r["run_id"], "day": _day(r["day"]), "created_at": r["created_at"],
             "communities": r["communities"], "rules": per_run[r["run_id"]]} for r in by_day.values()]


def _day(value) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value)[:10])
