// shequ pages: the language switch, the login, and calls to the API with the token. No framework.
(function () {
  "use strict";
  const store = window.sessionStorage;
  const shequ = (window.shequ = window.shequ || {});

  shequ.lang = function (lang) {
    if (lang) { window.localStorage.setItem("shequ-lang", lang); }
    const now = lang || window.localStorage.getItem("shequ-lang") || "zh";
    const was = document.documentElement.lang;
    document.documentElement.lang = now;
    if (document.body) { shequ.i18n(document); }
    if (was !== now) { document.dispatchEvent(new CustomEvent("shequ:lang", { detail: now })); }
    return now;
  };
  // Text that cannot hold the two <span>s (an <option>, a title, a placeholder, an aria-label): an element
  // with data-zh and data-en gets the page's language as its text, or as the attribute(s) data-i18n-attr names
  shequ.i18n = function (root) {
    const en = document.documentElement.lang === "en";
    (root || document).querySelectorAll("[data-zh][data-en]").forEach((el) => {
      const text = en ? el.dataset.en : el.dataset.zh;
      const attrs = (el.dataset.i18nAttr || "").split(/\s+/).filter(Boolean);
      if (!attrs.length) { if (el.textContent !== text) { el.textContent = text; } } else { attrs.forEach((a) => el.setAttribute(a, text)); }
    });
  };
  // an attribute (or several, space-separated) in the page's language, kept so when the language is switched
  shequ.say = function (el, attrs, zh, en) {
    el.dataset.zh = zh;
    el.dataset.en = en;
    el.dataset.i18nAttr = attrs;
    attrs.split(/\s+/).forEach((a) => el.setAttribute(a, shequ.t(zh, en)));
  };
  shequ.t = (zh, en) => (document.documentElement.lang === "en" ? en : zh);
  // both languages as HTML (the arguments are HTML): a message stays right when the language is switched
  shequ.tt = (zh, en) => `<span class="zh">${zh}</span><span class="en">${en}</span>`;
  shequ.esc = (s) => String(s == null ? "" : s).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]));
  // a server's error body ({code, description, description_zh, problems}) in both languages, escaped
  // HTML: the Chinese the server sends (never bare English in the Chinese UI), English on the switch
  shequ.message = function (body, fallback) {
    const b = body && typeof body === "object" ? body : { description: body };
    const en = b.description || (typeof b.detail === "string" ? b.detail : "") || fallback || "";
    return shequ.tt(shequ.esc(b.description_zh || en), shequ.esc(en));
  };

  const ROLES = { planner: "规划人员", grid_manager: "网格员", bureau: "主管部门", admin: "管理员" };
  shequ.roleName = (role) => shequ.t(ROLES[role] || role, role);

  shequ.token = () => store.getItem("shequ-token");
  shequ.user = () => JSON.parse(store.getItem("shequ-user") || "null");

  // fetch with the token. A 401 logs the page out, unless ``keepLogin``: a page holding unsaved work (the
  // grid editor) asks for a login over itself and repeats the request instead
  shequ.api = async function (path, opts) {
    opts = Object.assign({}, opts || {});
    opts.headers = Object.assign({}, opts.headers || {});  // the caller's object is reused on a retry
    const keepLogin = opts.keepLogin;
    delete opts.keepLogin;
    const token = shequ.token();
    if (token) { opts.headers.Authorization = "Bearer " + token; }
    if (opts.json !== undefined) {
      opts.body = JSON.stringify(opts.json);
      opts.headers["Content-Type"] = "application/json";
      delete opts.json;
    }
    const r = await fetch(path, opts);
    if (r.status === 401 && token && !keepLogin) { shequ.logout(false); }
    return r;
  };

  shequ.login = async function (name, password) {
    const body = new URLSearchParams({ username: name, password: password });
    let r, answer = null;
    try { r = await fetch("/login", { method: "POST", body: body }); } catch (e) {
      const err = new Error("network");
      err.html = shequ.tt("无法连接服务器，请检查网络后重试。", "Cannot reach the server: check the connection and try again.");
      throw err;
    }
    try { answer = await r.json(); } catch (e) { answer = null; }
    if (!r.ok) {
      const err = new Error((answer && answer.description) || r.statusText);
      err.html = shequ.message(answer, r.statusText);  // the server's words, Chinese first
      throw err;
    }
    store.setItem("shequ-token", answer.access_token);
    const me = await (await shequ.api("/users/me")).json();
    store.setItem("shequ-user", JSON.stringify(me));
    shequ.showUser();
    document.dispatchEvent(new CustomEvent("shequ:login", { detail: me }));
    return me;
  };

  shequ.logout = function (tell) {
    const token = shequ.token();
    // the server revokes the token and forgets the login cookie the page navigations carry
    if (tell !== false) { fetch("/logout", { method: "POST", headers: token ? { Authorization: "Bearer " + token } : {} }); }
    store.removeItem("shequ-token");
    store.removeItem("shequ-user");
    shequ.showUser();
    document.dispatchEvent(new CustomEvent("shequ:logout"));
  };

  shequ.showUser = function () {
    const box = document.getElementById("sq-user");
    if (!box) { return; }
    const me = shequ.user();
    box.innerHTML = me
      ? `${shequ.esc(me.name)} <span class="muted" style="color:#cfe">(${shequ.tt(shequ.esc(ROLES[me.role] || me.role), shequ.esc(me.role))})</span> <button id="sq-logout" type="button"><span class="zh">退出</span><span class="en">Log out</span></button>`
      : '<a href="#" id="sq-login-link"><span class="zh">登录</span><span class="en">Log in</span></a>';
    const out = document.getElementById("sq-logout");
    if (out) { out.onclick = () => shequ.logout(); }
    const link = document.getElementById("sq-login-link");
    if (link) { link.onclick = (e) => { e.preventDefault(); shequ.askLogin(); }; }
  };

  // A login form in a box; resolves with the user.
  shequ.askLogin = function (why) {
    return new Promise((resolve) => {
      let box = document.getElementById("sq-login-box");
      if (box) { box.remove(); }
      box = document.createElement("div");
      box.id = "sq-login-box";
      box.style.cssText = "position:fixed;inset:0;z-index:3000;background:rgba(0,0,0,.35);display:flex;align-items:center;justify-content:center";
      // a modal dialog: named by its heading, Escape or 取消 closes it, the focus goes back where it was
      box.setAttribute("role", "dialog");
      box.setAttribute("aria-modal", "true");
      box.setAttribute("aria-labelledby", "sq-login-title");
      const before = document.activeElement;
      box.innerHTML = `<form class="sq-login" style="background:#fff;padding:18px 20px;border-radius:6px;min-width:min(300px, 92vw)">
        <h2 style="margin-top:0" id="sq-login-title"><span class="zh">登录</span><span class="en">Log in</span></h2>
        ${why ? `<p class="muted">${why}</p>` : ""}
        <label><span class="zh">用户名</span><span class="en">User name</span><br><input name="username" autocomplete="username" required style="width:100%;padding:6px"></label>
        <label><span class="zh">密码</span><span class="en">Password</span><br><input name="password" type="password" autocomplete="current-password" required style="width:100%;padding:6px"></label>
        <div class="msg bad" id="sq-login-error" role="alert"></div>
        <button class="sq" type="submit"><span class="zh">登录</span><span class="en">Log in</span></button>
        <button class="sq secondary" type="button" id="sq-login-cancel"><span class="zh">取消</span><span class="en">Cancel</span></button>
      </form>`;
      document.body.appendChild(box);
      const form = box.querySelector("form");
      form.username.focus();
      const close = () => { box.remove(); if (before && before.focus) { before.focus(); } };
      box.querySelector("#sq-login-cancel").onclick = close;
      box.addEventListener("keydown", (e) => { if (e.key === "Escape") { close(); } });
      form.onsubmit = async (e) => {
        e.preventDefault();
        try {
          const me = await shequ.login(form.username.value, form.password.value);
          box.remove();
          resolve(me);
        } catch (err) {
          box.querySelector("#sq-login-error").innerHTML = err.html || shequ.esc(err.message);
        }
      };
    });
  };

  // ---- phones and small screens: the menu, the folding side panel, the map's own tools ----
  // A phone (≤ 700 px) starts with the side panel folded, and a tablet or a phone (≤ 900 px) with the legend
  // and the layer list folded, so the map is what it sees first; set on <html> before the page is drawn, so
  // a map is created at its final size.
  const PHONE = "(max-width: 700px)";
  const SMALL = "(max-width: 900px)";
  const root = document.documentElement;
  const matches = (query) => Boolean(window.matchMedia && window.matchMedia(query).matches);
  if (matches(PHONE)) { root.classList.add("sq-panel-closed"); }
  if (matches(SMALL)) { root.classList.add("sq-legend-closed"); }
  // Leaflet sizes a map on the window's resize event: a panel that opens or folds changes the map's box
  const resized = () => window.dispatchEvent(new Event("resize"));

  // the 菜单 button (shown up to 900 px) opens the bar's links, the login box and the language switch
  shequ.menu = function () {
    const button = document.getElementById("sq-menu-button");
    const menu = document.getElementById("sq-menu");
    if (!button || !menu) { return; }
    const set = (open) => {
      root.classList.toggle("sq-menu-open", open);
      button.setAttribute("aria-expanded", String(open));
    };
    button.onclick = () => set(!root.classList.contains("sq-menu-open"));
    document.addEventListener("keydown", (e) => {
      if (e.key === "Escape" && root.classList.contains("sq-menu-open")) { set(false); button.focus(); }
    });
    // a click elsewhere, or on a choice that stays on the page (log in, the language), closes it
    document.addEventListener("click", (e) => {
      if (!root.classList.contains("sq-menu-open") || button.contains(e.target)) { return; }
      if (!menu.contains(e.target) || e.target.closest("button, a")) { set(false); }
    });
  };

  // the 面板 button folds the side panel away (the map takes the page) and opens it again
  shequ.panelToggle = function () {
    const panel = document.querySelector("aside.sq-panel");
    const bar = document.querySelector("header.sq-nav");
    // the editor folds its own panel (its toolbar stays in reach): no second button there
    if (!panel || !bar || panel.classList.contains("sq-editor") || document.getElementById("sq-panel-button")) { return; }
    if (!panel.id) { panel.id = "sq-panel"; }
    if (!panel.hasAttribute("aria-label")) { shequ.say(panel, "aria-label", "面板", "Panel"); }
    const button = document.createElement("button");
    button.id = "sq-panel-button";
    button.type = "button";
    button.className = "sq-panel-button";
    button.setAttribute("aria-controls", panel.id);
    button.innerHTML = '<span aria-hidden="true" class="sq-caret"></span> ' + shequ.tt("面板", "Panel");
    const brand = bar.querySelector(".brand");
    bar.insertBefore(button, brand ? brand.nextSibling : bar.firstChild);
    const show = () => button.setAttribute("aria-expanded", String(!root.classList.contains("sq-panel-closed")));
    button.onclick = () => { root.classList.toggle("sq-panel-closed"); show(); resized(); };
    show();
  };

  // a small note over a map (where the user is, why locating failed), with a close button
  function mapNote(map, html, kind) {
    const box = map.getContainer();
    let note = box.querySelector(".sq-map-note");
    if (!note) {
      note = document.createElement("div");
      note.className = "sq-map-note msg";
      note.setAttribute("role", "status");
      L.DomEvent.disableClickPropagation(note);
      box.appendChild(note);
    }
    note.className = "sq-map-note msg " + (kind || "ok");
    note.innerHTML = `<span>${html}</span> <button type="button" class="sq-map-note-close" >✕</button>`;
    shequ.say(note.querySelector("button"), "aria-label", "关闭", "Close");
    note.querySelector("button").onclick = () => note.remove();
    return note;
  }

  // why the browser gave no position, and what to do about it
  function whyNoPosition(err) {
    if (!window.isSecureContext) {
      return shequ.tt("浏览器只在 HTTPS 或本机地址上提供定位：请用 https:// 打开本站（请管理员配置），或在地图上手动查找。",
        "Browsers locate only on HTTPS or this computer's own address: open the site with https:// (ask the administrator) or find the place on the map.");
    }
    if (!err) { return shequ.tt("这个浏览器不能定位。", "This browser cannot locate you."); }
    if (err.code === 1) {
      return shequ.tt("定位被拒绝：请在浏览器（和手机系统）的设置中允许本站使用位置信息，然后再点“定位”。",
        "Location was refused: allow this site to use your location in the browser's (and the phone's) settings, then press Locate again.");
    }
    if (err.code === 3) {
      return shequ.tt("定位超时：请到室外或信号好的地方再试。", "Locating timed out: try again outdoors or where the signal is better.");
    }
    return shequ.tt("无法确定位置：请打开设备的定位（GPS）再试。", "Your position is not available: turn on the device's location (GPS) and try again.");
  }

  // one button of the map's own tools (定位, 图例): a keyboard-reachable link in a Leaflet bar, its label and
  // title in both languages; clicks on it never reach the map
  function mapTool(cls, icon, label, title) {
    const bar = L.DomUtil.create("div", "leaflet-bar leaflet-control sq-map-tool");
    const a = L.DomUtil.create("a", cls, bar);
    a.href = "#";
    a.setAttribute("role", "button");
    a.innerHTML = `<span aria-hidden="true">${icon}</span><span class="sq-tool-label">${shequ.tt(label[0], label[1])}</span>`;
    shequ.say(a, "title", title[0], title[1]);
    L.DomEvent.disableClickPropagation(bar);
    return [bar, a];
  }

  // 定位: the device's own position (GPS works without a network), drawn with its accuracy circle
  shequ.locate = function (map) {
    const Locate = L.Control.extend({
      options: { position: "topleft" },
      onAdd: function () {
        const [bar, a] = mapTool("sq-locate", "◎", ["定位", "Locate"], ["定位我的位置", "Show my location"]);
        L.DomEvent.on(a, "click", (e) => { L.DomEvent.preventDefault(e); shequ.locateOnce(map); });
        return bar;
      },
    });
    const control = new Locate();
    map.addControl(control);
    return control;
  };

  shequ.locateOnce = function (map) {
    if (!navigator.geolocation || !window.isSecureContext) { mapNote(map, whyNoPosition(null), "warn"); return; }
    mapNote(map, shequ.tt("正在定位…", "Locating…"), "ok");
    navigator.geolocation.getCurrentPosition((pos) => {
      const here = [pos.coords.latitude, pos.coords.longitude];
      const metres = Math.round(pos.coords.accuracy || 0);
      if (map._sqHere) { map._sqHere.remove(); }
      map._sqHere = L.layerGroup([
        L.circle(here, { radius: metres, color: "#0072B2", weight: 1, fillOpacity: 0.1, interactive: false }),
        L.circleMarker(here, { radius: 7, color: "#fff", weight: 2, fillColor: "#0072B2", fillOpacity: 1 })
          .bindTooltip(shequ.t("你的位置", "You are here")),
      ]).addTo(map);
      // no animation, and not while the page's own first zoom is still running (its end would move the map back)
      const go = () => map.setView(here, Math.max(map.getZoom(), 16), { animate: false });
      if (map._animatingZoom) { map.once("zoomend", go); } else { go(); }
      mapNote(map, shequ.tt(`你的位置（误差约 ${metres} 米）`, `You are here (within about ${metres} m)`), "ok")
        .dataset.lat = String(here[0]);
    }, (err) => { mapNote(map, whyNoPosition(err), "warn"); },
    { enableHighAccuracy: true, timeout: 20000, maximumAge: 60000 });
  };

  // The map's own controls on a small screen: 定位, a 图例 button that folds the legend, and the layer list
  // folded to its button (a tap on the map folds it again), so neither covers the map.
  shequ.mapTools = function (map) {
    if (!window.L || !map || map._sqTools) { return; }
    map._sqTools = true;
    shequ.locate(map);
    const box = map.getContainer();
    // a map page's map is its main content: a landmark a screen reader can jump to (the editor's is in <main>)
    if (!document.querySelector("main, [role=main]")) {
      box.setAttribute("role", "main");
      shequ.say(box, "aria-label", "地图", "Map");
    }
    const legend = document.getElementById("legend");
    if (legend) {
      // a landmark a keyboard can reach and scroll (on a phone it scrolls inside its box)
      if (!legend.hasAttribute("tabindex")) { legend.tabIndex = 0; }
      if (!legend.hasAttribute("role")) { legend.setAttribute("role", "region"); }
      if (!legend.hasAttribute("aria-label")) { shequ.say(legend, "aria-label", "图例", "Legend"); }
      const Legend = L.Control.extend({
        options: { position: "topleft" },
        onAdd: function () {
          const [bar, a] = mapTool("sq-legend-button", "☷", ["图例", "Legend"], ["图例", "Legend"]);
          a.setAttribute("aria-controls", "legend");
          const show = () => a.setAttribute("aria-expanded", String(!root.classList.contains("sq-legend-closed")));
          L.DomEvent.on(a, "click", (e) => { L.DomEvent.preventDefault(e); root.classList.toggle("sq-legend-closed"); show(); });
          show();
          return bar;
        },
      });
      map.addControl(new Legend());
    }
    // a marker a keyboard can reach (role=button) is named after its feature: what it is and its name
    const name = (layer) => {
      const el = layer && layer.getElement && layer instanceof L.Marker ? layer.getElement() : null;
      const p = layer && layer.feature && layer.feature.properties;
      if (!el || !p || el.getAttribute("aria-label") || el.title) { return; }
      const text = [p.kind || p.type_zh || p.type, p.name].filter((v) => v).join(" ");
      if (text) { el.setAttribute("aria-label", text); }
    };
    map.eachLayer(name);
    map.on("layeradd", (e) => name(e.layer));
    box.querySelectorAll(".leaflet-control-layers-toggle").forEach((a) => {
      shequ.say(a, "aria-label title", "图层", "Layers");
    });
    const layers = box.querySelector(".leaflet-control-layers");
    if (layers && matches(SMALL)) {
      layers.classList.remove("leaflet-control-layers-expanded");
      // any touch on the map outside the list folds it, also one landing on a marker or a popup (which
      // stop Leaflet's own map click)
      map.getContainer().addEventListener("pointerdown", (e) => {
        if (!layers.contains(e.target)) { layers.classList.remove("leaflet-control-layers-expanded"); }
      }, true);
    }
  };

  // a table wider than a phone scrolls inside its box (shequ.css): a keyboard must reach it to scroll it
  function scrollableTables() {
    document.querySelectorAll("main table").forEach((table) => {
      if (table.scrollWidth > table.clientWidth + 1 && !table.hasAttribute("tabindex")) { table.tabIndex = 0; }
    });
  }

  // every map on the page: a folium map is a global named map_<id>; the grid editor's is window.shequEditor.map
  function pageMaps() {
    if (!window.L) { return []; }
    const maps = Object.keys(window).filter((k) => /^map_[0-9a-f]+$/.test(k) && window[k] instanceof L.Map).map((k) => window[k]);
    const editor = window.shequEditor && window.shequEditor.map;
    return editor instanceof L.Map ? maps.concat([editor]) : maps;
  }

  document.addEventListener("DOMContentLoaded", () => {
    shequ.lang();
    shequ.showUser();
    shequ.menu();
    shequ.panelToggle();
    pageMaps().forEach(shequ.mapTools);
    scrollableTables();
    window.addEventListener("resize", scrollableTables);
    const toggle = document.getElementById("sq-lang");
    if (toggle) { toggle.onclick = () => shequ.lang(document.documentElement.lang === "en" ? "zh" : "en"); }
  });
})();
