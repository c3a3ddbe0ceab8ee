"""Policy profiles: the rules of one city's (or the national) documents, as data, with their sources.

Every city sets its own standards (community size 1 000–2 000 households in one document, 1 500–3 000
in another; 20, 30 or 35 m² of service premises per 100 households …), so no such number lives in
code. A profile is a JSON file in ``data/profiles/`` (or anywhere, for a user's own): each rule has
its value, unit, the document and clause it comes from, a verbatim quote where the document states
it, and a status (verified / secondary / unverified / derived / assumption). A city profile
``extends`` another (normally ``national``); rules it does not state are inherited and every report
says from where. ``docs/profiles.md`` explains how to write one.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from shequ.errors import InvalidInput
from shequ.layers import catalog

RuleKind = Literal["range", "number", "bool", "types", "facilities", "formula", "funding", "targets", "file"]

#: The rule vocabulary: key → (kind, what it means). Profiles may state any subset.
RULES: dict[str, tuple[RuleKind, str]] = {
    "community_households": ("range", "households per community"),
    "new_community_households": ("range", "households per newly established community"),
    "service_centre_m2_per_100_households": ("number", "service-centre floor area per 100 households, m²"),
    "service_centre_types": ("types", "facility types whose floor area counts as the community service centre"),
    "service_centre_min_m2": ("number", "minimum service-centre floor area per community, m²"),
    "new_community_service_centre_min_m2": ("number", "minimum service-centre floor area of a new community, m²"),
    "one_stop_min_m2": ("number", "minimum floor area of the one-stop service hall, m²"),
    "street_centre_min_m2": ("number", "minimum floor area of the street-level (街道) centre, m²"),
    "required_facilities": ("facilities", "facility types every community should have"),
    "co_located_types": ("types", "facility types the document puts on one site (同址) with the community service "
                         "centre"),
    "co_location_m": ("number", "distance within which two facilities count as one site, m"),
    "grid_households": ("range", "households per grid"),
    "grid_manager_required": ("bool", "every grid has a grid manager"),
    "grid_party_branch_required": ("bool", "every grid has a party branch or group"),
    "grids_nest_in_communities": ("bool", "every grid lies inside one community"),
    "staff_per_households": ("number", "households per community worker"),
    "staff_formula": ("formula", "full-time workers: a base, plus more above a household count"),
    "social_workers_min": ("number", "minimum social workers per community"),
    "party_workers_min": ("number", "minimum full-time party workers per community"),
    "facilities_in_use": ("bool", "facilities are used, not only in reach (facilities' visits_per_year, "
                          "opening_hours_per_week)"),
    "migrants_covered": ("bool", "services cover rural migrant workers (农民工; residences' migrants)"),
    "self_governance_units": ("bool", "self-governance units below the grid (院落, 楼栋; residences' "
                              "self_governance_unit)"),
    "unit_facilities_open": ("bool", "facilities of work units (单位) opened to residents (facilities' unit_owned)"),
    "satisfaction_min": ("number", "residents' satisfaction (0–100) a community should reach; null when the "
                         "document states no number"),
    "annual_report": ("bool", "a yearly plan and report (年度计划和总结) on the work or the pilot"),
    "pilot_years": ("number", "length of a pilot (实验/试点), years"),
    "funding": ("funding", "funding per community (shown, not mapped)"),
    "targets": ("targets", "shares of communities meeting a rule, by year"),
    "life_circles": ("file", "life-circle levels and requirements (a data file)"),
}

#: How shequ applies each rule, in one phrase (for ``docs/profiles.md`` and ``shequ profiles --markdown``).
APPLIED: dict[str, str] = {
    "community_households": "households of each community in scope against the range",
    "new_community_households": "households of each community established since the year in scope against the range",
    "service_centre_m2_per_100_households": "built service-centre floor area ≥ households × value / 100, in each "
                                            "community (or each new development) in scope",
    "service_centre_types": "which facility types' floor area counts as the service centre",
    "service_centre_min_m2": "built service-centre floor area of each community in scope ≥ value",
    "new_community_service_centre_min_m2": "built service-centre floor area of each new community in scope ≥ value",
    "one_stop_min_m2": "built one-stop hall floor area of each community in scope ≥ value",
    "street_centre_min_m2": "built street service centre floor area of each street (街道) ≥ value",
    "required_facilities": "a built facility of the type inside each community in scope (per street or "
                           "development where the scope says so)",
    "co_located_types": "each type within co_location_m of the community's built 社区综合服务中心 "
                        "(community_service_centre)",
    "co_location_m": "two facilities this close count as one site (co_located_types)",
    "grid_households": "households of each grid in scope against the range",
    "grid_manager_required": "each grid in scope records a grid manager",
    "grid_party_branch_required": "each grid in scope records a party branch or group",
    "grids_nest_in_communities": "each grid lies inside one community; grids tile it without gaps or overlaps",
    "staff_per_households": "workers needed = households / value, shown per community in scope (no staff data)",
    "staff_formula": "workers needed by the formula from households, shown per community in scope (no staff data)",
    "social_workers_min": "shown as a column per community in scope (no staff data)",
    "party_workers_min": "shown as a column per community in scope (no staff data)",
    "facilities_in_use": "built facilities of each community in scope with visits or opening hours recorded above 0",
    "migrants_covered": "rural migrant workers recorded on the residences of each community in scope",
    "self_governance_units": "residences of each community in scope belonging to a 院落/楼栋 unit",
    "unit_facilities_open": "built unit-owned facilities opened to residents in each community in scope",
    "satisfaction_min": "residents' satisfaction of each community in scope against the value; shown when null",
    "annual_report": "served by `shequ report progress` (targets, saved yearly runs, trend); not measured per "
                     "community",
    "pilot_years": "shown in the profile (not measured)",
    "funding": "amount shown for each community in scope (not measured)",
    "targets": "share of communities in scope meeting the rule, beside the target share and year",
    "life_circles": "walking-distance coverage audit of the communities in scope",
}

STATUSES = ("verified", "secondary", "unverified", "local", "derived", "assumption")
#: the documents' own words for the kinds of community: 城市社区, 城镇社区, 农村社区
KINDS = ("urban", "town", "rural")
KIND_ZH = {"urban": "城市社区", "town": "城镇社区", "rural": "农村社区"}
#: what a rule is measured on: each community, each street (街道/乡镇), each grid, or each residential
#: development (小区)
LEVELS = ("community", "subdistrict", "grid", "development")
LEVEL_ZH = {"community": "社区", "subdistrict": "街道（乡镇）", "grid": "网格", "development": "居住小区"}


@dataclass(frozen=True)
class Scope:
    """Whom a rule (or one item of a list rule) applies to, as the document says it.

    ``level``: what it is measured on. ``kinds``: the kinds of community (城市/城镇/农村). ``established``:
    ``new`` — only communities (or developments) established in or after ``since`` (default: the
    document's year), ``existing`` — only those before. ``city_districts``: only communities of the
    city's districts (市辖区; GB/T 2260 county codes ending 01–20). Outside its scope a rule is "not
    applicable", with the reason, never "not met".
    """

    level: str = "community"
    kinds: tuple[str, ...] = KINDS
    established: str | None = None
    since: int | None = None
    city_districts: bool = False
    quote: str | None = None  # the document's words for the scope, when they are not the rule's quote

    @property
    def everyone(self) -> bool:
        return (self.level == "community" and set(self.kinds) == set(KINDS) and self.established is None
                and not self.city_districts)

    def describe(self) -> tuple[str, str]:
        """(Chinese, English), e.g. ('新建的城市社区', 'new urban communities')."""
        zh_kinds = "、".join(KIND_ZH[k] for k in self.kinds) if set(self.kinds) != set(KINDS) else "城乡社区"
        en_kinds = "/".join(self.kinds) + " communities" if set(self.kinds) != set(KINDS) else "all communities"
        if self.level != "community":
            of_zh, of_en = ("", "") if set(self.kinds) == set(KINDS) or self.level == "subdistrict" else (
                f"{zh_kinds}的", f" of {en_kinds}")
            zh_kinds = of_zh + LEVEL_ZH[self.level]
            en_kinds = {"subdistrict": "streets and towns", "grid": "grids",
                        "development": "residential developments"}[self.level] + of_en
        when = {"new": (f"{self.since or ''}年起新建的", f"new (since {self.since}) "),
                "existing": (f"{self.since or ''}年前已有的", f"existing (before {self.since}) ")}
        pre_zh, pre_en = when.get(self.established, ("", ""))
        where_zh, where_en = ("市辖区", " of the city districts") if self.city_districts else ("", "")
        return f"{where_zh}{pre_zh}{zh_kinds}", f"{pre_en}{en_kinds}{where_en}".strip()


def parse_scope(body: Any, default_since: int | None = None, base: Scope | None = None) -> Scope:
    """A rule's or item's ``scope`` object; what it leaves out comes from ``base`` (the rule's scope)."""
    base = base or Scope()
    if body is None:
        return base
    if not isinstance(body, dict):
        raise ProfileError(f"scope must be an object, got {body!r}")
    unknown = set(body) - {"level", "kinds", "established", "since", "city_districts", "quote"}
    if unknown:
        raise ProfileError(f"scope: unknown key(s) {', '.join(sorted(unknown))}; use level, kinds, established, "
                           "since, city_districts, quote")
    level = body.get("level", base.level)
    if level not in LEVELS:
        raise ProfileError(f"scope level {level!r} is not one of {', '.join(LEVELS)}")
    kinds = tuple(body.get("kinds", base.kinds))
    bad = [k for k in kinds if k not in KINDS]
    if bad or not kinds:
        raise ProfileError(f"scope kinds {list(kinds)!r}: each one of {', '.join(KINDS)}")
    established = body.get("established", base.established)
    if established not in (None, "new", "existing"):
        raise ProfileError(f"scope established {established!r}: new or existing")
    since = body.get("since", base.since if base.since is not None else default_since)
    if established and not isinstance(since, int):
        raise ProfileError("scope: established needs since (a year), or a source with a year")
    return Scope(level, kinds, established, since if established else None,
                 bool(body.get("city_districts", base.city_districts)), body.get("quote", base.quote))
RULE_FIELDS = ("value", "unit", "applies_to", "source", "clause", "status", "scope")
#: what a missing field should hold, for the error message
_FIELD_HINT = {"scope": 'whom the rule applies to, e.g. {"level": "community"} for every community or '
                        '{"level": "community", "kinds": ["urban"], "established": "new"} (see docs/profiles.md)'}
#: the words a null ``number`` needs in its note
NO_NUMBER = "no number stated"


class ProfileError(InvalidInput):
    """A profile file that cannot be used, with the file, rule and reason."""


@dataclass(frozen=True)
class Rule:
    """One rule of a profile, with where it comes from."""

    key: str
    value: Any
    unit: str
    applies_to: str
    source: str  # key into the sources of the profile that states it
    source_title: str
    clause: str
    status: str
    profile: str  # the profile that states it (the one read, or one it extends)
    quote: str | None = None
    note: str | None = None
    scope: Scope = field(default_factory=Scope)
    year: int | None = None  # the year of the document it comes from

    def item_scope(self, item: dict) -> Scope:
        """The scope of one item of a list rule (a required facility, a funding line, a target)."""
        return parse_scope(item.get("scope"), self.year, self.scope)

    @property
    def citation(self) -> str:
        """'Title clause (status)', for reports."""
        clause = f" {self.clause}" if self.clause else ""
        return f"{self.source_title}{clause} ({self.status})"


@dataclass(frozen=True)
class Profile:
    name: str
    title_zh: str
    title_en: str
    about: str
    extends: str | None
    rules: dict[str, Rule]
    sources: dict[str, dict]
    path: str
    lineage: tuple[str, ...] = field(default=())

    def get(self, key: str) -> Rule | None:
        if key not in RULES:
            raise KeyError(f"unknown rule {key!r}")
        return self.rules.get(key)

    def value(self, key: str, default: Any = None) -> Any:
        rule = self.get(key)
        return default if rule is None else rule.value

    def size_rule(self) -> Rule | None:
        """The community size to hold communities to: one this profile states itself (for all
        communities, else for new ones) before one it inherits — a city that sizes only its new
        communities is not held to the national range instead."""
        rules = [r for r in (self.get("community_households"), self.get("new_community_households")) if r]
        own = [r for r in rules if r.profile == self.name]
        return (own or rules or [None])[0]

    def inherited(self, key: str) -> bool:
        rule = self.rules.get(key)
        return rule is not None and rule.profile != self.name


def shipped() -> list[str]:
    """Names of the profiles that come with shequ."""
    folder = resources.files("shequ.data").joinpath("profiles")
    return sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".json"))


