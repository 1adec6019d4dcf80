/*
 * physdocs attention explorer: an offline, keyboard-usable viewer for one equation's
 * attention maps. No dependencies, no network beyond fetching the payload named by the
 * container's relative data-src URL. Payload format: physdocs/report/explorer.py.
 *
 * Markup it looks for (written by physdocs.report.explorer.explorer_html):
 *   <div class="attention-explorer" data-src="../data/<id>.json" data-equation="<id>">
 * Data is never parsed as HTML: every string from the payload goes through textContent
 * or an attribute setter.
 */
(function () {
  "use strict";

  var FORMAT = "physdocs-attention/1";
  var MODEL_LABELS = { trained: "Trained", control: "Control (random init)" };
  var KIND_HELP = {
    "self": "Each query token attends to the tokens of the same sequence.",
    "cross": "Each query token attends to the memory: one slot per observation point (p1, p2, ...) and the pooled summary z.",
    "isab-mab1": "Each inducing point (i1, i2, ...) attends to the observation points (p1, p2, ...).",
    "isab-mab2": "Each observation point (p1, p2, ...) attends to the inducing points (i1, i2, ...).",
    "pma": "The pooling seed attends to the observation points (p1, p2, ...)."
  };
  var MEAN = "mean";
  var instances = [];
  var uid = 0;

  // ----------------------------------------------------------------- data

  /** base64 row-major uint8 -> Float32Array of weights (k / 255). */
  function decodeMatrix(b64, rows, cols) {
    var bin = atob(b64);
    if (bin.length !== rows * cols) {
      throw new Error("matrix holds " + bin.length + " values, " + rows + "x" + cols + " expected");
    }
    var out = new Float32Array(bin.length);
    for (var i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i) / 255;
    return out;
  }

  function meanOf(mats) {
    var out = new Float32Array(mats[0].length);
    for (var h = 0; h < mats.length; h++) {
      for (var i = 0; i < out.length; i++) out[i] += mats[h][i];
    }
    for (var j = 0; j < out.length; j++) out[j] /= mats.length;
    return out;
  }

  /**
   * The [rows * cols] weights of (model, component, layer, head) or null when the payload
   * leaves them out; head is a 0-based index or "mean". cache: optional Map.
   */
  function matrixFor(payload, model, comp, layer, head, cache) {
    var entry = payload.models[model] && payload.models[model][comp];
    var spec = payload.components[comp];
    if (!entry || !spec) return null;
    var mats = entry.data[String(layer)];
    if (!mats || !mats.length) return null;
    var key = [model, comp, layer, head].join("|");
    if (cache && cache.has(key)) return cache.get(key);
    var rows = spec.shape[0], cols = spec.shape[1], result;
    if (entry.detail === "mean") {
      result = head === MEAN ? decodeMatrix(mats[0], rows, cols) : null;
    } else if (head === MEAN) {
      result = meanOf(mats.map(function (m) { return decodeMatrix(m, rows, cols); }));
    } else {
      result = mats[head] === undefined ? null : decodeMatrix(mats[head], rows, cols);
    }
    if (cache) cache.set(key, result);
    return result;
  }

  /**
   * The top of the colour scale for (component, layer, head): the largest weight of that map
   * in any model of the payload, so the trained model and its control are drawn on one scale
   * and switching between them never rescales a weak map to look as strong.
   */
  function sharedTop(payload, comp, layer, head, cache) {
    var top = 0;
    Object.keys(payload.models).forEach(function (model) {
      var m = matrixFor(payload, model, comp, layer, head, cache);
      if (!m) return;
      for (var i = 0; i < m.length; i++) if (m[i] > top) top = m[i];
    });
    return top;
  }

  function fmt(w) { return w.toFixed(3); }

  function safeName(s) { return String(s).replace(/[^A-Za-z0-9_.-]+/g, "_").slice(0, 80); }

  function csvCell(s) {
    s = String(s);
    if (/^[=+\-@\t\r]/.test(s)) s = "'" + s;
    return /[",\n\r]/.test(s) ? '"' + s.replace(/"/g, '""') + '"' : s;
  }

  // ----------------------------------------------------------------- DOM helpers

  function el(tag, attrs, text) {
    var node = document.createElement(tag);
    if (attrs) {
      Object.keys(attrs).forEach(function (k) {
        if (k === "className") node.className = attrs[k];
        else node.setAttribute(k, attrs[k]);
      });
    }
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  function labelled(text, control) {
    var label = el("label", { className: "ae-field" });
    label.appendChild(el("span", { className: "ae-field-name" }, text));
    label.appendChild(control);
    return label;
  }

  function fillSelect(select, options, value) {
    while (select.firstChild) select.removeChild(select.firstChild);
    options.forEach(function (o) {
      var opt = el("option", null, o.text);
      opt.value = String(o.value);
      if (o.disabled) opt.disabled = true;
      select.appendChild(opt);
    });
    select.value = String(value);
  }

  function cssVar(node, name, fallback) {
    var v = getComputedStyle(node).getPropertyValue(name);
    return v && v.trim() ? v.trim() : fallback;
  }

  function download(name, blob) {
    var url = URL.createObjectURL(blob);
    var a = el("a", { href: url, download: name });
    a.style.display = "none";
    document.body.appendChild(a);
    a.click();
    document.body.removeChild(a);
    setTimeout(function () { URL.revokeObjectURL(url); }, 1000);
  }

  // ----------------------------------------------------------------- one explorer

  function Explorer(root, payload) {
    this.root = root;
    this.p = payload;
    this.cache = new Map();
    this.n = ++uid;
    var models = payload.model_order.filter(function (m) { return payload.models[m]; });
    var comps = payload.component_order.filter(function (c) { return payload.components[c]; });
    if (!models.length || !comps.length) throw new Error("the payload holds no attention maps");
    this.state = {
      model: models[0],
      comp: comps.indexOf("diffuser.self") >= 0 ? "diffuser.self" : comps[0],
      layer: null,
      head: MEAN,
      query: 0,
      sort: false
    };
    this.models = models;
    this.comps = comps;
    this.build();
    this.update();
  }

  Explorer.prototype.build = function () {
    var self = this, root = this.root, p = this.p;
    while (root.firstChild) root.removeChild(root.firstChild);
    root.classList.add("ae-ready");

    var controls = el("div", { className: "ae-controls", role: "group", "aria-label": "Attention map to show" });
    this.modelSel = el("select", { "aria-label": "Model" });
    fillSelect(this.modelSel, this.models.map(function (m) {
      return { value: m, text: MODEL_LABELS[m] || m };
    }), this.state.model);
    this.compSel = el("select", { "aria-label": "Component" });
    fillSelect(this.compSel, this.comps.map(function (c) {
      return { value: c, text: p.components[c].label || c };
    }), this.state.comp);
    this.layerSel = el("select", { "aria-label": "Layer" });
    this.headSel = el("select", { "aria-label": "Head" });
    this.sortBox = el("input", { type: "checkbox" });
    controls.appendChild(labelled("Model", this.modelSel));
    controls.appendChild(labelled("Component", this.compSel));
    controls.appendChild(labelled("Layer", this.layerSel));
    controls.appendChild(labelled("Head", this.headSel));
    var sortLabel = el("label", { className: "ae-field ae-check" });
    sortLabel.appendChild(this.sortBox);
    sortLabel.appendChild(el("span", null, "Sort keys by weight"));
    controls.appendChild(sortLabel);
    root.appendChild(controls);

    this.help = el("p", { className: "ae-help" });
    root.appendChild(this.help);

    if (p.reductions && p.reductions.length) {
      var det = el("details", { className: "ae-reductions" });
      det.appendChild(el("summary", null, "Some matrices were left out to keep this page light"));
      var ul = el("ul");
      p.reductions.forEach(function (r) { ul.appendChild(el("li", null, r)); });
      det.appendChild(ul);
      root.appendChild(det);
    }

    var qid = "ae-q-" + this.n;
    root.appendChild(el("p", { className: "ae-heading", id: qid }, "Queries (arrow keys move, Enter or Space selects)"));
    this.queryBox = el("div", { className: "ae-queries", role: "group", "aria-labelledby": qid });
    root.appendChild(this.queryBox);

    var body = el("div", { className: "ae-body" });
    var left = el("div", { className: "ae-row-panel" });
    this.caption = el("p", { className: "ae-caption", "aria-live": "polite" });
    left.appendChild(this.caption);
    this.bars = el("div", { className: "ae-bars", role: "list" });
    left.appendChild(this.bars);
    body.appendChild(left);

    var right = el("div", { className: "ae-map-panel" });
    this.canvas = el("canvas", { className: "ae-heatmap", role: "img" });
    right.appendChild(this.canvas);
    this.legend = el("p", { className: "ae-legend" });
    right.appendChild(this.legend);
    var actions = el("div", { className: "ae-actions" });
    this.pngBtn = el("button", { type: "button", className: "ae-action" }, "Save heatmap (PNG)");
    this.csvBtn = el("button", { type: "button", className: "ae-action" }, "Save matrix (CSV)");
    actions.appendChild(this.pngBtn);
    actions.appendChild(this.csvBtn);
    right.appendChild(actions);
    body.appendChild(right);
    root.appendChild(body);

    this.modelSel.addEventListener("change", function () { self.state.model = self.modelSel.value; self.update(); });
    this.compSel.addEventListener("change", function () { self.state.comp = self.compSel.value; self.update(); });
    this.layerSel.addEventListener("change", function () { self.state.layer = Number(self.layerSel.value); self.update(); });
    this.headSel.addEventListener("change", function () {
      var v = self.headSel.value;
      self.state.head = v === MEAN ? MEAN : Number(v);
      self.update();
    });
    this.sortBox.addEventListener("change", function () { self.state.sort = self.sortBox.checked; self.renderRow(); });
    this.queryBox.addEventListener("keydown", function (ev) { self.onQueryKey(ev); });
    this.canvas.addEventListener("click", function (ev) {
      var r = self.cellAt(ev);
      if (r) self.select(r.row, false);
    });
    this.canvas.addEventListener("mousemove", function (ev) {
      var r = self.cellAt(ev), spec = self.spec();
      if (!r || !self.matrix) { self.canvas.removeAttribute("title"); return; }
      var w = self.matrix[r.row * spec.shape[1] + r.col];
      self.canvas.title = "query " + (r.row + 1) + " (" + spec.queries[r.row] + ") \u2192 key " + (r.col + 1) +
        " (" + spec.keys[r.col] + "): " + (spec.causal && r.col > r.row ? "masked" : fmt(w));
    });
    this.pngBtn.addEventListener("click", function () { self.savePng(); });
    this.csvBtn.addEventListener("click", function () { self.saveCsv(); });
  };

  Explorer.prototype.spec = function () { return this.p.components[this.state.comp]; };
  Explorer.prototype.entry = function () {
    return this.p.models[this.state.model] && this.p.models[this.state.model][this.state.comp];
  };

  /** Reconcile layer/head/query with what the chosen model and component hold, then draw. */
  Explorer.prototype.update = function () {
    var st = this.state, spec = this.spec(), entry = this.entry();
    var nLayers = entry ? entry.n_layers : 1;
    var have = entry ? entry.layers : [];
    if (have.indexOf(st.layer) < 0) st.layer = have.length ? have[have.length - 1] : nLayers;
    var layerOpts = [];
    for (var l = 1; l <= nLayers; l++) {
      var ok = have.indexOf(l) >= 0;
      layerOpts.push({ value: l, text: "Layer " + l + (ok ? "" : " (not included)"), disabled: !ok });
    }
    fillSelect(this.layerSel, layerOpts, st.layer);
    this.layerSel.disabled = nLayers <= 1;

    var heads = entry ? entry.heads : 0, perHead = entry && entry.detail !== "mean";
    var headOpts = [{ value: MEAN, text: "Mean of heads" }];
    for (var h = 0; h < heads; h++) {
      headOpts.push({ value: h, text: "Head " + (h + 1) + (perHead ? "" : " (not included)"), disabled: !perHead });
    }
    if (st.head !== MEAN && (!perHead || st.head >= heads)) st.head = MEAN;
    fillSelect(this.headSel, headOpts, st.head);

    var nq = spec.shape[0];
    if (st.query >= nq) st.query = 0;
    this.help.textContent = (KIND_HELP[spec.kind] || "") +
      (spec.pad_key
        ? " PAD is the weight on the canvas's padding positions (1 \u2212 row sum)." : "") +
      (spec.causal ? " Causal: a token sees only itself and earlier tokens." : "");
    this.matrix = matrixFor(this.p, st.model, st.comp, st.layer, st.head, this.cache);
    this.renderQueries();
    this.renderRow();
    this.draw();
  };

  Explorer.prototype.renderQueries = function () {
    var self = this, spec = this.spec(), st = this.state;
    while (this.queryBox.firstChild) this.queryBox.removeChild(this.queryBox.firstChild);
    this.queryButtons = spec.queries.map(function (label, i) {
      var b = el("button", {
        type: "button",
        className: "ae-query",
        tabindex: i === st.query ? "0" : "-1",
        "aria-pressed": i === st.query ? "true" : "false",
        "aria-label": "Query " + (i + 1) + " of " + spec.queries.length + ": " + label,
        "data-index": String(i)
      });
      b.appendChild(el("span", { className: "ae-pos", "aria-hidden": "true" }, i + 1));
      b.appendChild(el("span", { className: "ae-label" }, label));
      b.addEventListener("click", function () { self.select(i, true); });
      self.queryBox.appendChild(b);
      return b;
    });
  };

  Explorer.prototype.onQueryKey = function (ev) {
    var btns = this.queryButtons || [];
    var target = ev.target && ev.target.closest ? ev.target.closest(".ae-query") : null;
    var i = btns.indexOf(target);
    if (i < 0) return;
    var next = null;
    if (ev.key === "ArrowRight" || ev.key === "ArrowDown") next = Math.min(i + 1, btns.length - 1);
    else if (ev.key === "ArrowLeft" || ev.key === "ArrowUp") next = Math.max(i - 1, 0);
    else if (ev.key === "Home") next = 0;
    else if (ev.key === "End") next = btns.length - 1;
    if (next === null) return;
    ev.preventDefault();
    btns[i].setAttribute("tabindex", "-1");
    btns[next].setAttribute("tabindex", "0");
    btns[next].focus();
  };

  /** Select query row i (from a button, the heatmap or a test). */
  Explorer.prototype.select = function (i, focus) {
    var btns = this.queryButtons || [];
    if (i < 0 || i >= btns.length) return;
    this.state.query = i;
    btns.forEach(function (b, j) {
      b.setAttribute("aria-pressed", j === i ? "true" : "false");
      b.setAttribute("tabindex", j === i ? "0" : "-1");
    });
    if (focus) btns[i].focus();
    this.renderRow();
    this.draw();
  };

  Explorer.prototype.renderRow = function () {
    var spec = this.spec(), st = this.state, m = this.matrix, bars = this.bars;
    var cols = spec.shape[1], q = st.query;
    while (bars.firstChild) bars.removeChild(bars.firstChild);
    bars.setAttribute("data-query-index", String(q));
    var qLabel = spec.queries[q];
    var where = (MODEL_LABELS[st.model] || st.model) + ", " + (spec.label || st.comp) + ", layer " + st.layer +
      ", " + (st.head === MEAN ? "mean of heads" : "head " + (st.head + 1));
    bars.setAttribute("aria-label", "Attention of query " + (q + 1) + " (" + qLabel + ") over " + cols + " keys");
    if (!m) {
      this.caption.textContent = "Not included for this model (" + where + "): see the note above.";
      bars.removeAttribute("data-query-index");
      return;
    }
    var row = [], max = 0;
    for (var j = 0; j < cols; j++) {
      var w = m[q * cols + j];
      row.push({ j: j, w: w, masked: !!spec.causal && j > q });
      if (w > max) max = w;
    }
    var top = row.slice().sort(function (a, b) { return b.w - a.w || a.j - b.j; });
    this.caption.textContent = "Query " + (q + 1) + " (" + qLabel + "), " + where + ". Largest weight: " +
      spec.keys[top[0].j] + " " + fmt(top[0].w) + ". Bars are scaled to the row's largest weight.";
    (st.sort ? top : row).forEach(function (r) {
      var item = el("div", {
        className: "ae-bar" + (r.masked ? " ae-masked" : ""),
        role: "listitem",
        "data-weight": r.w.toFixed(4),
        "data-key-index": String(r.j)
      });
      var key = el("span", { className: "ae-key" }, spec.keys[r.j]);
      key.title = "key " + (r.j + 1) + ": " + spec.keys[r.j];
      var track = el("span", { className: "ae-track", "aria-hidden": "true" });
      var fill = el("span", { className: "ae-fill" });
      fill.style.width = (max > 0 ? (100 * r.w / max) : 0).toFixed(1) + "%";
      track.appendChild(fill);
      item.appendChild(key);
      item.appendChild(track);
      item.appendChild(el("span", { className: "ae-value" }, r.masked ? "masked" : fmt(r.w)));
      bars.appendChild(item);
    });
  };

  Explorer.prototype.geometry = function () {
    var spec = this.spec(), rows = spec.shape[0], cols = spec.shape[1];
    var cw = Math.max(4, Math.min(14, Math.floor(340 / cols)));
    var ch = Math.max(4, Math.min(14, Math.floor(340 / rows)));
    return { rows: rows, cols: cols, cw: cw, ch: ch, w: cw * cols, h: ch * rows };
  };

  Explorer.prototype.cellAt = function (ev) {
    var g = this.geometry(), rect = this.canvas.getBoundingClientRect();
    if (!rect.width || !rect.height) return null;
    var x = (ev.clientX - rect.left) * g.w / rect.width, y = (ev.clientY - rect.top) * g.h / rect.height;
    var row = Math.floor(y / g.ch), col = Math.floor(x / g.cw);
    if (row < 0 || row >= g.rows || col < 0 || col >= g.cols) return null;
    return { row: row, col: col };
  };

  Explorer.prototype.draw = function () {
    var g = this.geometry(), c = this.canvas, spec = this.spec(), m = this.matrix, st = this.state;
    var dpr = window.devicePixelRatio || 1;
    c.width = Math.round(g.w * dpr);
    c.height = Math.round(g.h * dpr);
    c.style.width = g.w + "px";
    c.style.height = g.h + "px";
    c.setAttribute("aria-label", "Heatmap of " + (spec.label || st.comp) + ": " + g.rows + " queries by " +
      g.cols + " keys; click a row to select that query.");
    var ctx = c.getContext && c.getContext("2d");
    if (!ctx) return;
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    var bg = cssVar(this.root, "--md-default-bg-color", "#ffffff");
    var fg = cssVar(this.root, "--md-default-fg-color", "#000000");
    var accent = cssVar(this.root, "--md-accent-fg-color", "#526cfe");
    ctx.globalAlpha = 1;
    ctx.fillStyle = "#ffffff";
    ctx.fillStyle = bg;
    ctx.fillRect(0, 0, g.w, g.h);
    if (!m) {
      this.legend.textContent = "Not included for this model.";
      return;
    }
    var max = sharedTop(this.p, st.comp, st.layer, st.head, this.cache), i, j;
    ctx.fillStyle = "#526cfe";
    ctx.fillStyle = accent;
    for (i = 0; i < g.rows; i++) {
      for (j = 0; j < g.cols; j++) {
        var w = m[i * g.cols + j];
        if (w <= 0 || max <= 0) continue;
        ctx.globalAlpha = Math.min(1, w / max);
        ctx.fillRect(j * g.cw, i * g.ch, g.cw, g.ch);
      }
    }
    if (spec.causal) {
      ctx.fillStyle = fg;
      ctx.globalAlpha = 0.08;
      for (i = 0; i < g.rows; i++) ctx.fillRect((i + 1) * g.cw, i * g.ch, Math.max(0, g.w - (i + 1) * g.cw), g.ch);
    }
    ctx.globalAlpha = 1;
    ctx.strokeStyle = fg;
    ctx.lineWidth = 1.5;
    ctx.strokeRect(0.75, st.query * g.ch + 0.75, g.w - 1.5, g.ch - 1.5);
    this.legend.textContent = "Rows: " + g.rows + " queries; columns: " + g.cols + " keys. Colour from 0 to the " +
      "largest weight of this map in either model (" + fmt(max) + "), one scale for both. Selected query outlined.";
  };

  Explorer.prototype.fileStem = function () {
    var st = this.state;
    return safeName([this.p.id, st.model, st.comp, "L" + st.layer, st.head === MEAN ? "mean" : "h" + (st.head + 1)].join("-"));
  };

  Explorer.prototype.savePng = function () {
    var self = this;
    if (this.canvas.toBlob) {
      this.canvas.toBlob(function (blob) { if (blob) download(self.fileStem() + ".png", blob); }, "image/png");
    }
  };

  Explorer.prototype.saveCsv = function () {
    var spec = this.spec(), m = this.matrix;
    if (!m) return;
    var cols = spec.shape[1];
    var lines = [["query \\ key"].concat(spec.keys).map(csvCell).join(",")];
    for (var i = 0; i < spec.shape[0]; i++) {
      var cells = [csvCell(spec.queries[i])];
      for (var j = 0; j < cols; j++) cells.push(m[i * cols + j].toFixed(4));
      lines.push(cells.join(","));
    }
    download(this.fileStem() + ".csv", new Blob([lines.join("\n") + "\n"], { type: "text/csv" }));
  };

  // ----------------------------------------------------------------- boot

  function isRelative(src) {
    return !!src && !/^[a-zA-Z][a-zA-Z0-9+.\-]*:/.test(src) && !/^[\/\\]{2}/.test(src);
  }

  function fail(root, message) {
    while (root.firstChild) root.removeChild(root.firstChild);
    root.appendChild(el("p", { className: "ae-error", role: "alert" }, message));
  }

  function load(root) {
    if (root.getAttribute("data-ae-state")) return;
    root.setAttribute("data-ae-state", "loading");
    var src = root.getAttribute("data-src");
    if (!isRelative(src)) {
      root.setAttribute("data-ae-state", "error");
      fail(root, "The attention explorer only loads data from a relative URL.");
      return;
    }
    var status = el("p", { className: "ae-status", role: "status" }, "Loading attention data\u2026");
    root.appendChild(status);
    fetch(src, { credentials: "same-origin" })
      .then(function (r) {
        if (!r.ok) throw new Error("HTTP " + r.status);
        return r.json();
      })
      .then(function (payload) {
        if (!payload || payload.format !== FORMAT) throw new Error("unknown data format");
        var ex = new Explorer(root, payload);
        root.setAttribute("data-ae-state", "ready");
        root.explorer = ex;
        instances.push(ex);
      })
      .catch(function (err) {
        root.setAttribute("data-ae-state", "error");
        fail(root, "Could not load the attention data (" + src + "): " + (err && err.message ? err.message : err) +
          (location.protocol === "file:" ? ". Browsers block this for pages opened from disk: serve the site " +
            "over HTTP (for example python -m http.server in the site folder)." : "."));
      });
  }

  function scan() {
    instances = instances.filter(function (ex) { return document.contains(ex.root); });
    var nodes = document.querySelectorAll(".attention-explorer");
    for (var i = 0; i < nodes.length; i++) load(nodes[i]);
  }

  function redrawAll() {
    instances.forEach(function (ex) { if (document.contains(ex.root)) ex.draw(); });
  }

  function boot() {
    // Instant navigation swaps the page without a load event: material's document$ emits then.
    if (window.document$ && typeof window.document$.subscribe === "function") {
      window.document$.subscribe(function () { scan(); });
    }
    if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", scan);
    else scan();
    // The palette toggle rewrites data-md-color-* on <body>; the canvas must be redrawn.
    var watch = function () {
      if (window.MutationObserver && document.body) {
        new MutationObserver(redrawAll).observe(document.body, {
          attributes: true,
          attributeFilter: ["data-md-color-scheme", "data-md-color-primary", "data-md-color-accent"]
        });
      }
      if (window.matchMedia) {
        var mq = window.matchMedia("(prefers-color-scheme: dark)");
        if (mq.addEventListener) mq.addEventListener("change", redrawAll);
      }
    };
    if (document.body) watch();
    else document.addEventListener("DOMContentLoaded", watch);
  }

  if (typeof document !== "undefined" && typeof window !== "undefined") boot();

  // For tests under Node (no DOM): the pure functions.
  if (typeof module === "object" && module && module.exports) {
    module.exports = { decodeMatrix: decodeMatrix, matrixFor: matrixFor, meanOf: meanOf, sharedTop: sharedTop, csvCell: csvCell,
      isRelative: isRelative, FORMAT: FORMAT };
  }
})();
