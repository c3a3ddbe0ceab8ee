// The coverage page's planning tools: a planned facility placed by a click, or K suggested sites; both
// go into a scenario through the API with the user's token, then the comparison page opens.
(function () {
  "use strict";
  const $ = (id) => document.getElementById(id);
  const tt = (zh, en) => shequ.tt(zh, en);

  function say(kind, html) {
    const box = $("sq-plan-msg");
    box.className = "msg " + kind;
    box.innerHTML = html;
  }

  // the server's message in both languages (shequ.message), or the status when the answer is not JSON
  async function problem(r) {
    const status = r.status + " " + r.statusText;
    try {
      return shequ.message(await r.json(), status);
    } catch (e) {
      return tt("服务器未能处理请求：" + shequ.esc(status), "The server could not answer: " + shequ.esc(status));
    }
  }

  async function loggedIn() {
    if (shequ.token()) { return true; }
    await shequ.askLogin(shequ.tt("规划方案需要规划人员登录。", "Planning scenarios need a planner's login."));
    return Boolean(shequ.token());
  }

  async function ensureScenario(name) {
    // the list, not GET /scenarios/{name}: a 404 for a scenario still to make would read as an error
    const list = await shequ.api("/scenarios");
    if (!list.ok) { say("bad", await problem(list)); return false; }
    const known = await list.json();
    const names = (Array.isArray(known) ? known : known.scenarios || []).map((s) => s.name);
    if (names.includes(name)) { return true; }
    const made = await shequ.api("/scenarios", { method: "POST", json: { name: name } });
    if (!made.ok) { say("bad", await problem(made)); return false; }
    return true;
  }

  function compareUrl(name, type) {
    const plan = $("sq-plan");
    const q = new URLSearchParams({ scenario: name });
    const types = (plan.dataset.types || "").split(",").filter(Boolean);
    if (type && !types.includes(type)) { types.unshift(type); }
    types.slice(0, 8).forEach((k) => q.append("types", k));
    if (type) { q.set("type", type); }
    if (plan.dataset.area) { q.set("area", plan.dataset.area); }
    if (plan.dataset.level) { q.set("level", plan.dataset.level); }
    return "/maps/compare?" + q.toString();
  }

  function busy(on) {
    ["sq-plan-click", "sq-plan-suggest"].forEach((id) => { $(id).disabled = on; });
  }

  function start(map) {
    const plan = $("sq-plan");
    if (!plan || !map) { return; }
    // While placing, a clear layer over the map takes the click (the map's own layers would open their
    // popups instead), shows a crosshair and goes away on Escape.
    function arm() {
      const container = map.getContainer();
      const cover = document.createElement("div");
      cover.id = "sq-plan-cover";
      cover.title = shequ.t("点击放置；Esc 取消", "Click to place; Esc cancels");
      cover.style.cssText = "position:absolute;inset:0;z-index:650;cursor:crosshair;background:rgba(204,121,167,.06)";
      container.appendChild(cover);
      const done = () => { cover.remove(); document.removeEventListener("keydown", onKey); };
      const onKey = (e) => { if (e.key === "Escape") { done(); say("", tt("已取消放置。", "Placing cancelled.")); } };
      document.addEventListener("keydown", onKey);
      cover.addEventListener("click", (e) => {
        e.preventDefault();
        e.stopPropagation();
        const latlng = map.mouseEventToLatLng(e);
        done();
        place(latlng);
      });
    }

    $("sq-plan-click").onclick = async () => {
      if (plan.dataset.shifted) {
        say("warn", tt("底图为 GCJ-02 时无法点击放置：请先关闭偏移。", "Placing by click is off on a GCJ-02 basemap: switch the shift off first."));
        return;
      }
      if (!(await loggedIn())) { return; }
      arm();
      say("", tt("请在地图上点击新设施的位置（Esc 取消）。", "Click the map where the new facility goes (Esc cancels)."));
    };

    async function place(latlng) {
      const name = $("sq-plan-name").value.trim();
      const type = $("sq-plan-type").value;
      const capacity = $("sq-plan-capacity").value;
      busy(true);
      say("", '<span class="sq-spin"></span>' + tt("正在写入方案并重新计算……", "Saving to the scenario and recomputing…"));
      try {
        if (!(await ensureScenario(name))) { return; }
        const props = { type: type };
        if (capacity !== "") { props.capacity = Number(capacity); }
        const change = { kind: "add_facility", properties: props,
          geometry: { type: "Point", coordinates: [latlng.lng, latlng.lat] } };
        const r = await shequ.api("/scenarios/" + encodeURIComponent(name) + "/changes",
          { method: "POST", json: { changes: [change] } });
        if (!r.ok) { say("bad", await problem(r)); return; }
        L.circleMarker(latlng, { radius: 9, color: "#000", weight: 2, fillColor: "#CC79A7", fillOpacity: 1 }).addTo(map);
        window.location.href = compareUrl(name, type);
      } finally {
        busy(false);
      }
    }

    $("sq-plan-suggest").onclick = async () => {
      if (!(await loggedIn())) { return; }
      const name = $("sq-plan-name").value.trim();
      const type = $("sq-plan-type").value;
      const k = Number($("sq-plan-k").value || 3);
      const capacity = $("sq-plan-capacity").value;
      const body = { type: type, add: k, save_as: name };
      if (plan.dataset.area) { body.area = plan.dataset.area; }
      if (plan.dataset.scenario) { body.scenario = plan.dataset.scenario; }
      if (capacity !== "") { body.capacity = Number(capacity); }
      busy(true);
      say("", '<span class="sq-spin"></span>' + tt("正在步行网络上求解最优选址（可能需要几十秒）……",
        "Solving for the best sites on the walking network (may take tens of seconds)…"));
      try {
        const r = await shequ.api("/analyses/siting", { method: "POST", json: body });
        if (!r.ok) { say("bad", await problem(r)); return; }
        const answer = await r.json();
        const n = (answer.sites && answer.sites.features || []).length;
        say("ok", tt(`已保存 ${n} 个建议点到方案“${shequ.esc(name)}”，正在打开比较……`,
          `Kept ${n} suggested sites in scenario '${shequ.esc(name)}'; opening the comparison…`));
        window.location.href = compareUrl(name, type);
      } finally {
        busy(false);
      }
    };
  }

  // the map of the page, and each new one the coverage page draws in place after a recompute (with a new panel)
  function ready() {
    if (window.shequMap) { start(window.shequMap); }
    document.addEventListener("shequ:map", (e) => start(e.detail));
  }
  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", ready); } else { ready(); }
})();
