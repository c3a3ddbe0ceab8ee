"""Capacity-aware access: the two-step floating catchment area method (2SFCA) and its enhanced form
(E2SFCA), on walking distances.

Coverage within a distance ignores capacity: one 90-place kindergarten "covers" 3 000 children. The
floating catchment methods share each facility's capacity among the people who can reach it
(Luo & Wang 2003, *Environment and Planning B* 30(6): 865–884):

* step 1, per facility ``j``: ``R_j = S_j / Σ_i W(d_ij) · P_i`` — its supply ``S_j`` (places, beds)
  over the demand ``P_i`` (children, elderly, people) of the residences within its catchment;
* step 2, per residence ``i``: ``A_i = Σ_j W(d_ij) · R_j`` — the places per person within reach.

``W`` is 1 within the catchment distance and 0 beyond it for **2SFCA**. For **E2SFCA** (Luo & Qi 2009,
"An enhanced two-step floating catchment area (E2SFCA) method for measuring spatial accessibility to
primary care physicians", *Health & Place* 15(4): 1100–1107) the catchment is cut into three equal
zones with the weights 1.00, 0.68 and 0.22 that Luo & Qi derived from a Gaussian function for their
0–10, 10–20 and 20–30 minute zones (the weights PySAL ``access``'s ``enhanced_two_stage_fca`` applies
by default, ``weights.step_fn({10: 1, 20: 0.68, 30: 0.22})``). Here the zones are the thirds of the
walking catchment: a residence at most a third of the distance away weighs 1.00, up to two thirds
0.68, up to the whole distance 0.22; the same weight applies in both steps, as in Luo & Qi and PySAL.
A zone's upper edge belongs to it (``d ≤ edge``, PySAL's ``step_fn`` convention).

Because both steps use the same weights, the demand-weighted sum of access equals the supply of every
facility with demand in reach (``Σ_i P_i A_i = Σ_j S_j``): no place is created or lost, only shared.

The distances are ``gis/costs.py``'s (the coverage engine's: compounds' entries, 0 m for a facility
inside a compound), kept as a sparse facilities × residences matrix; both steps are two sparse
products, so a city of 100 000 residences costs what its pairs within the catchment cost.

What the methods cannot know, the result says instead of guessing:

* a facility without a capacity (``NaN``) is **excluded**, neither 0 nor infinite; the result counts
  them, and per residence how many such facilities lie within its catchment (``uncounted``), so a
  zero access beside an uncounted facility is not mistaken for a desert;
* a facility with no demand within its catchment has no ratio (``R_j`` undefined, its places reach
  nobody who needs them): it is reported as idle and adds nothing to anyone's access;
* a residence without a demand figure (``NaN``) adds nothing to step 1 and is counted.

Access is reported raw (places per person, ``access``) and per 1 000 demand people (``per_1000``);
PySAL's ``normalize=True`` (access over its demand-weighted mean) is not used, since a planner needs
places per child, not a relative score.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import geopandas as gpd
import numpy as np
import pandas as pd
from scipy.sparse import csr_matrix

from shequ.gis.costs import DISTANCE_TOLERANCE_M, ZERO, DistanceMatrix, walking_distances
from shequ.gis.network import WalkNetwork

METHODS = ("2sfca", "e2sfca")
#: E2SFCA weights per equal zone of the catchment, nearest first (Luo & Qi 2009, Gaussian-derived)
E2SFCA_WEIGHTS = (1.0, 0.68, 0.22)


def zone_edges(distance_m: float, zones: int = len(E2SFCA_WEIGHTS)) -> np.ndarray:
    """The upper edges of E2SFCA's equal zones: ``distance · k / zones`` for k = 1 … zones."""
    return distance_m * np.arange(1, zones + 1) / zones


def decay(d: np.ndarray, distance_m: float, method: str = "2sfca",
          weights: tuple[float, ...] = E2SFCA_WEIGHTS) -> np.ndarray:
    """``W(d)``: the weight of a pair ``d`` metres apart (0 beyond the catchment, with the distance
    engine's slack of ``DISTANCE_TOLERANCE_M``)."""
    d = np.asarray(d, dtype=float)
    inside = d <= distance_m + DISTANCE_TOLERANCE_M
    if method == "2sfca":
        return inside.astype(float)
    if method != "e2sfca":
        raise ValueError(f"method must be one of {', '.join(METHODS)}, not {method!r}")
    w = np.asarray(weights, dtype=float)
    zone = np.minimum(np.searchsorted(zone_edges(distance_m, len(w)), d, side="left"), len(w) - 1)
    return np.where(inside, w[zone], 0.0)


