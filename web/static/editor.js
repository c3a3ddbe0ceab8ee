// The grid editor: everything through the API with the user's token; saves with If-Match.
(function () {
  "use strict";
  const t = shequ.tt;
  const esc = shequ.esc;
  const $ = (id) => document.getElementById(id);
  const CHECKS = {
    overlap: ["与相邻网格重叠", "overlaps a neighbouring grid"],
    outside_community: ["超出所属社区范围", "lies partly outside its community"],
    invalid_geometry: ["边界自相交或无效", "the boundary crosses itself or is invalid"],
    gap: ["留下了不属于任何网格的空白", "leaves land that belongs to no grid"],
    schema: ["属性或几何不符合要求", "a field or the geometry is not accepted"],
    reference: ["所属社区不存在", "its community does not exist"],
    split: ["拆分线须从一边穿到另一边", "the line must cross the grid from edge to edge"],
    not_adjacent: ["只能合并相邻网格", "only neighbouring grids can be merged"],
  };
  const GRID = { color: "#2c7fb8", weight: 2, fillOpacity: 0.12 };
  const SELECTED = { color: "#08519c", weight: 4, fillOpacity: 0.25 };

  const state = { me: null, communities: {}, grids: {}, selected: null, etag: null, editing: false, mode: null };
  const map = L.map("map", { preferCanvas: false, zoomControl: true }).setView([30.66, 104.06], 14);
  L.control.scale({ imperial: false }).addTo(map);
  map.attributionControl.addAttribution("© OpenStreetMap contributors");
  map.pm.setGlobalOptions({ snappable: true, snapDistance: 10, allowSelfIntersection: true });
  map.pm.setLang(document.documentElement.lang === "en" ? "en" : "zh");
  const streets = L.layerGroup().addTo(map);
  const outlines = L.layerGroup().addTo(map);
  const gridLayer = L.featureGroup().addTo(map);
  const problems = L.layerGroup().addTo(map);
  const theirs = L.layerGroup().addTo(map);
  window.shequEditor = { map, state, gridLayer, problems, theirs };

  // the server's UTC time in the browser's own zone (Beijing time on a Chinese office's machine)
  function when(at) {
    if (!at) { return ""; }
    return new Date(at).toLocaleString(document.documentElement.lang === "en" ? "en-GB" : "zh-CN",
      { dateStyle: "short", timeStyle: "short" });
  }

  function say(kind, html) {
    const box = $("msg");
    box.className = "msg " + kind;
    box.innerHTML = html;
    box.dataset.kind = kind;
  }

  function problemText(p) {
    const words = CHECKS[p.check] || [p.check, p.check];
    return `<li><b>${t(esc(words[0]), esc(words[1]))}</b>${p.other ? " · " + esc(p.other) : ""}` +
      `${p.value ? ` · ${Math.round(p.value).toLocaleString()} m²` : ""}<br><span class="muted">${esc(p.message)}</span></li>`;
  }

  function drawProblems(list, style) {
    problems.clearLayers();
    for (const p of list || []) {
      if (!p.geometry) { continue; }
      L.geoJSON(p.geometry, { pmIgnore: true, snapIgnore: true, interactive: false,
        style: Object.assign({ color: "#d73027", weight: 2, fillColor: "#d73027", fillOpacity: 0.45, className: "sq-problem" }, style || {}) })
        .addTo(problems);
    }
  }

  async function json(path, opts) {
    const r = await shequ.api(path, opts);
    let body = null;
    try { body = await r.json(); } catch (e) { body = null; }
    return { r, body };
  }

  async function start() {
    let me = shequ.user();
    if (!me) { me = await shequ.askLogin(t("编辑网格需要登录。", "Editing grids needs a login.")); }
    state.me = me;
    if (me.role !== "grid_manager" && me.role !== "admin") {
      say("bad", t(`${me.name} 是 ${me.role}：只有网格员和管理员可以编辑网格。`, `${me.name} is a ${me.role}: only grid managers and admins edit grids.`));
      return;
    }
    const wanted = new URLSearchParams(location.search).get("community");
    let areas = me.role === "admin" ? [""] : me.areas;
    if (wanted) {
      if (me.role !== "admin" && !me.areas.some((a) => wanted.startsWith(a))) {
        say("bad", t(`社区 ${wanted} 不是您负责的（您负责：${me.areas.join("、")}），不能打开它的网格。`,
          `Community ${wanted} is not yours (you look after ${me.areas.join(", ")}): its grids cannot be opened.`));
        $("who").textContent = "";
        return;
      }
      areas = [wanted];
    }
    $("who").innerHTML = me.role === "admin" ? t("管理员：所有社区", "admin: every community")
      : t(`负责：${me.areas.join("、")}`, `looks after ${me.areas.join(", ")}`);
    const select = $("community");
    select.innerHTML = "";
    for (const area of areas) {
      const q = area ? `&code=${encodeURIComponent(area)}*` : "";
      const { body } = await json(`/collections/communities/items?limit=10000${q}`);
      for (const f of (body && body.features) || []) {
        state.communities[f.id] = f;
        select.insertAdjacentHTML("beforeend", `<option value="${esc(f.id)}">${esc(f.properties.name)} (${esc(f.id)})</option>`);
      }
    }
    if (!select.options.length) { say("warn", t("没有可编辑的社区。", "No community to edit.")); return; }
    select.onchange = () => openCommunity(select.value);
    await openCommunity(wanted && state.communities[wanted] ? wanted : select.options[0].value);
  }

  async function openCommunity(code) {
    stopEditing(true);
    $("community").value = code;
    outlines.clearLayers(); gridLayer.clearLayers(); problems.clearLayers(); theirs.clearLayers(); streets.clearLayers();
    state.grids = {}; state.selected = null; $("grid-box").hidden = true;
    const community = state.communities[code];
    const outline = L.geoJSON(community, { pmIgnore: true, interactive: false,
      style: { color: "#444", weight: 2, dashArray: "6 4", fill: false } }).addTo(outlines);
    const b = outline.getBounds();
    map.fitBounds(b, { padding: [20, 20] });
    const bbox = [b.getWest(), b.getSouth(), b.getEast(), b.getNorth()].map((v) => v.toFixed(6)).join(",");
    const s = await json(`/collections/streets/items?limit=10000&bbox=${bbox}`);
    if (s.body && s.body.features) {
      L.geoJSON(s.body, { pmIgnore: true, snapIgnore: true, interactive: false,
        style: { color: "#bbb", weight: 1 } }).addTo(streets);
    }
    const { body } = await json(`/collections/grids/items?limit=10000&community_code=${encodeURIComponent(code)}`);
    for (const f of (body && body.features) || []) { addGrid(f); }
    say("", "");
    $("msg").className = "msg";
    document.body.dataset.ready = "1";
  }

  function addGrid(f) {
    const layer = L.geoJSON(f, { style: GRID }).getLayers()[0];
    layer.feature = f;
    layer.on("click", () => onGridClick(f.id));
    layer.bindTooltip(`${esc(f.properties.name || f.id)}`, { sticky: true });
    gridLayer.addLayer(layer);
    state.grids[f.id] = layer;
    return layer;
  }

  function showProps(f) {
    const p = f.properties;
    const rows = [["编码", "code", f.id], ["名称", "name", p.name], ["户数", "households", p.households],
      ["人口", "population", p.population], ["网格员", "manager", p.manager], ["电话", "phone", p.manager_phone],
      ["版本", "version", p.version]];
    $("grid-props").innerHTML = rows.map(([zh, en, v]) => `<tr><th>${t(zh, en)}</th><td>${esc(v == null ? "–" : v)}</td></tr>`).join("");
    $("grid-code").textContent = f.id;
  }

  async function onGridClick(code) {
    if (state.mode === "merge") { return mergeWith(code); }
    if (state.mode === "split") { return; }  // a click while drawing the line adds a point
    if (state.editing) { return; }
    await select(code);
  }

  async function select(code) {
    for (const [c, layer] of Object.entries(state.grids)) { layer.setStyle(c === code ? SELECTED : GRID); }
    const { r, body } = await json(`/collections/grids/items/${encodeURIComponent(code)}`);
    if (!r.ok) { say("bad", esc(body && body.description)); return; }
    state.selected = code;
    state.etag = r.headers.get("ETag");
    state.grids[code].feature = body;
    showProps(body);
    $("grid-box").hidden = false;
    $("history-box").innerHTML = "";
    problems.clearLayers(); theirs.clearLayers();
    setButtons();
  }

  function setButtons() {
    $("edit").disabled = state.editing;
    $("save").disabled = !state.editing;
    $("cancel").disabled = !state.editing;
    $("split").disabled = state.editing;
    $("merge").disabled = state.editing;
  }

  function startEditing() {
    const layer = state.grids[state.selected];
    if (!layer) { return; }
    state.editing = true;
    state.before = layer.getLatLngs();
    layer.pm.enable({ snappable: true, snapDistance: 10, allowSelfIntersection: true });
    layer.on("pm:edit", () => { state.changed = true; });
    say("warn", t("拖动顶点修改边界，然后点“保存”。", "Drag the vertices, then press Save."));
    setButtons();
  }

  function stopEditing(revert) {
    const layer = state.grids[state.selected];
    if (layer && layer.pm.enabled()) { layer.pm.disable(); }
    if (revert && layer && state.before) { layer.setLatLngs(state.before); }
    state.editing = false; state.before = null; state.changed = false;
    setButtons();
  }

  async function save(fix) {
    const code = state.selected;
    const layer = state.grids[code];
    const geometry = layer.toGeoJSON(false).geometry;
    say("warn", t("正在保存…", "Saving…"));
    const { r, body } = await json(`/collections/grids/items/${encodeURIComponent(code)}${fix ? "?fix=true" : ""}`, {
      method: "PATCH", headers: { "If-Match": state.etag }, json: { geometry } });
    if (r.ok) {
      stopEditing(false);
      state.etag = r.headers.get("ETag");
      layer.feature = body;
      layer.setLatLngs(L.GeoJSON.coordsToLatLngs(body.geometry.coordinates, 1));
      showProps(body);
      const warnings = body.warnings || [];
      drawProblems(warnings, { color: "#ff7f00", fillColor: "#ff7f00", dashArray: "4 3", className: "sq-problem sq-gap" });
      const fixed = (body.fixes || []).map((x) => `<li>${esc(x)}</li>`).join("");
      say(warnings.length ? "warn" : "ok",
        t(`已保存（第 ${body.properties.version} 版）。`, `Saved (version ${body.properties.version}).`) +
        (fixed ? `<ul>${fixed}</ul>` : "") +
        (warnings.length ? `<ul>${warnings.map(problemText).join("")}</ul>` +
          t("请把空白划给相邻网格。", "Give the gap to a neighbouring grid.") : ""));
      document.body.dataset.saved = String(body.properties.version);
      return;
    }
    if (r.status === 412) { return conflict(code); }
    if (r.status === 422) {
      drawProblems(body.problems);
      say("bad", t("未保存：", "Not saved: ") + `<ul>${(body.problems || []).map(problemText).join("")}</ul>` +
        `<button class="sq secondary" type="button" id="fix">${t("自动修复后保存", "Repair and save")}</button>`);
      $("fix").onclick = () => save(true);
      return;
    }
    if (r.status === 401) { await shequ.askLogin(t("登录已过期，请重新登录。", "Your login expired: log in again.")); return; }
    say("bad", t("未保存：", "Not saved: ") + esc(body && body.description));
  }

  async function conflict(code) {
    const now = await json(`/collections/grids/items/${encodeURIComponent(code)}`);
    const hist = await json(`/collections/grids/items/${encodeURIComponent(code)}/history`);
    const last = hist.body && hist.body.features ? hist.body.features[hist.body.features.length - 1].properties : {};
    theirs.clearLayers();
    if (now.body && now.body.geometry) {
      L.geoJSON(now.body.geometry, { pmIgnore: true, snapIgnore: true, interactive: false,
        style: { color: "#ff7f00", weight: 3, dashArray: "8 5", fill: false, className: "sq-theirs" } }).addTo(theirs);
    }
    say("warn", t(`其他人（${esc(last.user)}，${esc(when(last.at))}）在您编辑期间修改了这个网格，您的修改未保存。橙色虚线是他们的版本（第 ${esc(last.version)} 版）。`,
      `Someone else (${esc(last.user)}, ${esc(when(last.at))}) changed this grid while you were editing; your change was not saved. The orange dashed line is their version (${esc(last.version)}).`) +
      `<br><button class="sq" type="button" id="reload">${t("重新加载", "Reload")}</button>`);
    $("reload").onclick = async () => {
      stopEditing(false);
      const layer = state.grids[code];
      layer.setLatLngs(L.GeoJSON.coordsToLatLngs(now.body.geometry.coordinates, 1));
      theirs.clearLayers();
      await select(code);
      say("ok", t("已加载最新版本，可以重新编辑。", "The latest version is loaded: edit again."));
    };
    document.body.dataset.conflict = "1";
  }

  async function splitStart() {
    say("warn", t("画一条穿过网格的线（单击加点，单击最后一点结束）。", "Draw a line across the grid (click to add points, click the last one to finish)."));
    state.mode = "split";
    map.pm.enableDraw("Line", { snappable: true, snapDistance: 10 });
  }

  map.on("pm:create", async (e) => {
    if (state.mode !== "split") { map.removeLayer(e.layer); return; }
    state.mode = null;
    const line = e.layer.toGeoJSON(false).geometry;
    map.removeLayer(e.layer);
    const code = state.selected;
    const { r, body } = await json(`/collections/grids/items/${encodeURIComponent(code)}/split`, {
      method: "POST", headers: { "If-Match": state.etag }, json: { line } });
    if (r.ok) {
      await openCommunity($("community").value);
      await select(code);
      say("ok", t(`已拆分为 ${body.features.map((f) => f.id).join(" 和 ")}。`, `Split into ${body.features.map((f) => f.id).join(" and ")}.`) +
        `<ul>${(body.fixes || []).map((x) => `<li>${esc(x)}</li>`).join("")}</ul>`);
    } else if (r.status === 412) { conflict(code); } else {
      drawProblems(body.problems);
      say("bad", t("未拆分：", "Not split: ") + esc(body.description));
    }
  });

  function mergeStart() {
    state.mode = "merge";
    say("warn", t("点击要并入的相邻网格。", "Click the neighbouring grid to merge into this one."));
  }

  async function mergeWith(other) {
    state.mode = null;
    const code = state.selected;
    if (other === code) { say("bad", t("不能与自己合并。", "A grid cannot be merged with itself.")); return; }
    const o = await shequ.api(`/collections/grids/items/${encodeURIComponent(other)}`);
    const { r, body } = await json(`/collections/grids/items/${encodeURIComponent(code)}/merge`, {
      method: "POST", headers: { "If-Match": state.etag }, json: { other, other_etag: o.headers.get("ETag") } });
    if (r.ok) {
      await openCommunity($("community").value);
      await select(code);
      say("ok", t(`已将 ${other} 并入 ${code}。`, `Merged ${other} into ${code}.`));
    } else if (r.status === 412) { conflict(code); } else {
      drawProblems(body.problems);
      say("bad", t("未合并：", "Not merged: ") + esc(body.description));
    }
  }

  async function showHistory() {
    const code = state.selected;
    const { r, body } = await json(`/collections/grids/items/${encodeURIComponent(code)}/history`);
    if (!r.ok) { say("bad", esc(body && body.description)); return; }
    const rows = body.features.slice().reverse().map((f) => {
      const p = f.properties;
      const restorable = p.action !== "delete" && p.version !== state.grids[code].feature.properties.version;
      return `<tr data-version="${p.version}"><td class="num">${p.version}</td><td>${esc(p.action)}</td><td>${esc(p.user)}</td>` +
        `<td>${esc(when(p.at))}</td><td><button type="button" class="sq secondary show">${t("显示", "Show")}</button>` +
        (restorable ? `<button type="button" class="sq secondary restore">${t("恢复", "Restore")}</button>` : "") + "</td></tr>";
    }).join("");
    $("history-box").innerHTML = `<h3>${t("历史版本", "History")}</h3><table class="sq"><tr><th>${t("版本", "v")}</th><th>${t("操作", "action")}</th>` +
      `<th>${t("用户", "user")}</th><th>${t("时间", "time")}</th><th></th></tr>${rows}</table>`;
    const byVersion = Object.fromEntries(body.features.map((f) => [f.properties.version, f]));
    for (const tr of $("history-box").querySelectorAll("tr[data-version]")) {
      const v = tr.dataset.version;
      tr.querySelector(".show").onclick = () => {
        theirs.clearLayers();
        if (byVersion[v].geometry) {
          L.geoJSON(byVersion[v].geometry, { pmIgnore: true, interactive: false,
            style: { color: "#6a3d9a", weight: 3, dashArray: "4 4", fill: false } }).addTo(theirs);
        }
      };
      const restore = tr.querySelector(".restore");
      if (restore) {
        restore.onclick = async () => {
          const res = await json(`/collections/grids/items/${encodeURIComponent(code)}/history/${v}/restore`, {
            method: "POST", headers: { "If-Match": state.etag } });
          if (res.r.ok) {
            state.grids[code].setLatLngs(L.GeoJSON.coordsToLatLngs(res.body.geometry.coordinates, 1));
            await select(code);
            await showHistory();
            say("ok", t(`已恢复第 ${v} 版（新版本 ${res.body.properties.version}）。`, `Restored version ${v} (now version ${res.body.properties.version}).`));
          } else if (res.r.status === 412) { conflict(code); } else {
            drawProblems(res.body && res.body.problems);
            say("bad", t("未恢复：", "Not restored: ") + esc(res.body && res.body.description));
          }
        };
      }
    }
  }

  document.addEventListener("DOMContentLoaded", () => {
    $("edit").onclick = startEditing;
    $("save").onclick = () => save(false);
    $("cancel").onclick = () => { stopEditing(true); problems.clearLayers(); say("", ""); $("msg").className = "msg"; };
    $("split").onclick = splitStart;
    $("merge").onclick = mergeStart;
    $("history").onclick = showHistory;
    document.addEventListener("shequ:logout", () => location.reload());
    start();
  });
})();
