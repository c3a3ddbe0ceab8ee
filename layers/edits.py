"""Storing edits of one feature at a time, safely, on SpatiaLite and PostGIS: the storage half of
the edit use case (``shequ.usecases.editing`` decides what is written; this module writes it).

- **Optimistic locking.** Every feature has a version; an update only succeeds
  ``WHERE version = :read``, so of two editors who read the same version exactly one wins.
- **A stable neighbourhood.** ``lock`` takes, inside the caller's transaction, a lock per scope — on
  PostGIS a transaction advisory lock (per community for grids, so editors of different communities
  never wait for each other), on SpatiaLite the database's single write lock, taken before
  anything is read. The caller then reads, checks and writes in that same transaction, so two
  editors can never both pass an overlap check against each other's old boundary.
- **History.** Every write adds a row to ``feature_history``: who, when, the action, the new state
  and the version before; a delete keeps the last state. Nothing is lost; any version can be
  restored, and a restore is itself a recorded write.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime

import geopandas as gpd
import shapely
from sqlalchemy import Connection, delete, func, insert, select, text, update

from shequ.errors import Conflict, InvalidFeature
from shequ.layers.history import HISTORY
from shequ.layers.problems import LayerValidationError
from shequ.layers.schema import LAYERS
from shequ.layers.store import TABLES, Store, _rows
from shequ.layers.store import Prefix as _Prefix


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


def lock(conn: Connection, layer: str, scopes: list[str]) -> None:
    """Serialise writers of the same scopes until the transaction ends (see the module docstring)."""
    if conn.dialect.name == "postgresql":
        for scope in sorted(set(scopes)):  # always in the same order: no deadlock between editors
            conn.execute(text("SELECT pg_advisory_xact_lock(hashtext(:s))"), {"s": f"{layer}:{scope}"})
    else:
        # Any UPDATE takes SQLite's write lock, even one that changes nothing; taken first, before
        # the checks read anything, it serialises edits (WAL still lets readers go on).
        conn.execute(text(f"UPDATE {layer} SET version = version WHERE 0 = 1"))


def reference_problems(store: Store, conn: Connection, layer: str, candidate: gpd.GeoDataFrame) -> list[dict]:
    """Fields naming a feature of another layer that does not exist (a grid's community)."""
    return [{"check": "reference", "field": p.field, "message": p.reason}
            for p in store._check_references(conn, LAYERS[layer], candidate)]


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


def save(store: Store, conn: Connection, layer: str, candidate: gpd.GeoDataFrame, current: Stored | None, *,
         user: str, action: str, notes: list[str] | None = None) -> Stored:
    """Write the validated one-row ``candidate``: a new feature when ``current`` is None (or one back
    after a delete: its versions go on from the history), else the next version of ``current``; and
    its history row. Inside the caller's transaction, after ``lock``."""
    spec = LAYERS[layer]
    table = TABLES[layer]
    key = str(candidate[spec.key].iloc[0])
    (row,) = _rows(spec, candidate)
    if current is None:
        version = (_max_version(conn, layer, key) or 0) + 1
        conn.execute(insert(table).values(**row, version=version))
    else:
        _baseline(conn, spec, current)
        done = conn.execute(update(table).where(table.c[spec.key] == key, table.c.version == current.version)
                            .values(**row, version=current.version + 1)).rowcount
        if not done:  # cannot happen under the lock; kept so a bug shows as a conflict, never a lost write
            raise Conflict(f"{layer} {key!r} changed during the write", zh=f"{layer} {key} 在写入时被修改：请重试")
        version = current.version + 1
    props, wkb = _state(row, spec.field_names)
    previous = current.version if current else _max_version(conn, layer, key, before=version)
    _record(conn, layer, key, version, previous, action, user, props, wkb, "; ".join(notes or []) or None)
    return Stored(layer, key, version, candidate.assign(version=version).reset_index(drop=True))


def remove(store: Store, conn: Connection, current: Stored, *, user: str, note: str | None = None) -> int:
    """Delete a feature (its last state stays in the history); the version the delete recorded.
    Refused while another layer still points to it (a community with grids)."""
    spec = LAYERS[current.layer]
    table = TABLES[current.layer]
    try:
        store._check_not_referenced(conn, current.layer, set(store.keys(current.layer, conn)) - {current.key})
    except LayerValidationError as exc:
        raise InvalidFeature(str(exc.problems[0].reason), zh=exc.problems[0].reason_zh,
                             problems=[{"check": "referenced", "message": p.reason, "message_zh": p.reason_zh}
                                       for p in exc.problems]) from None
    _baseline(conn, spec, current)
    (row,) = _rows(spec, current.frame)
    conn.execute(delete(table).where(table.c[spec.key] == current.key, table.c.version == current.version))
    props, wkb = _state(row, spec.field_names)
    _record(conn, current.layer, current.key, current.version + 1, current.version, "delete", user, props, wkb, note)
    return current.version + 1


def next_key(store: Store, conn: Connection, layer: str, prefix: str) -> str:
    """``prefix`` + the next 3-digit sequence not used now nor ever before (a split grid's new code), so
    two features' histories never mix."""
    used = set(store.read(layer, where={LAYERS[layer].key: _Prefix(prefix)}, conn=conn)[LAYERS[layer].key])
    used |= set(conn.execute(select(HISTORY.c.key).where(HISTORY.c.layer == layer,
                                                         HISTORY.c.key.startswith(prefix))).scalars())
    seqs = [int(c[len(prefix):]) for c in used if c.startswith(prefix) and c[len(prefix):].isdigit()]
    return f"{prefix}{max(seqs, default=0) + 1:03d}"


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
