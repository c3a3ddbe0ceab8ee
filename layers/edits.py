"""Editing one feature at a time, safely, on SpatiaLite and PostGIS.

- **Optimistic locking.** Every feature has a version; a write names the version it was based on
  and the UPDATE only succeeds ``WHERE version = :expected``, so of two editors who read the same
  version exactly one wins and the other gets :class:`EditConflict` (HTTP 412) — atomic in the
  database, whatever the interleaving.
- **Checks on a stable neighbourhood.** A write first takes a lock — on PostGIS a transaction
  advisory lock per scope (per community for grids, so editors of different communities never wait
  for each other), on SpatiaLite the database's single write lock, taken before anything is read —
  then reads the neighbours, runs the caller's checks and writes, all in one transaction. Two
  editors can therefore never both pass an overlap check against each other's old boundary.
- **History.** Every write adds a row to ``feature_history``: who, when, the action, the new state
  and the version before; a delete keeps the last state. Nothing is lost; any version can be
  restored, and a restore is itself a recorded write.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import geopandas as gpd
import shapely
from sqlalchemy import Connection, delete, func, insert, select, text, update

from shequ.layers.history import HISTORY
from shequ.layers.problems import LayerValidationError
from shequ.layers.schema import LAYERS
from shequ.layers.store import TABLES, Store, _rows

#: a check run inside the write transaction: (connection, candidate row, stored or None) → problems
Check = Callable[[Connection, gpd.GeoDataFrame, "Stored | None"], list[dict]]


class EditError(Exception):
    """A write that cannot be done; ``status`` is the HTTP answer."""

    status = 400

    def __init__(self, message: str, problems: list[dict] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.problems = problems or []


class NotFound(EditError):
    status = 404


class EditConflict(EditError):
    """The feature changed since the editor read it (or exists already, on create)."""

    status = 412

    def __init__(self, message: str, current: Stored | None = None) -> None:
        super().__init__(message)
        self.current = current


class AlreadyExists(EditError):
    status = 409


class Rejected(EditError):
    """The new state breaks a rule (validation or topology): nothing was written."""

    status = 422


@dataclass
class Stored:
    """A feature as stored: one-row WGS84 frame with the schema's fields and ``extra``."""

    layer: str
    key: str
    version: int
    frame: gpd.GeoDataFrame

    @property
    def etag(self) -> str:
        return etag(self.layer, self.key, self.version)

    @property
    def geometry(self) -> shapely.Geometry:
        return self.frame.geometry.iloc[0]


def etag(layer: str, key: str, version: int) -> str:
    """A strong entity tag for one version of one feature."""
    digest = hashlib.sha256(f"{layer}\0{key}\0{version}".encode()).hexdigest()[:20]
    return f'"{digest}"'


def get(store: Store, layer: str, key: str, conn: Connection | None = None) -> Stored | None:
    frame = store.read(layer, where={LAYERS[layer].key: key}, conn=conn)
    if frame.empty:
        return None
    return Stored(layer, key, int(frame["version"].iloc[0]), frame.iloc[[0]].reset_index(drop=True))


def _lock(conn: Connection, layer: str, scopes: list[str]) -> None:
    if conn.dialect.name == "postgresql":
        for scope in sorted(set(scopes)):  # always in the same order: no deadlock between editors
            conn.execute(text("SELECT pg_advisory_xact_lock(hashtext(:s))"), {"s": f"{layer}:{scope}"})
    else:
        # Any UPDATE takes SQLite's write lock, even one that changes nothing; taken first, before
        # the checks read anything, it serialises edits (WAL still lets readers go on).
        conn.execute(text(f"UPDATE {layer} SET version = version WHERE 0 = 1"))


def _state(row: dict, spec_fields: list[str]) -> tuple[str, bytes | None]:
    props = {f: row.get(f) for f in spec_fields}
    props["extra"] = json.loads(row["extra"]) if row.get("extra") else {}
    geom = row.get("geom")
    return json.dumps(props, ensure_ascii=False, default=str), bytes(geom.data) if geom is not None else None


def _record(conn: Connection, layer: str, key: str, version: int, previous: int | None, action: str, user: str,
            properties: str, wkb: bytes | None, note: str | None = None) -> None:
    conn.execute(insert(HISTORY).values(layer=layer, key=key, version=version, previous_version=previous,
                                        action=action, user_name=user, at=datetime.now(UTC),
                                        properties=properties, wkb=wkb, note=note))


