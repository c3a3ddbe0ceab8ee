"""The demo city: central Chengdu from the real OpenStreetMap extract in data/, every feature on it.

Streets, facilities and residences come from OSM (households estimated by the documented rule);
communities and grids are drafted by shequ (and say so); walking coverage runs and is saved;
a scorecard is written for every shipped policy profile; one account per role is made.
"""

from __future__ import annotations

from collections.abc import Callable
from importlib import resources
from pathlib import Path

import geopandas as gpd

from shequ.layers import users
from shequ.layers.profiles import shipped
from shequ.logs import timed
from shequ.usecases.access import LOCAL
from shequ.usecases.coverage import CoverageQuery, coverage, write_files
from shequ.usecases.drafting import DRAFT_NOTE, draft_communities, draft_grids, draft_subdistricts
from shequ.usecases.scorecards import write_report
from shequ.usecases.transfer import import_openstreetmap
from shequ.usecases.workspace import Workspace

CHENGDU_PBF = "chengdu/chengdu_central_osm2018.osm.pbf"
CHENGDU_DISTRICTS = "chengdu/chengdu_central_districts_coarse.geojson"
#: the demo's community size: Zhuji's 1 500–3 000 households (a city profile, as a real city would use)
COMMUNITY_PROFILE = "zhuji"
#: demo accounts, one per role; the grid manager looks after the first drafted community. The
#: password is public: remove them (``shequ user remove NAME``) before the database holds real work.
DEMO_PASSWORD = "shequ-demo"
DEMO_USERS = {"admin": "admin", "planner": "planner", "bureau": "bureau", "wangge": "grid_manager"}


def chengdu_pbf() -> str:
    return str(resources.files("shequ.data").joinpath(CHENGDU_PBF))


def chengdu_districts() -> gpd.GeoDataFrame:
    return gpd.read_file(str(resources.files("shequ.data").joinpath(CHENGDU_DISTRICTS)))


def build(ws: Workspace, *, force: bool = False, out: str | Path | None = None,
          say: Callable[[str], None] = print) -> Workspace:
    """Build the demo unless the database has it; analyses and reports go to ``out``."""
    store = ws.store
    counts = store.counts()
    if not force and counts["streets"] and counts["residences"] and counts["grids"]:
        say(f"demo database ready: {', '.join(f'{n} {k}' for k, n in counts.items() if n)}")
        accounts(ws, say)
        return ws
    out = Path(out) if out else _default_out(ws)
    with timed("demo", out=str(out)):
        say("building the central-Chengdu demo from OpenStreetMap (© OpenStreetMap contributors, ODbL)")
        layer_counts, notes = import_openstreetmap(ws, chengdu_pbf(), show_progress=False)
        for note in notes:
            say(f"note: {note}")
        say("  " + ", ".join(f"{n} {k}" for k, n in layer_counts.items()) + " (households are "
            "estimated from OpenStreetMap tags by shequ's rule)")
        communities = draft_communities(ws, profile=COMMUNITY_PROFILE, districts=chengdu_districts(),
                                        replace_official=True)
        grids = draft_grids(ws, profile="national", split_blocks=True, replace_official=True)
        streets = draft_subdistricts(ws, replace_official=True)
        say(f"  drafted {len(streets.units)} streets and towns (街道) from the communities' codes")
        for run in (communities, grids):
            lo, hi = run.households_range
            say(f"  drafted {len(run.units)} {run.layer}, {run.in_range.mean():.0%} within {lo:,.0f}–{hi:,.0f} "
                "households")
        say(f"  note: {DRAFT_NOTE}")
        outcome = coverage(ws, CoverageQuery(), user=LOCAL)
        files = write_files(ws, outcome, out / "coverage", user=LOCAL)
        say(f"  walking coverage: {len(files.files)} files in {files.out}/, saved as run {files.run_id}")
        for name in shipped():
            report = write_report(ws, name, out / "report" / name, user=LOCAL)
            say(f"  scorecard ({name}): {report.files[0]}")
    say("demo database ready: " + ", ".join(f"{n} {k}" for k, n in store.counts().items() if n))
    accounts(ws, say)
    return ws


def accounts(ws: Workspace, say: Callable[[str], None] = print) -> None:
    """One account per role (made once; kept if they exist), and say how to log in."""
    first = ws.store.read("communities", limit=1)
    area = [str(first["code"].iloc[0])] if len(first) else []
    have = {u.name for u in users.list_users(ws.store.engine)}
    for name, role in DEMO_USERS.items():
        if name not in have:
            users.add_user(ws.store.engine, name, DEMO_PASSWORD, role, area if role == "grid_manager" else [])
    mine = f" (community {area[0]})" if area else ""
    say(f"  demo accounts {', '.join(DEMO_USERS)}{mine}, password {DEMO_PASSWORD!r}: remove them with "
        "`shequ user remove NAME` before real use")


def _default_out(ws: Workspace) -> Path:
    """Next to a SpatiaLite file; ./demo-out for PostGIS."""
    file = ws.store.file
    return file.parent / "out" if file else Path("demo-out")
