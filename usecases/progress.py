"""Progress by year: where each of a profile's dated targets stands, how many communities are still
missing, and how the share has moved in the runs saved before.

The policy documents set targets as shares of communities meeting a standard by a year (the profile's
``targets`` rule). The scorecard (``usecases.scorecards``) says where each rule stands now; this use
case sets every target beside its scorecard row and adds the gap in communities (how many more must
meet the rule to reach the share), the years left and the trend of the earlier saved runs. Each call
with ``record`` saves today's scorecard as a run of the profile (``layers.results``; one per profile and
day, the last of the day kept), so the trend grows as the work is followed.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from datetime import date
from pathlib import Path
from typing import IO, Any

import pandas as pd

from shequ.layers import results
from shequ.layers.profiles import Profile
from shequ.layers.users import User
from shequ.logs import timed
from shequ.usecases.access import Action, require
from shequ.usecases.scorecards import scorecard
from shequ.usecases.workspace import Workspace

#: what a target's state means, (Chinese, English)
STATES = {"met": ("已达到", "met"), "behind": ("未达到", "not yet met"), "overdue": ("已逾期未达到", "overdue"),
          "no_data": ("无法判断", "cannot be judged"), "none_applicable": ("无适用社区", "no community it applies to"),
          "not_measured": ("未衡量", "not measured")}
#: the scorecard's verdicts that count towards a share
COUNTED = ("meets", "not met")


@dataclass(frozen=True)
class TrendPoint:
    """A target's rule in one earlier saved run."""

    date: str  # ISO day of the run
    share: float | None
    meeting: int | None
    communities: int | None


@dataclass
class TargetProgress:
    """One dated target of the profile against today's scorecard."""

    rule: str  # the profile's name for what is measured (five_star, community_service_centre …)
    label: str  # English; for a measured target the scorecard row's label
    label_zh: str
    applies_to: str  # the document's words for whom it applies to
    scope: str  # whom shequ counts it over (English; the applies_to words where no scope is stated)
    scope_zh: str
    clause: str
    source: str  # document and clause
    status: str  # how far the number is verified (verified, secondary, derived …)
    quote: str  # the document's words
    target: float | None  # the share to reach (None: a count or an average, not a share)
    year: int | None  # by when
    years_left: int | None  # the target's year minus this year (negative: past)
    measured: bool
    state: str  # one of STATES
    measured_by: str | None = None  # the scorecard row's rule key (service_centre_present, required:…)
    share: float | None = None  # of the applicable communities meeting it now
    meeting: int | None = None
    communities: int | None = None  # the communities it applies to (and shequ can judge)
    needed: int | None = None  # how many must meet it: ⌈target × communities⌉ (None: no community counted)
    gap: int | None = None  # how many more: needed − meeting, never below 0 (None: no community counted)
    trend: list[TrendPoint] = field(default_factory=list)  # earlier runs, oldest first
    reason: str = ""  # why it is not measured, or why no community is counted (English)
    reason_zh: str = ""
    note: str = ""  # the profile's note on the target

    @property
    def state_zh(self) -> str:
        return STATES[self.state][0]

    @property
    def state_en(self) -> str:
        return STATES[self.state][1]

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["state_zh"], out["state_en"] = self.state_zh, self.state_en
        return out