def write(store: Store, layer: str, candidate: gpd.GeoDataFrame, *, user: str, expected_version: int | None,
          action: str, scopes: list[str] | None = None, check: Check | None = None,
          notes: list[str] | None = None, conn: Connection | None = None) -> Stored:
    """Create (``expected_version=None``) or replace a feature with the validated one-row ``candidate``.

    ``notes`` (what a repair changed; the check may add to it) are recorded with the version. With
    ``conn``, the write joins that transaction (a split or merge is several writes, all or none)."""
    if conn is None:
        with store.engine.begin() as own:
            return write(store, layer, candidate, user=user, expected_version=expected_version, action=action,
                         scopes=scopes, check=check, notes=notes, conn=own)
    spec = LAYERS[layer]
    table = TABLES[layer]
    key = str(candidate[spec.key].iloc[0])
    _lock(conn, layer, scopes or [key])
    current = get(store, layer, key, conn)
    if expected_version is None and current is not None:
        raise AlreadyExists(f"{layer} {key!r} exists already: replace it with PUT and If-Match")
    if expected_version is not None:
        if current is None:
            raise NotFound(f"no {layer} {key!r}")
        if current.version != expected_version:
            raise EditConflict(f"{layer} {key!r} was changed by someone else (now version {current.version}, "
                               f"you edited version {expected_version}): reload it and edit again", current)
    problems = [] if check is None else check(conn, candidate, current)
    refs = store._check_references(conn, spec, candidate)
    problems += [{"check": "reference", "field": p.field, "message": p.reason} for p in refs]
    if problems:
        raise Rejected(f"the {layer} {key!r} breaks {len(problems)} rule{'s' if len(problems) > 1 else ''}; "
                       "nothing was written", problems)
    (row,) = _rows(spec, candidate)
    if current is None:  # new, or back after a delete: versions go on from the history
        version = (_max_version(conn, layer, key) or 0) + 1
        conn.execute(insert(table).values(**row, version=version))
    else:
        _baseline(conn, spec, current)
        done = conn.execute(update(table).where(table.c[spec.key] == key, table.c.version == current.version)
                            .values(**row, version=current.version + 1)).rowcount
        if not done:  # cannot happen under the lock; kept so a bug shows as a conflict, never a lost write
            raise EditConflict(f"{layer} {key!r} changed during the write", get(store, layer, key, conn))
        version = current.version + 1
    props, wkb = _state(row, spec.field_names)
    previous = current.version if current else _max_version(conn, layer, key, before=version)
    _record(conn, layer, key, version, previous, action, user, props, wkb, "; ".join(notes or []) or None)
    return get(store, layer, key, conn)


def remove(store: Store, layer: str, key: str, *, user: str, expected_version: int,
           scopes: list[str] | None = None, conn: Connection | None = None, note: str | None = None) -> int:
    """Delete a feature (its last state stays in the history); the version the delete recorded."""
    if conn is None:
        with store.engine.begin() as own:
            return remove(store, layer, key, user=user, expected_version=expected_version, scopes=scopes,
                          conn=own, note=note)
    spec = LAYERS[layer]
    table = TABLES[layer]
    _lock(conn, layer, scopes or [key])
    current = get(store, layer, key, conn)
    if current is None:
        raise NotFound(f"no {layer} {key!r}")
    if current.version != expected_version:
        raise EditConflict(f"{layer} {key!r} was changed by someone else (now version {current.version}): "
                           "reload it before deleting", current)
    try:
        store._check_not_referenced(conn, layer, set(store.keys(layer, conn)) - {key})
    except LayerValidationError as exc:
        raise Rejected(str(exc.problems[0].reason), [{"check": "referenced", "message": p.reason}
                                                     for p in exc.problems]) from None
    _baseline(conn, spec, current)
    (row,) = _rows(spec, current.frame)
    conn.execute(delete(table).where(table.c[spec.key] == key, table.c.version == current.version))
    props, wkb = _state(row, spec.field_names)
    _record(conn, layer, key, current.version + 1, current.version, "delete", user, props, wkb, note)
    return current.version + 1


def _max_version(conn: Connection, layer: str, key: str, before: int | None = None) -> int | None:
    stmt = select(func.max(HISTORY.c.version)).where(HISTORY.c.layer == layer, HISTORY.c.key == key)
    if before is not None:
        stmt = stmt.where(HISTORY.c.version < before)
    return conn.execute(stmt).scalar()


def _baseline(conn: Connection, spec, current: Stored) -> None:
    """A feature imported in bulk has no history yet: keep its state before the first edit."""
    if _max_version(conn, spec.name, current.key) is not None:
        return
    (row,) = _rows(spec, current.frame)
    props, wkb = _state(row, spec.field_names)
    _record(conn, spec.name, current.key, current.version, None, "import", "import", props, wkb)


def history(store: Store, layer: str, key: str) -> list[dict]:
    """Every recorded version of a feature, oldest first (also after it was deleted). A feature
    imported in bulk and never edited has one: its current state, as imported."""
    with store.engine.connect() as conn:
        rows = conn.execute(select(HISTORY).where(HISTORY.c.layer == layer, HISTORY.c.key == key)
                            .order_by(HISTORY.c.version)).mappings().all()
        if not rows:
            current = get(store, layer, key, conn)
            if current is None:
                return []
            (row,) = _rows(LAYERS[layer], current.frame)
            props, wkb = _state(row, LAYERS[layer].field_names)
            return [{"version": current.version, "previous_version": None, "action": "import", "user": "import",
                     "at": None, "properties": json.loads(props), "geometry": shapely.from_wkb(wkb) if wkb else None,
                     "note": None}]
    out = []
    for r in rows:
        at = r["at"] if r["at"].tzinfo else r["at"].replace(tzinfo=UTC)
        out.append({"version": r["version"], "previous_version": r["previous_version"], "action": r["action"],
                    "user": r["user_name"], "at": at.isoformat(), "properties": json.loads(r["properties"]),
                    "geometry": shapely.from_wkb(r["wkb"]) if r["wkb"] is not None else None, "note": r["note"]})
    return out


def last_version(store: Store, layer: str, key: str) -> int | None:
    """The highest recorded version of a feature, present or deleted."""
    with store.engine.connect() as conn:
        return conn.execute(select(func.max(HISTORY.c.version)).where(HISTORY.c.layer == layer,
                                                                      HISTORY.c.key == key)).scalar()
