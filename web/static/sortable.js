// Sortable report tables: every header of a table.sq-sortable becomes a button (click, Enter or Space)
// that sorts the rows by that column, ascending then descending, and says so in aria-sort. A cell sorts by
// its data-sort value if it has one, else by its text; a column whose values are numbers sorts as numbers;
// empty values ("—") go last either way.
(function () {
  "use strict";
  const NUMBER = /^[-+]?\d[\d,]*(\.\d+)?(e[-+]?\d+)?/i;

  function key(cell) {
    if (!cell) { return ""; }
    const v = cell.dataset.sort !== undefined ? cell.dataset.sort : cell.textContent;
    return v.trim();
  }

  function sortBy(table, th, index) {
    const body = table.tBodies[0];
    if (!body) { return; }
    const descending = th.getAttribute("aria-sort") === "ascending";
    const rows = [...body.rows];
    const keys = rows.map((r) => key(r.cells[index]));
    const present = keys.filter((k) => k !== "" && k !== "—");
    const numeric = present.length > 0 && present.every((k) => NUMBER.test(k.replace(/\s/g, "")));
    const value = (k) => (numeric ? parseFloat(k.replace(/[\s,]/g, "")) : k);
    const order = rows.map((r, i) => ({ r, k: keys[i], v: keys[i] === "" || keys[i] === "—" ? null : value(keys[i]), i }));
    const collator = new Intl.Collator(document.documentElement.lang === "en" ? "en" : "zh", { numeric: true });
    order.sort((a, b) => {
      if (a.v === null || b.v === null) { return (a.v === null) - (b.v === null) || a.i - b.i; }  // empty last
      const c = numeric ? a.v - b.v : collator.compare(a.v, b.v);
      return (descending ? -c : c) || a.i - b.i;
    });
    for (const other of table.tHead.rows[0].cells) { other.setAttribute("aria-sort", "none"); }
    th.setAttribute("aria-sort", descending ? "descending" : "ascending");
    body.append(...order.map((o) => o.r));
  }

  function sortable(table) {
    if (!table.tHead || !table.tHead.rows.length) { return; }
    [...table.tHead.rows[0].cells].forEach((th, index) => {
      const button = document.createElement("button");
      button.type = "button";
      button.className = "sq-sort";
      button.append(...th.childNodes);
      th.appendChild(button);
      th.setAttribute("aria-sort", "none");
      button.addEventListener("click", () => sortBy(table, th, index));
    });
  }

  document.addEventListener("DOMContentLoaded", () => {
    document.querySelectorAll("table.sq-sortable").forEach(sortable);
  });
})();