def _read(name_or_path: str) -> tuple[dict, str]:
    path = Path(name_or_path)
    if path.suffix == ".json" and path.exists():
        text, where = path.read_text(encoding="utf-8"), str(path)
    else:
        res = resources.files("shequ.data").joinpath("profiles", f"{name_or_path}.json")
        if not res.is_file():
            raise ProfileError(f"no profile {name_or_path!r}: shipped profiles are {', '.join(shipped())}, "
                               "or give the path of your own .json file (see docs/profiles.md)")
        text, where = res.read_text(encoding="utf-8"), f"data/profiles/{name_or_path}.json"
    try:
        return json.loads(text), where
    except json.JSONDecodeError as exc:
        raise ProfileError(f"{where}: not valid JSON: {exc}") from None


def load_profile(name_or_path: str = "national", _seen: tuple[str, ...] = ()) -> Profile:
    """A profile by shipped name or file path, with the rules of the profiles it extends."""
    doc, where = _read(name_or_path)
    name = doc.get("name") or Path(where).stem
    if name in _seen:
        raise ProfileError(f"{where}: 'extends' goes round in a circle: {' → '.join((*_seen, name))}")
    parent = load_profile(doc["extends"], (*_seen, name)) if doc.get("extends") else None
    sources = {**(parent.sources if parent else {}), **doc.get("sources", {})}
    rules = dict(parent.rules) if parent else {}
    problems = []
    for key, body in (doc.get("rules") or {}).items():
        try:
            rules[key] = _rule(key, body, sources, name)
        except ProfileError as exc:
            problems.append(f"rule {key!r}: {exc}")
    if problems:
        raise ProfileError(f"{where}: " + "; ".join(problems))
    return Profile(name=name, title_zh=doc.get("title_zh", name), title_en=doc.get("title_en", name),
                   about=doc.get("about", ""), extends=doc.get("extends"), rules=rules, sources=sources,
                   path=where, lineage=(name, *(parent.lineage if parent else ())))


