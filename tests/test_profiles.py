"""Policy profiles: every number against the documents, every quote found in its source text."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from shequ.layers.profiles import APPLIED, MARKDOWN_HEADING, RULES, ProfileError, load_profile, markdown_table, shipped

ROOT = Path(__file__).resolve().parent.parent
SOURCES = ROOT / "docs" / "sources"

# The numbers of ../shared/reference/seed-rules.md, typed in again here (not read from the profiles).
EXPECTED = {
    "national": {"community_households": ([100, 700], "第六条"),
                 "service_centre_m2_per_100_households": (30, "完整社区建设试点: 综合服务设施面积"),
                 "grid_households": ([300, 500], "城镇综合网格规模")},
    "yuxi": {"service_centre_m2_per_100_households": (30, "二(三)12"), "service_centre_min_m2": (400, "二(三)12")},
    "chifeng": {"community_households": ([1000, 2000], "三(二)1"),
                "service_centre_m2_per_100_households": (20, "三(二)1"),
                "service_centre_min_m2": (200, None), "one_stop_min_m2": (50, None),
                "staff_per_households": (400, "三(六)1")},
    "zhuji": {"community_households": ([1500, 3000], "二(一)4"),
              "service_centre_m2_per_100_households": (35, "二(四)15"), "service_centre_min_m2": (350, "二(四)15"),
              "new_community_service_centre_min_m2": (900, "二(四)15"), "street_centre_min_m2": (500, "二(四)15"),
              "staff_formula": ({"base": [8, 10], "above_households": 2000, "extra_per_households": [300, 400]},
                                "二(三)12"),
              "party_workers_min": (1, "二(三)11"), "grid_party_branch_required": (True, "二(一)3")},
    "xingtai": {"new_community_households": ([1500, 3000], "二(三)"),
                "service_centre_m2_per_100_households": (30, "四(二)"),
                "new_community_service_centre_min_m2": (500, "四(二)"),
                "grid_manager_required": (True, "二(四)"), "social_workers_min": (1, "四(三)")},
    "jilin": {"facilities_in_use": (True, "三(三)"), "migrants_covered": (True, "三(三)"),
              "self_governance_units": (True, "三(二)"), "unit_facilities_open": (True, "三(五)"),
              "satisfaction_min": (None, "二"), "annual_report": (True, "四(三)"), "pilot_years": (2, "四(二)")},
}
REQUIRED = {
    "yuxi": {"community_health_station", "emergency_shelter", "video_surveillance", "fire_facility"},
    "chifeng": {"culture_sports_room", "community_health_station"},
    "zhuji": {"community_service_centre"},
    "xingtai": {"convenience_service_point", "video_surveillance", "micro_fire_station", "emergency_shelter",
                "elderly_day_care", "police_room", "one_stop_service_hall", "party_member_room"},
}
TARGETS = {  # (rule, share, year) that must be among the profile's targets
    "chifeng": [("harmonious_community", 0.3, 2009), ("harmonious_community", 0.6, 2010)],
    "zhuji": [("five_star", 0.7, 2018), ("five_star", 0.85, 2019), ("five_star", 1.0, 2020)],
    "xingtai": [("convenience_service_point", 1.0, 2020), ("video_surveillance", 1.0, 2020),
                ("information_platform", 0.6, 2020), ("information_platform", 0.3, 2020)],
    "national": [("community_service_centre", 1.0, 2025), ("community_service_centre", 0.8, 2025)],
}
FUNDING = {"chifeng": {10000}, "zhuji": {100000}, "xingtai": {100000, 50000, 200000}}


def test_the_shipped_profiles() -> None:
    assert shipped() == ["chifeng", "jilin", "national", "xingtai", "yuxi", "zhuji"]
    for name in shipped():
        profile = load_profile(name)
        assert profile.lineage[-1] == "national"
        assert all(rule.status and rule.source_title for rule in profile.rules.values())


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_numbers_match_the_documents(name: str) -> None:
    profile = load_profile(name)
    for key, (value, clause) in EXPECTED[name].items():
        rule = profile.get(key)
        assert rule is not None, (name, key)
        assert rule.value == value, (name, key, rule.value)
        assert rule.profile == name, f"{name}.{key} should be stated by {name}, not inherited"
        if clause:
            assert rule.clause.startswith(clause) or clause in rule.clause, (name, key, rule.clause)


@pytest.mark.parametrize("name", sorted(REQUIRED))
def test_required_facilities(name: str) -> None:
    types = {item["type"] for item in load_profile(name).value("required_facilities")}
    assert REQUIRED[name] <= types, REQUIRED[name] - types


@pytest.mark.parametrize("name", sorted(TARGETS))
def test_targets_and_funding(name: str) -> None:
    profile = load_profile(name)
    got = {(t["rule"], t.get("share"), t["year"]) for t in profile.value("targets")}
    assert set(TARGETS[name]) <= got, set(TARGETS[name]) - got
    if name in FUNDING:
        assert FUNDING[name] <= {f["value"] for f in profile.value("funding")}


def test_rules_a_city_does_not_state_come_from_national() -> None:
    yuxi = load_profile("yuxi")
    # Yuxi gives no number: the national default of the law on residents' committees (第六条) applies
    size = yuxi.get("community_households")
    assert yuxi.inherited("community_households") and size.profile == "national" and size.value == [100, 700]
    # a city that states its own size overrides it
    assert load_profile("zhuji").value("community_households") == [1500, 3000]
    assert not load_profile("chifeng").inherited("community_households")
    grid = yuxi.get("grid_households")
    assert yuxi.inherited("grid_households") and grid.profile == "national" and grid.status == "secondary"
    assert not yuxi.inherited("service_centre_min_m2")


def _squash(text: str) -> str:
    return re.sub(r"\s+", "", text)


def _quotes(doc: dict) -> list[tuple[str, str, str]]:
    """(rule, source key, quote) for every quote in a profile file: the rule's, its scope's, and those of
    its list items and their scopes."""
    out = []
    for key, rule in doc["rules"].items():
        out += [(key, rule["source"], q) for q in (rule.get("quote"), (rule.get("scope") or {}).get("quote")) if q]
        if isinstance(rule["value"], list):
            for k, item in enumerate(rule["value"]):
                if isinstance(item, dict):
                    out += [(f"{key}[{k}]", rule["source"], q)
                            for q in (item.get("quote"), (item.get("scope") or {}).get("quote")) if q]
    return out


@pytest.mark.parametrize("name", ["national", "yuxi", "chifeng", "zhuji", "xingtai", "jilin"])
def test_every_quote_is_in_its_source_text(name: str) -> None:
    doc = json.loads((Path(__file__).resolve().parent.parent / "data" / "profiles" / f"{name}.json")
                     .read_text(encoding="utf-8"))
    quotes = _quotes(doc)
    assert quotes
    sources = {**json.loads((SOURCES.parent.parent / "data" / "profiles" / "national.json")
                            .read_text(encoding="utf-8"))["sources"], **doc["sources"]}
    for key, source, quote in quotes:
        file = sources[source].get("file") or "standards.md"
        text = _squash((SOURCES / file).read_text(encoding="utf-8"))
        assert _squash(quote) in text, f"{name}.{key}: quote not found in {file}: {quote}"


def _write(tmp_path: Path, doc: dict) -> str:
    path = tmp_path / "mine.json"
    path.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    return str(path)


def _own(**rules) -> dict:
    return {"name": "mine", "extends": "national", "sources": {"ME": {"title": "我市社区建设标准（2024）"}},
            "rules": rules}


def _rule(value, **kw) -> dict:
    return {"value": value, "unit": "households", "applies_to": "urban communities", "source": "ME",
            "clause": "第三条", "status": "verified", "scope": {"level": "community", "kinds": ["urban"]}, **kw}


def test_a_users_own_profile_extends_national(tmp_path: Path) -> None:
    profile = load_profile(_write(tmp_path, _own(community_households=_rule([800, 1500]))))
    assert profile.value("community_households") == [800, 1500]
    assert profile.get("community_households").citation == "我市社区建设标准（2024） 第三条 (verified)"
    assert profile.inherited("service_centre_m2_per_100_households")


@pytest.mark.parametrize(("rules", "message"), [
    ({"community_size": _rule([1, 2])}, "unknown rule"),
    ({"community_households": {k: v for k, v in _rule([1, 2]).items() if k != "clause"}}, "missing clause"),
    ({"community_households": _rule([1, 2], status="official")}, "status 'official' is not one of"),
    ({"community_households": _rule([1, 2], source="XX")}, "source 'XX' is not among"),
    ({"community_households": _rule([3000, 1500])}, "value must be [low, high]"),
    ({"service_centre_min_m2": _rule("400")}, "value must be a number"),
    ({"required_facilities": _rule([{"type": "kindergarden"}])}, "did you mean kindergarten"),
    ({"community_households": {k: v for k, v in _rule([1, 2]).items() if k != "scope"}},
     'missing scope (scope: whom the rule applies to, e.g. {"level": "community"}'),
    ({"community_households": _rule([1, 2], scope="urban")}, "scope must be an object"),
    ({"community_households": _rule([1, 2], scope={"level": "city"})}, "scope level 'city' is not one of"),
    ({"community_households": _rule([1, 2], scope={"kinds": ["suburban"]})}, "scope kinds ['suburban']"),
    ({"community_households": _rule([1, 2], scope={"established": "new"})}, "established needs since"),
    ({"required_facilities": _rule([{"type": "kindergarten", "scope": {"level": "street"}}])},
     "item 1: scope level 'street'"),
    ({"satisfaction_min": _rule(None)}, "value is null: only a number rule may be null"),
    ({"grid_manager_required": _rule(None, note="no number stated")}, "value is null"),
])
def test_a_bad_profile_names_the_file_rule_and_reason(tmp_path: Path, rules: dict, message: str) -> None:
    path = _write(tmp_path, _own(**rules))
    with pytest.raises(ProfileError, match=re.escape(message)) as err:
        load_profile(path)
    assert path in str(err.value) and f"rule {next(iter(rules))!r}" in str(err.value)


def test_unknown_profile_and_circular_extends(tmp_path: Path) -> None:
    with pytest.raises(ProfileError, match="shipped profiles are chifeng, jilin, national"):
        load_profile("beijing")
    path = tmp_path / "mine.json"
    _write(tmp_path, {**_own(), "extends": str(path)})  # extends itself
    with pytest.raises(ProfileError, match="circle"):
        load_profile(str(path))


def test_every_rule_key_has_a_kind_and_a_meaning() -> None:
    assert all(kind and meaning for kind, meaning in RULES.values())


def test_a_number_the_document_does_not_state_is_null_with_a_note(tmp_path: Path) -> None:
    rule = _rule(None, note="The document asks for it; no number stated.", scope={"level": "community"})
    profile = load_profile(_write(tmp_path, _own(satisfaction_min=rule)))
    assert profile.get("satisfaction_min").value is None


def test_a_scope_the_source_year_sets(tmp_path: Path) -> None:
    doc = _own(new_community_households=_rule([1000, 2000], scope={"kinds": ["urban"], "established": "new"}))
    doc["sources"]["ME"]["year"] = 2024
    scope = load_profile(_write(tmp_path, doc)).get("new_community_households").scope
    assert (scope.kinds, scope.established, scope.since) == (("urban",), "new", 2024)
    assert scope.describe() == ("2024年起新建的城市社区", "new (since 2024) urban communities")


@pytest.mark.parametrize("name", ["national", "yuxi", "chifeng", "zhuji", "xingtai", "jilin"])
def test_every_rule_and_item_states_its_scope(name: str) -> None:
    doc = json.loads((ROOT / "data" / "profiles" / f"{name}.json").read_text(encoding="utf-8"))
    for key, rule in doc["rules"].items():
        assert isinstance(rule.get("scope"), dict) and rule["scope"], f"{name}.{key}: no scope"
        if RULES[key][0] in ("facilities", "funding", "targets"):
            for k, item in enumerate(rule["value"]):
                assert isinstance(item.get("scope"), dict) and item["scope"], f"{name}.{key}[{k}]: no scope"


def _items(profile, key: str, **match) -> list:
    rule = profile.get(key)
    return [(item, rule.item_scope(item)) for item in rule.value
            if all(item.get(k) == v for k, v in match.items())]


def test_the_scopes_the_documents_state() -> None:
    xingtai = load_profile("xingtai")
    for key in ("new_community_households", "new_community_service_centre_min_m2"):  # 二(三), 四(二): new urban
        scope = xingtai.get(key).scope
        assert (scope.kinds, scope.established, scope.since) == (("urban",), "new", 2018), key
    assert xingtai.get("service_centre_m2_per_100_households").scope.everyone
    funds = {(f["item_zh"], f["value"]): s.kinds for f, s in _items(xingtai, "funding")}  # 六(二)
    assert funds[("社区工作经费", 100000)] == ("urban",) and funds[("社区工作经费", 50000)] == ("town",)
    assert funds[("党组织服务群众专项经费", 100000)] == ("town",)
    for t, s in _items(xingtai, "targets"):
        if "农村" in t["quote"]:
            assert s.kinds == ("rural",), t
        if "市辖区" in t["quote"]:
            assert s.city_districts, t
    assert all(s.city_districts for _, s in _items(xingtai, "required_facilities", type="convenience_service_point"))
    assert not any(s.city_districts for _, s in _items(xingtai, "required_facilities", type="emergency_shelter"))

    chifeng = load_profile("chifeng").get("service_centre_m2_per_100_households").scope  # 三(二)1 新建小区
    assert (chifeng.level, chifeng.established, chifeng.since) == ("development", "new", 2008)
    assert chifeng.kinds == ("urban", "town")

    zhuji = load_profile("zhuji")
    assert zhuji.get("street_centre_min_m2").scope.level == "subdistrict"  # 二(四)15 街道
    assert "street_service_centre" not in {i["type"] for i in zhuji.value("required_facilities")}
    assert zhuji.get("new_community_service_centre_min_m2").scope.established == "new"
    assert [s.level for _, s in _items(zhuji, "targets", rule="five_star")].count("subdistrict") == 1

    national = load_profile("national")
    rural = [s for t, s in _items(national, "targets") if "农村" in t["quote"]]
    assert rural and all(s.kinds == ("rural",) for s in rural)


def test_co_location() -> None:
    xingtai = load_profile("xingtai")
    co = xingtai.get("co_located_types")
    assert co.clause == "四(二)" and "同址落实" in co.quote and co.profile == "xingtai"
    assert {"community_service_station", "elderly_day_care", "community_health_centre", "culture_sports_room",
            "one_stop_service_hall", "party_member_room", "police_room"} == set(co.value)
    metres = xingtai.get("co_location_m")
    assert metres.value == 50 and metres.status == "assumption" and metres.profile == "national"
    assert "no document gives a number" in metres.note.lower()


def test_jilin_asks_without_numbers() -> None:
    jilin = load_profile("jilin")
    assert jilin.sources["JL"]["year"] == 2019 and jilin.lineage == ("jilin", "national")
    own = [r for r in jilin.rules.values() if r.profile == "jilin"]
    assert all(r.clause and r.source == "JL" for r in own)
    assert all(r.quote for r in own if r.key != "required_facilities")
    satisfaction = jilin.get("satisfaction_min")
    assert satisfaction.value is None and satisfaction.status == "verified"
    assert "no number stated" in satisfaction.note.lower()
    for key in ("facilities_in_use", "migrants_covered", "self_governance_units", "unit_facilities_open"):
        assert "no number stated" in jilin.get(key).note.lower(), key


def test_the_example_in_docs_loads(tmp_path: Path) -> None:
    text = (ROOT / "docs" / "profiles.md").read_text(encoding="utf-8")
    example = json.loads(re.search(r"```json\n(.*?)```", text, re.S).group(1))
    profile = load_profile(_write(tmp_path, example))
    assert profile.get("new_community_service_centre_min_m2").scope.since == 2024
    assert all(r.scope for r in profile.rules.values())


def test_every_rule_key_says_how_shequ_applies_it() -> None:
    assert set(APPLIED) == set(RULES) and all(APPLIED.values())


def test_docs_profiles_md_holds_the_generated_table(capsys: pytest.CaptureFixture) -> None:
    from shequ.cli import main

    assert main(["profiles", "--markdown"]) == 0
    generated = capsys.readouterr().out
    assert generated == markdown_table() and generated.startswith(MARKDOWN_HEADING)
    text = (ROOT / "docs" / "profiles.md").read_text(encoding="utf-8")
    assert text[text.index(MARKDOWN_HEADING):] == generated, (
        "docs/profiles.md is out of date: replace its last section with `shequ profiles --markdown`")
    for name in shipped():
        assert f"### `{name}`" in generated
