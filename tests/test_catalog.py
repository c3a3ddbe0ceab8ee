"""The facility-type catalog and life-circle table: every value cited, names resolvable, key numbers as sourced."""

import json
from importlib import resources

import pytest

from shequ.layers import catalog

TYPES = catalog.load_facility_types()
LEVELS = catalog.load_life_circle_levels()


def _raw(name: str) -> dict:
    return json.loads(resources.files("shequ.data").joinpath(name).read_text(encoding="utf-8"))


FACILITY_DOC = _raw(catalog.FACILITY_FILE)
LEVELS_DOC = _raw(catalog.LEVELS_FILE)

# Facilities the seed documents require (reference/seed-rules.md: the service-centre section and
# "Facilities every community should have", staffing excluded), as the documents name them.
SEED_NAMES = {
    "YX": ["社区卫生服务站", "综合文化服务中心", "文化活动室", "农家书屋", "文化广场", "应急避难场所",
           "消防设施", "公共安全视频监控", "雪亮工程", "电商/物流/自助服务设施", "社区教育",
           "城乡社区综合服务设施", "一站式服务中心"],
    "CF": ["综合性文体活动室", "卫生服务站", "室外文体活动场所", "社区工作和公益性服务用房", "一站式综合服务站"],
    "ZJ": ["党群服务中心", "街道党群服务中心", "一社区一民警", "一社区一法律顾问"],
    "XT": ["便民利民服务站点", "视频监控", "社区综合服务中心", "社区综合服务设施", "居委会", "养老服务站",
           "卫生服务中心", "文体活动中心", "一站式服务大厅", "党员活动室", "警务室", "微型消防站",
           "志愿消防队", "应急避难场所"],
}

# Facilities GB 50180-2018 and the other standards in reference/standards.md name.
STANDARD_NAMES = [
    "初中", "小学", "幼儿园", "托儿所", "社区卫生服务中心", "社区卫生服务站", "养老院", "老年养护院",
    "老年人日间照料中心", "老年服务站", "社区服务站", "文化活动中心", "文化活动站", "菜市场", "生鲜超市",
    "商场", "银行", "邮政", "小型多功能运动场地", "室外综合健身场地", "生活垃圾收集点", "公交站",
    "警务室", "紧急避难场所", "微型消防站", "居住区公园", "街道办事处", "社区服务中心（街道级）",
    "综合超市", "邮件快件寄递", "公共活动场地", "公共绿地", "居住街坊集中绿地", "嵌入式服务综合体", "药店",
]


def _value_objects():
    """(where, value-object dict, doc) for every sourced value in both files."""
    for t in FACILITY_DOC["types"]:
        for field in ("levels", "service_distance_m"):
            yield f"{t['code']}.{field}", t[field], FACILITY_DOC
    for lv in LEVELS_DOC["levels"]:
        for key, obj in lv.items():
            if isinstance(obj, dict):
                yield f"{lv['code']}.{key}", obj, LEVELS_DOC
            elif isinstance(obj, list):
                for i, o in enumerate(obj):
                    yield f"{lv['code']}.{key}[{i}]", o, LEVELS_DOC
    yield "tiers_inclusive", LEVELS_DOC["tiers_inclusive"], LEVELS_DOC


VALUE_OBJECTS = list(_value_objects())


@pytest.mark.parametrize(("where", "obj", "doc"), VALUE_OBJECTS, ids=[w for w, _, _ in VALUE_OBJECTS])
def test_every_value_has_known_source_clause_and_status(where, obj, doc):
    assert {"value", "source", "clause", "status"} <= set(obj), where
    assert obj["source"] in doc["sources"], where
    assert obj["status"] in doc["statuses"], where
    assert obj["clause"].strip(), f"{where}: empty clause"
    for key in obj.get("via", []):
        assert key in doc["sources"], f"{where}: via {key}"


def test_files_share_status_vocabulary_and_are_plain_utf8():
    expected = {"verified", "secondary", "unverified", "local", "derived", "assumption"}
    assert set(FACILITY_DOC["statuses"]) == expected
    assert set(LEVELS_DOC["statuses"]) == expected
    text = resources.files("shequ.data").joinpath(catalog.FACILITY_FILE).read_text(encoding="utf-8")
    assert "幼儿园" in text  # ensure_ascii=False: readable by planners


