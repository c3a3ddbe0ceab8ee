"""The demo city: central Chengdu from the real OpenStreetMap extract in data/, every feature on it.

Streets, facilities and residences come from OSM (households estimated by the documented rule);
communities and grids are drafted by shequ (and say so); walking coverage runs and is saved;
a scorecard is written for every shipped policy profile.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import geopandas as gpd

from shequ.api.analyze import run_coverage
from shequ.api.boundaries import DRAFT_NOTE, draft_communities_into, draft_grids_into
from shequ.api.report import community_report
from shequ.layers.osm import import_osm
from shequ.layers.profiles import load_profile, shipped
from shequ.layers.store import Store

CHENGDU_PBF = "chengdu/chengdu_central_osm2018.osm.pbf"
CHENGDU_DISTRICTS = "chengdu/chengdu_central_districts_coarse.geojson"
#: the demo's community size: Zhuji's 1 500–3 000 households (the national profile states none)
COMMUNITY_PROFILE = "zhuji"
#: demo accounts, one per role; the grid manager looks after the first drafted community. The
#: password is public: remove them (``shequ user remove NAME``) before the database holds real work.
DEMO_PASSWORD = "shequ-demo"
DEMO_USERS = {"admin": "admin", "planner": "planner", "bureau": "bureau", "wangge": "grid_manager"}


def chengdu_pbf() -> str:
    return str(resources.files("shequ.data").joinpath(CHENGDU_PBF))


def chengdu_districts() -> gpd.GeoDataFrame:
    return gpd.read_file(str(resources.files("shequ.data").joinpath(CHENGDU_DISTRICTS)))


def build_demo(database_url: str | None = None, *, force: bool = False, out: str | Path | None = None) -> Store:
    """Build the demo unless the database has it; analyses and reports go to ``out``."""
    store = Store(database_url)
    counts = store.counts()
    if not force and counts["streets"] and counts["residences"] and counts["grids"]:
        print(f"demo database ready: {', '.join(f'{n} {k}' for k, n in counts.items() if n)}")
        demo_users(store)
        return store
    out = Path(out) if out else _default_out(store)
    print("building the central-Chengdu demo from OpenStreetMap (© OpenStreetMap contributors, ODbL)")
    layer_counts, notes = import_osm(store, chengdu_pbf(), mode="replace")
    for note in notes:
        print(f"note: {note}")
    print("  " + ", ".join(f"{n} {k}" for k, n in layer_counts.items()) + " (households are estimates, "
          "data/osm_import.json)")
    size = load_profile(COMMUNITY_PROFILE).get("community_households")
    communities = draft_communities_into(store, tuple(size.value), districts=chengdu_districts(),
                                         replace_official=True)
    grid_range = tuple(load_profile("national").value("grid_households"))
    grids = draft_grids_into(store, grid_range, split_blocks=True, replace_official=True)
    for run in (communities, grids):
        lo, hi = run.households_range
        print(f"  drafted {len(run.units)} {run.layer}, {run.in_range.mean():.0%} within {lo:,.0f}–{hi:,.0f} "
              "households")
    print(f"  note: {DRAFT_NOTE}")
    coverage = run_coverage(store, out / "coverage", show_progress=False)
    print(f"  walking coverage: {len(coverage.files)} files in {coverage.out}/, saved as run {coverage.run_id}")
    for name in shipped():
        report = community_report(store, out / "report" / name, name)
        print(f"  scorecard ({name}): {report.files[0]}")
    print("demo database ready: " + ", ".join(f"{n} {k}" for k, n in store.counts().items() if n))
    demo_users(store)
    return store


def demo_users(store: Store) -> None:
    """One account per role (made once; kept if they exist), and say how to log in."""
    from shequ.layers import users

    first = store.read("communities", limit=1)
    area = [str(first["code"].iloc[0])] if len(first) else []
    have = {u.name for u in users.list_users(store.engine)}
    for name, role in DEMO_USERS.items():
        if name not in have:
            users.add_user(store.engine, name, DEMO_PASSWORD, role, area if role == "grid_manager" else [])
    mine = f" (community {area[0]})" if area else ""
    print(f"  demo accounts {', '.join(DEMO_USERS)}{mine}, password {DEMO_PASSWORD!r}: remove them with "
          "`shequ user remove NAME` before real use")


def _default_out(store: Store) -> Path:
    """Next to a SpatiaLite file; ./demo-out for PostGIS."""
    from sqlalchemy.engine import make_url

    url = make_url(store.url)
    return Path(url.database).parent / "out" if url.get_backend_name() == "sqlite" and url.database \
        else Path("demo-out")
