"""A workspace: the store, the settings, and what is worth keeping between calls.

Every door makes one (the command line per command, the API and its pages one per app) and passes it
to the use cases. It keeps the latest snapshot of the layers (read once per data version, with the
walking network built when first needed) and recent analysis results, both dropped when the data
changes, so the JSON API and the pages share one computed answer and switching back to a map already
seen is instant.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import CRS

from shequ.errors import InvalidInput
from shequ.gis.coverage import assign_zones
from shequ.gis.crs import metric_crs
from shequ.gis.network import WalkNetwork
from shequ.layers.store import Store
from shequ.settings import Settings, from_environment


@dataclass
class Snapshot:
    """One version of the store's layers (WGS84), read once; derived things built when first asked."""

    version: tuple
    streets: gpd.GeoDataFrame
    residences: gpd.GeoDataFrame
    facilities: gpd.GeoDataFrame
    communities: gpd.GeoDataFrame
    grids: gpd.GeoDataFrame
    lifecircles: gpd.GeoDataFrame
    subdistricts: gpd.GeoDataFrame
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    scenario: str | None = None  # the scenario these layers show (None: the real layers)

    @classmethod
    def read(cls, store: Store, version: tuple | None = None) -> Snapshot:
        return cls(version if version is not None else store.data_version(), store.read("streets"),
                   store.read("residences").reset_index(drop=True), store.read("facilities"),
                   store.read("communities"), store.read("grids"), store.read("lifecircles"),
                   store.read("subdistricts"))

    @cached_property
    def metric_crs(self) -> CRS:
        """The metric CRS of the whole data set (CGCS2000 Gauss-Krüger zone of its middle): every
        analysis of any part of it measures in this one, so a part's numbers equal the whole's."""
        for frame in (self.streets, self.residences, self.communities, self.facilities):
            if len(frame):
                return metric_crs(frame)
        return CRS.from_epsg(4544)

    @property
    def network(self) -> WalkNetwork:
        """The walking network of every street (built once per snapshot; the build is the slow part)."""
        with self._lock:
            if "_network" not in self.__dict__:
                self.__dict__["_network"] = WalkNetwork.from_streets(self.streets, crs=self.metric_crs)
            return self.__dict__["_network"]

    def share_network_of(self, base: Snapshot) -> None:
        """Use ``base``'s walking network and metric CRS (a scenario changes no street)."""
        self.__dict__["metric_crs"] = base.metric_crs
        self.__dict__["_network"] = base.network

    @cached_property
    def serving(self) -> gpd.GeoDataFrame:
        """The facilities that serve people now: not planned, not under construction (a scenario
        may build them)."""
        fac = self.facilities
        if "status" not in fac or fac.empty:
            return fac
        return fac[fac["status"].isna() | (fac["status"] == "existing")]

    @cached_property
    def gates(self) -> list[shapely.Geometry | None]:
        """Each residence's own gate points (``extra.gates``, WKT MULTIPOINT from the OSM import)."""
        out: list[shapely.Geometry | None] = []
        for extra in self.residences.get("extra", pd.Series([None] * len(self.residences))):
            wkt = extra.get("gates") if isinstance(extra, dict) else None
            out.append(shapely.from_wkt(wkt) if isinstance(wkt, str) and wkt else None)
        return out

    @cached_property
    def type_counts(self) -> pd.Series:
        """Facilities per type, commonest first (ties by type code, so the order never changes)."""
        if self.facilities.empty:
            return pd.Series(dtype=int)
        counts = self.facilities["type"].value_counts()
        order = sorted(counts.index, key=lambda k: (-int(counts[k]), str(k)))
        return counts.reindex(order)

    @property
    def walkable(self) -> bool:
        return bool(len(self.streets)) and bool(self.streets["walkable"].fillna(True).astype(bool).any())

    @cached_property
    def estimated(self) -> bool:
        """Some households are estimates (from OpenStreetMap), not counts."""
        r = self.residences
        return bool("estimated" in r and r["estimated"].fillna(False).astype(bool).any())

    def metric(self, frame: gpd.GeoDataFrame) -> np.ndarray:
        return np.asarray(frame.to_crs(self.metric_crs).geometry.values)

    def gates_metric(self, rows: np.ndarray) -> np.ndarray | None:
        """The gates of the residences at ``rows`` in the metric CRS (None when none of them has any),
        as ``WalkNetwork.entries`` takes them."""
        gates = [self.gates[i] for i in rows]
        if not any(g is not None for g in gates):
            return None
        return np.asarray(gpd.GeoSeries(gates, crs=4326).to_crs(self.metric_crs).values)

    def area(self, area: str) -> tuple[np.ndarray, gpd.GeoDataFrame, tuple[str, str]]:
        """Rows of the residences of an area (a community code, or a 9/6-digit street or county prefix;
        "" for everything), its communities, and its name (Chinese, English)."""
        res, comm = self.residences, self.communities
        if not area:
            return np.arange(len(res)), comm.reset_index(drop=True), ("全部", "all communities")
        codes = comm["code"].astype(str) if len(comm) else pd.Series([], dtype=str)
        comm = comm[codes == area] if area in set(codes) else comm[codes.str.startswith(area)]
        if comm.empty:
            raise InvalidInput(f"unknown area {area!r}: no community has that code or code prefix",
                               zh=f"未知的区域 {area!r}：请填写社区代码或 9 位街道代码前缀")
        rows = np.flatnonzero(assign_zones(res, comm, "code").notna().to_numpy())
        return rows, comm.reset_index(drop=True), self.area_name(area, comm)

    def area_name(self, area: str, comm: gpd.GeoDataFrame) -> tuple[str, str]:
        """An area as people call it (Chinese, English): the community's, street's or district's name,
        never its code (the code only where the data have no name)."""
        if len(comm) == 1:
            name = str(comm["name"].iloc[0] or "") if "name" in comm else ""
            return (name, f"{name} (community)") if name else (f"社区 {area}", f"community {area}")
        n = len(comm)
        name = ""
        subs = self.subdistricts
        if len(area) == 9 and len(subs) and "code" in subs and "name" in subs:
            hit = subs[subs["code"].astype(str) == area]
            name = str(hit["name"].iloc[0]) if len(hit) and hit["name"].iloc[0] else ""
        column = {9: "street", 6: "district"}.get(len(area))
        if not name and column and column in comm:
            names = comm[column].dropna().astype(str).unique()
            name = names[0] if len(names) == 1 and names[0] else ""
        if name:
            return f"{name}（{n} 个社区）", f"{name} ({n} communities)"
        return f"{area} 的 {n} 个社区", f"{n} communities under {area}"