def test_named_in_sources_known_and_every_type_is_named_somewhere():
    for t in TYPES.values():
        assert t.named_in, t.code
        for ref in t.named_in:
            assert ref.source in FACILITY_DOC["sources"], (t.code, ref.source)
            assert ref.clause.strip(), t.code


def test_seed_sources_point_to_seed_files():
    for key in ("YX", "CF", "ZJ", "JL", "XT"):
        src = FACILITY_DOC["sources"][key]
        assert src["title"] and src["file"].startswith("seeds/"), key


def test_codes_unique_slugs_and_categories_known():
    codes = [t["code"] for t in FACILITY_DOC["types"]]
    assert len(codes) == len(set(codes))
    assert catalog.facility_type_codes() == codes
    for t in TYPES.values():
        assert t.code.isascii() and t.code == t.code.lower()
        assert t.category in catalog.CATEGORIES
        assert t.levels.value and set(t.levels.value) <= set(catalog.LEVELS)
        assert t.service_distance_m.value is None or t.service_distance_m.value > 0
    assert 30 <= len(TYPES) <= 60


def test_derived_distances_equal_the_level_walking_distance():
    for t in TYPES.values():
        d = t.service_distance_m
        if d.status != "derived":
            continue
        walk = LEVELS[t.levels.value[0]].walk_distance_m.value
        expected = max(walk) if isinstance(walk, tuple) else walk
        assert d.value == expected, t.code
        assert "walk distance" in d.clause or "no walking distance" in d.clause, t.code


@pytest.mark.parametrize(("seed", "name"), [(s, n) for s, names in SEED_NAMES.items() for n in names])
def test_seed_facilities_resolve(seed, name):
    assert catalog.lookup(name) in TYPES, f"{seed}: {name}"


@pytest.mark.parametrize("name", STANDARD_NAMES)
def test_standard_facilities_resolve(name):
    assert catalog.lookup(name) in TYPES, name


@pytest.mark.parametrize(("name", "code"), [
    ("居委会", "community_service_station"), ("党群服务中心", "community_service_centre"),
    ("社区服务中心(街道级)", "street_service_centre"), ("卫生服务站", "community_health_station"),
    ("卫生服务中心", "community_health_centre"), ("养老服务站", "elderly_day_care"), ("中学", "middle_school"),
    ("菜市场或生鲜超市", "market"), ("雪亮工程", "video_surveillance"), ("Kindergarten", "kindergarten"),
    ("  kindergarten ", "kindergarten"), ("幼儿园", "kindergarten"),
])
def test_lookup_maps_to_the_right_type(name, code):
    assert catalog.lookup(name) == code


def test_lookup_unknown_is_none():
    assert catalog.lookup("宇宙飞船站") is None
    assert catalog.lookup("") is None


def test_suggest_and_message():
    assert "kindergarten" in catalog.suggest("kindergarden")
    assert "primary_school" in catalog.suggest("primary_shool")
    assert catalog.suggest("幼儿院")[0] == "kindergarten"
    msg = catalog.unknown_type_message("kindergarden")
    assert "did you mean kindergarten (幼儿园)?" in msg


def test_standards_values_as_in_standards_md():
    kg = TYPES["kindergarten"].service_distance_m
    assert (kg.value, kg.status, kg.source) == (300, "secondary", "GB50180-2018")
    ps = TYPES["primary_school"].service_distance_m
    assert ps.value == 500 and ps.status in {"secondary", "verified"}
    ms = TYPES["middle_school"].service_distance_m
    assert ms.value == 1000 and ms.status in {"secondary", "verified"}
    # a verified value from the superseded 2002 code must say so
    assert ms.source == "GB50180-93-2002" and "2018" in ms.note
    st = TYPES["community_health_station"].service_distance_m
    assert (st.value, st.status) == (500, "secondary")
    assert (TYPES["garbage_collection_point"].service_distance_m.value,
            TYPES["garbage_collection_point"].service_distance_m.status) == (70, "local")
    assert (TYPES["emergency_shelter"].service_distance_m.value,
            TYPES["emergency_shelter"].service_distance_m.status) == (500, "local")
    assert TYPES["culture_centre"].levels.status == "verified"
    assert TYPES["kindergarten"].levels.status == "unverified"  # 附录B not seen


