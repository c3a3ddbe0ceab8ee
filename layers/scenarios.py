"""Scenarios in the store: named sets of planned changes on top of the real layers.

A scenario (``scenarios``) has a name, a title, who made it and a revision that grows with every
change; its changes (``scenario_changes``) are kept in order, each with who made it and when, so the
list of changes is also the scenario's history. The real layers are never touched: an analysis
applies the changes to a copy of the layers it has read (``usecases/scenarios.py``).

Change kinds:
- ``add_facility``: a planned facility (type, point, capacity, opening year, name);
- ``remove_facility``: an existing facility closed (by id);
- ``set_capacity``: an existing facility's capacity changed (by id);
- ``add_residence``: a new development (point or polygon, households, population, children, elderly);
- ``build_planned``: the data's planned / under-construction facilities counted as built.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime

import numpy as np
import shapely
from geoalchemy2 import Geometry
from geoalchemy2.elements import WKBElement
from geoalchemy2.shape import to_shape
from sqlalchemy import (
    Column,
    DateTime,
    ForeignKey,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    delete,
    func,
    insert,
    select,
    update,
)

from shequ.errors import AlreadyExists, Conflict, InvalidInput, NotFound
from shequ.layers.schema import STORAGE_SRID

KINDS = ("add_facility", "remove_facility", "set_capacity", "add_residence", "build_planned")
#: a scenario name: letters, digits, Chinese, "-" and "_" (it appears in URLs and file names)
NAME = re.compile(r"[\w\-\u4e00-\u9fff]{1,64}")
#: changes in one scenario at most (a scenario is a plan, not a second copy of the data)
MAX_CHANGES = 5_000


def scenario_tables(metadata: MetaData) -> dict[str, Table]:
    scenarios = Table(
        "scenarios", metadata,
        Column("name", String, primary_key=True),
        Column("title", Text),
        Column("description", Text),
        Column("created_by", String),
        Column("created_at", DateTime(timezone=True), nullable=False),
        Column("updated_at", DateTime(timezone=True), nullable=False),
        Column("revision", Integer, nullable=False),
    )
    changes = Table(
        "scenario_changes", metadata,
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("scenario", String, ForeignKey("scenarios.name"), nullable=False, index=True),
        Column("kind", String, nullable=False),
        Column("target_id", String),  # the facility a removal or capacity change is about
        Column("properties", Text, nullable=False),  # JSON
        Column("geom", Geometry("GEOMETRY", srid=STORAGE_SRID, spatial_index=False)),
        Column("made_by", String),
        Column("made_at", DateTime(timezone=True), nullable=False),
    )
    return {t.name: t for t in (scenarios, changes)}


SCENARIO_TABLES = scenario_tables(MetaData())


def check_name(name: str) -> str:
    name = (name or "").strip()
    if not NAME.fullmatch(name):
        raise InvalidInput(f"scenario name {name!r}: 1–64 letters, digits, Chinese characters, '-' or '_'",
                           zh=f"方案名称 {name!r} 不合规：1–64 个字母、数字、汉字、“-”或“_”")
    return name


def create(engine, name: str, *, title: str = "", description: str = "", user: str | None = None) -> dict:
    name = check_name(name)
    t = SCENARIO_TABLES["scenarios"]
    now = datetime.now(UTC)
    with engine.begin() as conn:
        if conn.execute(select(t.c.name).where(t.c.name == name)).first():
            raise AlreadyExists(f"scenario {name!r} exists already: choose another name or delete it first",
                           zh=f"方案 {name!r} 已存在")
        conn.execute(insert(t).values(name=name, title=title or name, description=description, created_by=user,
                                      created_at=now, updated_at=now, revision=0))
    return get(engine, name)


def get(engine, name: str) -> dict:
    t = SCENARIO_TABLES["scenarios"]
    with engine.connect() as conn:
        row = conn.execute(select(t).where(t.c.name == name)).mappings().first()
    if row is None:
        raise NotFound(f"no scenario {name!r}: shequ scenario list shows them", zh=f"没有名为 {name!r} 的方案")
    return dict(row)


def list_all(engine) -> list[dict]:
    t, c = SCENARIO_TABLES["scenarios"], SCENARIO_TABLES["scenario_changes"]
    with engine.connect() as conn:
        rows = conn.execute(select(t).order_by(t.c.name)).mappings().all()
        counts = dict(conn.execute(select(c.c.scenario, func.count(c.c.id)).group_by(c.c.scenario)).all())
    return [{**dict(r), "changes": int(counts.get(r["name"], 0))} for r in rows]


def delete_scenario(engine, name: str) -> None:
    t, c = SCENARIO_TABLES["scenarios"], SCENARIO_TABLES["scenario_changes"]
    with engine.begin() as conn:
        conn.execute(delete(c).where(c.c.scenario == name))
        if conn.execute(delete(t).where(t.c.name == name)).rowcount == 0:
            raise NotFound(f"no scenario {name!r}", zh=f"没有名为 {name!r} 的方案")


def add_changes(engine, name: str, changes: list[dict], *, user: str | None = None,
                revision: int | None = None) -> dict:
    """Append changes (dicts with ``kind``, optional ``target_id``, ``properties`` and ``geometry`` as a
    shapely geometry in WGS84) in one transaction; with ``revision``, only if the scenario is still at it
    (a second planner's changes are never silently mixed in). Returns the scenario."""
    t, c = SCENARIO_TABLES["scenarios"], SCENARIO_TABLES["scenario_changes"]
    now = datetime.now(UTC)
    rows = []
    for i, ch in enumerate(changes):
        kind = ch.get("kind")
        if kind not in KINDS:
            raise InvalidInput(f"change {i + 1}: kind must be one of {', '.join(KINDS)}, not {kind!r}",
                               zh=f"第 {i + 1} 项：修改类型应为 {'、'.join(KINDS)} 之一，而不是 {kind!r}")
        geom = ch.get("geometry")
        rows.append({"scenario": name, "kind": kind, "target_id": ch.get("target_id"),
                     "properties": json.dumps(ch.get("properties") or {}, ensure_ascii=False, default=_plain),
                     "geom": (WKBElement(shapely.to_wkb(geom, output_dimension=2), srid=STORAGE_SRID)
                              if geom is not None else None),
                     "made_by": user, "made_at": now})
    with engine.begin() as conn:
        row = conn.execute(select(t).where(t.c.name == name)).mappings().first()
        if row is None:
            raise NotFound(f"no scenario {name!r}: create it first (shequ scenario create {name})",
                           zh=f"没有名为 {name!r} 的方案：请先创建")
        if revision is not None and int(row["revision"]) != int(revision):
            raise Conflict(f"scenario {name!r} changed meanwhile (revision {row['revision']}, you had {revision}): "
                           "reload it and apply your change again", zh=f"方案 {name!r} 已被他人修改，请刷新后重试")
        count = conn.execute(select(func.count(c.c.id)).where(c.c.scenario == name)).scalar_one()
        if count + len(rows) > MAX_CHANGES:
            raise InvalidInput(f"a scenario holds at most {MAX_CHANGES:,} changes",
                               zh=f"一个方案最多 {MAX_CHANGES:,} 项修改")
        if rows:
            conn.execute(insert(c), rows)
        conn.execute(update(t).where(t.c.name == name).values(revision=t.c.revision + len(rows), updated_at=now))
    return get(engine, name)


def changes_of(engine, name: str) -> list[dict]:
    """The scenario's changes in order: id, kind, target_id, properties (dict), geometry (WGS84 or None),
    made_by, made_at."""
    c = SCENARIO_TABLES["scenario_changes"]
    with engine.connect() as conn:
        rows = conn.execute(select(c).where(c.c.scenario == name).order_by(c.c.id)).mappings().all()
    out = []
    for r in rows:
        geom = r["geom"]
        out.append({"id": int(r["id"]), "kind": r["kind"], "target_id": r["target_id"],
                    "properties": json.loads(r["properties"] or "{}"),
                    "geometry": to_shape(geom) if geom is not None else None,
                    "made_by": r["made_by"], "made_at": r["made_at"]})
    return out


def remove_change(engine, name: str, change_id: int, *, user: str | None = None) -> dict:
    """Take one change back (the revision still grows: a reader holding the old one sees it moved)."""
    t, c = SCENARIO_TABLES["scenarios"], SCENARIO_TABLES["scenario_changes"]
    with engine.begin() as conn:
        if conn.execute(delete(c).where(c.c.scenario == name, c.c.id == int(change_id))).rowcount == 0:
            raise NotFound(f"scenario {name!r} has no change {change_id}",
                           zh=f"方案 {name!r} 没有第 {change_id} 号修改")
        conn.execute(update(t).where(t.c.name == name).values(revision=t.c.revision + 1,
                                                               updated_at=datetime.now(UTC)))
    return get(engine, name)


def _plain(value):
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"not JSON: {type(value).__name__}")