@dataclass
class CatchmentResult:
    """Per residence and per facility; ``aggregate`` sums residences into zones (communities, grids)."""

    method: str
    distance_m: float
    access: np.ndarray  # per residence: places per demand person (NaN when nothing can be measured)
    demand: np.ndarray  # per residence: demand people (NaN: no figure)
    reached: np.ndarray  # per residence: facilities with a capacity within the catchment
    uncounted: np.ndarray  # per residence: facilities without a capacity within the catchment
    supply: np.ndarray  # per facility, as given (NaN: no capacity)
    facility_demand: np.ndarray  # per facility: Σ W(d) P within its catchment (NaN: excluded)
    ratio: np.ndarray  # per facility: R_j, places per demand person (NaN: excluded or no demand in reach)
    weights: tuple[float, ...] = field(default=E2SFCA_WEIGHTS)

    @property
    def excluded(self) -> np.ndarray:
        """Facilities without a capacity (left out, counted)."""
        return np.isnan(self.supply)

    @property
    def idle(self) -> np.ndarray:
        """Facilities with a capacity but no demand within their catchment."""
        return ~self.excluded & ~(self.facility_demand > 0)

    @property
    def measured(self) -> bool:
        """Whether access means anything: some facility has a capacity, or there is no facility at all
        (then nobody has any access, which is measured)."""
        return bool((~self.excluded).any()) or len(self.supply) == 0

    @property
    def per_1000(self) -> np.ndarray:
        """Places per 1 000 demand people, per residence."""
        return self.access * 1000.0

    @property
    def zero_access(self) -> np.ndarray:
        """Residences with demand and no place within reach (False where not measured)."""
        return (np.nan_to_num(self.demand) > 0) & (self.access == 0)

    def take(self, rows: np.ndarray) -> CatchmentResult:
        """The result for some of the residences (every facility kept): an area's residences out of the
        ones measured with them, so that each facility's demand counts its whole catchment."""
        return replace(self, access=self.access[rows], demand=self.demand[rows], reached=self.reached[rows],
                       uncounted=self.uncounted[rows])

    def residences(self) -> pd.DataFrame:
        """One row per residence, in the residences' order."""
        return pd.DataFrame({"demand": self.demand, "access": self.access, "access_per_1000": self.per_1000,
                             "facilities_in_reach": self.reached, "uncounted_in_reach": self.uncounted,
                             "zero_access": self.zero_access,
                             "zero_access_uncounted": self.zero_access & (self.uncounted > 0)})

    def facilities(self) -> pd.DataFrame:
        """One row per facility, in the facilities' order: its supply, the weighted demand within its
        catchment, and its places per demand person (and per 1 000)."""
        return pd.DataFrame({"supply": self.supply, "demand_in_reach": self.facility_demand,
                             "places_per_person": self.ratio, "places_per_1000": self.ratio * 1000.0,
                             "excluded": self.excluded, "idle": self.idle})

    def aggregate(self, zone: np.ndarray | pd.Series | None = None) -> pd.DataFrame:
        """Per zone label (``None``: one row over every residence, zone ``"all"``): residences, demand,
        the demand-weighted mean of access (places per 1 000 demand people), and the demand with zero
        access — all of it, and the part of it that has an uncounted facility within reach. Residences
        whose zone is missing are left out."""
        label = (np.full(len(self.access), "all", dtype=object) if zone is None
                 else np.asarray(pd.Series(zone).to_numpy(), dtype=object))
        p = np.nan_to_num(self.demand)
        zero = self.zero_access
        frame = pd.DataFrame({"zone": label, "residences": 1, "demand": p, "weighted": p * self.access,
                              "zero_access_demand": np.where(zero, p, 0.0),
                              "zero_access_uncounted_demand": np.where(zero & (self.uncounted > 0), p, 0.0),
                              "missing_demand": np.isnan(self.demand).astype(int)})
        frame = frame[pd.notna(frame["zone"])]
        out = frame.groupby("zone", sort=True).sum(min_count=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = np.where(out["demand"] > 0, out["weighted"] / out["demand"].where(out["demand"] > 0), np.nan)
            out["access_per_1000"] = mean * 1000.0
            out["zero_access_share"] = np.where(out["demand"] > 0, out["zero_access_demand"] / out["demand"], np.nan)
        if not self.measured:
            out["access_per_1000"] = np.nan
            out[["zero_access_demand", "zero_access_uncounted_demand", "zero_access_share"]] = np.nan
        out = out.drop(columns=["weighted"]).reset_index()
        return out[["zone", "residences", "demand", "access_per_1000", "zero_access_demand", "zero_access_share",
                    "zero_access_uncounted_demand", "missing_demand"]]


class Catchment:
    """A floating catchment model over a facilities × residences walking-distance matrix.

    ``supply`` is each facility's capacity (NaN: unknown, excluded), ``demand`` each residence's demand
    people (NaN: no figure, counted as none), ``distance_m`` the catchment (at most the matrix's limit;
    default: the limit).
    """

    def __init__(self, distances: DistanceMatrix, supply: np.ndarray, demand: np.ndarray, *,
                 distance_m: float | None = None, method: str = "2sfca",
                 weights: tuple[float, ...] = E2SFCA_WEIGHTS) -> None:
        if method not in METHODS:
            raise ValueError(f"method must be one of {', '.join(METHODS)}, not {method!r}")
        self.distances = distances
        self.distance_m = float(distances.limit if distance_m is None else distance_m)
        if self.distance_m > distances.limit + DISTANCE_TOLERANCE_M:
            raise ValueError(f"the catchment ({self.distance_m:g} m) is beyond the distances measured "
                             f"({distances.limit:g} m)")
        self.supply = np.asarray(supply, dtype=float)
        self.demand = np.asarray(demand, dtype=float)
        self.method = method
        self.weights = tuple(float(w) for w in weights)
        n_fac, n_res = distances.shape
        if self.supply.shape != (n_fac,) or self.demand.shape != (n_res,):
            raise ValueError(f"supply needs one value per facility ({n_fac}) and demand one per residence ({n_res})")
        if (self.supply < 0).any() or (self.demand < 0).any():
            raise ValueError("supply and demand cannot be negative")

    @classmethod
    def from_geodataframes(cls, network: WalkNetwork, facilities: gpd.GeoDataFrame, residences: gpd.GeoDataFrame,
                           distance_m: float, *, supply: str | np.ndarray = "capacity",
                           demand: str | np.ndarray = "population", gates: np.ndarray | None = None,
                           method: str = "2sfca", weights: tuple[float, ...] = E2SFCA_WEIGHTS) -> Catchment:
        """Measure the walking distances (any CRS; ``gates`` in the network's CRS, as
        ``WalkNetwork.entries`` takes them) and build the model; ``supply``/``demand`` are columns or
        arrays (a column's non-numbers are NaN: unknown)."""
        fac = np.asarray(facilities.to_crs(network.crs).geometry.values) if len(facilities) else np.empty(0, object)
        res = np.asarray(residences.to_crs(network.crs).geometry.values)
        s = _values(facilities, supply, "supply")
        p = _values(residences, demand, "demand")
        return cls(walking_distances(network, fac, res, distance_m, gates=gates), s, p, distance_m=distance_m,
                   method=method, weights=weights)

    def weight_matrix(self) -> csr_matrix:
        """Facilities × residences ``W(d_ij)``, only the pairs within the catchment."""
        m = self.distances.matrix.tocoo()
        d = np.where(m.data == ZERO, 0.0, m.data)
        w = decay(d, self.distance_m, self.method, self.weights)
        keep = w > 0
        return csr_matrix((w[keep], (m.row[keep], m.col[keep])), shape=m.shape)

    def solve(self) -> CatchmentResult:
        w = self.weight_matrix()
        counted = ~np.isnan(self.supply)
        p = np.nan_to_num(self.demand)
        reach = w.copy()
        reach.data = np.ones_like(reach.data)
        # step 1: the weighted demand within each facility's catchment, and its places per person
        facility_demand = np.asarray(w @ p).ravel()
        with np.errstate(invalid="ignore", divide="ignore"):
            ratio = np.where(counted & (facility_demand > 0), self.supply / facility_demand, np.nan)
        facility_demand = np.where(counted, facility_demand, np.nan)
        # step 2: the ratios within each residence's catchment, weighted alike
        access = np.asarray(w.T @ np.nan_to_num(ratio)).ravel()
        reached = np.asarray(reach.T @ counted.astype(float)).ravel().astype(int)
        uncounted = np.asarray(reach.T @ (~counted).astype(float)).ravel().astype(int)
        if not counted.any() and len(self.supply):
            access = np.full(len(p), np.nan)  # every facility lacks a capacity: nothing to share
        return CatchmentResult(self.method, self.distance_m, access, self.demand, reached, uncounted, self.supply,
                               facility_demand, ratio, self.weights)


def _values(frame: gpd.GeoDataFrame, given: str | np.ndarray, what: str) -> np.ndarray:
    if isinstance(given, str):
        if given not in frame:
            return np.full(len(frame), np.nan)
        return pd.to_numeric(frame[given], errors="coerce").to_numpy(dtype=float)
    values = np.asarray(given, dtype=float)
    if values.shape != (len(frame),):
        raise ValueError(f"{what} needs one value per row ({len(frame)})")
    return values