@dataclass
class ProgressOutcome:
    profile: Profile
    today: date
    communities: int  # every community scored
    targets: list[TargetProgress]
    runs: list[str]  # the days of the earlier saved runs, oldest first
    recorded: int | None = None  # the run saved for today (its id), if one was
    notes: list[str] = field(default_factory=list)  # the scorecard's caveats
    profiles: list[str] = field(default_factory=list)  # the shipped profiles, to choose from

    @property
    def measured(self) -> list[TargetProgress]:
        return [t for t in self.targets if t.measured]

    @property
    def not_measured(self) -> list[TargetProgress]:
        return [t for t in self.targets if not t.measured]

    def as_dict(self) -> dict[str, Any]:
        """The outcome as JSON-ready values (what ``GET /analyses/progress`` answers)."""
        p = self.profile
        return {"profile": p.name, "lineage": list(p.lineage), "title_zh": p.title_zh, "title_en": p.title_en,
                "today": self.today.isoformat(), "communities": self.communities, "runs": self.runs,
                "recorded": self.recorded is not None, "notes": self.notes,
                "targets": [t.as_dict() for t in self.targets]}

    def frame(self) -> pd.DataFrame:
        """One row per target (the CSV and the workbook's first sheet); the trend as text."""
        rows = []
        for t in self.targets:
            row = {k: v for k, v in t.as_dict().items() if k != "trend"}
            row["trend"] = "; ".join(f"{p.date} {_pct(p.share)}" + (f" ({p.meeting}/{p.communities})"
                                                                    if p.meeting is not None else "")
                                     for p in t.trend)
            rows.append(row)
        columns = ["rule", "label", "label_zh", "year", "target", "years_left", "state", "state_zh", "share",
                   "meeting", "communities", "needed", "gap", "trend", "measured", "measured_by", "applies_to",
                   "scope", "scope_zh", "clause", "source", "status", "quote", "reason", "reason_zh", "note"]
        return pd.DataFrame(rows, columns=columns)

    def trend_frame(self) -> pd.DataFrame:
        """Every target's earlier runs, one row each, and today's share (the workbook's second sheet)."""
        rows = []
        for t in self.measured:
            for p in [*t.trend, TrendPoint(self.today.isoformat(), t.share, t.meeting, t.communities)]:
                rows.append({"rule": t.rule, "measured_by": t.measured_by, "scope": t.scope, "year": t.year,
                             "target": t.target, "date": p.date, "share": p.share, "meeting": p.meeting,
                             "communities": p.communities})
        return pd.DataFrame(rows, columns=["rule", "measured_by", "scope", "year", "target", "date", "share",
                                           "meeting", "communities"])


def gap(target: float, communities: int, meeting: int) -> tuple[int, int]:
    """(needed, gap): how many of ``communities`` must meet a rule for a share of ``target``
    (⌈target × communities⌉), and how many more than ``meeting`` that is (never below 0). The product is
    rounded first, so 70 % of 10 is 7, not the 8 that 7.000000000000001 would round up to."""
    needed = math.ceil(round(target * communities, 9))
    return needed, max(needed - meeting, 0)


def progress(ws: Workspace, profile: str, *, user: User | None, record: bool = True, local: bool = False,
             today: date | None = None) -> ProgressOutcome:
    """Every dated target of ``profile`` against today's scorecard, with the gap in communities, the
    years left and the trend of the earlier saved runs; ``record``: save today's scorecard as the
    profile's run of the day (replacing an earlier one of the same day). ``local``: the command line may
    name a profile file; web clients only shipped profiles. ``today``: the day to count from (tests)."""
    require(user, Action.SCORECARD, ws.settings)
    outcome = scorecard(ws, profile, user=user, local=local)
    card, prof = outcome.card, outcome.profile
    today = today or date.today()
    rows = _records(card.rules)
    engine = ws.store.engine
    with timed("progress", profile=prof.name, record=record):
        history = [run for run in results.scorecard_history(engine, prof.name) if run["day"] < today]
        recorded = None
        if record:
            recorded = results.save_scorecard_run(engine, prof.name, _run_rows(rows),
                                                  communities=len(card.communities), day=today)
    targets = _targets(prof, rows, history, today, getattr(card, "verdicts", None))
    return ProgressOutcome(prof, today, len(card.communities), targets, [run["day"].isoformat() for run in history],
                           recorded, list(outcome.notes), list(outcome.profiles))


# ---- matching targets to the scorecard's rows -----------------------------------------------------------
def _missing(value: Any) -> bool:
    if value is None:
        return True
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def _records(rules: pd.DataFrame) -> list[dict]:
    """The scorecard's rule rows as dicts, NaN as None."""
    if rules is None or rules.empty:
        return []
    return [{k: (None if _missing(v) else v) for k, v in r.items()} for r in rules.to_dict("records")]


def _scope_key(row: dict) -> str:
    """Whom a row's counts are over: its target's scope (a target counts over its own), else the rule's."""
    if row.get("target") is None and row.get("target_year") is None:
        return ""
    return str(row.get("target_scope") or row.get("target_applies_to") or "")


