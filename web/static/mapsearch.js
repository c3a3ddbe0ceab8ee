// A search box on every map of a page that loads this script: finds a community, grid, compound or
// facility by name (or code) among the features the page already holds — shown layers and those the
// layer list can switch on — zooms to it and opens its popup. Client-side only; no request.
(function () {
  "use strict";
  if (!window.L) { return; }
  const controls = [];
  // the layer lists (folium keeps them in a local variable): each one, as it is made
  L.Control.Layers.addInitHook(function () { controls.push(this); });

  const norm = (s) => String(s == null ? "" : s).toLowerCase().replace(/\s+/g, "");
  const tt = (zh, en) => (window.shequ ? shequ.tt(zh, en) : zh + " " + en);
  const esc = (s) => (window.shequ ? shequ.esc(s) : String(s));

  // what a layer holds, from its name in the layer list up to the ":": in both languages when the name is
  // the two spans of shequ.tt / t() (one shows at a time), else the text as it is
  function whatOf(label) {
    const box = document.createElement("div");
    box.innerHTML = String(label || "");
    const head = (el) => (el ? el.textContent.split(/[:：]/)[0].trim() : "");
    const zh = box.querySelector(".zh"), en = box.querySelector(".en");
    if (zh && en) { return { zh: head(zh), en: head(en) }; }
    const text = head(box);
    return { zh: text, en: text };
  }

  function leaves(layer, out) {
    if (layer.feature) { out.push(layer); } else if (layer.eachLayer) { layer.eachLayer((l) => leaves(l, out)); }
    return out;
  }

  // every named feature: name, code, what (the layer's name up to ":", {zh, en}), leaf, overlay
  function index(map) {
    const seen = new Map();
    const add = (overlay, label) => {
      const what = whatOf(label);
      leaves(overlay, []).forEach((leaf) => {
        const p = leaf.feature.properties || {};
        const name = p.name == null ? "" : String(p.name);
        if (!name && !p.code) { return; }
        const key = what.en + "|" + name + "|" + (p.code || p.id || "");
        const shown = map.hasLayer(overlay);
        const had = seen.get(key);
        if (!had || (shown && !had.shown)) { seen.set(key, { name: name, code: p.code ? String(p.code) : "", what: what, leaf: leaf, overlay: overlay, shown: shown }); }
      });
    };
    controls.filter((c) => c._map === map).forEach((c) => c._layers.forEach((o) => { if (o.overlay) { add(o.layer, o.name); } }));
    return Array.from(seen.values());
  }

  function find(map, text) {
    const q = norm(text);
    if (!q) { return []; }
    const hits = [];
    index(map).forEach((item) => {
      const n = norm(item.name), c = norm(item.code);
      const score = n === q || c === q ? 0 : n.startsWith(q) ? 1 : n.includes(q) || (c && c.includes(q)) ? 2 : -1;
      if (score >= 0) { hits.push([score, item]); }
    });
    hits.sort((a, b) => a[0] - b[0] || a[1].name.length - b[1].name.length);
    return hits.slice(0, 12).map((h) => h[1]);
  }

  function go(map, item) {
    if (!map.hasLayer(item.overlay)) { map.addLayer(item.overlay); }
    const leaf = item.leaf;
    let where;
    if (leaf.getLatLng) {
      where = leaf.getLatLng();
      map.setView(where, Math.max(map.getZoom(), 17), { animate: false });
    } else {
      const b = leaf.getBounds();
      where = b.getCenter();
      map.fitBounds(b, { maxZoom: 17, animate: false, padding: [20, 20] });
    }
    map.closePopup();
    leaf.fire("click", { latlng: where, originalEvent: null }, true);
    if (!map._popup || !map.hasLayer(map._popup)) {
      // no popup bound: open its tooltip instead
      leaf.fire("mouseover", { latlng: where }, true);
    }
  }

  function addTo(map) {
    if (map._sqSearch) { return; }
    map._sqSearch = true;
    const Search = L.Control.extend({
      options: { position: "topleft" },
      onAdd: function () {
        const box = L.DomUtil.create("div", "leaflet-control sq-search");
        box.setAttribute("role", "search");
        box.innerHTML = '<input type="search" class="sq-search-input" ' +
          'autocomplete="off" aria-autocomplete="list" aria-controls="">' +
          '<ul class="sq-search-results" role="listbox" hidden></ul>';
        const input = box.querySelector("input"), list = box.querySelector("ul");
        // the prompt in the page's language, again when the language is switched (attributes hold no <span>)
        const words = () => {
          const t = (zh, en) => (window.shequ && shequ.t ? shequ.t(zh, en) : zh);
          input.placeholder = t("搜索…", "Search…");
          input.setAttribute("aria-label", t("搜索社区、网格、小区或设施", "Search a community, grid, compound or facility"));
        };
        words();
        document.addEventListener("shequ:lang", words);
        const id = "sq-search-results-" + L.stamp(map);
        list.id = id;
        input.setAttribute("aria-controls", id);
        L.DomEvent.disableClickPropagation(box);
        L.DomEvent.disableScrollPropagation(box);
        let found = [];
        const render = () => {
          found = find(map, input.value);
          list.hidden = !input.value.trim();
          list.innerHTML = found.length
            ? found.map((it, i) => `<li role="option" id="${id}-${i}"><button type="button" data-i="${i}">` +
                `<b>${esc(it.name || it.code)}</b> <span class="sq-search-what">${tt(esc(it.what.zh), esc(it.what.en))}</span></button></li>`).join("")
            : `<li class="sq-search-none">${tt("没有找到", "Nothing found")}</li>`;
        };
        const pick = (i) => {
          const it = found[i];
          if (!it) { return; }
          list.hidden = true;
          input.value = it.name || it.code;
          go(map, it);
        };
        input.addEventListener("input", render);
        input.addEventListener("keydown", (e) => {
          if (e.key === "Enter") { e.preventDefault(); if (!found.length) { render(); } pick(0); }
          if (e.key === "Escape") { list.hidden = true; }
          if (e.key === "ArrowDown") { const b = list.querySelector("button"); if (b) { e.preventDefault(); b.focus(); } }
        });
        list.addEventListener("click", (e) => {
          const b = e.target.closest("button[data-i]");
          if (b) { pick(Number(b.dataset.i)); }
        });
        list.addEventListener("keydown", (e) => {
          const b = e.target.closest("button[data-i]");
          if (!b) { return; }
          const li = b.parentElement;
          if (e.key === "ArrowDown" && li.nextElementSibling) { e.preventDefault(); li.nextElementSibling.querySelector("button").focus(); }
          if (e.key === "ArrowUp") { e.preventDefault(); (li.previousElementSibling ? li.previousElementSibling.querySelector("button") : input).focus(); }
          if (e.key === "Escape") { list.hidden = true; input.focus(); }
        });
        return box;
      },
    });
    map.addControl(new Search());
  }

  L.Map.addInitHook(function () { const map = this; map.whenReady(() => addTo(map)); });
  window.shequ = window.shequ || {};
  window.shequ.mapSearch = { find: find, go: go, addTo: addTo };
})();