class ResultCache:
    """A small LRU of computed results, emptied when the data version changes.

    Computation runs outside the lock (two first requests may both compute; both results are equal),
    so a slow analysis never blocks a cached one.
    """

    def __init__(self, size: int = 24) -> None:
        self.size = size
        self._items: OrderedDict[Hashable, Any] = OrderedDict()
        self._version: Hashable = None
        self._lock = threading.Lock()
        self.hits = self.misses = 0

    def get(self, version: Hashable, key: Hashable, compute: Callable[[], Any]) -> Any:
        with self._lock:
            if version != self._version:
                self._items.clear()
                self._version = version
            if key in self._items:
                self._items.move_to_end(key)
                self.hits += 1
                return self._items[key]
        value = compute()
        with self._lock:
            self.misses += 1
            if version == self._version:
                self._items[key] = value
                self._items.move_to_end(key)
                while len(self._items) > self.size:
                    self._items.popitem(last=False)
        return value


class Workspace:
    """The store and settings one door works with, and the snapshot and results it keeps."""

    def __init__(self, store: Store, settings: Settings | None = None, *, cache_size: int = 24) -> None:
        self.store = store
        self.settings = settings or from_environment()
        self._snapshot: Snapshot | None = None
        self._scenarios: dict[tuple, Snapshot] = {}  # (base version, name, revision) → snapshot
        self._lock = threading.Lock()
        self.results = ResultCache(cache_size)

    @classmethod
    def open(cls, database_url: str | None = None, settings: Settings | None = None) -> Workspace:
        settings = settings or from_environment()
        return cls(Store(database_url or settings.database_url), settings)

    def snapshot(self) -> Snapshot:
        """The layers as they are now: read again only when the data version changed."""
        version = self.store.data_version()
        with self._lock:
            if self._snapshot is not None and self._snapshot.version == version:
                return self._snapshot
        snap = Snapshot.read(self.store, version)
        with self._lock:
            self._snapshot = snap
        return snap

    def scenario_snapshot(self, key: tuple, build: Callable[[], Snapshot]) -> Snapshot:
        """The snapshot of a scenario at one base version and revision (``key``), built once."""
        with self._lock:
            found = self._scenarios.get(key)
        if found is not None:
            return found
        snap = build()
        with self._lock:
            self._scenarios = {k: v for k, v in self._scenarios.items() if k[0] == key[0] and k[1] != key[1]}
            self._scenarios[key] = snap
        return snap

    def forget_scenario(self, name: str) -> None:
        with self._lock:
            self._scenarios = {k: v for k, v in self._scenarios.items() if k[1] != name}

    def cached(self, snapshot: Snapshot, key: Hashable, compute: Callable[[], Any]) -> Any:
        """``compute()`` once per data version and key."""
        if snapshot.scenario is None:
            return self.results.get(snapshot.version, key, compute)
        # a scenario's results live beside the real ones (emptied with them when the data changes)
        return self.results.get(snapshot.version[0], (snapshot.version, key), compute)

    def close(self) -> None:
        self.store.dispose()
