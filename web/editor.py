"""The grid editor page (``/edit/grids``): a grid manager logs in, sees the grids of their
communities, edits a boundary with snapping (Leaflet-Geoman), splits and merges grids, and saves
through the API with If-Match. The page holds no data: ``web/static/editor.js`` fetches it with the
user's token, so a manager's page can only ever show what the API lets them read and edit.
"""

from __future__ import annotations

from shequ.web.pages import STATIC, page, t


def editor_page() -> str:
    panel = f"""
<aside class="sq-panel" id="panel">
  <h2>{t("网格编辑", "Grid editor")}</h2>
  <div id="who" class="muted"></div>
  <div class="msg" id="msg" role="status" aria-live="polite"></div>
  <label for="community">{t("社区", "Community")}</label>
  <select id="community"></select>
  <div id="grid-box" hidden>
    <h3>{t("网格", "Grid")} <span id="grid-code"></span></h3>
    <table class="sq" id="grid-props"></table>
    <div>
      <button class="sq" id="edit" type="button">{t("编辑边界", "Edit boundary")}</button>
      <button class="sq" id="save" type="button" disabled>{t("保存", "Save")}</button>
      <button class="sq secondary" id="cancel" type="button" disabled>{t("取消", "Cancel")}</button>
    </div>
    <div>
      <button class="sq secondary" id="split" type="button">{t("拆分", "Split")}</button>
      <button class="sq secondary" id="merge" type="button">{t("合并", "Merge")}</button>
      <button class="sq secondary" id="history" type="button">{t("历史", "History")}</button>
    </div>
    <div id="history-box"></div>
  </div>
  <p class="muted">{t("点击网格选择；编辑时顶点会吸附到相邻网格和社区边界（10 像素内），相邻网格共用顶点；"
                     "按住 Alt 拖动可暂时不吸附。",
                     "Click a grid to select it. While editing, vertices snap to neighbouring grids and the "
                     "community boundary (within 10 px), so neighbours share vertices; hold Alt to place one "
                     "freely.")}</p>
  <p class="muted">{t("图例：", "Legend: ")}<span style="color:#2c7fb8">■</span> {t("网格", "grids")}
    <span style="color:#444">┅</span> {t("社区边界", "community")}
    <span style="color:#d73027">■</span> {t("问题", "problems")}
    <span style="color:#ff7f00">┅</span> {t("他人的修改", "their change")}</p>
</aside>
<main class="sq-main"><div id="map"></div></main>"""
    scripts = (f'<script src="{STATIC}/vendor/leaflet/leaflet.js"></script>'
               f'<script src="{STATIC}/vendor/leaflet_geoman/leaflet-geoman.js"></script>'
               f'<script src="{STATIC}/editor.js"></script>')
    styles = (f'<link rel="stylesheet" href="{STATIC}/vendor/leaflet/leaflet.css">'
              f'<link rel="stylesheet" href="{STATIC}/vendor/leaflet_geoman/leaflet-geoman.css">')
    return page("网格编辑 Grid editor – shequ", panel, active="/edit/grids", extra_head=styles, scripts=scripts)
