// The exports page: one download per chosen layer, fetched with the token and saved under the server's name.
(function () {
  "use strict";
  const t = shequ.tt;
  const $ = (id) => document.getElementById(id);

  async function areas() {
    const r = await fetch("/collections/communities/items?limit=10000");
    const body = await r.json();
    const streets = {};
    for (const f of body.features) {
      const s = f.id.slice(0, 9);
      if (!streets[s]) { streets[s] = f.properties.street || s; }
    }
    const select = $("area");
    for (const [code, name] of Object.entries(streets).sort()) {
      select.insertAdjacentHTML("beforeend", `<option value="${code}">${shequ.esc(name)} (${code})</option>`);
    }
    for (const f of body.features) {
      select.insertAdjacentHTML("beforeend", `<option value="${f.id}">· ${shequ.esc(f.properties.name)} (${f.id})</option>`);
    }
  }

  async function download() {
    if (!shequ.user()) { await shequ.askLogin(t("导出需要登录。", "Exports need a login.")); }
    const form = $("export-form");
    const layers = [...form.querySelectorAll("input[name=layer]:checked")].map((x) => x.value);
    const format = form.querySelector("input[name=format]:checked").value;
    const crs = form.querySelector("input[name=crs]:checked").value;
    const area = $("area").value;
    if (!layers.length) { $("msg").className = "msg bad"; $("msg").innerHTML = t("请至少选择一个图层。", "Pick at least one layer."); return; }
    $("msg").className = "msg warn";
    $("msg").innerHTML = t("正在导出…", "Exporting…");
    for (const layer of layers) {
      const q = new URLSearchParams({ format, crs });
      if (area) { q.set("area", area); }
      const r = await shequ.api(`/exports/${layer}?${q}`);
      if (!r.ok) {
        const body = await r.json().catch(() => ({}));
        $("msg").className = "msg bad";
        $("msg").textContent = `${layer}: ${body.description || r.statusText}`;
        return;
      }
      const name = (r.headers.get("Content-Disposition") || "").match(/filename="?([^";]+)"?/);
      const blob = await r.blob();
      const a = document.createElement("a");
      a.href = URL.createObjectURL(blob);
      a.download = name ? decodeURIComponent(name[1]) : `${layer}.${format}`;
      document.body.appendChild(a);
      a.click();
      a.remove();
      $("done").insertAdjacentHTML("beforeend", `<li>${shequ.esc(a.download)} · ${(blob.size / 1024).toFixed(0)} KB</li>`);
    }
    $("msg").className = "msg ok";
    $("msg").innerHTML = t(`已下载 ${layers.length} 个文件。`, `${layers.length} file(s) downloaded.`);
  }

  document.addEventListener("DOMContentLoaded", () => {
    areas();
    $("download").onclick = download;
  });
})();