def _run_rows(rows: list[dict]) -> list[dict]:
    """What a saved run keeps of each measured row."""
    return [{"rule": r["rule"], "scope": _scope_key(r), "label": r.get("label"), "communities": r.get("communities"),
             "meeting": r.get("meeting"), "share": r.get("share")}
            for r in rows if r.get("meeting") is not None and not str(r["rule"]).startswith("target:")]


def _same(a: Any, b: Any) -> bool:
    if _missing(a) or _missing(b):
        return _missing(a) and _missing(b)
    try:
        return abs(float(a) - float(b)) < 1e-9
    except (TypeError, ValueError):
        return str(a) == str(b)


def _row_for(item: dict, clause: str, rows: list[dict], used: set[int]) -> int | None:
    """The scorecard row the target ``item`` was set beside: the first not yet taken with its share, year,
    words and clause (the scorecard writes the targets in the profile's order)."""
    for k, r in enumerate(rows):
        if k in used or (r.get("target") is None and r.get("target_year") is None):
            continue
        if not (_same(r.get("target"), item.get("share")) and _same(r.get("target_year"), item.get("year"))):
            continue
        if "target_applies_to" in r and str(r.get("target_applies_to") or "") != str(item.get("applies_to") or ""):
            continue
        if r.get("target_clause") is not None and str(r["target_clause"]) != clause:
            continue
        if str(r["rule"]).startswith("target:") and r["rule"] != f"target:{item.get('rule')}":
            continue
        return k
    return None


def _trend(row: dict, history: list[dict]) -> list[TrendPoint]:
    """The row's rule in each earlier run: the same rule over the same scope, or the run's only row of
    the rule."""
    key = (row["rule"], _scope_key(row))
    points = []
    for run in history:
        same = [r for r in run["rules"] if (r["rule"], r["scope"]) == key]
        if not same:
            same = [r for r in run["rules"] if r["rule"] == row["rule"]]
            same = same if len(same) == 1 else []
        if same:
            r = same[0]
            points.append(TrendPoint(run["day"].isoformat(), r["share"], r["meeting"], r["communities"]))
    return points


def _uncounted(rule: str, verdicts: pd.DataFrame | None) -> tuple[str, str, str]:
    """Why no community is counted for a measured rule: (state, English, Chinese) — the data lacks what it
    is judged by (``no_data``), or it applies to none of the communities (``none_applicable``); the
    scorecard's commonest reason where it gives one."""
    mine = pd.DataFrame()
    if verdicts is not None and {"rule", "verdict"} <= set(verdicts.columns):
        mine = verdicts[(verdicts["rule"] == rule) & ~verdicts["verdict"].isin(COUNTED)]
    no_data = mine[mine["verdict"] == "not in the data"] if len(mine) else mine
    state = "no_data" if len(no_data) else "none_applicable"
    pick = no_data if len(no_data) else mine
    if len(pick) and {"reason", "reason_zh"} <= set(pick.columns):
        en, zh = pick[["reason", "reason_zh"]].fillna("").value_counts().index[0]
        if en:
            return state, str(en), str(zh)
    if state == "no_data":
        return state, "the data lacks what the rule is judged by", "数据中缺少判断该规则所需的信息"
    return state, "no community falls in the target's scope", "没有社区属于该目标的适用范围"


