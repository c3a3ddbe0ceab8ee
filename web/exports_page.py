"""The exports page (``/exports``) for bureaus: pick layers, an area, a format and a CRS; download.
Downloads go through ``/exports/{layer}`` with the user's token (exports need a login)."""

from __future__ import annotations

from shequ.layers.schema import LAYERS
from shequ.web.pages import STATIC, page, t

FORMATS = [("geojson", "GeoJSON", "GeoJSON"), ("gpkg", "GeoPackage", "GeoPackage"),
           ("shapefile", "Shapefile（zip）", "Shapefile (zip)"), ("csv", "CSV（表格）", "CSV (table)")]
CRS = [("EPSG:4326", "WGS84（EPSG:4326）", "WGS84 (EPSG:4326)"), ("EPSG:4490", "CGCS2000（EPSG:4490）",
                                                                  "CGCS2000 (EPSG:4490)")]


def exports_page(counts: dict[str, int]) -> str:
    layers = "".join(
        f'<label><input type="checkbox" name="layer" value="{name}"{" checked" if name == "grids" else ""}> '
        f'{t(layer.zh, layer.en)} <span class="muted">({counts.get(name, 0):,})</span></label>'
        for name, layer in LAYERS.items())
    formats = "".join(f'<label><input type="radio" name="format" value="{v}"{" checked" if i == 0 else ""}> '
                      f"{t(zh, en)}</label>" for i, (v, zh, en) in enumerate(FORMATS))
    crs = "".join(f'<label><input type="radio" name="crs" value="{v}"{" checked" if i == 0 else ""}> '
                  f"{t(zh, en)}</label>" for i, (v, zh, en) in enumerate(CRS))
    body = f"""
<main class="sq-page">
  <h1>{t("数据导出", "Exports")}</h1>
  <p>{t("选择图层、范围、格式和坐标系后下载。导出需要登录；"
        "数据含 OpenStreetMap 内容时须保留“© OpenStreetMap contributors”署名（ODbL）。",
        "Pick layers, an area, a format and a coordinate system, then download. Exports need a login; data from "
        "OpenStreetMap must keep the attribution “© OpenStreetMap contributors” (ODbL).")}</p>
  <form id="export-form" style="display:grid;grid-template-columns:repeat(auto-fit,minmax(240px,1fr));gap:16px">
    <fieldset><legend>{t("图层", "Layers")}</legend>{layers}</fieldset>
    <fieldset><legend>{t("范围", "Area")}</legend>
      <select id="area" name="area"><option value="">{t("全部", "everything")}</option></select>
      <p class="muted">{t("社区或街道：其网格、设施、居住单元；道路按社区边界裁取。",
                          "A community or street: its grids, facilities, residences; streets within its outline.")}</p>
    </fieldset>
    <fieldset><legend>{t("格式", "Format")}</legend>{formats}</fieldset>
    <fieldset><legend>{t("坐标系", "Coordinate system")}</legend>{crs}
      <p class="muted">{t("CGCS2000 与 WGS84 相差厘米级；GeoJSON 用 CGCS2000 时带 crs 声明。",
                          "CGCS2000 and WGS84 differ by centimetres; GeoJSON in CGCS2000 declares its crs.")}</p>
    </fieldset>
  </form>
  <button class="sq" id="download" type="button">{t("下载", "Download")}</button>
  <div class="msg" id="msg" role="status"></div>
  <ul id="done"></ul>
</main>"""
    return page("数据导出 Exports – shequ", body, active="/exports",
                scripts=f'<script src="{STATIC}/exports.js"></script>')
