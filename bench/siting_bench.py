"""Siting benchmark: exact MCLP on the walking network against the greedy heuristic and spopt's default.

Why: `shequ plan sites` claims that its sites are the proven best on walking distances and that a
city-sized run (100 000 residences, 10 000 candidate sites) takes under a minute on a small machine.
This script measures both, in one process and on the same data, against the two things a planner
would otherwise use: the greedy heuristic (add the site covering the most, k times) and spopt's
``MCLP.from_geodataframe`` with its default straight-line distances. Every method's sites are then
judged the same way: the households they cover on the walking network, with the existing facilities
kept. Results go to out/siting_bench.md and .json; docs/benchmark.md keeps the last full run.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import shapely
from coverage_bench import Phase, machine, measure, quiet_stdout
from pyproj import CRS

from shequ.gis.network import WalkNetwork
from shequ.gis.siting import Siting, SitingResult, street_candidates

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
CHENGDU_PBF = ROOT / "data" / "chengdu" / "chengdu_central_osm2018.osm.pbf"
SYNTH_CRS = "EPSG:4544"  # CGCS2000 3-degree Gauss-Krüger, CM 105°E (Chengdu)
LABELS = {"mclp": "shequ MCLP (exact, walking)", "greedy": "greedy (walking)",
          "spopt": "spopt MCLP (straight line)"}
#: skip spopt when its dense demand × facility matrix would be larger than this
DENSE_LIMIT_GB = 1.0


# ---- data --------------------------------------------------------------------------------------
@dataclass
class City:
    """One benchmark input, everything in the network's metric CRS."""

    name: str
    network: WalkNetwork
    residences: gpd.GeoDataFrame  # with a households column
    existing: gpd.GeoDataFrame  # facilities of the type that stay
    candidates: np.ndarray  # candidate sites (points)
    distance_m: float
    ks: list[int]
    gates: np.ndarray | None = None


def chengdu_city(ks: list[int]) -> City:
    """The shipped Chengdu extract, imported through the store as `shequ import-osm` does: the
    kindergartens (300 m, the catalog's distance) and street candidates every 100 m, none inside a
    compound, as `shequ plan sites --type kindergarten` makes them."""
    from shequ.gis.crs import metric_crs
    from shequ.layers.osm import import_osm
    from shequ.layers.store import Store

    with tempfile.TemporaryDirectory() as tmp:
        store = Store(f"sqlite:///{tmp}/bench.db")
        import_osm(store, CHENGDU_PBF, show_progress=False)
        streets, res, fac = (store.read(k) for k in ("streets", "residences", "facilities"))
        store.engine.dispose()
    crs = metric_crs(streets)
    net = WalkNetwork.from_streets(streets, crs=crs)
    res = res.to_crs(crs)
    serving = fac[(fac["type"] == "kindergarten") & (fac["status"].isna() | (fac["status"] == "existing"))]
    wkt = [e.get("gates") if isinstance(e, dict) else None for e in res["extra"]]
    gates = gpd.GeoSeries([shapely.from_wkt(w) if isinstance(w, str) and w else None for w in wkt], crs=4326)
    cand = street_candidates(net, spacing_m=100.0, exclude=np.asarray(res.geometry.values))
    return City("chengdu", net, res[["households", "geometry"]], serving.to_crs(crs)[["geometry"]], cand, 300.0, ks,
                np.asarray(gates.to_crs(crs).values))


