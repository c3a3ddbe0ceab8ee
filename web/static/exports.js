// The exports page: one download per chosen layer, fetched with the token and saved under the server's name.
// A layer with no feature in the chosen area is a message, never an empty file (the server says how many
// features a file holds in X-Feature-Count); "N files downloaded" counts the files really saved.
(function () {
  "use strict";
  const t = shequ.tt;
  const $ = (id) => document.getElementById(id);

  // <option> holds text only: its words come from data-zh / data-en, rewritten when the language changes
  function relabel() {
    const en = document.documentElement.lang === "en";
    for (const o of $("area").options) { o.textContent = en ? o.dataset.en : o.dataset.zh; }
  }

  function option(parent, value, zh, en) {
    const o = document.createElement("option");
    o.value = value;
    o.dataset.zh = zh;
    o.dataset.en = en;
    parent.appendChild(o);
    return o;
  }

  // streets and communities, codes and names only (GET /areas: no geometry)
  async function areas() {
    const r = await fetch("/areas");
    if (!r.ok) { return; }
    const body = await r.json();
    const select = $("area");
    const streets = document.createElement("optgroup");
    streets.label = shequ.t("街道（乡镇）", "Streets and towns");
    streets.dataset.zh = "街道（乡镇）";
    streets.dataset.en = "Streets and towns";
    for (const s of body.streets) { option(streets, s.code, `${s.name}（${s.code}）`, `${s.name} (${s.code})`); }
    const communities = document.createElement("optgroup");
    communities.label = shequ.t("社区", "Communities");
    communities.dataset.zh = "社区";
    communities.dataset.en = "Communities";
    for (const c of body.communities) { option(communities, c.code, `${c.name}（${c.code}）`, `${c.name} (${c.code})`); }
    select.append(streets, communities);
    relabel();
    for (const g of select.querySelectorAll("optgroup")) { g.label = shequ.t(g.dataset.zh, g.dataset.en); }
  }

  function areaName() {
    const o = $("area").selectedOptions[0];
    return o && o.value ? { zh: o.dataset.zh, en: o.dataset.en } : null;
  }

  async function download() {
    if (!shequ.user()) { await shequ.askLogin(t("导出需要登录。", "Exports need a login.")); }
    const form = $("export-form");
    const boxes = [...form.querySelectorAll("input[name=layer]:checked")];
    const format = form.querySelector("input[name=format]:checked").value;
    const crs = form.querySelector("input[name=crs]:checked").value;
    const area = $("area").value;
    const where = areaName();
    const msg = $("msg");
    if (!boxes.length) { msg.className = "msg bad"; msg.innerHTML = t("请至少选择一个图层。", "Pick at least one layer."); return; }
    msg.className = "msg warn";
    msg.innerHTML = t("正在导出…", "Exporting…");
    $("download").disabled = true;
    let saved = 0;
    const empty = [];
    try {
      for (const box of boxes) {
        const layer = box.value;
        const q = new URLSearchParams({ format, crs });
        if (area) { q.set("area", area); }
        let r;
        try {
          r = await shequ.api(`/exports/${layer}?${q}`);
        } catch (err) {
          msg.className = "msg bad";
          msg.innerHTML = t(`${shequ.esc(box.dataset.zh)}：无法连接服务器，请稍后重试。`,
            `${shequ.esc(box.dataset.en)}: the server cannot be reached; try again later.`);
          return;
        }
        if (!r.ok) {
          const body = await r.json().catch(() => ({}));
          msg.className = "msg bad";
          msg.innerHTML = t(shequ.esc(box.dataset.zh), shequ.esc(box.dataset.en)) + "：" + shequ.message(body, r.statusText);
          return;
        }
        if (r.headers.get("X-Feature-Count") === "0") {  // nothing to save: say so, name the layer and the area
          if (r.body) { r.body.cancel().catch(() => {}); }
          empty.push(box);
          const zh = where ? `${shequ.esc(where.zh)}：所选范围内没有${shequ.esc(box.dataset.zh)}（0 个要素），未生成文件。`
            : `${shequ.esc(box.dataset.zh)}：该图层没有要素（0 个），未生成文件。`;
          const en = where ? `${shequ.esc(where.en)}: no ${shequ.esc(box.dataset.en.toLowerCase())} in the chosen area (0 features); no file saved.`
            : `${shequ.esc(box.dataset.en)}: the layer has no features (0); no file saved.`;
          $("done").insertAdjacentHTML("beforeend", `<li class="empty" data-layer="${layer}">${t(zh, en)}</li>`);
          continue;
        }
        const name = (r.headers.get("Content-Disposition") || "").match(/filename="?([^";]+)"?/);
        const count = Number(r.headers.get("X-Feature-Count"));
        const blob = await r.blob();
        const a = document.createElement("a");
        a.href = URL.createObjectURL(blob);
        a.download = name ? decodeURIComponent(name[1]) : `${layer}.${format}`;
        document.body.appendChild(a);
        a.click();
        a.remove();
        setTimeout(() => URL.revokeObjectURL(a.href), 10000);
        saved += 1;
        const n = Number.isFinite(count) ? ` · ${t(`${count} 个要素`, `${count} feature(s)`)}` : "";
        $("done").insertAdjacentHTML("beforeend", `<li data-layer="${layer}">${shequ.esc(a.download)} · ${(blob.size / 1024).toFixed(0)} KB${n}</li>`);
      }
    } finally {
      $("download").disabled = false;
    }
    const none = empty.map((b) => shequ.esc(b.dataset.zh)).join("、");
    const noneEn = empty.map((b) => shequ.esc(b.dataset.en)).join(", ");
    if (!saved) {
      msg.className = "msg warn";
      msg.innerHTML = where
        ? t(`所选范围内没有${none}（0 个要素）：${shequ.esc(where.zh)}。没有下载任何文件。`,
          `No ${noneEn.toLowerCase()} in the chosen area (0 features): ${shequ.esc(where.en)}. No file downloaded.`)
        : t(`${none}没有要素（0 个），没有下载任何文件。`, `${noneEn}: no features (0), no file downloaded.`);
      return;
    }
    msg.className = empty.length ? "msg warn" : "msg ok";
    msg.innerHTML = t(`已下载 ${saved} 个文件。`, `${saved} file(s) downloaded.`)
      + (empty.length ? " " + t(`${none}在所选范围内没有要素，未生成文件。`, `${noneEn}: no features in the chosen area, no file.`) : "");
  }

  document.addEventListener("DOMContentLoaded", () => {
    relabel();
    areas();
    new MutationObserver(() => {
      relabel();
      for (const g of $("area").querySelectorAll("optgroup")) { g.label = shequ.t(g.dataset.zh, g.dataset.en); }
    }).observe(document.documentElement, { attributes: true, attributeFilter: ["lang"] });
    $("download").onclick = download;
  });
})();
