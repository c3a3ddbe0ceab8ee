// The grid editor: everything through the API with the user's token; saves with If-Match.
// No edit is ever lost: an expired login asks for a new one over the page and repeats the request,
// a dropped connection says so and offers to retry, and the boundary being edited is kept in
// localStorage (with the ETag it was based on) until it is saved or discarded.
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
    pieces: ["会把网格分成几块", "a grid would fall into pieces"],
    no_gap: ["这里没有空白", "there is no gap here"],
  };
  // Okabe–Ito colours, each also told apart by line pattern: grids blue and solid, gaps orange and
  // dashed, overlaps vermilion and hatched-looking (dotted), other versions reddish purple dash-dot.
  const GRID = { color: "#0072B2", weight: 2, fillOpacity: 0.10, dashArray: null };
  const SELECTED = { color: "#003c5f", weight: 4, fillOpacity: 0.25, dashArray: null };
  const GAP = { color: "#E69F00", weight: 3, dashArray: "6 4", fillColor: "#E69F00", fillOpacity: 0.45, className: "sq-problem sq-gap" };
  const OVERLAP = { color: "#D55E00", weight: 3, dashArray: "2 4", fillColor: "#D55E00", fillOpacity: 0.55, className: "sq-problem sq-overlap" };
  const REFUSED = { color: "#D55E00", weight: 2, fillColor: "#D55E00", fillOpacity: 0.45, className: "sq-problem" };
  const VERSION = { color: "#CC79A7", weight: 3, dashArray: "10 4 2 4", fill: false, className: "sq-version" };
  //: the attributes edited beside the map (layers/schema.py GRIDS)
  const FIELDS = [["manager", "网格员", "Grid manager", "name"], ["manager_phone", "电话", "Phone", "tel"],
    ["party_branch", "党支部", "Party branch", "off"]];
  const SNAP_PX = 10;  // a vertex or a point of the split line within 10 px of a neighbour's vertex or edge snaps to it
  const DRAFT = "shequ-draft:grids:";

  const state = { me: null, communities: {}, grids: {}, selected: null, etag: null, editing: false, mode: null,
    steps: [], at: 0, community: null };
  const map = L.map("map", { preferCanvas: false, zoomControl: true }).setView([30.66, 104.06], 14);
  L.control.scale({ imperial: false }).addTo(map);
  map.attributionControl.addAttribution("© OpenStreetMap contributors");
  if (shequ.mapTools) { shequ.mapTools(map); }  // 定位 (locate me), as on every map
  const streets = L.layerGroup().addTo(map);
  const outlines = L.layerGroup().addTo(map);
  const gridLayer = L.featureGroup().addTo(map);
  const gaps = L.layerGroup().addTo(map);
  const problems = L.layerGroup().addTo(map);
  const theirs = L.layerGroup().addTo(map);
  window.shequEditor = { map, state, gridLayer, problems, gaps, theirs };

  // the server's UTC time in the browser's own zone (Beijing time on a Chinese office's machine)
  function when(at) {
    if (!at) { return ""; }
    return new Date(at).toLocaleString(document.documentElement.lang === "en" ? "en-GB" : "zh-CN",
      { dateStyle: "short", timeStyle: "short" });
  }
  const m2 = (v) => `${Math.round(v || 0).toLocaleString()} m²`;
  // a server's error in both languages (shequ.message, when the page script has it)
  // what the server repaired or moved, in both languages (fixes_zh beside fixes where the server gives it)
  const fixList = (body) => (body.fixes || []).map((x, i) => {
    const zh = (body.fixes_zh || [])[i];
    return `<li>${zh ? t(esc(zh), esc(x)) : esc(x)}</li>`;
  }).join("");
  const ACTIONS = { create: "新建", update: "修改", replace: "替换", delete: "删除", restore: "恢复", split: "拆分",
    merge: "合并", reshape: "调整边界", absorb: "并入空白", import: "导入" };
  const desc = (body) => (shequ.message ? shequ.message(body) : esc(body && body.description));
  const gridName = (code) => {
    const layer = state.grids[code];
    return (layer && layer.feature.properties.name) || code;
  };

  function say(kind, html) {
    const box = $("msg");
    box.className = "msg " + kind;
    box.innerHTML = html;
    box.dataset.kind = kind;
    if (waiting.length && !$("retry")) { retryButton(); }  // a request still waits for the retry: keep its button
  }

  function problemText(p) {
    const words = CHECKS[p.check] || [p.check, p.check];
    return `<li><b>${t(esc(words[0]), esc(words[1]))}</b>${p.other ? " · " + esc(p.other) : ""}` +
      `${p.value ? ` · ${m2(p.value)}` : ""}<br><span class="muted">${t(esc(p.message_zh || p.message), esc(p.message))}</span></li>`;
  }

  function drawProblems(list, style) {
    problems.clearLayers();
    for (const p of list || []) {
      if (!p.geometry) { continue; }
      L.geoJSON(p.geometry, { interactive: false, style: style || REFUSED }).addTo(problems);
    }
  }

  // ---- talking to the server: a request is repeated, never dropped --------------------------------
  // Requests waiting for the user's Retry (one button repeats them all, so none is left hanging when
  // another message takes the box).
  const waiting = [];
  let retryLabel = null;
  function retryButton() {
    $("msg").insertAdjacentHTML("beforeend", `<br><button class="sq" type="button" id="retry">${retryLabel || t("重试", "Retry")}</button>`);
    $("retry").onclick = () => {
      delete document.body.dataset.offline;
      const all = waiting.splice(0);
      say("warn", state.busy || t("正在重试…", "Retrying…"));
      for (const resolve of all) { resolve(); }
    };
  }

  // Show a problem with a Retry button; resolves when the user presses it.
  function offerRetry(html, label) {
    return new Promise((resolve) => {
      retryLabel = label || null;
      say("bad", html);
      waiting.push(resolve);
      if (!$("retry")) { retryButton(); }
      $("retry").focus();
    });
  }

  // A login over the page (the edit stays where it is); resolves once someone has logged in. Requests
  // refused at the same time wait for the same login.
  let loginPending = null;
  function relogin() {
    if (!loginPending) { loginPending = askAgain().finally(() => { loginPending = null; }); }
    return loginPending;
  }
  async function askAgain() {
    for (;;) {
      const asked = shequ.askLogin(t("登录已过期或已退出。请重新登录：您的修改仍在，登录后会继续保存。",
        "Your login expired or was ended. Log in again: your change is kept and will be saved after the login."));
      const cancel = $("sq-login-cancel");
      const cancelled = new Promise((resolve) => { if (cancel) { cancel.addEventListener("click", () => resolve(null)); } });
      const me = await Promise.race([asked, cancelled]);
      if (me) { state.me = me; return; }
      await offerRetry(t("需要登录才能继续。您的修改仍在本页（也保存在本机草稿中）。", "A login is needed to go on. Your change is kept on this page (and in a draft on this computer)."),
        t("登录并重试", "Log in and retry"));
    }
  }

  // fetch with the user's token; a 401 asks for a login and repeats, a network failure offers a retry
  async function json(path, opts) {
    for (;;) {
      let r;
      try {
        r = await shequ.api(path, Object.assign({ keepLogin: true }, opts));  // a 401 asks again below, no logout
      } catch (err) {
        document.body.dataset.offline = "1";
        await offerRetry(t("无法连接服务器，请求未完成。请检查网络或服务器，然后重试。您的修改没有丢失。",
          "Cannot reach the server: the request did not go through. Check the network or the server, then retry. Your change is not lost."));
        continue;
      }
      if (r.status === 401) { await relogin(); continue; }
      let body = null;
      try { body = await r.json(); } catch (e) { body = null; }
      return { r, body };
    }
  }

  function busy(html) { state.busy = html; say("warn", html); }
  function idle() { state.busy = null; }

  // ---- drafts kept on this computer until saved or discarded ---------------------------------------
  function keepDraft() {
    const code = state.selected;
    if (!code || !state.editing) { return; }
    if (state.at === 0) { dropDraft(code); return; }
    const layer = state.grids[code];
    window.localStorage.setItem(DRAFT + code, JSON.stringify({
      code, community: layer.feature.properties.community_code, etag: state.etag,
      version: layer.feature.properties.version, geometry: layer.toGeoJSON(false).geometry,
      at: new Date().toISOString(), user: state.me && state.me.name }));
  }
  function dropDraft(code) { window.localStorage.removeItem(DRAFT + code); }
  function drafts(community) {
    const found = [];
    for (let i = 0; i < window.localStorage.length; i++) {
      const key = window.localStorage.key(i);
      if (!key.startsWith(DRAFT)) { continue; }
      try {
        const d = JSON.parse(window.localStorage.getItem(key));
        if (d.community === community && state.grids[d.code]) { found.push(d); }
      } catch (e) { window.localStorage.removeItem(key); }
    }
    return found;
  }

  function offerDrafts() {
    const box = $("draft-box");
    const list = drafts(state.community);
    if (!list.length) { box.hidden = true; box.innerHTML = ""; return; }
    box.hidden = false;
    box.innerHTML = `<b>${t("有未保存的修改", "Unsaved changes")}</b>` + list.map((d) =>
      `<div data-draft="${esc(d.code)}">${t(`网格 ${esc(gridName(d.code))}（${esc(d.code)}）的边界，${esc(when(d.at))} 编辑，基于第 ${esc(d.version)} 版。`,
        `The boundary of grid ${esc(gridName(d.code))} (${esc(d.code)}), edited ${esc(when(d.at))}, based on version ${esc(d.version)}.`)}<br>` +
      `<button class="sq resume" type="button">${t("继续编辑", "Resume")}</button>` +
      `<button class="sq secondary discard" type="button">${t("放弃", "Discard")}</button></div>`).join("");
    for (const div of box.querySelectorAll("[data-draft]")) {
      const d = list.find((x) => x.code === div.dataset.draft);
      div.querySelector(".resume").onclick = () => resume(d);
      div.querySelector(".discard").onclick = () => { dropDraft(d.code); offerDrafts(); };
    }
  }

  async function resume(d) {
    if (state.editing) { stopEditing(true); }
    await select(d.code);
    state.etag = d.etag;  // the version the draft was based on: a change since then is a conflict, not overwritten
    startEditing();
    applyStep(d.geometry);
    record();
    offerDrafts();
    say("warn", t("已恢复未保存的修改：检查后点“保存”，或点“取消”放弃。", "Your unsaved change is back: check it, then Save, or Cancel to discard it."));
  }

  // ---- a small vertex editor and line drawing with snapping (all the editor needs of Leaflet-Geoman) ----
  // rings of a Leaflet layer's (nested) latlngs
  function rings(latlngs, out) {
    if (!latlngs.length) { return out; }
    if (latlngs[0] instanceof L.LatLng) { out.push(latlngs); } else { for (const x of latlngs) { rings(x, out); } }
    return out;
  }

  // what can be snapped to, in layer pixels: the other grids' and the community's vertices and edges
  function snapTargets(except) {
    const out = [];
    const add = (layer) => { for (const ring of rings(layer.getLatLngs(), [])) { out.push(ring.map((ll) => map.latLngToLayerPoint(ll))); } };
    for (const layer of Object.values(state.grids)) { if (layer !== except) { add(layer); } }
    outlines.eachLayer((group) => group.eachLayer(add));
    return out;
  }

  // the nearest vertex within SNAP_PX, else the nearest point of an edge; Alt held: no snapping
  function snapped(ll, targets, event) {
    if (event && event.altKey) { return ll; }
    const p = map.latLngToLayerPoint(ll);
    let best = null, d = SNAP_PX;
    for (const ring of targets) { for (const q of ring) { const e = p.distanceTo(q); if (e < d) { d = e; best = q; } } }
    if (!best) {
      d = SNAP_PX;
      for (const ring of targets) {
        for (let i = 0; i < ring.length; i++) {
          const q = L.LineUtil.closestPointOnSegment(p, ring[i], ring[(i + 1) % ring.length]);
          const e = p.distanceTo(q);
          if (e < d) { d = e; best = q; }
        }
      }
    }
    return best ? map.layerPointToLatLng(best) : ll;
  }

  const handle = (middle) => L.divIcon({ className: middle ? "marker-icon marker-icon-middle" : "marker-icon", iconSize: null });

  // Drag a vertex (snapped), drag or click a middle handle to add one, right-click (long press) a vertex
  // to remove it; ``edited`` is called after each step.
  function vertexEditor(layer, edited) {
    const group = L.layerGroup().addTo(map);
    let ring = [];
    let targets = [];
    const redraw = () => layer.setLatLngs([ring]);
    function step() { redraw(); build(); edited(); }
    function build() {
      group.clearLayers();
      ring = layer.getLatLngs()[0].slice();
      ring.forEach((ll, i) => {
        const m = L.marker(ll, { draggable: true, keyboard: false, icon: handle(false), zIndexOffset: 1000 }).addTo(group);
        m.on("dragstart", () => { targets = snapTargets(layer); });
        m.on("drag", (e) => { ring[i] = snapped(e.latlng, targets, e.originalEvent); redraw(); });
        m.on("dragend", step);
        m.on("contextmenu", (e) => {
          L.DomEvent.preventDefault(e.originalEvent);
          if (ring.length > 3) { ring.splice(i, 1); step(); }
        });
      });
      ring.forEach((ll, i) => {
        const next = ring[(i + 1) % ring.length];
        const mid = map.layerPointToLatLng(map.latLngToLayerPoint(ll).add(map.latLngToLayerPoint(next)).divideBy(2));
        const m = L.marker(mid, { draggable: true, keyboard: false, icon: handle(true) }).addTo(group);
        m.on("dragstart", () => { targets = snapTargets(layer); ring.splice(i + 1, 0, mid); });
        m.on("drag", (e) => { ring[i + 1] = snapped(e.latlng, targets, e.originalEvent); redraw(); });
        m.on("dragend", step);
        m.on("click", () => { ring.splice(i + 1, 0, mid); step(); });
      });
    }
    build();
    map.on("zoomend", build);
    return { rebuild: build, remove() { map.off("zoomend", build); map.removeLayer(group); } };
  }

  // A line drawn by clicks (snapped); clicking its last point again finishes it, Escape gives it up.
  function drawLine(finished) {
    const points = [];
    const line = L.polyline([], { color: "#009E73", weight: 3, dashArray: "8 4", interactive: false }).addTo(map);
    const dots = L.layerGroup().addTo(map);
    const targets = snapTargets(null);
    map.doubleClickZoom.disable();
    map.getContainer().classList.add("sq-drawing");
    function end(geometry) {
      map.off("click", click);
      document.removeEventListener("keydown", key);
      map.removeLayer(line); map.removeLayer(dots);
      map.getContainer().classList.remove("sq-drawing");
      setTimeout(() => map.doubleClickZoom.enable(), 400);
      finished(geometry);
    }
    function click(e) {
      const last = points[points.length - 1];
      if (last && points.length >= 2 && map.latLngToContainerPoint(last).distanceTo(e.containerPoint) < 8) {
        end({ type: "LineString", coordinates: points.map((p) => [p.lng, p.lat]) });
        return;
      }
      const ll = snapped(e.latlng, targets, e.originalEvent);
      points.push(ll);
      line.setLatLngs(points);
      L.circleMarker(ll, { radius: 5, color: "#009E73", fillColor: "#fff", fillOpacity: 1, interactive: false }).addTo(dots);
    }
    function key(e) { if (e.key === "Escape") { end(null); } }
    map.on("click", click);
    document.addEventListener("keydown", key);
  }

  // ---- opening a community ---------------------------------------------------------------------------
  async function start() {
    let me = shequ.user();
    if (!me) { me = await shequ.askLogin(t("编辑网格需要登录。", "Editing grids needs a login.")); }
    state.me = me;
    if (me.role !== "grid_manager" && me.role !== "admin") {
      say("bad", t(`${esc(me.name)} 是${esc({ planner: "规划人员", bureau: "主管部门" }[me.role] || me.role)}：只有网格员和管理员可以编辑网格。`, `${esc(me.name)} is a ${esc(me.role)}: only grid managers and admins edit grids.`));
      return;
    }
    const wanted = new URLSearchParams(location.search).get("community");
    let areas = me.role === "admin" ? [""] : me.areas;
    if (wanted) {
      if (me.role !== "admin" && !me.areas.some((a) => wanted.startsWith(a))) {
        say("bad", t(`社区 ${esc(wanted)} 不是您负责的（您负责：${esc(me.areas.join("、"))}），不能打开它的网格。`,
          `Community ${esc(wanted)} is not yours (you look after ${esc(me.areas.join(", "))}): its grids cannot be opened.`));
        $("who").textContent = "";
        return;
      }
      areas = [wanted];
    }
    $("who").innerHTML = me.role === "admin" ? t("管理员：所有社区", "admin: every community")
      : t(`负责：${esc(me.areas.join("、"))}`, `looks after ${esc(me.areas.join(", "))}`);
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
    if (me.role !== "admin") {
      // names, not codes: a community by its name, an area larger than one community by its code
      const named = me.areas.map((a) => (state.communities[a] ? `${esc(state.communities[a].properties.name)} <span class="muted">${esc(a)}</span>` : esc(a)));
      $("who").innerHTML = t(`负责：${named.join("、")}`, `looks after ${named.join(", ")}`);
    }
    if (!select.options.length) { say("warn", t("没有可编辑的社区。", "No community to edit.")); return; }
    select.onchange = () => openCommunity(select.value);
    await openCommunity(wanted && state.communities[wanted] ? wanted : select.options[0].value);
  }

  async function openCommunity(code) {
    if (state.editing) { stopEditing(true); }
    state.community = code;
    $("community").value = code;
    outlines.clearLayers(); gridLayer.clearLayers(); problems.clearLayers(); theirs.clearLayers(); streets.clearLayers(); gaps.clearLayers();
    state.grids = {}; state.selected = null; $("grid-box").hidden = true;
    const community = state.communities[code];
    const outline = L.geoJSON(community, { interactive: false,
      style: { color: "#444", weight: 2, dashArray: "6 4", fill: false } }).addTo(outlines);
    const b = outline.getBounds();
    map.fitBounds(b, { padding: [20, 20] });
    const bbox = [b.getWest(), b.getSouth(), b.getEast(), b.getNorth()].map((v) => v.toFixed(6)).join(",");
    const s = await json(`/collections/streets/items?limit=10000&bbox=${bbox}`);
    if (s.body && s.body.features) {
      L.geoJSON(s.body, { interactive: false,
        style: { color: "#bbb", weight: 1 } }).addTo(streets);
    }
    const { body } = await json(`/collections/grids/items?limit=10000&community_code=${encodeURIComponent(code)}`);
    for (const f of (body && body.features) || []) { addGrid(f); }
    listGrids();
    say("", "");
    $("msg").className = "msg";
    await loadProblems();
    offerDrafts();
    document.body.dataset.ready = "1";
  }

  function addGrid(f) {
    const layer = L.geoJSON(f, { style: GRID }).getLayers()[0];
    layer.feature = f;
    layer.on("click", () => onGridClick(f.id));
    layer.bindTooltip(() => esc(layer.feature.properties.name || f.id), { sticky: true });
    gridLayer.addLayer(layer);
    state.grids[f.id] = layer;
    return layer;
  }

  function setGeometry(layer, g) {
    layer.setLatLngs(L.GeoJSON.coordsToLatLngs(g.coordinates, g.type === "Polygon" ? 1 : 2));
  }

  // the grids of the answer of a write (new boundaries, households, ETags) put on the map
  function applyGrids(features, etags) {
    for (const f of features || []) {
      const layer = state.grids[f.id];
      if (!layer) { addGrid(f); continue; }
      setGeometry(layer, f.geometry);
      layer.feature = f;
      const etag = (etags && etags[f.id]) || f.properties.etag;
      if (f.id === state.selected && etag) { state.etag = etag; showProps(f); }
    }
    listGrids();
  }

  // ---- the grid list (keyboard: Tab to it, arrows move, Enter or Space selects) --------------------------
  function listGrids() {
    const codes = Object.keys(state.grids).sort((a, b) => gridName(a).localeCompare(gridName(b), "zh") || a.localeCompare(b));
    $("grid-list").innerHTML = codes.map((code) => {
      const p = state.grids[code].feature.properties;
      return `<li><button type="button" class="sq-item" data-code="${esc(code)}" aria-pressed="${code === state.selected}">` +
        `<b>${esc(p.name || code)}</b> <span class="muted">${esc(code)}</span><br>` +
        `<span>${t("网格员", "manager")}: ${esc(p.manager || "–")}</span> · ` +
        `<span class="num">${esc(p.households == null ? "–" : p.households)} ${t("户", "households")}</span></button></li>`;
    }).join("");
    $("grid-count").textContent = String(codes.length);
  }

  function onListKey(e) {
    const item = e.target.closest(".sq-item");
    if (!item) { return; }
    const all = Array.from($("grid-list").querySelectorAll(".sq-item"));
    const i = all.indexOf(item);
    const to = { ArrowDown: i + 1, ArrowUp: i - 1, Home: 0, End: all.length - 1 }[e.key];
    if (to === undefined) { return; }
    e.preventDefault();
    all[Math.max(0, Math.min(all.length - 1, to))].focus();
  }

  function showProps(f) {
    const p = f.properties;
    const rows = [["编码", "code", f.id], ["名称", "name", p.name], ["户数", "households", p.households],
      ["人口", "population", p.population], ["版本", "version", p.version]];
    $("grid-props").innerHTML = rows.map(([zh, en, v]) => `<tr><th>${t(zh, en)}</th><td>${esc(v == null ? "–" : v)}</td></tr>`).join("");
    $("grid-code").textContent = p.name ? `${p.name} (${f.id})` : f.id;
    for (const [name] of FIELDS) { $("f-" + name).value = p[name] == null ? "" : p[name]; }
  }

  async function onGridClick(code) {
    if (state.mode === "merge") { return mergeWith(code); }
    if (state.mode === "split") { return; }  // a click while drawing the line adds a point
    if (state.editing) { return; }
    await select(code);
  }

  async function select(code) {
    if (state.editing) { return; }
    for (const [c, layer] of Object.entries(state.grids)) { layer.setStyle(c === code ? SELECTED : GRID); }
    const { r, body } = await json(`/collections/grids/items/${encodeURIComponent(code)}`);
    if (!r.ok) { say("bad", desc(body)); return; }
    state.selected = code;
    state.etag = r.headers.get("ETag");
    state.grids[code].feature = body;
    state.grids[code].bringToFront();
    showProps(body);
    $("grid-box").hidden = false;
    $("history-box").innerHTML = "";
    problems.clearLayers(); theirs.clearLayers();
    for (const b of $("grid-list").querySelectorAll(".sq-item")) { b.setAttribute("aria-pressed", String(b.dataset.code === code)); }
    setButtons();
  }

  function setButtons() {
    const editing = state.editing;
    $("edit").disabled = editing;
    $("save").disabled = !editing || state.at === 0;
    $("cancel").disabled = !editing;
    $("undo").disabled = !editing || state.at === 0;
    $("redo").disabled = !editing || state.at >= state.steps.length - 1;
    $("split").disabled = editing;
    $("merge").disabled = editing;
    $("history").disabled = editing;
    $("attrs-save").disabled = editing;
    document.body.classList.toggle("sq-editing", editing);
  }

  // ---- editing a boundary, with undo and redo of the unsaved steps -----------------------------------
  function startEditing() {
    const layer = state.grids[state.selected];
    if (!layer || state.editing) { return; }
    state.editing = true;
    state.steps = [layer.toGeoJSON(false).geometry];
    state.at = 0;
    if (window.matchMedia("(max-width: 700px)").matches) {  // a phone: the grid fills the map, its handles apart
      map.fitBounds(layer.getBounds(), { padding: [24, 24], maxZoom: 18, animate: false });
    }
    state.vertices = vertexEditor(layer, record);
    say("warn", t("拖动顶点修改边界（相邻网格随之改变），然后点“保存”。", "Drag the vertices (the neighbouring grids follow), then press Save."));
    setButtons();
  }

  function applyStep(g) {
    const layer = state.grids[state.selected];
    setGeometry(layer, g);
    if (state.vertices) { state.vertices.rebuild(); }
  }

  // a step done on the map: what comes after it (redo) is gone; the draft follows
  function record() {
    const layer = state.grids[state.selected];
    state.steps = state.steps.slice(0, state.at + 1);
    state.steps.push(layer.toGeoJSON(false).geometry);
    state.at = state.steps.length - 1;
    keepDraft();
    setButtons();
  }

  function undo() {
    if (!state.editing || state.at === 0) { return; }
    state.at -= 1;
    applyStep(state.steps[state.at]);
    keepDraft();
    setButtons();
  }

  function redo() {
    if (!state.editing || state.at >= state.steps.length - 1) { return; }
    state.at += 1;
    applyStep(state.steps[state.at]);
    keepDraft();
    setButtons();
  }

  function stopEditing(revert) {
    const layer = state.grids[state.selected];
    if (state.vertices) { state.vertices.remove(); state.vertices = null; }
    if (revert && layer && state.steps.length) { setGeometry(layer, state.steps[0]); }
    state.editing = false; state.steps = []; state.at = 0;
    setButtons();
  }

  async function save() {
    const code = state.selected;
    const layer = state.grids[code];
    const geometry = layer.toGeoJSON(false).geometry;
    keepDraft();
    busy(t("正在保存…", "Saving…"));
    $("save").disabled = true;
    const { r, body } = await json(`/collections/grids/items/${encodeURIComponent(code)}/reshape`, {
      method: "POST", headers: { "If-Match": state.etag }, json: { geometry } });
    idle();
    if (r.ok) {
      stopEditing(false);
      dropDraft(code);
      applyGrids(body.features, body.etags);
      const mine = (body.features || []).find((f) => f.id === code);
      const others = (body.features || []).filter((f) => f.id !== code);
      const warnings = body.warnings || [];
      drawProblems([]);
      const fixed = fixList(body);
      const version = mine ? mine.properties.version : "";
      say(warnings.length ? "warn" : "ok",
        t(`已保存（第 ${esc(version)} 版）。`, `Saved (version ${esc(version)}).`) +
        (others.length ? " " + t(`相邻网格随之调整：${others.map((f) => esc(gridName(f.id))).join("、")}。`,
          `The neighbouring grids follow: ${others.map((f) => esc(gridName(f.id))).join(", ")}.`) : "") +
        (fixed ? `<ul>${fixed}</ul>` : "") +
        (warnings.length ? `<ul>${warnings.map(problemText).join("")}</ul>` +
          t("空白在地图上以橙色虚线标出，可在下方“空白与重叠”中划给相邻网格。", "The gap is drawn dashed orange: give it to a neighbouring grid under “Gaps and overlaps” below.") : ""));
      await loadProblems(warnings);
      document.body.dataset.saved = String(version);
      return;
    }
    setButtons();
    if (r.status === 412) { return conflict(code); }
    if (r.status === 422) {
      drawProblems(body && body.problems);
      say("bad", t("未保存：", "Not saved: ") + desc(body, r) + `<ul>${((body && body.problems) || []).map(problemText).join("")}</ul>` +
        t("修改仍在，可撤销或继续调整后再保存。", "Your change is kept: undo or adjust it, then save again."));
      return;
    }
    say("bad", t("未保存：", "Not saved: ") + desc(body, r) + " " + t("修改仍在，可以重试。", "Your change is kept: you can retry."));
  }

  async function conflict(code) {
    const now = await json(`/collections/grids/items/${encodeURIComponent(code)}`);
    const hist = await json(`/collections/grids/items/${encodeURIComponent(code)}/history`);
    const last = hist.body && hist.body.features ? hist.body.features[hist.body.features.length - 1].properties : {};
    theirs.clearLayers();
    if (now.body && now.body.geometry) {
      L.geoJSON(now.body.geometry, { interactive: false,
        style: { color: "#E69F00", weight: 3, dashArray: "8 5", fill: false, className: "sq-theirs" } }).addTo(theirs);
    }
    say("warn", t(`其他人（${esc(last.user)}，${esc(when(last.at))}）在您编辑期间修改了这个网格，您的修改未保存。橙色虚线是他们的版本（第 ${esc(last.version)} 版）。`,
      `Someone else (${esc(last.user)}, ${esc(when(last.at))}) changed this grid while you were editing; your change was not saved. The orange dashed line is their version (${esc(last.version)}).`) +
      `<br><button class="sq" type="button" id="reload">${t("重新加载", "Reload")}</button>`);
    $("reload").onclick = async () => {
      stopEditing(false);
      dropDraft(code);
      const layer = state.grids[code];
      setGeometry(layer, now.body.geometry);
      theirs.clearLayers();
      await select(code);
      say("ok", t("已加载最新版本，可以重新编辑。", "The latest version is loaded: edit again."));
    };
    document.body.dataset.conflict = "1";
  }

  // ---- attributes beside the map ---------------------------------------------------------------------
  async function saveAttributes(e) {
    e.preventDefault();
    const code = state.selected;
    const p = state.grids[code].feature.properties;
    const change = {};
    for (const [name] of FIELDS) {
      const v = $("f-" + name).value.trim();
      if (v !== (p[name] == null ? "" : String(p[name]))) { change[name] = v === "" ? null : v; }
    }
    if (!Object.keys(change).length) { say("ok", t("属性没有改动。", "No attribute changed.")); return; }
    busy(t("正在保存…", "Saving…"));
    const { r, body } = await json(`/collections/grids/items/${encodeURIComponent(code)}`, {
      method: "PATCH", headers: { "If-Match": state.etag }, json: { properties: change } });
    idle();
    if (r.ok) {
      state.etag = r.headers.get("ETag");
      state.grids[code].feature = body;
      showProps(body);
      listGrids();
      say("ok", t(`属性已保存（第 ${esc(body.properties.version)} 版）。`, `Attributes saved (version ${esc(body.properties.version)}).`));
      document.body.dataset.attrs = String(body.properties.version);
    } else if (r.status === 412) {
      say("warn", t("其他人在此期间修改了这个网格，属性未保存。请重新选择网格查看最新内容后再改。",
        "Someone else changed this grid meanwhile; the attributes were not saved. Select the grid again to see the latest, then change them."));
    } else {
      say("bad", t("未保存：", "Not saved: ") + `<ul>${((body && body.problems) || []).map(problemText).join("")}</ul>` + desc(body));
    }
  }

  // ---- gaps and overlaps of the community, and giving a gap to a neighbour -----------------------------
  async function loadProblems(extra) {
    const code = state.community;
    const { r, body } = await json(`/collections/grids/problems?community_code=${encodeURIComponent(code)}`);
    gaps.clearLayers();
    const box = $("problem-list");
    if (!r.ok || !body) {
      box.innerHTML = `<li class="muted">${t("无法检查空白与重叠。", "Gaps and overlaps could not be checked.")}</li>`;
      for (const w of extra || []) { if (w.geometry) { L.geoJSON(w.geometry, { interactive: false, style: GAP }).addTo(gaps); } }
      return;
    }
    state.problems = body;
    const items = [];
    for (const g of body.gaps || []) {
      L.geoJSON(g.geometry, { interactive: false, style: GAP }).addTo(gaps);
      const buttons = (g.neighbours || []).slice(0, 3).map((n) =>
        `<button class="sq secondary give" type="button" data-grid="${esc(n)}">${t(`划给 ${esc(gridName(n))}`, `Give to ${esc(gridName(n))}`)}</button>`).join("");
      items.push(`<li data-gap="${esc(g.id)}"><span class="sq-key sq-key-gap" aria-hidden="true"></span>` +
        `<b>${t("空白", "Gap")}</b> ${m2(g.area_m2)} <button class="sq secondary show-gap" type="button">${t("定位", "Show")}</button><br>` +
        (buttons || `<span class="muted">${t("不与任何网格相邻", "touches no grid")}</span>`) + "</li>");
    }
    for (const o of body.overlaps || []) {
      L.geoJSON(o.geometry, { interactive: false, style: OVERLAP }).addTo(gaps);
      items.push(`<li data-overlap="${esc(o.id)}"><span class="sq-key sq-key-overlap" aria-hidden="true"></span>` +
        `<b>${t("重叠", "Overlap")}</b> ${m2(o.area_m2)} · ${(o.grids || []).map((c) => esc(gridName(c))).join(" / ")}</li>`);
    }
    box.innerHTML = items.join("") || `<li class="muted">${t("没有空白或重叠。", "No gaps or overlaps.")}</li>`;
    for (const li of box.querySelectorAll("li[data-gap]")) {
      const g = body.gaps.find((x) => x.id === li.dataset.gap);
      li.querySelector(".show-gap").onclick = () => map.fitBounds(L.geoJSON(g.geometry).getBounds(), { padding: [60, 60], maxZoom: 18 });
      for (const b of li.querySelectorAll(".give")) { b.onclick = () => giveGap(g, b.dataset.grid); }
    }
    document.body.dataset.problems = String((body.gaps || []).length + (body.overlaps || []).length);
  }

  async function giveGap(gap, code) {
    if (state.editing) { say("warn", t("请先保存或取消正在编辑的边界。", "Save or cancel the boundary being edited first.")); return; }
    busy(t(`正在把空白划给 ${esc(gridName(code))}…`, `Giving the gap to ${esc(gridName(code))}…`));
    const now = await json(`/collections/grids/items/${encodeURIComponent(code)}`);
    if (!now.r.ok) { idle(); say("bad", desc(now.body)); return; }
    const { r, body } = await json(`/collections/grids/items/${encodeURIComponent(code)}/absorb`, {
      method: "POST", headers: { "If-Match": now.r.headers.get("ETag") }, json: { geometry: gap.geometry } });
    idle();
    if (r.ok) {
      applyGrids([body], { [code]: r.headers.get("ETag") });
      say("ok", t(`已把 ${m2(gap.area_m2)} 空白划给 ${esc(gridName(code))}（第 ${esc(body.properties.version)} 版，${esc(body.properties.households)} 户）。`,
        `Gave the ${m2(gap.area_m2)} gap to ${esc(gridName(code))} (version ${esc(body.properties.version)}, ${esc(body.properties.households)} households).`));
      await loadProblems();
      document.body.dataset.absorbed = code;
    } else {
      drawProblems(body && body.problems);
      say("bad", t("未划入：", "Not given: ") + desc(body));
    }
  }

  // ---- split and merge -------------------------------------------------------------------------------
  async function splitStart() {
    say("warn", t("画一条穿过网格的线（单击加点，单击最后一点结束）。", "Draw a line across the grid (click to add points, click the last one to finish)."));
    state.mode = "split";
    drawLine(splitAlong);
  }

  async function splitAlong(line) {
    state.mode = null;
    if (!line) { say("", ""); $("msg").className = "msg"; return; }
    const code = state.selected;
    busy(t("正在拆分…", "Splitting…"));
    const { r, body } = await json(`/collections/grids/items/${encodeURIComponent(code)}/split`, {
      method: "POST", headers: { "If-Match": state.etag }, json: { line } });
    idle();
    if (r.ok) {
      await openCommunity(state.community);
      await select(code);
      say("ok", t(`已拆分为 ${body.features.map((f) => esc(f.id)).join(" 和 ")}。`, `Split into ${body.features.map((f) => esc(f.id)).join(" and ")}.`) +
        `<ul>${fixList(body)}</ul>`);
    } else if (r.status === 412) { conflict(code); } else {
      drawProblems(body && body.problems);
      say("bad", t("未拆分：", "Not split: ") + desc(body, r));
    }
  }

  function mergeStart() {
    state.mode = "merge";
    say("warn", t("点击要并入的相邻网格。", "Click the neighbouring grid to merge into this one."));
  }

  async function mergeWith(other) {
    state.mode = null;
    const code = state.selected;
    if (other === code) { say("bad", t("不能与自己合并。", "A grid cannot be merged with itself.")); return; }
    busy(t("正在合并…", "Merging…"));
    const o = await json(`/collections/grids/items/${encodeURIComponent(other)}`);
    const { r, body } = await json(`/collections/grids/items/${encodeURIComponent(code)}/merge`, {
      method: "POST", headers: { "If-Match": state.etag }, json: { other, other_etag: o.r.headers.get("ETag") } });
    idle();
    if (r.ok) {
      await openCommunity(state.community);
      await select(code);
      say("ok", t(`已将 ${esc(other)} 并入 ${esc(code)}。`, `Merged ${esc(other)} into ${esc(code)}.`));
    } else if (r.status === 412) { conflict(code); } else {
      drawProblems(body && body.problems);
      say("bad", t("未合并：", "Not merged: ") + desc(body));
    }
  }

  // ---- history and restore (shows what would change, asks, restores only the chosen fields) ------------
  async function showHistory() {
    const code = state.selected;
    const { r, body } = await json(`/collections/grids/items/${encodeURIComponent(code)}/history`);
    if (!r.ok) { say("bad", desc(body)); return; }
    const rows = body.features.slice().reverse().map((f) => {
      const p = f.properties;
      const restorable = p.action !== "delete" && p.version !== state.grids[code].feature.properties.version;
      return `<tr data-version="${p.version}"><td class="num">${p.version}</td><td>${t(esc(ACTIONS[p.action] || p.action), esc(p.action))}</td><td>${esc(p.user)}</td>` +
        `<td>${esc(when(p.at))}</td><td><button type="button" class="sq secondary show" aria-label="${esc(shequ.t(`显示第 ${p.version} 版`, `Show version ${p.version}`))}">${t("显示", "Show")}</button>` +
        (restorable ? `<button type="button" class="sq secondary restore" aria-label="${esc(shequ.t(`恢复第 ${p.version} 版…`, `Restore version ${p.version}…`))}">${t("恢复…", "Restore…")}</button>` : "") + "</td></tr>";
    }).join("");
    $("history-box").innerHTML = `<h3>${t("历史版本", "History")}</h3><div class="sq-scroll"><table class="sq"><tr><th>${t("版本", "v")}</th><th>${t("操作", "action")}</th>` +
      `<th>${t("用户", "user")}</th><th>${t("时间", "time")}</th><th></th></tr>${rows}</table></div><div id="restore-box"></div>`;
    const byVersion = Object.fromEntries(body.features.map((f) => [f.properties.version, f]));
    for (const tr of $("history-box").querySelectorAll("tr[data-version]")) {
      const v = tr.dataset.version;
      tr.querySelector(".show").onclick = () => {
        theirs.clearLayers();
        if (byVersion[v].geometry) {
          L.geoJSON(byVersion[v].geometry, { interactive: false, style: VERSION }).addTo(theirs);
        }
      };
      const restore = tr.querySelector(".restore");
      if (restore) { restore.onclick = () => askRestore(code, v); }
    }
  }

  async function askRestore(code, v) {
    const { r, body } = await json(`/collections/grids/items/${encodeURIComponent(code)}/history/${v}/diff`);
    if (!r.ok) { say("bad", t("无法比较：", "Cannot compare: ") + desc(body)); return; }
    theirs.clearLayers();
    const geo = body.geometry || {};
    if (geo.then) {
      const then = L.geoJSON(geo.then, { interactive: false, style: VERSION }).addTo(theirs);
      map.fitBounds(then.getBounds().extend(state.grids[code].getBounds()), { padding: [30, 30] });
    }
    const same = !geo.added_m2 && !geo.removed_m2;
    // households and population are counted from the residences after every write: nothing to choose
    const counted = new Set(["households", "population"]);
    const fields = (body.fields || []).filter((f) => !counted.has(f.name));
    const rows = fields.map((f) => {
      const label = shequ.t(f.zh, f.en);
      return `<li><label><input type="checkbox" name="restore-field" value="${esc(f.name)}"> <b>${t(esc(f.zh), esc(f.en))}</b>: ` +
        `${esc(f.now == null ? "–" : f.now)} → ${esc(f.then == null ? "–" : f.then)}` +
        (f.changed_since ? ` <span class="sq-since" title="${esc(label)}">⚠ ${t("此后有人修改过", "changed since by someone")}</span>` : "") +
        "</label></li>";
    }).join("");
    const box = $("restore-box");
    box.innerHTML = `<section class="sq-dialog" role="dialog" aria-modal="false" aria-labelledby="restore-title">` +
      `<h3 id="restore-title">${t(`恢复第 ${esc(v)} 版？`, `Restore version ${esc(v)}?`)}</h3>` +
      `<p>${t("边界", "Boundary")}: ${same ? t("不变", "unchanged")
        : t(`增加 ${m2(geo.added_m2)}，减少 ${m2(geo.removed_m2)}（紫色点划线是第 ${esc(v)} 版）`, `${m2(geo.added_m2)} added, ${m2(geo.removed_m2)} removed (the purple dash-dot line is version ${esc(v)})`)}</p>` +
      (rows ? `<p>${t("勾选也要恢复的属性（默认保留现在的值）。每项：现在 → 恢复后", "Tick the attributes to bring back too (by default today's values stay). Each: now → restored")}</p><ul class="sq-fields">${rows}</ul>`
        : `<p class="muted">${t("属性与现在相同。", "The attributes are the same as now.")}</p>`) +
      `<p class="muted">${t("户数和人口按新边界内的居民点重新计算。", "Households and population are counted again from the residences inside the boundary.")}</p>` +
      `<button class="sq" type="button" id="restore-go">${t("恢复", "Restore")}</button>` +
      `<button class="sq secondary" type="button" id="restore-no">${t("取消", "Cancel")}</button></section>`;
    $("restore-go").focus();
    $("restore-no").onclick = () => { box.innerHTML = ""; theirs.clearLayers(); };
    $("restore-go").onclick = async () => {
      const chosen = Array.from(box.querySelectorAll("input[name=restore-field]:checked")).map((i) => i.value);
      busy(t("正在恢复…", "Restoring…"));
      const res = await json(`/collections/grids/items/${encodeURIComponent(code)}/history/${v}/restore`, {
        method: "POST", headers: { "If-Match": state.etag }, json: { fields: chosen } });
      idle();
      if (res.r.ok) {
        setGeometry(state.grids[code], res.body.geometry);
        state.grids[code].feature = res.body;
        theirs.clearLayers();
        await select(code);
        listGrids();
        await showHistory();
        await loadProblems();
        say("ok", t(`已恢复第 ${esc(v)} 版（新版本 ${esc(res.body.properties.version)}）。`, `Restored version ${esc(v)} (now version ${esc(res.body.properties.version)}).`));
      } else if (res.r.status === 412) { conflict(code); } else {
        drawProblems(res.body && res.body.problems);
        say("bad", t("未恢复：", "Not restored: ") + desc(res.body));
      }
    };
  }

  function onKey(e) {
    if (!state.editing || !(e.ctrlKey || e.metaKey)) { return; }
    const tag = (e.target && e.target.tagName) || "";
    if (tag === "INPUT" || tag === "TEXTAREA" || tag === "SELECT") { return; }
    const k = e.key.toLowerCase();
    if (k === "z" && !e.shiftKey) { e.preventDefault(); undo(); } else if (k === "y" || (k === "z" && e.shiftKey)) { e.preventDefault(); redo(); }
  }

  document.addEventListener("DOMContentLoaded", () => {
    $("edit").onclick = startEditing;
    $("save").onclick = save;
    $("undo").onclick = undo;
    $("redo").onclick = redo;
    $("cancel").onclick = () => {
      const code = state.selected;
      stopEditing(true);
      dropDraft(code);
      problems.clearLayers(); say("", ""); $("msg").className = "msg";
    };
    $("split").onclick = splitStart;
    $("merge").onclick = mergeStart;
    $("history").onclick = showHistory;
    $("attrs").onsubmit = saveAttributes;
    $("grid-list").onclick = (e) => { const b = e.target.closest(".sq-item"); if (b) { select(b.dataset.code); } };
    $("grid-list").onkeydown = onListKey;
    $("panel-toggle").onclick = () => {
      const folded = document.body.classList.toggle("sq-folded");
      $("panel-toggle").setAttribute("aria-expanded", String(!folded));
      setTimeout(() => map.invalidateSize(), 0);
    };
    document.addEventListener("keydown", onKey);
    document.addEventListener("shequ:logout", () => location.reload());
    start();
  });
})();
