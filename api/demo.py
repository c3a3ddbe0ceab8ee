"""The demo database: central Chengdu built from the real OpenStreetMap extract shipped in data/."""

from __future__ import annotations

from importlib import resources

from shequ.layers.osm import import_osm
from shequ.layers.store import Store

CHENGDU_PBF = "chengdu/chengdu_central_osm2018.osm.pbf"


def chengdu_pbf() -> str:
    return str(resources.files("shequ.data").joinpath(CHENGDU_PBF))


def build_demo(database_url: str | None = None, *, force: bool = False) -> Store:
    """Load streets, facilities and residences of central Chengdu unless the database has them."""
    store = Store(database_url)
    counts = store.counts()
    if not force and counts["streets"] and counts["residences"]:
        print(f"demo database ready: {', '.join(f'{n} {k}' for k, n in counts.items() if n)}")
        return store
    print("building the central-Chengdu demo from OpenStreetMap (© OpenStreetMap contributors, ODbL)")
    layer_counts, notes = import_osm(store, chengdu_pbf(), mode="replace")
    for note in notes:
        print(f"note: {note}")
    print("demo database ready: " + ", ".join(f"{n} {k}" for k, n in layer_counts.items()))
    print("residence households and population are estimates (data/osm_import.json), not census counts")
    return store
