"""The six layer kinds: the one schema that validation, storage, import/export and docs all read.

Nothing else in the code base lists a layer's fields. Add a field here and the database table,
the validator, the exporters and ``docs/layers.md`` (``shequ schema --markdown``) follow.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from shequ.errors import UnknownName

FieldType = Literal["str", "int", "float", "bool", "enum"]

#: Geometry types a layer may declare; "Polygon" layers also accept nothing else, and
#: "MultiPolygon" layers accept Polygons (promoted on import).
GeometryType = Literal["Point", "LineString", "Polygon", "MultiPolygon"]

#: WGS84 is the storage CRS of every layer: the CRS of GeoJSON (RFC 7946), of OSM, and of web maps.
STORAGE_SRID = 4326


@dataclass(frozen=True)
class Field:
    """One attribute of a layer."""

    name: str
    type: FieldType
    en: str
    zh: str
    required: bool = False
    unit: str | None = None
    #: enum values → accepted spellings (lower-cased on input), e.g. {"urban": ("城镇", "城市")}
    choices: dict[str, tuple[str, ...]] | None = None
    default: object = None
    pattern: str | None = None
    pattern_hint: str | None = None
    minimum: float | None = None
    #: the field must name an existing feature of another layer ("communities")
    references: str | None = None
    #: readable only after login (issue: roles); e.g. a grid manager's phone number
    personal: bool = False
    #: name in Shapefiles (dBase allows 10 characters); defaults to ``name``
    shp_name: str | None = None
    #: other column names read as this field on import (an older name, a common spelling)
    aliases: tuple[str, ...] = ()

    @property
    def dbf_name(self) -> str:
        return self.shp_name or self.name

    def describe_type(self) -> str:
        if self.type == "enum" and self.choices:
            return "one of " + ", ".join(self.choices)
        return {"str": "text", "int": "integer", "float": "number", "bool": "true/false"}[self.type]


@dataclass(frozen=True)
class EditRules:
    """Who may edit a layer's features and what every edit is checked against: the layer's own rules,
    read by the application's edit use case (never written into a route)."""

    #: roles that may create, change and delete features
    roles: tuple[str, ...] = ("admin",)
    #: the field naming the area a feature belongs to: a grid manager edits only in their areas, and
    #: edits in one area lock each other (grids: their community)
    area_field: str | None = None
    #: "tiles_parent": inside the feature its ``area_field`` names, no overlap with the other features
    #: of that area; land of the area left uncovered is reported (a warning, not a refusal)
    topology: Literal["tiles_parent"] | None = None


@dataclass(frozen=True)
class Layer:
    """A layer kind: its key field, geometry and attributes."""

    name: str
    en: str
    zh: str
    description: str
    key: str
    geometry: tuple[GeometryType, ...]
    fields: tuple[Field, ...] = field(default_factory=tuple)
    edit: EditRules = field(default_factory=EditRules)

    @property
    def field_names(self) -> list[str]:
        return [f.name for f in self.fields]

    def field(self, name: str) -> Field:
        for f in self.fields:
            if f.name == name:
                return f
        raise KeyError(f"layer {self.name!r} has no field {name!r}")

    @property
    def storage_geometry(self) -> str:
        """The column type: the single declared type, else a generic GEOMETRY column."""
        if len(self.geometry) == 1:
            return self.geometry[0].upper()
        return "GEOMETRY"


_COUNT = dict(minimum=0)


def _boundary_field(of: str) -> Field:
    return Field("boundary", "enum", f"Official {of} boundary, or a draft made by `shequ draft` for planners to edit",
                 "边界状态（正式/草拟）", choices={"official": ("正式", "官方"), "draft": ("草拟", "草案", "草稿")},
                 default="official")