def _targets(prof: Profile, rows: list[dict], history: list[dict], today: date,
             verdicts: pd.DataFrame | None = None) -> list[TargetProgress]:
    rule = prof.get("targets")
    if rule is None:
        return []
    used: set[int] = set()
    out = []
    for item in rule.value:
        clause = str(item.get("clause", rule.clause))
        scope_zh, scope_en = _scope(rule, item)
        year = item.get("year")
        share_target = item.get("share")
        base = {"rule": str(item.get("rule", "")), "applies_to": str(item.get("applies_to", "")),
                "scope": scope_en, "scope_zh": scope_zh, "clause": clause,
                "source": f"{rule.source_title} {clause}".strip(), "status": str(item.get("status", rule.status)),
                "quote": str(item.get("quote", "")), "target": None if share_target is None else float(share_target),
                "year": None if year is None else int(year),
                "years_left": None if year is None else int(year) - today.year, "note": str(item.get("note", ""))}
        k = _row_for(item, clause, rows, used)
        row = rows[k] if k is not None else None
        if k is not None:
            used.add(k)
        words = base["rule"].replace("_", " ")
        if row is None or share_target is None or row.get("meeting") is None or str(row["rule"]).startswith("target:"):
            out.append(TargetProgress(label=words, label_zh=base["quote"] or words, measured=False,
                                      state="not_measured", **_why_not(item, row, base["rule"]), **base))
            continue
        communities, meeting = int(row.get("communities") or 0), int(row["meeting"])
        share = row.get("share")
        label = str(row.get("label") or words).strip()
        found = {"label": label, "label_zh": str(row.get("label_zh") or label).strip(), "measured": True,
                 "measured_by": str(row["rule"]), "share": None if share is None else float(share),
                 "meeting": meeting, "communities": communities, "trend": _trend(row, history)}
        if not communities:  # nothing to count: say why rather than show a gap of 0
            state, reason, reason_zh = _uncounted(str(row["rule"]), verdicts)
            out.append(TargetProgress(state=state, reason=reason, reason_zh=reason_zh, **found, **base))
            continue
        needed, missing = gap(float(share_target), communities, meeting)
        if missing == 0:
            state = "met"
        else:
            state = "overdue" if base["years_left"] is not None and base["years_left"] < 0 else "behind"
        out.append(TargetProgress(state=state, needed=needed, gap=missing, **found, **base))
    return out


def _scope(rule: Any, item: dict) -> tuple[str, str]:
    """(Chinese, English) of whom the target counts: the profile's scope when it states one, else the
    document's words."""
    words = str(item.get("applies_to", ""))
    item_scope = getattr(rule, "item_scope", None)
    if item_scope is None:
        return words, words
    scope = item_scope(item)
    if scope.everyone and "scope" not in item:
        return words, words
    return scope.describe()


def _why_not(item: dict, row: dict | None, name: str) -> dict[str, str]:
    if item.get("share") is None:
        unit = f" ({item['unit']})" if item.get("unit") else ""
        return {"reason": f"the target is a count or an average{unit}, not a share of communities",
                "reason_zh": "目标是数量或平均值，不是达标社区的比例"}
    if row is None:
        return {"reason": "the scorecard has no row for this target", "reason_zh": "社区体检中没有与该目标对应的规则"}
    return {"reason": f"no rule of the scorecard measures '{name}' (shequ has no check for it, or none under this "
                      "profile)",
            "reason_zh": "社区体检中没有衡量该项的规则（shequ 没有相应检查，或该配置下没有）"}


def _pct(share: float | None) -> str:
    return "—" if share is None else f"{share:.0%}"


# ---- the files ------------------------------------------------------------------------------------------
@dataclass
class ProgressFiles:
    outcome: ProgressOutcome
    files: list[Path]


def write_progress(ws: Workspace, profile: str, out: str | Path, *, user: User | None, record: bool = True,
                   local: bool = False) -> ProgressFiles:
    """Progress towards the targets as a self-contained HTML page (Chinese, English on a click), a CSV
    table and an XLSX workbook (targets; every target's earlier runs and today)."""
    from shequ.web.offline import ATTRIBUTION
    from shequ.web.progress_page import progress_html

    outcome = progress(ws, profile, user=user, record=record, local=local)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    files = [out / "progress.html", out / "progress.csv", out / "progress.xlsx"]
    files[0].write_text(progress_html(outcome, attribution=ATTRIBUTION), encoding="utf-8")
    outcome.frame().to_csv(files[1], index=False, encoding="utf-8-sig")
    write_workbook(outcome, files[2])
    return ProgressFiles(outcome, files)


def write_workbook(outcome: ProgressOutcome, target: str | Path | IO[bytes]) -> None:
    """The targets and every target's earlier runs and today, as an XLSX workbook (a path or a binary file)."""
    with pd.ExcelWriter(target, engine="xlsxwriter") as xlsx:
        outcome.frame().to_excel(xlsx, sheet_name="progress 进度", index=False)
        outcome.trend_frame().to_excel(xlsx, sheet_name="trend 趋势", index=False)