def test_life_circle_levels_as_in_standards_md():
    assert list(LEVELS) == ["15min", "10min", "5min", "block"]
    ten = LEVELS["10min"]
    assert (ten.walk_distance_m.value, ten.walk_distance_m.status) == (500, "verified")
    assert (ten.population.value, ten.population.status) == ((15000, 25000), "verified")
    assert (ten.dwellings.value, ten.dwellings.status) == ((5000, 8000), "verified")
    fifteen = LEVELS["15min"]
    assert (fifteen.walk_distance_m.value, fifteen.walk_distance_m.status) == ((800, 1000), "secondary")
    assert fifteen.population.value == (50000, 100000) and fifteen.population.status == "secondary"
    assert fifteen.walk_distance_variants
    five = LEVELS["5min"]
    assert (five.walk_distance_m.value, five.walk_distance_m.status) == (300, "secondary")
    assert five.population.value == (5000, 12000) and five.dwellings.status == "unverified"
    block = LEVELS["block"]
    assert block.walk_distance_m.value is None
    assert (block.population.value, block.population.status) == ((1000, 3000), "secondary")
    assert block.extra("residential_land_ha").value == (2, 4)
    tiers = catalog.tiers_inclusive()
    assert tiers.value is False and tiers.status == "verified" and tiers.source == "GB50180-2018"


def test_match_osm_tags():
    assert catalog.match_osm_tags({"amenity": "kindergarten"}) == "kindergarten"
    assert catalog.match_osm_tags({"amenity": "school"}) == "primary_school"
    assert catalog.match_osm_tags({"amenity": "school", "isced:level": "2"}) == "middle_school"
    assert catalog.match_osm_tags({"amenity": "social_facility", "social_facility": "day_care"}) == "elderly_day_care"
    assert catalog.match_osm_tags({"amenity": "social_facility"}) == "elderly_care_home"
    assert catalog.match_osm_tags({"amenity": "clinic", "healthcare": "centre"}) == "community_health_centre"
    assert catalog.match_osm_tags({"leisure": "park", "name": "人民公园"}) == "residential_park"
    assert catalog.match_osm_tags({"shop": "supermarket;convenience"}) == "supermarket"
    assert catalog.match_osm_tags({"amenity": "bench"}) is None
    assert catalog.match_osm_tags({}) is None


def test_each_osm_tag_belongs_to_one_type():
    seen = {}
    for t in TYPES.values():
        for tag in t.osm_tags:
            assert tag not in seen, f"{tag} in {seen.get(tag)} and {t.code}"
            seen[tag] = t.code


def test_names_are_unambiguous():
    seen = {}
    for t in TYPES.values():
        for name in (t.code, t.name_zh, *t.aliases_zh):
            assert seen.setdefault(name, t.code) == t.code, name


def test_types_at_level():
    assert "kindergarten" in catalog.types_at_level("5min")
    assert "kindergarten" not in catalog.types_at_level("15min")  # tiers are not inclusive
    with pytest.raises(KeyError):
        catalog.types_at_level("20min")


def test_bad_entries_are_rejected():
    good = next(t for t in FACILITY_DOC["types"] if t["code"] == "kindergarten")
    bad_status = {**good, "service_distance_m": {**good["service_distance_m"], "status": "probably"}}
    bad_source = {**good, "levels": {**good["levels"], "source": "GB99999"}}
    bad_level = {**good, "levels": {**good["levels"], "value": ["20min"]}}
    bad_code = {**good, "code": "Kinder Garten"}
    for obj in (bad_status, bad_source, bad_level, bad_code):
        with pytest.raises(catalog.CatalogError):
            catalog._facility(obj, FACILITY_DOC)