def _rule(key: str, body: dict, sources: dict[str, dict], profile: str) -> Rule:
    if key not in RULES:
        raise ProfileError(f"unknown rule; the rules are: {', '.join(RULES)}")
    if not isinstance(body, dict):
        raise ProfileError(f"a rule must be an object with {', '.join(RULE_FIELDS)}")
    missing = [f for f in RULE_FIELDS if f not in body]
    if missing:
        hints = [f"{f}: {_FIELD_HINT[f]}" for f in missing if f in _FIELD_HINT]
        raise ProfileError(f"missing {', '.join(missing)}" + (f" ({'; '.join(hints)})" if hints else ""))
    if not isinstance(body["scope"], dict):
        raise ProfileError(f"scope must be an object, e.g. {{\"level\": \"community\"}}, got {body['scope']!r}")
    if body["status"] not in STATUSES:
        raise ProfileError(f"status {body['status']!r} is not one of {', '.join(STATUSES)}")
    if body["source"] not in sources:
        raise ProfileError(f"source {body['source']!r} is not among the profile's sources ({', '.join(sources)})")
    if body["value"] is None and RULES[key][0] == "number" and NO_NUMBER in str(body.get("note") or "").lower():
        pass  # the document asks for it but states no number: shown, never judged
    elif body["value"] is None:
        raise ProfileError(f"value is null: only a number rule may be null, with a note saying '{NO_NUMBER}'")
    else:
        _check_value(RULES[key][0], body["value"])
    year = sources[body["source"]].get("year")
    scope = parse_scope(body.get("scope"), year)
    if isinstance(body["value"], list):
        for k, item in enumerate(body["value"]):
            if isinstance(item, dict) and "scope" in item:
                try:
                    parse_scope(item["scope"], year, scope)
                except ProfileError as exc:
                    raise ProfileError(f"item {k + 1}: {exc}") from None
    return Rule(key=key, value=body["value"], unit=body["unit"], applies_to=body["applies_to"],
                source=body["source"], source_title=sources[body["source"]].get("title", body["source"]),
                clause=body["clause"], status=body["status"], profile=profile, quote=body.get("quote"),
                note=body.get("note"), scope=scope, year=year)


