/*
 * Sortable tables, offline and without dependencies (mkdocs.yml extra_javascript).
 *
 * A header cell opts in with a marker inside it, which a Markdown table can carry:
 *   | <span data-sortable="number">R²</span> | <span data-sortable="text">Name</span> |
 * Its text becomes a button; pressing it (mouse, touch or keyboard) sorts the table's body
 * rows by that column, ascending first, then descending; aria-sort says which.
 * A cell's key is the data-sort attribute of an element inside it when there is one (the tier's
 * rank, say), else its text; "number" columns read the first number in it ("✓ 0.998" -> 0.998)
 * and rows with no number ("—") stay last in either direction. Ties keep their previous order.
 * Material's instant navigation announces each page on document$; without it the script runs
 * once the document is ready. Tables already set up are skipped.
 */
(function () {
  "use strict";

  var NUMBER = /[-+]?(?:\d+\.?\d*|\.\d+)(?:e[-+]?\d+)?/i;

  /** A cell's sort key: its marked data-sort value or its text; a number (or null) for "number". */
  function keyOf(raw, type) {
    raw = (raw || "").trim();
    if (type !== "number") return raw.toLowerCase();
    var m = NUMBER.exec(raw);
    return m ? parseFloat(m[0]) : null;
  }

  function cellKey(cell, type) {
    var marked = cell ? cell.querySelector("[data-sort]") : null;
    return keyOf(marked ? marked.getAttribute("data-sort") : (cell ? cell.textContent : ""), type);
  }

  /** The rows' new order (indices) for keys from keyOf: missing keys last, ties in their order. */
  function order(keys, type, descending) {
    var idx = keys.map(function (_, i) { return i; });
    idx.sort(function (x, y) {
      var a = keys[x], b = keys[y];
      var am = a === null || a === "", bm = b === null || b === "";
      if (am || bm) return am === bm ? x - y : (am ? 1 : -1);
      var c = type === "number" ? a - b : (a < b ? -1 : a > b ? 1 : 0);
      return (descending ? -c : c) || x - y;
    });
    return idx;
  }

  function sortBy(table, th, index, type) {
    var body = table.tBodies[0];
    if (!body) return;
    var descending = th.getAttribute("aria-sort") === "ascending";
    var heads = table.tHead ? table.tHead.rows[0].cells : [];
    for (var h = 0; h < heads.length; h++) heads[h].removeAttribute("aria-sort");
    th.setAttribute("aria-sort", descending ? "descending" : "ascending");
    var rows = Array.prototype.slice.call(body.rows);
    var keys = rows.map(function (row) { return cellKey(row.cells[index], type); });
    var idx = order(keys, type, descending);
    for (var r = 0; r < idx.length; r++) body.appendChild(rows[idx[r]]);
  }

  function setUp(th) {
    var marker = th.querySelector("[data-sortable]");
    var table = th.closest("table");
    if (!marker || !table || th.hasAttribute("data-sort-ready")) return;
    th.setAttribute("data-sort-ready", "");
    var type = marker.getAttribute("data-sortable") === "number" ? "number" : "text";
    var button = document.createElement("button");
    button.type = "button";
    button.className = "sort-button";
    button.title = "Sort by this column";
    while (th.firstChild) button.appendChild(th.firstChild);
    th.appendChild(button);
    button.addEventListener("click", function () { sortBy(table, th, th.cellIndex, type); });
  }

  function setUpAll(root) {
    var marks = (root || document).querySelectorAll("th [data-sortable]");
    for (var i = 0; i < marks.length; i++) setUp(marks[i].closest("th"));
  }

  if (typeof module !== "undefined" && module.exports) {  // node, for the tests
    module.exports = { keyOf: keyOf, order: order };
    return;
  }
  if (window.document$ && typeof window.document$.subscribe === "function") {
    window.document$.subscribe(function () { setUpAll(document); });
  } else if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", function () { setUpAll(document); });
  } else {
    setUpAll(document);
  }
})();