def synthetic_city(n_res: int, n_cand: int, ks: list[int], seed: int = 0) -> City:
    """A gridded city: a jittered 150 m street grid with 10 % of the links removed (each link its own
    line, so every crossing is a junction), residences at random points with 1–4 000 households
    (log-normal, median ≈ 150, as the Chengdu compounds), one existing facility per 5 000 residences
    and ``n_cand`` candidate sites drawn from the points every 100 m along the streets; 500 m."""
    rng = np.random.default_rng(seed)
    block = 150.0
    side = int(np.ceil(np.sqrt(n_cand * 1.25 / (2 * 0.9)))) + 1  # one candidate per 150 m link
    ii, jj = np.divmod(np.arange(side * side), side)
    node = np.c_[400_000 + block * jj, 3_390_000 + block * ii] + rng.uniform(-20, 20, (side * side, 2))
    idx = np.arange(side * side).reshape(side, side)
    links = np.concatenate([np.c_[idx[:, :-1].ravel(), idx[:, 1:].ravel()],
                            np.c_[idx[:-1, :].ravel(), idx[1:, :].ravel()]])
    links = links[rng.random(len(links)) >= 0.10]
    lines = shapely.linestrings(np.stack([node[links[:, 0]], node[links[:, 1]]], axis=1))
    net = WalkNetwork.from_lines(lines, CRS.from_user_input(SYNTH_CRS))
    lo, hi = node.min(axis=0), node.max(axis=0)
    homes = shapely.points(rng.uniform(lo, hi, (n_res, 2)))
    households = np.clip(np.round(rng.lognormal(np.log(150), 1.0, n_res)), 1, 4000)
    spots = street_candidates(net, spacing_m=100.0)
    if len(spots) < n_cand:
        raise ValueError(f"the grid has {len(spots)} street points, {n_cand} candidates asked")
    cand = spots[np.sort(rng.choice(len(spots), n_cand, replace=False))]
    existing = shapely.points(rng.uniform(lo, hi, (max(2, n_res // 5000), 2)))
    crs = net.crs
    return City(_size_name(n_res), net, gpd.GeoDataFrame({"households": households}, geometry=homes, crs=crs),
                gpd.GeoDataFrame(geometry=existing, crs=crs), cand, 500.0, ks)


def _size_name(n: int) -> str:
    return f"{n // 1000}k"


# ---- methods -----------------------------------------------------------------------------------
@dataclass
class Row:
    city: str
    residences: int
    candidates: int
    existing: int
    k: int
    method: str
    households: float  # covered after (existing + chosen), on the walking network
    before: float
    new: float
    sites: int
    status: str
    gap: float | None  # proven gap of our MCLP (None for the others)
    distance_s: float | None
    solve_s: float | None
    peak_mb: float | None
    note: str = ""
    of_optimum: float | None = None  # newly covered ÷ the optimum's (or the best bound's)
    bound: float | None = None  # upper bound on newly covered households (the optimum when proven)


def run_city(city: City, args: argparse.Namespace, log) -> list[Row]:
    n_res, n_cand, n_ex = len(city.residences), len(city.candidates), len(city.existing)
    dist = Phase()
    with measure(dist):
        model = Siting.from_geodataframes(city.network, city.residences, city.existing, city.candidates,
                                          city.distance_m, weight="households", gates=city.gates)
    log(f"{city.name}: {n_res:,} residences × {n_cand:,} candidates, {n_ex} existing: walking distances "
        f"{dist.seconds:.1f} s ({model.reach.nnz:,} pairs within {city.distance_m:g} m, {dist.peak_mb:,.0f} MB)")
    rows: list[Row] = []
    for k in city.ks:
        here: list[Row] = []

        def row(method: str, r: SitingResult, solve: Phase | None, note: str = "",
                distance_s: float | None = dist.seconds, k: int = k) -> Row:
            return Row(city.name, n_res, n_cand, n_ex, k, method, r.covered_after, r.covered_before, r.gain,
                       len(r.chosen), r.status, r.gap if method == "mclp" else None, distance_s,
                       solve.seconds if solve else None,
                       max(dist.peak_mb, solve.peak_mb) if solve else None, note)

        solve = Phase()
        with measure(solve):
            exact = model.solve_mclp(k, time_limit=args.time_limit)
        st = exact.stats
        note = (f"Lagrangian {st.get('lagrange_steps', 0)} steps, {st.get('free', 0):,} of "
                f"{st.get('candidates', 0):,} candidates left to HiGHS" if "lagrange_steps" in st else "")
        here.append(row("mclp", exact, solve, note))
        log(f"  k={k}: MCLP {exact.status} in {solve.seconds:.1f} s, +{exact.gain:,.0f} households ({note})")
        greedy = Phase()
        with measure(greedy):
            g = model.greedy(k)
        here.append(row("greedy", g, greedy))
        here.append(run_spopt(city, model, k, args, row, log))
        bound = exact.gain if exact.status == "optimal" else exact.gain / (1 - exact.gap)
        for r in here:
            r.bound = bound
            r.of_optimum = r.new / bound if bound and r.status not in ("skipped", "failed") else None
        rows += here
    return rows


def run_spopt(city: City, model: Siting, k: int, args: argparse.Namespace, row, log) -> Row:
    """spopt's MCLP as its documentation builds it: ``from_geodataframe`` (straight-line ``cdist``),
    the existing facilities as predefined ones, solved through PuLP; its sites judged on foot."""
    n_res, n_fac = len(city.residences), len(city.candidates) + len(city.existing)
    gb = n_res * n_fac * 8 / 1e9
    empty = SitingResult("spopt", np.empty(0, int), float("nan"), float("nan"), float("nan"), "skipped",
                         float("nan"), 0.0)
    if gb > args.dense_limit_gb:
        return row("spopt", empty, None, f"skipped: {n_res:,}×{n_fac:,} dense matrix would be {gb:,.1f} GB",
                   distance_s=None)
    if args.quick and (city.name != "chengdu" or k != city.ks[0]):
        return row("spopt", empty, None, "skipped in --quick (its model build takes 30 s to minutes)",
                   distance_s=None)
    import pulp
    from spopt.locate import MCLP

    solver_name = "HiGHS" if "HiGHS" in pulp.listSolvers(onlyAvailable=True) else "PULP_CBC_CMD"
    solver = pulp.getSolver(solver_name, msg=False, timeLimit=args.spopt_budget_s)
    demand = city.residences.to_crs(city.network.crs)
    facilities = gpd.GeoDataFrame(
        {"existing": np.r_[np.zeros(len(city.candidates), int), np.ones(len(city.existing), int)]},
        geometry=np.r_[city.candidates, np.asarray(city.existing.geometry.values)], crs=city.network.crs)
    build, solve = Phase(), Phase()
    with measure(build), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "demand is not points: centroids used" (compounds)
        m = MCLP.from_geodataframe(demand, facilities, "geometry", "geometry", "households",
                                   service_radius=city.distance_m, p_facilities=k + len(city.existing),
                                   predefined_facility_col="existing")
    try:
        with measure(solve), quiet_stdout():  # HiGHS prints its banner on the C stdout
            m.solve(solver, results=False)
    except RuntimeError as e:  # spopt raises when PuLP has no solution
        failed = SitingResult("spopt", np.empty(0, int), float("nan"), float("nan"), float("nan"), "failed",
                              float("nan"), 0.0)
        return row("spopt", failed, solve, f"{solver_name}: {e}", distance_s=build.seconds)
    x = np.array([v.value() or 0 for v in m.fac_vars])
    chosen = np.flatnonzero(x[: len(city.candidates)] > 0.5)
    proven = m.problem.sol_status == pulp.LpSolutionOptimal
    r = model.evaluate(chosen, "spopt")
    r.status = "optimal (straight line)" if proven else "time limit (straight line)"
    solve.peak_mb = max(solve.peak_mb, build.peak_mb)
    log(f"  k={k}: spopt {r.status}: build {build.seconds:.1f} s, solve {solve.seconds:.1f} s, "
        f"+{r.gain:,.0f} households on foot")
    return row("spopt", r, solve, f"PuLP {solver_name}; its 'distance s' is the model build", distance_s=build.seconds)


# ---- reporting ---------------------------------------------------------------------------------
HEADER = ["city", "residences × candidates", "k", "method", "households covered", "newly covered",
          "% of optimum", "proven gap", "distances s", "solve s", "total s", "peak MB", "status"]


def _f(x: float | None, fmt: str = ",.0f") -> str:
    return "—" if x is None or x != x else format(x, fmt)


def table(rows: list[Row]) -> list[list[str]]:
    out = []
    for r in rows:
        if r.status in ("skipped", "failed"):
            out.append([r.city, f"{r.residences:,} × {r.candidates:,}", str(r.k), LABELS[r.method],
                        *["—"] * (len(HEADER) - 5), r.note])
            continue
        total = (r.distance_s or 0) + (r.solve_s or 0)
        out.append([r.city, f"{r.residences:,} × {r.candidates:,}", str(r.k), LABELS[r.method],
                    f"{_f(r.before)} → {_f(r.households)}", _f(r.new),
                    _f(None if r.of_optimum is None else 100 * r.of_optimum, ".2f"),
                    _f(None if r.gap is None else 100 * r.gap, ".2f") + ("" if r.gap is None else " %"),
                    _f(r.distance_s, ".2f"), _f(r.solve_s, ".2f"), _f(total, ".2f"), _f(r.peak_mb),
                    r.status])
    return out


def render(rows: list[list[str]], markdown: bool) -> str:
    if markdown:
        lines = ["| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)]
        return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in rows])
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(HEADER)]
    fmt = "  ".join(f"{{:{'<' if i < 4 else '>'}{w}}}" for i, w in enumerate(widths))
    return "\n".join([fmt.format(*HEADER), fmt.format(*("-" * w for w in widths))] + [fmt.format(*r) for r in rows])


def verdicts(rows: list[Row]) -> list[str]:
    """The issue's targets, met or not, in plain words."""
    out = []
    for (city, k) in dict.fromkeys((r.city, r.k) for r in rows):
        by = {r.method: r for r in rows if r.city == city and r.k == k}
        mclp, greedy, spopt = by["mclp"], by["greedy"], by.get("spopt")
        checks = [f"within 1 % of optimal: proven gap {100 * mclp.gap:.2f} % {'MET' if mclp.gap <= 0.01 else 'MISSED'}",
                  f"≥ greedy: {mclp.new:,.0f} vs {greedy.new:,.0f} "
                  f"({100 * (mclp.new / greedy.new - 1) if greedy.new else 0:+.2f} %) "
                  f"{'MET' if mclp.new >= greedy.new else 'MISSED'}"]
        if spopt and spopt.of_optimum is not None:
            checks.append(f"vs spopt's straight-line sites on foot: {mclp.new:,.0f} vs {spopt.new:,.0f} "
                          f"({100 * (mclp.new / spopt.new - 1) if spopt.new else float('inf'):+.1f} %)")
        total = (mclp.distance_s or 0) + (mclp.solve_s or 0)
        if mclp.residences >= 100_000 and mclp.candidates >= 10_000:
            checks.append(f"under 60 s with the distances: {total:.1f} s {'MET' if total < 60 else 'MISSED'}")
        out.append(f"{city} k={k}: " + "; ".join(checks))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cities", default="chengdu,10k,100k",
                        help="comma list of chengdu and residence counts (10k, 100k: candidates are a tenth)")
    parser.add_argument("--quick", action="store_true",
                        help="chengdu and 10k, spopt on chengdu's first k only (smoke run)")
    parser.add_argument("--time-limit", type=float, default=60.0, help="our solver's time limit, seconds")
    parser.add_argument("--spopt-budget-s", type=float, default=120.0, help="spopt's solver time limit, seconds")
    parser.add_argument("--dense-limit-gb", type=float, default=DENSE_LIMIT_GB,
                        help="skip spopt when its dense cost matrix would be larger")
    parser.add_argument("--ks", help="comma list of k (new sites) for the synthetic cities (default: 5,20 at 10k, "
                        "10,50 at 100k)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=ROOT / "out", help="where siting_bench.md and .json go")
    args = parser.parse_args(argv)
    names = [x.strip().lower() for x in ("chengdu,10k" if args.quick else args.cities).split(",") if x.strip()]
    started = time.perf_counter()

    def log(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    info = machine()
    log("machine: " + ", ".join(f"{k} {v}" for k, v in info.items()))
    rows: list[Row] = []
    for name in names:
        t0 = time.perf_counter()
        if name == "chengdu":
            city = chengdu_city([3, 10])
        else:
            n = int(float(name.rstrip("k")) * 1000)
            ks = [int(k) for k in args.ks.split(",")] if args.ks else [10, 50] if n >= 100_000 else [5, 20]
            city = synthetic_city(n, n // 10, ks, args.seed)
        log(f"{city.name}: data ready in {time.perf_counter() - t0:.1f} s (not timed)")
        rows += run_city(city, args, log)
    wall = time.perf_counter() - started
    lines = table(rows)
    notes = ["households covered: by the existing facilities → also by the k new sites, every method's sites "
             "measured on the walking network (compounds entered where streets meet them and at their gates); "
             "% of optimum: newly covered ÷ the proven optimum's (our bound where not proven); "
             "distances s: the walking reach of candidates and existing facilities (shequ, shared by MCLP and "
             "greedy) or spopt's model build (its straight-line matrix included); "
             "peak MB: RSS above the start of the step"]
    targets = verdicts(rows)
    print("machine: " + ", ".join(f"{k} {v}" for k, v in info.items()))
    print(render(lines, markdown=False))
    print(*notes, sep="\n")
    print("\ntargets:")
    print(*targets, sep="\n")
    print(f"\nwall time of the whole run: {wall:.0f} s")
    args.out.mkdir(parents=True, exist_ok=True)
    md = ["# Siting benchmark results", "", "Machine: " + ", ".join(f"{k} {v}" for k, v in info.items()), "",
          render(lines, markdown=True), "", *notes, "", "## Targets", "", *(f"- {v}" for v in targets), "",
          f"Wall time of the whole run: {wall:.0f} s", ""]
    (args.out / "siting_bench.md").write_text("\n".join(md), encoding="utf-8")
    (args.out / "siting_bench.json").write_text(
        json.dumps({"machine": info, "wall_s": wall, "rows": [r.__dict__ for r in rows], "targets": targets},
                   indent=1, ensure_ascii=False, default=float), encoding="utf-8")
    # the exact model starts from greedy's sites: covering less would be a bug, not a slow machine
    worse = [r for r in rows if r.method == "mclp" and r.new < next(
        g.new for g in rows if g.method == "greedy" and (g.city, g.k) == (r.city, r.k))]
    if worse:
        print("\n!!!! MCLP BELOW GREEDY: " + ", ".join(f"{r.city} k={r.k}" for r in worse) + " !!!!")
    return 1 if worse else 0


if __name__ == "__main__":
    raise SystemExit(main())