def _check_value(kind: RuleKind, value: Any) -> None:
    def number(v: Any) -> bool:
        return isinstance(v, (int, float)) and not isinstance(v, bool)

    known = catalog.load_facility_types()
    if kind == "range" and not (isinstance(value, list) and len(value) == 2 and all(map(number, value))
                                and value[0] <= value[1]):
        raise ProfileError(f"value must be [low, high], got {value!r}")
    if kind == "number" and not number(value):
        raise ProfileError(f"value must be a number, got {value!r}")
    if kind == "bool" and not isinstance(value, bool):
        raise ProfileError(f"value must be true or false, got {value!r}")
    if kind == "types":
        for t in value:
            if t not in known:
                raise ProfileError(catalog.unknown_type_message(t))
    if kind == "facilities":
        for item in value:
            if item.get("type") not in known:
                raise ProfileError(catalog.unknown_type_message(str(item.get("type"))))
    if kind == "formula":
        ok = (isinstance(value, dict) and isinstance(value.get("base"), list) and len(value["base"]) == 2
              and number(value.get("above_households")) and isinstance(value.get("extra_per_households"), list))
        if not ok:
            raise ProfileError("value must be {base: [min, max], above_households: N, extra_per_households: [a, b]}")
    if kind in ("funding", "targets") and not isinstance(value, list):
        raise ProfileError("value must be a list")


