/*
 * Render the page's maths offline with the vendored KaTeX (assets/katex/).
 *
 * pymdownx.arithmatex (generic: true) leaves each formula as text in
 *   <span class="arithmatex">\( ... \)</span>   (inline)
 *   <div class="arithmatex">\[ ... \]</div>     (display)
 * This script replaces that text with KaTeX's markup. The TeX is read with textContent, so
 * nothing in it is parsed as HTML. A formula KaTeX cannot parse stays visible as red source
 * text (throwOnError: false) instead of breaking the page. Material's instant navigation
 * swaps pages without a load event and announces each one on document$; without it the
 * script renders once the document is ready. Elements already rendered are skipped.
 */
(function () {
  "use strict";

  var DELIMITERS = [["\\(", "\\)", false], ["\\[", "\\]", true]];

  function strip(tex) {
    tex = tex.trim();
    for (var i = 0; i < DELIMITERS.length; i++) {
      var d = DELIMITERS[i];
      if (tex.slice(0, d[0].length) === d[0] && tex.slice(-d[1].length) === d[1]) {
        return { tex: tex.slice(d[0].length, tex.length - d[1].length), display: d[2] };
      }
    }
    return null;
  }

  function renderAll(root) {
    if (!window.katex) return;
    var nodes = (root || document).querySelectorAll(".arithmatex:not([data-katex])");
    for (var i = 0; i < nodes.length; i++) {
      var node = nodes[i], math = strip(node.textContent || "");
      node.setAttribute("data-katex", math ? "rendered" : "skipped");
      if (!math) continue;
      window.katex.render(math.tex, node, { displayMode: math.display, throwOnError: false });
    }
  }

  if (window.document$ && typeof window.document$.subscribe === "function") {
    window.document$.subscribe(function () { renderAll(document); });
  } else if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", function () { renderAll(document); });
  } else {
    renderAll(document);
  }
})();
