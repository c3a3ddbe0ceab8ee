"""The frame every page shares: the navigation bar, the language switch (Chinese first, English on
a click), the login box, and the app's own stylesheet and script. Nothing comes from the internet:
``/static`` is served by the app (``api/app.py``).
"""

from __future__ import annotations

import html
import json

import folium

from shequ.web.offline import ATTRIBUTION

STATIC = "/static"

#: (path, Chinese, English) of the pages in the navigation bar
NAV = [("/maps/coverage", "覆盖地图", "Coverage map"), ("/reports/scorecard", "评分卡", "Scorecards"),
       ("/edit/grids", "网格编辑", "Grid editor"), ("/exports", "数据导出", "Exports"),
       ("/docs", "接口文档", "API")]


def t(zh: str, en: str) -> str:
    """Both languages; the stylesheet shows the one the page is in."""
    return f'<span class="zh">{html.escape(zh)}</span><span class="en">{html.escape(en)}</span>'


def head(title: str) -> str:
    return (f'<meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{html.escape(title)}</title>"
            f'<link rel="icon" href="data:,">'
            f'<link rel="stylesheet" href="{STATIC}/shequ.css">'
            f'<script src="{STATIC}/shequ.js"></script>')


def nav(active: str) -> str:
    links = "".join(f'<a href="{path}"{" class=active" if path == active else ""}>{t(zh, en)}</a>'
                    for path, zh, en in NAV)
    return (f'<header class="sq-nav"><span class="brand">shequ 社区</span>{links}<span class="spacer"></span>'
            f'<span id="sq-user"></span><button id="sq-lang" type="button" title="中文 / English">'
            f'{t("English", "中文")}</button></header>')


def page(title: str, body: str, *, active: str = "", extra_head: str = "", scripts: str = "") -> str:
    """A whole page in the shared frame (not a map: see ``framed_map``)."""
    return (f'<!doctype html><html lang="zh"><head>{head(title)}{extra_head}</head>'
            f"<body>{nav(active)}{body}{scripts}</body></html>")


def framed_map(m: folium.Map, title: str, panel: str, *, active: str, scripts: str = "") -> folium.Map:
    """Put a folium map in the frame: the bar on top, ``panel`` on the left, the map filling the rest."""
    root = m.get_root()
    root.header.add_child(folium.Element(head(title)))
    root.html.add_child(folium.Element(f'{nav(active)}<aside class="sq-panel">{panel}'
                                       f'<p class="muted">{html.escape(ATTRIBUTION)}</p></aside>'), index=0)
    if scripts:
        root.html.add_child(folium.Element(scripts))
    # folium puts the map div straight into <body>; the stylesheet places .folium-map beside the panel
    root.header.add_child(folium.Element(
        # !important: folium's own #map_… rule (top:0; left:0) is more specific than a class
        "<style>.folium-map{position:fixed !important;top:48px !important;left:340px !important;right:0 !important;"
        "bottom:0 !important;width:auto !important;height:auto !important}"
        "@media (max-width:900px){.folium-map{left:280px !important}}"
        "@media (max-width:700px){.folium-map{top:45% !important;left:0 !important}}</style>"))
    root.html.add_child(folium.Element('<script>document.documentElement.lang = shequ.lang();</script>'))
    return m


def home_page(counts: dict[str, int]) -> str:
    """What a browser sees at ``/``: the pages, the API, the data loaded (the API answers JSON)."""
    cards = [("/maps/coverage", "覆盖地图", "Coverage map", "步行 5/10/15 分钟内谁缺什么", "who lacks what within a "
              "5/10/15-minute walk"),
             ("/reports/scorecard", "评分卡", "Scorecards", "各社区对照政策标准",
              "each community against the standards"),
             ("/edit/grids", "网格编辑", "Grid editor", "网格员编辑网格边界", "grid managers edit grid boundaries"),
             ("/exports", "数据导出", "Exports", "GeoJSON、GeoPackage、Shapefile、CSV",
              "GeoJSON, GeoPackage, Shapefile, CSV"),
             ("/docs", "接口文档", "API", "OGC API – Features，可用 QGIS / GDAL 读取",
              "OGC API – Features, for QGIS / GDAL")]
    items = "".join(f'<li><a href="{p}"><b>{t(zh, en)}</b></a> — {t(dzh, den)}</li>'
                    for p, zh, en, dzh, den in cards)
    data = ", ".join(f"{n:,} {k}" for k, n in counts.items() if n) or t("尚无数据", "no data yet")
    tagline = t("社区规划与网格管理", "Community planning and grid management")
    body = (f'<main class="sq-page"><h1>shequ 社区</h1><p>{tagline}</p><ul style="line-height:2">{items}</ul>'
            f'<p class="muted">{data} · <a href="/?f=json">JSON</a> · <a href="/collections">collections</a> · '
            f"{html.escape(ATTRIBUTION)}</p></main>")
    return page("shequ 社区", body)


def error_page(status: int, zh: str, en: str, *, active: str = "", back: str = "/", login: bool = False) -> str:
    """A plain page that says what was wrong and how to fix it; ``login``: a login box opens, and the
    page reloads once the user has logged in."""
    heading = {401: t("请先登录", "Please log in"), 403: t("没有权限", "Not allowed"), 404: t("未找到", "Not found"),
               409: t("暂无数据", "No data yet")}.get(status, t("请求有误", "Bad request"))
    script = ("<script>document.addEventListener('DOMContentLoaded',function(){shequ.askLogin("
              + json.dumps(html.escape(zh + " / " + en)) + ").then(function(){location.reload();});});</script>"
              if login else "")
    body = (f'<main class="sq-page"><h1>{heading}</h1>'
            f'<div class="msg bad" id="sq-error">{t(zh, en)}</div>'
            f'<p><a class="sq" href="{html.escape(back)}">{t("返回", "Back")}</a></p></main>')
    return page("shequ — " + en, body, active=active, scripts=script)