# ---- the table of docs/profiles.md ----------------------------------------------------------------
MARKDOWN_HEADING = "## Every rule: clause, scope and how shequ applies it"


def _num(v: Any) -> str:
    if isinstance(v, float) and v.is_integer():
        v = int(v)
    return f"{v:,}".replace(",", " ") if isinstance(v, int) and abs(v) >= 10_000 else str(v)


def _value_text(kind: RuleKind, value: Any, unit: str) -> str:
    """A rule's value in a few words, with its unit."""
    unit = f" {unit}" if unit and kind in ("range", "number") else ""
    if value is None:
        return f"— ({NO_NUMBER})"
    if kind == "range":
        return f"{_num(value[0])}–{_num(value[1])}{unit}"
    if kind == "number":
        return f"{_num(value)}{unit}"
    if kind == "bool":
        return "yes" if value else "no"
    if kind == "types":
        return ", ".join(f"`{t}`" for t in value)
    if kind == "formula":
        lo, hi = value["base"]
        a, b = value["extra_per_households"]
        return f"{lo}–{hi}, +1 per {a}–{b} households above {_num(value['above_households'])}"
    if kind == "file":
        return f"`{value}`"
    return f"{len(value)} item" + ("" if len(value) == 1 else "s")


def _item_text(kind: RuleKind, item: dict) -> tuple[str, str]:
    """(what the item is, its value) for one row of a list rule."""
    if kind == "facilities":
        return f"`{item['type']}`", item.get("name_zh", "")
    if kind == "funding":
        per = f" per {_num(item['per_households'])} households" if item.get("per_households") else ""
        return item.get("item_zh") or item.get("item", ""), f"{_num(item.get('value'))} {item.get('unit', '')}{per}"
    if kind == "targets":
        if "share" in item:
            got = f"{item['share']:.0%}".replace("%", " %")
        else:
            got = f"{_num(item.get('value'))} {item.get('unit', '')}".strip()
        return f"`{item.get('rule', '')}`", f"{got} by {item.get('year', '—')}"
    return "", str(item)


def _cell(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ").strip()


def markdown_table(names: list[str] | None = None) -> str:
    """For every profile (``national`` first), one row per rule it states and per item of its list rules:
    rule, value, clause, scope (Chinese and English), how shequ applies it, status. ``docs/profiles.md``
    holds this text; a test checks that it is current."""
    names = names or sorted(shipped(), key=lambda n: (n != "national", n))
    out = [MARKDOWN_HEADING, "",
           "Generated from `data/profiles/*.json` by `shequ profiles --markdown` (a test checks that this section "
           "is current). Scope is whom the document means (the rule's `scope`; an item's own scope overrides "
           "it); outside its scope a rule is \"not applicable\", never \"not met\". Rows marked ↳ are the items of "
           "the list rule above them.", ""]
    for name in names:
        profile = load_profile(name)
        out += [f"### `{profile.name}` — {profile.title_zh}", "",
                "| rule | value | clause | scope | how shequ applies it | status |", "|---|---|---|---|---|---|"]
        own = [key for key in RULES if key in profile.rules and not profile.inherited(key)]
        for key in own:
            rule = profile.rules[key]
            kind = RULES[key][0]
            zh, en = rule.scope.describe()
            out.append(f"| `{key}` | {_cell(_value_text(kind, rule.value, rule.unit))} | {_cell(rule.clause) or '—'} "
                       f"| {_cell(zh)} · {_cell(en)} | {_cell(APPLIED[key])} | {rule.status} |")
            if kind in ("facilities", "funding", "targets"):
                for item in rule.value:
                    what, value = _item_text(kind, item)
                    zh, en = rule.item_scope(item).describe()
                    out.append(f"| ↳ {_cell(what)} | {_cell(value)} | {_cell(item.get('clause', rule.clause)) or '—'} "
                               f"| {_cell(zh)} · {_cell(en)} | ″ | {item.get('status', rule.status)} |")
        inherited = [key for key in RULES if key in profile.rules and profile.inherited(key)]
        if inherited:
            out += ["", "Inherited: " + ", ".join(f"`{k}` (from `{profile.rules[k].profile}`)" for k in inherited)
                    + "."]
        out.append("")
    return "\n".join(out)
