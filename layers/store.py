"""The store: GeoAlchemy2 tables built from the schema, on SpatiaLite (default) or PostGIS.

A SpatiaLite file is the embedded default (``SHEQU_DATABASE_URL`` unset → ``sqlite:///shequ.db``);
any ``postgresql+psycopg://`` URL selects PostGIS. Every write runs in one transaction: a write that
fails, for a bad row or a broken reference, leaves the database exactly as it was.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio  # noqa: F401 - load GDAL before SpatiaLite, see _sqlite_engine
import shapely
from geoalchemy2 import Geometry
from geoalchemy2.elements import WKBElement
from sqlalchemy import (
    Boolean,
    Column,
    Connection,
    Engine,
    Float,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    and_,
    create_engine,
    delete,
    event,
    func,
    inspect,
    select,
    text,
)

from shequ.layers.history import HISTORY, history_table
from shequ.layers.problems import LayerValidationError, Problem, problem_at
from shequ.layers.results import result_tables
from shequ.layers.scenarios import scenario_tables
from shequ.layers.schema import LAYERS, STORAGE_SRID, WRITE_ORDER, Layer
from shequ.layers.users import user_tables

DEFAULT_URL = "sqlite:///shequ.db"
_SQL_TYPES = {"str": String, "int": Integer, "float": Float, "bool": Boolean, "enum": String}


def database_url(url: str | None = None) -> str:
    """The URL in force: the argument, else ``SHEQU_DATABASE_URL``, else ``shequ.db`` here."""
    return url or os.environ.get("SHEQU_DATABASE_URL") or DEFAULT_URL


def _table(metadata: MetaData, layer: Layer) -> Table:
    columns = [Column("fid", Integer, primary_key=True, autoincrement=True)]
    for f in layer.fields:
        columns.append(Column(f.name, _SQL_TYPES[f.type], nullable=not f.required, unique=f.name == layer.key))
    columns.append(Column("extra", Text, nullable=True, comment="columns beyond the schema, as JSON"))
    columns.append(Column("version", Integer, nullable=False, server_default=text("1"),
                          comment="edit counter: optimistic locking (ETag) and history"))
    columns.append(Column("geom", Geometry(layer.storage_geometry, srid=STORAGE_SRID, spatial_index=True),
                          nullable=False))
    return Table(layer.name, metadata, *columns, comment=f"{layer.en} ({layer.zh})")


#: The tables used to build queries (dialect-neutral; never used for DDL, see ``Store.create_all``).
TABLES: dict[str, Table] = {name: _table(MetaData(), layer) for name, layer in LAYERS.items()}


def _sqlite_engine(url: str) -> Engine:
    # SQLite loads mod_spatialite with RTLD_GLOBAL, so the system PROJ and GEOS it links against
    # become the process's global symbols; a GDAL loaded afterwards (pyogrio's wheel bundles its own
    # PROJ) binds to them and crashes closing a GeoPackage. The module imports pyogrio first for that.
    # pyenv-built Pythons ship a sqlite3 without enable_load_extension; pysqlite3-binary has it.
    try:
        import pysqlite3.dbapi2 as dbapi
    except ImportError:  # pragma: no cover - platform without the wheel
        import sqlite3 as dbapi
    from geoalchemy2 import load_spatialite

    os.environ.setdefault("SPATIALITE_LIBRARY_PATH", "mod_spatialite")
    engine = create_engine(url, module=dbapi, connect_args={"timeout": 30})

    @event.listens_for(engine, "connect")
    def _connect(dbapi_conn, record):
        # transaction=True: SpatiaLite initialises its metadata in one transaction (≈0.1 s, not 15 s).
        load_spatialite(dbapi_conn, record, init_mode="WGS84", transaction=True)
        cur = dbapi_conn.cursor()
        # Many readers, one writer: WAL lets readers go on while a write commits; writers wait.
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.close()

    return engine


def make_engine(url: str | None = None) -> Engine:
    """An engine for the URL, with SpatiaLite loaded on every SQLite connection."""
    url = database_url(url)
    if url.startswith("sqlite"):
        return _sqlite_engine(url)
    if url.startswith("postgresql"):
        return create_engine(url, pool_pre_ping=True)
    raise ValueError(f"unsupported database URL {url!r}: use sqlite:///path.db or postgresql+psycopg://…")


def safe_url(url: str) -> str:
    """The URL without its password, for printing and logs."""
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


class Prefix(str):
    """A ``where`` value matching every text that starts with it (a street's 9-digit code finds its
    communities' 12-digit ones)."""


def _where(stmt, table: Table, where: dict | None):
    for name, value in (where or {}).items():
        column = table.c[name]
        if isinstance(value, Prefix):
            # LIKE with the wildcards escaped: a code is digits, but a name may hold % or _
            stmt = stmt.where(column.startswith(str(value), autoescape=True))
        else:
            stmt = stmt.where(column == value)
    return stmt


@dataclass
class WriteResult:
    layer: str
    inserted: int
    deleted: int = 0


class Store:
    """The layers in one database."""

    def __init__(self, url: str | None = None, *, create: bool = True) -> None:
        self.url = database_url(url)
        self.engine = make_engine(self.url)
        if create:
            self.create_all()

    @property
    def file(self) -> Path | None:
        """The SpatiaLite file, or None for PostGIS."""
        from sqlalchemy.engine import make_url

        url = make_url(self.url)
        return Path(url.database) if url.get_backend_name() == "sqlite" and url.database else None

    @property
    def backend(self) -> str:
        return "postgis" if self.engine.dialect.name == "postgresql" else "spatialite"

    def create_all(self) -> None:
        """Create missing tables and their spatial indexes (idempotent)."""
        if self.backend == "postgis":
            with self.engine.begin() as conn:
                conn.execute(text("CREATE EXTENSION IF NOT EXISTS postgis"))
        # DDL on a fresh MetaData: GeoAlchemy2's create hooks alter the Table objects they run on
        # (per dialect), so tables shared between a SpatiaLite and a PostGIS store must not see DDL.
        ddl = MetaData()
        for layer in LAYERS.values():
            _table(ddl, layer)
        result_tables(ddl)
        history_table(ddl)
        user_tables(ddl)
        scenario_tables(ddl)
        ddl.create_all(self.engine)
        self._add_missing_columns()

    def _add_missing_columns(self) -> None:
        """A database made by an older shequ gets the optional fields added since (no data changes)."""
        found = inspect(self.engine)
        columns = {layer.name: {c["name"] for c in found.get_columns(layer.name)} for layer in LAYERS.values()}
        missing = [(layer, f) for layer in LAYERS.values() for f in layer.fields if f.name not in columns[layer.name]]
        no_version = [name for name, names in columns.items() if "version" not in names]
        if not missing and not no_version:
            return
        with self.engine.begin() as conn:
            for name in no_version:
                conn.execute(text(f"ALTER TABLE {name} ADD COLUMN version INTEGER NOT NULL DEFAULT 1"))
            for layer, f in missing:
                if f.required:
                    raise RuntimeError(f"{layer.name} lacks the required column {f.name!r}: rebuild this database")
                sql_type = _SQL_TYPES[f.type]().compile(dialect=self.engine.dialect)
                conn.execute(text(f'ALTER TABLE {layer.name} ADD COLUMN "{f.name}" {sql_type}'))
                old = next((a for a in f.aliases if a in columns[layer.name]), None)
                if old:  # the field's older name (communities.urban_rural → kind): keep its values
                    conn.execute(text(f'UPDATE {layer.name} SET "{f.name}" = "{old}"'))

    def dispose(self) -> None:
        self.engine.dispose()

    # ---- reading -------------------------------------------------------------------------------
    def count(self, layer: str, *, bbox: Sequence[float] | None = None, where: dict | None = None) -> int:
        table = TABLES[layer]
        stmt = select(func.count()).select_from(table)
        if bbox is not None:
            stmt = stmt.where(self._bbox_clause(table, bbox))
        stmt = _where(stmt, table, where)
        with self.engine.connect() as conn:
            return conn.execute(stmt).scalar_one()

    def counts(self) -> dict[str, int]:
        return {name: self.count(name) for name in LAYERS}

    def extent(self, layer: str) -> list[float] | None:
        """minx, miny, maxx, maxy of a layer (WGS84), by the database: no geometry leaves it."""
        geom = TABLES[layer].c.geom
        if self.backend == "postgis":
            box = func.ST_Extent(geom)
            stmt = select(func.ST_XMin(box), func.ST_YMin(box), func.ST_XMax(box), func.ST_YMax(box))
        else:
            stmt = select(func.min(func.MbrMinX(geom)), func.min(func.MbrMinY(geom)),
                          func.max(func.MbrMaxX(geom)), func.max(func.MbrMaxY(geom)))
        with self.engine.connect() as conn:
            row = conn.execute(stmt).one()
        return None if row[0] is None else [float(v) for v in row]

    def data_version(self) -> tuple:
        """Changes whenever the data does: per layer the row count and highest fid (an import that
        replaces rows gets new fids), and the edit history's size and last id (an edit in place).
        Caches of analyses are keyed by it."""
        with self.engine.connect() as conn:
            layers = tuple(tuple(conn.execute(select(func.count(), func.max(TABLES[name].c.fid))).one())
                           for name in LAYERS)
            history = tuple(conn.execute(select(func.count(), func.max(HISTORY.c.id))).one())
        return (*layers, history)

    def transaction(self):
        """A connection in one transaction (``with store.transaction() as conn``): committed at the end of
        the block, rolled back if it raises. The application's writes of several steps run in one."""
        return self.engine.begin()

    def keys(self, layer: str, conn: Connection | None = None) -> set[str]:
        table = TABLES[layer]
        stmt = select(table.c[LAYERS[layer].key])
        if conn is not None:
            return set(conn.execute(stmt).scalars())
        with self.engine.connect() as c:
            return set(c.execute(stmt).scalars())

    def _bbox_clause(self, table: Table, bbox: Sequence[float]):
        minx, miny, maxx, maxy = (float(v) for v in bbox)
        envelope = func.ST_GeomFromText(
            f"POLYGON(({minx} {miny},{maxx} {miny},{maxx} {maxy},{minx} {maxy},{minx} {miny}))", STORAGE_SRID)
        if self.backend == "postgis":
            return table.c.geom.intersects(envelope)  # && uses the GiST index
        # SpatiaLite does not consult its R*Tree by itself: filter by the index table first.
        index = text(
            f"SELECT pkid FROM idx_{table.name}_geom WHERE xmin <= :maxx AND xmax >= :minx "
            "AND ymin <= :maxy AND ymax >= :miny"
        ).bindparams(minx=minx, miny=miny, maxx=maxx, maxy=maxy)
        return and_(table.c.fid.in_(index), func.ST_Intersects(table.c.geom, envelope) == 1)

    def read(self, layer: str, *, bbox: Sequence[float] | None = None, where: dict | None = None,
             limit: int | None = None, offset: int | None = None, conn: Connection | None = None,
             ) -> gpd.GeoDataFrame:
        """A layer (or the part of it in ``bbox``, matching ``where``) as a WGS84 GeoDataFrame.

        With ``conn``, inside that connection's transaction (an edit reads its neighbours so).
        """
        spec = LAYERS[layer]
        table = TABLES[layer]
        stmt = select(table.c.fid, *(table.c[n] for n in spec.field_names), table.c.extra, table.c.version,
                      func.ST_AsBinary(table.c.geom, type_=LargeBinary).label("wkb")).order_by(table.c.fid)
        if bbox is not None:
            stmt = stmt.where(self._bbox_clause(table, bbox))
        stmt = _where(stmt, table, where)
        if limit is not None:
            stmt = stmt.limit(limit)
        if offset:
            stmt = stmt.offset(offset)
        if conn is not None:
            rows = conn.execute(stmt).all()
        else:
            with self.engine.connect() as c:
                rows = c.execute(stmt).all()
        df = pd.DataFrame(rows, columns=["fid", *spec.field_names, "extra", "version", "wkb"])
        geometry = shapely.from_wkb(np.asarray([bytes(b) for b in df.pop("wkb")], dtype=object))
        df["extra"] = [json.loads(e) if isinstance(e, str) and e else {} for e in df["extra"]]
        for f in spec.fields:
            if f.type == "bool":
                df[f.name] = df[f.name].astype("boolean")
            elif f.type == "int":
                df[f.name] = df[f.name].astype("Int64")
            elif f.type == "float":
                df[f.name] = df[f.name].astype("Float64")
        return gpd.GeoDataFrame(df, geometry=geometry, crs=f"EPSG:{STORAGE_SRID}")

    def attributes(self, layer: str, fields: Sequence[str], *, where: dict | None = None) -> pd.DataFrame:
        """Some fields of a layer without its geometry (lists to choose from: a few KB, not the outlines),
        in key order."""
        table = TABLES[layer]
        stmt = _where(select(*(table.c[n] for n in fields)).order_by(table.c[LAYERS[layer].key]), table, where)
        with self.engine.connect() as conn:
            return pd.DataFrame(conn.execute(stmt).all(), columns=list(fields))

    # ---- writing -------------------------------------------------------------------------------
    def write(self, layer: str, gdf: gpd.GeoDataFrame, *, mode: str = "append") -> WriteResult:
        """Write validated features in one transaction; on any problem nothing is written.

        ``gdf`` holds the schema's fields (already typed by ``validate``), an optional ``extra`` column
        of dicts and WGS84 geometries; its index gives each feature's position in the source file and
        its ``attrs`` the file name, for messages.
        """
        return self.write_layers({layer: gdf}, mode=mode)[layer]

    def write_layers(self, frames: dict[str, gpd.GeoDataFrame], *, mode: str = "append") -> dict[str, WriteResult]:
        """Write several layers in one transaction (e.g. an OSM import): all of them or none."""
        if mode not in ("append", "replace"):
            raise ValueError("mode must be 'append' or 'replace'")
        results = {}
        order = [n for n in WRITE_ORDER if n in frames]
        with self.engine.begin() as conn:
            deleted = {}
            if mode == "replace":  # empty every layer first, dependants first, so they can be replaced together
                for layer in reversed(order):
                    keeping = set(frames[layer][LAYERS[layer].key])
                    self._check_not_referenced(conn, layer, keeping, replacing=set(order))
                    deleted[layer] = conn.execute(delete(TABLES[layer])).rowcount
            for layer in order:
                results[layer] = self._write(conn, layer, frames[layer], "append")
                results[layer].deleted = deleted.get(layer, 0)
        return results

    def _write(self, conn: Connection, layer: str, gdf: gpd.GeoDataFrame, mode: str) -> WriteResult:
        spec = LAYERS[layer]
        table = TABLES[layer]
        rows = _rows(spec, gdf)
        deleted = 0
        if mode == "replace":
            self._check_not_referenced(conn, layer, set(gdf[spec.key]))
            deleted = conn.execute(delete(table)).rowcount
        problems = self._check_keys(conn, spec, gdf)
        problems += self._check_references(conn, spec, gdf)
        if problems:
            raise LayerValidationError(problems)
        if rows:
            conn.execute(table.insert(), rows)
        return WriteResult(layer, len(rows), deleted)

    def _check_keys(self, conn: Connection, spec: Layer, gdf: gpd.GeoDataFrame) -> list[Problem]:
        existing = self.keys(spec.name, conn)
        clash = gdf[spec.key].isin(existing)
        return [problem_at(gdf.attrs, idx, spec.key, f"duplicate {spec.key} {value!r}: already in the database",
                           f"{spec.key} {value!r} 重复：数据库中已有")
                for idx, value in gdf.loc[clash, spec.key].items()]

    def _check_references(self, conn: Connection, spec: Layer, gdf: gpd.GeoDataFrame) -> list[Problem]:
        problems = []
        for f in spec.fields:
            if not f.references or f.name not in gdf:
                continue
            values = gdf[f.name].dropna()
            if values.empty:
                continue
            known = self.keys(f.references, conn)
            for idx, value in values[~values.isin(known)].items():
                problems.append(problem_at(gdf.attrs, idx, f.name,
                                           f"{f.references} {value!r} does not exist; import {f.references} first",
                                           f"{LAYERS[f.references].zh} {value!r} 不存在：请先导入"))
        return problems

    def _check_not_referenced(self, conn: Connection, layer: str, keeping: set[str],
                              replacing: set[str] = frozenset()) -> None:
        """Refuse to remove features that other layers (not being replaced too) still point to."""
        problems = []
        for other in LAYERS.values():
            if other.name in replacing:
                continue
            for f in other.fields:
                if f.references != layer:
                    continue
                col = TABLES[other.name].c[f.name]
                used = set(conn.execute(select(col).where(col.is_not(None)).distinct()).scalars())
                orphaned = sorted(used - keeping)
                if orphaned:
                    problems.append(Problem(
                        layer, None, f.name,
                        f"{len(orphaned)} {layer} still referenced by {other.name}.{f.name} "
                        f"(e.g. {', '.join(map(repr, orphaned[:5]))}); remove or re-point those {other.name} first",
                        reason_zh=f"仍有 {len(orphaned)} 个{LAYERS[layer].zh}被{other.zh}的 {f.name} 引用"
                                  f"（如 {'、'.join(map(repr, orphaned[:5]))}）：请先删除或改指这些{other.zh}"))
        if problems:
            raise LayerValidationError(problems)


def _rows(spec: Layer, gdf: gpd.GeoDataFrame) -> list[dict]:
    """Database rows from a validated GeoDataFrame (WKB geometry, JSON extra, plain Python values)."""
    wkb = shapely.to_wkb(np.asarray(gdf.geometry.values), output_dimension=2)
    records: dict[str, Iterable] = {}
    for f in spec.fields:
        if f.name in gdf:
            records[f.name] = [None if _isna(v) else _plain(v) for v in gdf[f.name]]
    extra = gdf["extra"] if "extra" in gdf else [None] * len(gdf)
    records["extra"] = [json.dumps(e, ensure_ascii=False, sort_keys=True) if e else None for e in extra]
    records["geom"] = [WKBElement(b, srid=STORAGE_SRID) for b in wkb]
    names = list(records)
    return [dict(zip(names, values, strict=True)) for values in zip(*records.values(), strict=True)]


def _isna(value: object) -> bool:
    return value is None or value is pd.NA or (isinstance(value, float) and np.isnan(value))


def _plain(value: object) -> object:
    return value.item() if isinstance(value, np.generic) else value
