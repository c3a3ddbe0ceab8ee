// The coverage page (/maps/coverage): the type the residences and the community shading show, a marker of
// the status's shape on every residence, popups that name the nearest facility with both distances, the
// gap areas hatched (drawn above, never taking the pointer), the view kept in the address, and the form
// recomputed in place (fetch, not a page load) with a visible progress state. No framework.
(function () {
  "use strict";
  const tt = (zh, en) => shequ.tt(zh, en);
  const esc = (s) => shequ.esc(s);
  let current = null;     // the registry of the map on the page (window.shequCoverage)
  let drawn = location.pathname + location.search;  // the address of what the map shows
  let inflight = null;    // the AbortController of the recompute under way

  // ---- symbols: the legend's shapes (web/templates/coverage_legend.html), as marker icons ----------------
  function symbol(shape, colour, size) {
    const h = size / 2, e = size - 3;
    const d = `M${h} 2L${size - 2} ${h}L${h} ${size - 2}L2 ${h}Z`;
    const x = `M3 3L${e} ${e}M${e} 3L3 ${e}`;
    const body = {
      circle: `<circle cx="${h}" cy="${h}" r="${h - 2}" fill="${colour}" stroke="#000" stroke-width="1.5"/>`,
      diamond: `<path d="${d}" fill="#fff" fill-opacity=".6" stroke="#000" stroke-width="4.5" stroke-linejoin="round"/>` +
        `<path d="${d}" fill="none" stroke="${colour}" stroke-width="2.5" stroke-linejoin="round"/>`,
      cross: `<path d="${x}" stroke="#000" stroke-width="5" stroke-linecap="round"/>` +
        `<path d="${x}" stroke="${colour}" stroke-width="3" stroke-linecap="round"/>`,
    }[shape];
    return `<svg width="${size}" height="${size}" viewBox="0 0 ${size} ${size}" aria-hidden="true" focusable="false">${body}</svg>`;
  }

  // a diagonal hatch as a canvas pattern: the gap areas' fill (Leaflet's canvas renderer takes it as fillColor)
  let hatch = null;
  function hatchPattern() {
    if (hatch) { return hatch; }
    const c = document.createElement("canvas");
    c.width = c.height = 8;
    const g = c.getContext("2d");
    g.strokeStyle = "rgba(0,0,0,.85)";
    g.lineWidth = 1.3;
    g.beginPath();
    g.moveTo(0, 8); g.lineTo(8, 0); g.moveTo(-2, 2); g.lineTo(2, -2); g.moveTo(6, 10); g.lineTo(10, 6);
    g.stroke();
    hatch = g.createPattern(c, "repeat");
    return hatch;
  }

  // ---- the view in the address: #v=zoom/lat/lng&show=type&on=…&off=… ----------------------------------
  // A layer is named by its kind and type (residences:market); the shown type's residences and gap areas
  // are plain "residences" and "gaps", so they follow the type switch. on/off list the layers that differ
  // from how the page draws them first: a layer of a type chosen later starts as drawn.
  function generic(reg, k) {
    if (k === "residences:" + reg.shown) { return "residences"; }
    if (k === "gaps:" + reg.shown) { return "gaps"; }
    return k;
  }

  function byDefault(reg, k) {
    const g = generic(reg, k);
    if (g === "residences" || g === "gaps") { return true; }
    if (k.startsWith("residences:") || k.startsWith("gaps:")) { return false; }
    return Boolean(reg.defaults[k]);
  }

  function readHash() {
    const q = new URLSearchParams(location.hash.replace(/^#/, ""));
    const list = (name) => (q.get(name) || "").split(",").filter(Boolean);
    const out = { show: q.get("show") || "", on: list("on"), off: list("off"), view: null };
    const v = (q.get("v") || "").split("/").map(Number);
    if (v.length === 3 && v.every(Number.isFinite)) { out.view = { zoom: v[0], lat: v[1], lng: v[2] }; }
    return out;
  }

  function hashOf(reg) {
    const map = reg.map, c = map.getCenter(), on = [], off = [];
    Object.keys(reg.layers).forEach((k) => {
      const now = map.hasLayer(reg.layers[k]);
      if (now !== byDefault(reg, k)) { (now ? on : off).push(generic(reg, k)); }
    });
    const q = new URLSearchParams({ v: `${map.getZoom()}/${c.lat.toFixed(5)}/${c.lng.toFixed(5)}`, show: reg.shown });
    if (on.length) { q.set("on", on.join(",")); }
    if (off.length) { q.set("off", off.join(",")); }
    return "#" + q.toString().replace(/%2C/g, ",").replace(/%2F/g, "/").replace(/%3A/g, ":");
  }

  function keepHash() {
    if (!current || current.restoring) { return; }
    history.replaceState(history.state, "", location.pathname + location.search + hashOf(current));
  }

  // ---- the layers ---------------------------------------------------------------------------------------
  function leaves(layer, out) {
    out = out || [];
    if (layer.feature) { out.push(layer); } else if (layer.eachLayer) { layer.eachLayer((l) => leaves(l, out)); }
    return out;
  }

  function rateColour(cfg, rate) {
    if (rate === null || rate === undefined || !Number.isFinite(rate)) { return cfg.none; }
    for (const [low, colour] of cfg.classes) { if (rate >= low) { return colour; } }
    return cfg.none;
  }

  const pct = (v) => (v === null || v === undefined || !Number.isFinite(v) ? "—" : Math.round(v * 100) + "%");
  const metres = (v) => (v === null || v === undefined ? null : Number(v).toLocaleString("en-US") + " m");

  function typeName(cfg, t) { const n = cfg.names[t] || [t, t]; return tt(esc(n[0]), esc(n[1])); }

  const STATUS_TEXT = {
    1: ["步行可达（已覆盖）", "covered by walking"],
    2: ["仅直线距离内（步行未覆盖）", "only within a straight line (not by walking)"],
    0: ["未覆盖", "not covered"],
  };
  const KIND_TEXT = { area: ["小区", "compound"], building: ["楼栋", "building"] };

  // what a residence's popup says: name, kind, households, its status, the nearest facility with both distances
  function residencePopup(cfg, t, p) {
    const kind = KIND_TEXT[p.kind] || [p.kind || "", p.kind || ""];
    const st = STATUS_TEXT[p.st] || STATUS_TEXT[0];
    const shape = cfg.statuses.find((s) => s[0] === p.st) || cfg.statuses[2];
    const nameless = tt("（无名称）", "(no name)");
    const rows = [
      [tt("类型", "Kind"), tt(esc(kind[0]), esc(kind[1]))],
      [tt("户数", "Households"), p.households === null ? "—" : Number(p.households).toLocaleString("en-US")],
      [typeName(cfg, t) + " ≤ " + cfg.distances[t] + " m", symbol(shape[2], shape[1], 12) + " " + tt(st[0], st[1])],
    ];
    if (p.walk_m !== null && p.walk_m !== undefined) {
      rows.push([tt("最近（步行）", "Nearest (walking)"), `<b class="sq-near-name">${p.wf ? esc(p.wf) : nameless}</b>`]);
      rows.push([tt("步行距离", "Walking distance"), `<span class="sq-walk">${metres(p.walk_m)}</span>`]);
      rows.push([tt("直线距离", "Straight line"), `<span class="sq-line">${metres(p.wl)}</span>`]);
    } else {
      rows.push([tt("最近（步行）", "Nearest (walking)"),
        tt("步行范围内没有", "none within the walk searched")]);
    }
    if (p.line_m !== null && p.line_m !== undefined && (p.walk_m === null || p.walk_m === undefined || p.lf !== p.wf)) {
      rows.push([tt("直线最近", "Nearest in a straight line"),
        `${p.lf ? esc(p.lf) : nameless} · <span class="sq-line-nearest">${metres(p.line_m)}</span>`]);
    }
    return `<div class="sq-pop" data-type="${esc(t)}"><b class="sq-pop-name">${esc(p.name || "")}</b>` +
      `<table>${rows.map((r) => `<tr><th>${r[0]}</th><td>${r[1]}</td></tr>`).join("")}</table></div>`;
  }

  // a residence: a popup, a tooltip, and a marker of its status's shape at its middle (in its group)
  function dressResidences(reg, t) {
    const group = reg.layers["residences:" + t];
    if (!group || group._sqDressed) { return; }
    group._sqDressed = true;
    const cfg = reg.config;
    const icons = {};
    cfg.statuses.forEach(([code, colour, shape]) => {
      icons[code] = L.divIcon({ className: "sq-mark sq-st-" + code, html: symbol(shape, colour, 14),
        iconSize: [14, 14], iconAnchor: [7, 7] });
    });
    group.eachLayer((geo) => { if (geo.unbindTooltip) { geo.unbindTooltip(); } });
    leaves(group).forEach((f) => {
      const p = f.feature.properties;
      const html = () => residencePopup(cfg, t, p);
      const tip = `${esc(p.name || "")} · ${tt(STATUS_TEXT[p.st][0], STATUS_TEXT[p.st][1])}`;
      f.bindPopup(html, { maxWidth: 320 });
      f.bindTooltip(tip, { sticky: true });
      const where = f.getLatLng ? f.getLatLng() : f.getBounds().getCenter();
      const mark = L.marker(where, { icon: icons[p.st] || icons[0], keyboard: false, title: p.name || "" });
      mark.bindPopup(html, { maxWidth: 320 });
      mark.bindTooltip(tip);
      mark._sqResidence = f;
      f._sqMark = mark;
      group.addLayer(mark);
    });
  }

  function dressGaps(reg) {
    Object.keys(reg.layers).filter((k) => k.startsWith("gaps:")).forEach((k) => {
      leaves(reg.layers[k]).forEach((f) => {
        f.options.interactive = false;
        if (f.setStyle) { f.setStyle({ fillColor: hatchPattern(), fillOpacity: 1 }); }
      });
    });
  }

  function shade(reg) {
    const cfg = reg.config, layer = reg.layers.communities;
    if (!layer) { return; }
    const t = reg.shown;
    layer.unbindTooltip();
    leaves(layer).forEach((f) => {
      const p = f.feature.properties;
      const rate = p["r_" + t];
      f.setStyle({ fillColor: rateColour(cfg, rate) });
      f.bindTooltip(`${esc(p.name)} · ${typeName(cfg, t)} ${pct(rate)}`, { sticky: true });
    });
  }

  // draw order on the one canvas, bottom to top: streets, communities, life circles, service areas,
  // residences, gaps (hatched, not interactive); the markers sit above in their own pane
  function restack(reg) {
    const map = reg.map, order = ["streets", "communities", "circles", "areas:", "residences:", "gaps:"];
    order.forEach((prefix) => {
      Object.keys(reg.layers).filter((k) => k === prefix || (prefix.endsWith(":") && k.startsWith(prefix)))
        .forEach((k) => { const l = reg.layers[k]; if (map.hasLayer(l) && l.bringToFront) { l.bringToFront(); } });
    });
  }

  // the shown type: its residences and gap areas on (where the other type's were), the shading by it
  function show(reg, t) {
    if (!reg.config.types.includes(t)) { t = reg.config.types[0]; }
    const map = reg.map, was = reg.shown;
    if (was !== t) {
      ["residences:", "gaps:"].forEach((prefix) => {
        const old = reg.layers[prefix + was], next = reg.layers[prefix + t];
        const on = old ? map.hasLayer(old) : true;
        if (old && map.hasLayer(old)) { map.removeLayer(old); }
        if (next && on && !map.hasLayer(next)) { map.addLayer(next); }
      });
    }
    reg.shown = t;
    dressResidences(reg, t);
    shade(reg);
    restack(reg);
    const select = document.getElementById("sq-show");
    if (select && select.value !== t) { select.value = t; }
    document.querySelectorAll("#sq-summary .sq-type").forEach((el) => el.classList.toggle("sq-shown", el.dataset.type === t));
  }

  function restore(reg, state) {
    const map = reg.map;
    reg.restoring = true;
    show(reg, state.show || reg.shown);
    Object.keys(reg.layers).forEach((k) => {
      const l = reg.layers[k], g = generic(reg, k);
      const want = state.on.includes(g) ? true : state.off.includes(g) ? false : byDefault(reg, k);
      if (want && !map.hasLayer(l)) { map.addLayer(l); }
      if (!want && map.hasLayer(l)) { map.removeLayer(l); }
    });
    restack(reg);
    if (state.view) {
      if (map._animatingZoom && map._onZoomTransitionEnd) { map._onZoomTransitionEnd(); }
      map.stop();
      map.setView([state.view.lat, state.view.lng], state.view.zoom, { animate: false });
    }
    reg.restoring = false;
  }

  function setup(reg) {
    if (!reg || reg._sqSetUp) { return; }
    reg._sqSetUp = true;
    current = reg;
    reg.shown = reg.config.shown;
    const map = reg.map;
    reg.defaults = {};
    Object.keys(reg.layers).forEach((k) => { reg.defaults[k] = map.hasLayer(reg.layers[k]); });
    dressGaps(reg);
    Object.keys(reg.layers).filter((k) => k.startsWith("residences:")).forEach((k) => {
      const t = k.slice("residences:".length);
      reg.layers[k].on("add", () => dressResidences(reg, t));
      if (map.hasLayer(reg.layers[k])) { dressResidences(reg, t); }
    });
    // service areas arrive later (fetched when switched on): back under the residences when they do
    Object.keys(reg.layers).filter((k) => k.startsWith("areas:")).forEach((k) => reg.layers[k].on("sq:loaded", () => restack(reg)));
    restore(reg, readHash());
    if (map._sqFirstView) { delete map.fitBounds; delete map._tryAnimatedZoom; delete map._sqFirstView; }
    map.on("overlayadd", () => { restack(reg); keepHash(); });
    map.on("overlayremove moveend", keepHash);
    const select = document.getElementById("sq-show");
    if (select) {
      L.DomEvent.disableClickPropagation(select.closest("#legend") || select);
      select.onchange = () => { show(reg, select.value); keepHash(); };
    }
    keepHash();
  }

  // ---- recompute in place -------------------------------------------------------------------------------
  function note(kind, html) {
    let box = document.getElementById("sq-recompute-msg");
    const form = document.getElementById("sq-coverage-form");
    if (!box && form) {
      box = document.createElement("div");
      box.id = "sq-recompute-msg";
      box.setAttribute("role", "status");
      box.setAttribute("aria-live", "polite");
      form.appendChild(box);
    }
    if (box) { box.className = kind ? "msg " + kind : ""; box.innerHTML = html || ""; }
    return box;
  }

  function busy(on) {
    const root = document.documentElement;
    root.classList.toggle("sq-computing", on);
    let veil = document.getElementById("sq-progress");
    if (!veil) {
      veil = document.createElement("div");
      veil.id = "sq-progress";
      veil.setAttribute("role", "status");
      veil.setAttribute("aria-live", "polite");
      veil.hidden = true;
      document.body.appendChild(veil);
    }
    veil.innerHTML = on ? '<span class="sq-spin"></span>' + tt("正在计算…", "Computing…") : "";
    veil.hidden = !on;
    document.querySelectorAll(".folium-map, #sq-summary").forEach((el) => el.setAttribute("aria-busy", String(on)));
    const button = document.querySelector("#sq-coverage-form button[type=submit]");
    if (button) { button.setAttribute("aria-busy", String(on)); }
  }

  function pending(on) {
    const form = document.getElementById("sq-coverage-form");
    if (!form) { return; }
    form.classList.toggle("sq-pending", on);
    if (on && !inflight) {
      note("warn", tt("选择尚未应用：地图与数字仍为上一次的结果。", "Not applied yet: the map and the numbers still show the previous choice."));
    }
  }

  // the new page's map, legend and panel in place of the old ones; the map's script run in its own scope
  function swap(doc) {
    const old = current;
    const panel = document.querySelector("aside.sq-panel"), fresh = doc.querySelector("aside.sq-panel");
    const oldMap = document.querySelector(".folium-map"), newMap = doc.querySelector(".folium-map");
    const script = Array.from(doc.querySelectorAll("script:not([src])")).find((s) => s.textContent.includes("L.map("));
    if (!panel || !fresh || !newMap || !script) { throw new Error("the answer is not a coverage page"); }
    if (old && old.map) { old.map.off(); old.map.remove(); }
    const id = newMap.id;
    doc.head.querySelectorAll("style").forEach((s) => {
      if (id && s.textContent.includes("#" + id) && !document.getElementById("sq-style-" + id)) {
        const copy = document.createElement("style");
        copy.id = "sq-style-" + id;
        copy.textContent = s.textContent;
        document.head.appendChild(copy);
      }
    });
    const placed = document.importNode(newMap, true);
    oldMap.replaceWith(placed);
    const legend = document.getElementById("legend"), newLegend = doc.getElementById("legend");
    if (legend && newLegend) { legend.replaceWith(document.importNode(newLegend, true)); }
    else if (newLegend) { placed.after(document.importNode(newLegend, true)); }
    panel.innerHTML = fresh.innerHTML;
    document.title = doc.title;
    current = null;
    // its own scope: the names folium gives (var map_…, let layer_control_…) may repeat on a page seen before
    new Function(script.textContent)();
    if (window.shequMap && shequ.mapTools) { shequ.mapTools(window.shequMap); }
    // what holds no markup (options, attributes) in the page's language, as on a page load
    if (shequ.i18n) { shequ.i18n(document); }
  }

  async function recompute(url, push) {
    if (inflight) { inflight.abort(); }
    const controller = new AbortController();
    inflight = controller;
    busy(true);
    note("", tt("正在计算…（地图与数字仍为上一次的结果）", "Computing… (the map and the numbers still show the previous choice)"));
    try {
      let r = await fetch(url, { signal: controller.signal, credentials: "same-origin", headers: { Accept: "text/html" } });
      if (r.status === 401) {
        await shequ.askLogin(tt("计算覆盖需要登录。", "Coverage needs a login."));
        r = await fetch(url, { signal: controller.signal, credentials: "same-origin", headers: { Accept: "text/html" } });
      }
      const text = await r.text();
      if (controller !== inflight) { return; }
      const doc = new DOMParser().parseFromString(text, "text/html");
      if (!r.ok) {
        const why = doc.getElementById("sq-error");
        throw new Error(why ? why.innerHTML : esc(r.status + " " + r.statusText));
      }
      const target = new URL(url, location.href);
      const state = current ? hashOf(current) : location.hash;
      if (push) { history.pushState({ sq: true }, "", target.pathname + target.search + state); }
      else { history.replaceState({ sq: true }, "", target.pathname + target.search + state); }
      drawn = target.pathname + target.search;
      swap(doc);
      document.dispatchEvent(new CustomEvent("shequ:recomputed", { detail: { url: drawn } }));
    } catch (err) {
      if (err.name === "AbortError") { return; }
      if (controller !== inflight) { return; }
      pending(true);
      note("bad", tt("计算失败，地图仍为上一次的结果：", "The computation failed; the map still shows the previous result: ") +
        `<span class="sq-why">${err.message && err.message.includes("<") ? err.message : esc(err.message || "")}</span> ` +
        `<button type="button" class="sq secondary" id="sq-revert">${tt("还原为地图所示", "Back to what the map shows")}</button>`);
      const revert = document.getElementById("sq-revert");
      if (revert) { revert.onclick = () => { document.getElementById("sq-coverage-form").reset(); pending(false); note("", ""); }; }
    } finally {
      if (controller === inflight) { inflight = null; busy(false); }
    }
  }

  function formUrl(form) {
    const q = new URLSearchParams();
    new FormData(form).forEach((v, k) => { if (String(v) !== "") { q.append(k, v); } });
    return form.getAttribute("action") + "?" + q.toString();
  }

  document.addEventListener("submit", (e) => {
    const form = e.target;
    if (!form || form.id !== "sq-coverage-form" || !window.fetch || !window.DOMParser) { return; }
    e.preventDefault();
    recompute(formUrl(form), true);
  });
  document.addEventListener("change", (e) => {
    const form = e.target && e.target.form;
    if (form && form.id === "sq-coverage-form") { pending(true); }
  });

  window.addEventListener("popstate", () => {
    const here = location.pathname + location.search;
    if (here !== drawn) { recompute(location.href, false); } else if (current) { restore(current, readHash()); }
  });

  // The map's first view is settled while its script runs: its fit to the data is not animated (an animated
  // zoom lands a frame later, over a view set since), and a view in the address wins over that fit (skipped).
  // setup gives both back.
  if (window.L) {
    L.Map.addInitHook(function () {
      this._tryAnimatedZoom = function () { return false; };
      if (readHash().view) { this.fitBounds = function () { return this; }; }
      this._sqFirstView = true;
    });
  }

  document.addEventListener("shequ:coverage", (e) => setup(e.detail));
  if (window.shequCoverage) { setup(window.shequCoverage); }
  shequ.coverage = { recompute: recompute, current: () => current };
})();