SUBDISTRICTS = Layer(
    name="subdistricts",
    en="Streets and towns",
    zh="街道（乡镇）",
    description="Street offices (街道办事处) and towns (镇, 乡): the level above communities, with rules of its own "
    "(e.g. a street service centre). A community belongs to the one its code's first 9 digits name. Not the street "
    "network: that is `streets`.",
    key="code",
    geometry=("MultiPolygon",),
    fields=(
        Field("code", "str", "9-digit statistical division code: 6-digit county (GB/T 2260) + 3-digit street/town",
              "9位统计用区划代码（县级6位+街道乡镇3位）", required=True, pattern=r"^\d{9}$",
              pattern_hint="9 digits, e.g. 510104017"),
        Field("name", "str", "Name of the street or town", "街道（乡镇）名称", required=True),
        Field("district", "str", "District or county", "所属区（县）"),
        Field("kind", "enum", "Street office (街道), town (镇) or township (乡)", "类型（街道/镇/乡）",
              choices={"subdistrict": ("街道", "街道办事处", "街道办"), "town": ("镇",), "township": ("乡",)},
              default="subdistrict"),
        Field("households", "int", "Resident households", "户数", unit="households", **_COUNT),
        Field("population", "int", "Resident population", "常住人口", unit="persons", **_COUNT),
        _boundary_field("street or town"),
    ),
)

COMMUNITIES = Layer(
    name="communities",
    en="Communities",
    zh="社区",
    description="Residents' committee (社区居委会) or village (村) areas: the unit most rules are checked on.",
    key="code",
    geometry=("MultiPolygon",),
    fields=(
        Field("code", "str", "12-digit statistical division code: 6-digit county (GB/T 2260) + "
              "3-digit street/town + 3-digit community", "12位统计用区划代码（县级6位+街道3位+社区3位）",
              required=True, pattern=r"^\d{12}$", pattern_hint="12 digits, e.g. 510104017001"),
        Field("name", "str", "Community name", "社区名称", required=True),
        Field("street", "str", "Street (街道) or town the community belongs to", "所属街道（乡镇）"),
        Field("district", "str", "District or county", "所属区（县）"),
        Field("kind", "enum", "Urban (城市), town (城镇) or rural (农村) community, in the documents' own words: "
              "rules differ for each", "社区类型（城市/城镇/农村）",
              choices={"urban": ("城市", "城市社区", "市", "社区", "u"), "town": ("城镇", "城镇社区", "镇", "t"),
                       "rural": ("农村", "农村社区", "乡村", "村", "r")},
              default="urban", aliases=("urban_rural", "urb_rural", "城乡类型")),
        Field("established", "int", "Year the community was established (rules for new communities need it)",
              "设立年份", minimum=1949),
        Field("satisfaction", "float", "Residents' satisfaction, 0–100 (from a survey)", "居民满意度（0–100）",
              minimum=0, shp_name="satisfact"),
        Field("households", "int", "Resident households", "户数", unit="households", **_COUNT),
        Field("population", "int", "Resident population", "常住人口", unit="persons", **_COUNT),
        _boundary_field("community"),
    ),
)

GRIDS = Layer(
    name="grids",
    en="Grids",
    zh="网格",
    description="Management cells inside a community, each looked after by one grid manager (网格员).",
    key="code",
    geometry=("Polygon",),
    fields=(
        Field("code", "str", "Grid code; recommended: community code + 3-digit sequence (DB11/T 2157 style)",
              "网格编码（建议：社区代码+3位顺序码）", required=True, pattern=r"^[0-9A-Za-z_-]{1,32}$",
              pattern_hint="1–32 letters, digits, '-' or '_', e.g. 510104017001003"),
        Field("name", "str", "Grid name", "网格名称", required=True),
        Field("community_code", "str", "Code of the community the grid lies in", "所属社区代码",
              required=True, references="communities", shp_name="comm_code"),
        Field("manager", "str", "Grid manager (网格员)", "网格员", personal=True),
        Field("manager_phone", "str", "Grid manager's phone", "网格员电话", personal=True, shp_name="mgr_phone"),
        Field("party_branch", "str", "Party branch or group of the grid", "网格党支部（党小组）", shp_name="party_br"),
        Field("households", "int", "Resident households", "户数", unit="households", **_COUNT),
        Field("population", "int", "Resident population", "常住人口", unit="persons", **_COUNT),
        _boundary_field("grid"),
    ),
    edit=EditRules(roles=("admin", "grid_manager"), area_field="community_code", topology="tiles_parent"),
)

FACILITIES = Layer(
    name="facilities",
    en="Facilities",
    zh="设施",
    description="Service facilities (service centres, clinics, kindergartens, elderly care, markets, …) "
    "typed by the facility-type catalog in data/facility_types.json.",
    key="id",
    geometry=("Point",),
    fields=(
        Field("id", "str", "Facility identifier (stable across re-imports)", "设施编号", required=True),
        Field("type", "str", "Facility type code from the catalog (Chinese names are accepted on import)",
              "设施类型（目录代码，导入时可用中文名）", required=True),
        Field("name", "str", "Facility name", "设施名称"),
        Field("floor_area_m2", "float", "Gross floor area", "建筑面积", unit="m²", minimum=0, shp_name="floor_m2"),
        Field("capacity", "int", "Capacity (places, beds or persons, by type)", "服务容量（座位/床位/人）", **_COUNT),
        Field("community_code", "str", "Code of the community it belongs to", "所属社区代码",
              references="communities", shp_name="comm_code"),
        Field("status", "enum", "Existing, planned or under construction: only existing facilities count as built",
              "现状/规划/在建",
              choices={"existing": ("现状", "已建", "现有", "建成"), "planned": ("规划", "拟建"),
                       "under_construction": ("在建", "施工中")},
              default="existing"),
        Field("visits_per_year", "int", "Visits a year (whether it is used, not only in reach)", "年服务人次",
              unit="visits", shp_name="visits_yr", **_COUNT),
        Field("opening_hours_per_week", "float", "Opening hours a week", "每周开放小时", unit="h",
              minimum=0, shp_name="open_h_wk"),
        Field("unit_owned", "bool", "Owned by a work unit (单位) and opened to residents", "单位设施向居民开放",
              shp_name="unit_owned"),
    ),
)

RESIDENCES = Layer(
    name="residences",
    en="Residences",
    zh="居住单元",
    description="Where people live: a residential compound (小区, polygon) or a building (polygon or point), "
    "with the people in it. OSM imports estimate households by a documented rule (estimated = true).",
    key="id",
    geometry=("Polygon", "MultiPolygon", "Point"),
    fields=(
        Field("id", "str", "Residence identifier", "居住单元编号", required=True),
        Field("name", "str", "Name (e.g. the compound's name)", "名称（小区名）"),
        Field("kind", "enum", "Residential area (compound) or single building", "类型（小区/楼栋）",
              choices={"area": ("小区", "居住区", "compound"), "building": ("楼栋", "建筑", "楼")}, default="area"),
        Field("households", "int", "Households", "户数", unit="households", required=True, **_COUNT),
        Field("population", "int", "Residents", "人口", unit="persons", **_COUNT),
        Field("elderly", "int", "Residents aged 60 and over", "60岁及以上老年人", unit="persons", **_COUNT),
        Field("children", "int", "Residents aged 0–14", "0–14岁儿童", unit="persons", **_COUNT),
        Field("estimated", "bool", "Figures are estimated from OpenStreetMap tags (shequ's rule), not counts",
              "数据为估算值（OpenStreetMap 估算，shequ 规则）", default=False),
        Field("migrants", "int", "Rural migrant workers living here (农民工)", "农民工人数", unit="persons", **_COUNT),
        Field("built", "int", "Year the development was built (rules for new developments, 新建小区, need it)",
              "建成年份", minimum=1900),
        Field("self_governance_unit", "str", "Self-governance unit below the grid (院落, 楼栋)",
              "自治单元（院落/楼栋）", shp_name="self_unit"),
        Field("community_code", "str", "Code of the community it belongs to", "所属社区代码",
              references="communities", shp_name="comm_code"),
    ),
)

LIFE_CIRCLES = Layer(
    name="lifecircles",
    en="Life circles",
    zh="生活圈",
    description="15/10/5-minute community life circles and 居住街坊 blocks (GB 50180-2018 §3.0.4).",
    key="code",
    geometry=("Polygon",),
    fields=(
        Field("code", "str", "Life-circle code", "生活圈编码", required=True),
        Field("name", "str", "Name", "名称"),
        Field("level", "enum", "Level: 15, 10 or 5-minute life circle, or residential block (居住街坊)",
              "层级（15/10/5分钟生活圈、居住街坊）", required=True,
              choices={"15min": ("15", "15分钟", "十五分钟", "15-min", "15 min"),
                       "10min": ("10", "10分钟", "十分钟", "10-min", "10 min"),
                       "5min": ("5", "5分钟", "五分钟", "5-min", "5 min"),
                       "block": ("街坊", "居住街坊", "neighbourhood block")}),
    ),
)

STREETS = Layer(
    name="streets",
    en="Streets",
    zh="道路",
    description="The street network the walking analysis runs on.",
    key="id",
    geometry=("LineString",),
    fields=(
        Field("id", "str", "Street segment identifier", "道路编号", required=True),
        Field("name", "str", "Street name", "道路名称"),
        Field("class", "str", "Road class (OSM highway values, e.g. primary, residential, footway)",
              "道路等级（OSM highway 分类）", required=True),
        Field("walkable", "bool", "Pedestrians may use it", "可步行", default=True),
    ),
)

LAYERS: dict[str, Layer] = {
    layer.name: layer for layer in (SUBDISTRICTS, COMMUNITIES, GRIDS, FACILITIES, RESIDENCES, LIFE_CIRCLES,
                                    STREETS)
}

#: Layers whose features other layers reference must be written before them.
WRITE_ORDER = ["subdistricts", "communities", "grids", "lifecircles", "streets", "facilities", "residences"]


def get_layer(name: str) -> Layer:
    """Look a layer up by its name, English or Chinese label, with a helpful error."""
    key = name.strip().lower()
    for layer in LAYERS.values():
        if key in (layer.name, layer.en.lower(), layer.zh) or key.rstrip("s") == layer.name.rstrip("s"):
            return layer
    raise UnknownName(f"unknown layer {name!r}; layers are: " + ", ".join(f"{n} ({v.zh})" for n, v in LAYERS.items()),
                      zh=f"未知的图层 {name!r}；图层有：" + "、".join(f"{n}（{v.zh}）" for n, v in LAYERS.items()))


def markdown() -> str:
    """The schema as Markdown: the source of docs/layers.md."""
    out = ["# Layers (图层)", "",
           "Generated by `shequ schema --markdown` from `layers/schema.py`; do not edit by hand.",
           "Every layer is stored in WGS84 (EPSG:4326). Columns a file has beyond these are kept as "
           "extra attributes and exported again.", ""]
    for layer in LAYERS.values():
        geom = " or ".join(layer.geometry)
        rules = layer.edit
        edited = f"Edited by: {', '.join(rules.roles)}" + (
            f" (a grid manager only where `{rules.area_field}` is one of their areas)"
            if rules.area_field and "grid_manager" in rules.roles else "") + "."
        if rules.topology == "tiles_parent":
            edited += (f" Every edit keeps the feature inside the `{rules.area_field}` it names and clear of the "
                       "other features there; land left uncovered is reported.")
        out += [f"## `{layer.name}` — {layer.en} ({layer.zh})", "", layer.description, "",
                f"Geometry: **{geom}**. Key: `{layer.key}` (unique). {edited}", "",
                "| field | type | unit | required | meaning | 含义 |", "|---|---|---|---|---|---|"]
        for f in layer.fields:
            notes = []
            if f.references:
                notes.append(f"must exist in `{f.references}`")
            if f.pattern_hint:
                notes.append(f.pattern_hint)
            if f.default is not None:
                notes.append(f"default {f.default!r}")
            if f.personal:
                notes.append("personal: login needed to read")
            if f.shp_name:
                notes.append(f"Shapefile name `{f.shp_name}`")
            meaning = f.en + (f" ({'; '.join(notes)})" if notes else "")
            out.append(f"| `{f.name}` | {f.describe_type()} | {f.unit or ''} | {'yes' if f.required else ''} "
                       f"| {meaning} | {f.zh} |")
        out.append("")
    return "\n".join(out)
