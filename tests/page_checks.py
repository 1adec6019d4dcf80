"""What a built page must not show, as JavaScript run in the browser on the live page.

Each constant is an arrow function for ``page.evaluate``; it returns a list of problems
(strings naming the element and what is wrong), empty when the page is clean. The browser
tests run them on every page and, to show they can fail, on pages with a defect planted
(``tests/test_browser.py``); ``benchmarks/screenshots.py`` prints them beside its screenshots.

* :data:`RENDERING_PROBLEMS`: Markdown that reached the reader as text: table syntax
  (``| a | b |`` rows, ``|---|`` rules), literal links ``[text](page.md)``, and
  backslash-escaped characters (``Multi\\-step``) in the navigation, titles and text.
* :data:`LAYOUT_PROBLEMS`: boxes wider than their place. The page itself must never scroll
  sideways; at desktop width (>= 1000 px) no table, figure or image in the content may be wider
  than the content column; at any width a table wider than the column must sit in its own
  scrolling box, and every header cell (so the name, R² and verdict columns) must be
  reachable by scrolling that box; below desktop width a wide figure may scroll in its own
  box too (the attention maps of 51 keys).
* :data:`FIRST_COLUMNS_PROBLEMS`: on a phone, a table whose first two columns (the row's name
  and its first value) are not both in view before any sideways scroll.
"""

from __future__ import annotations

#: Text outside code and rendered maths, per block: pipes, links and escapes that Markdown left.
RENDERING_PROBLEMS = r"""() => {
  const problems = [];
  const SKIP = 'pre, code, script, style, .katex, .arithmatex, svg, .attention-map, .attention-explorer';
  const BLOCKS = 'p, li, td, th, summary, figcaption, dt, dd, h1, h2, h3, h4, h5, h6, blockquote, div, details, article, section';
  const tableRow = /(^|\n)[ \t]*\|[^|\n]*\|[^|\n]*\|/;
  const tableRule = /\|[ \t]*:?-{3,}:?[ \t]*\|/;
  const mdLink = /\[[^\]\n]+\]\([^)\s]+\.md(#[^)\s]*)?\)/;
  const escaped = /\\[-_*`#.!+|()\[\]{}<>]/;
  const own = el => {  // the element's text without nested blocks and skipped parts
    let text = '';
    for (const node of el.childNodes) {
      if (node.nodeType === Node.TEXT_NODE) text += node.data;
      else if (node.nodeType === Node.ELEMENT_NODE && !node.matches(SKIP) && !node.matches(BLOCKS)) {
        text += own(node);
      } else if (node.nodeType === Node.ELEMENT_NODE && node.matches(BLOCKS)) text += '\n';
    }
    return text;
  };
  const where = el => {
    const h = [...document.querySelectorAll('article h1, article h2, article h3')]
      .filter(x => x.compareDocumentPosition(el) & Node.DOCUMENT_POSITION_FOLLOWING).pop();
    return `<${el.tagName.toLowerCase()}>` + (h ? ` under "${h.textContent.replace(/¶$/, '').trim()}"` : '');
  };
  const article = document.querySelector('article') || document.body;
  for (const el of [article, ...article.querySelectorAll(BLOCKS)]) {
    if (el.closest(SKIP)) continue;
    const text = own(el);
    const snippet = m => JSON.stringify(text.slice(Math.max(0, m.index - 10), m.index + 50).trim());
    let m;
    if ((m = tableRule.exec(text)) || (m = tableRow.exec(text))) problems.push(`raw Markdown table in ${where(el)}: ${snippet(m)}`);
    if ((m = mdLink.exec(text))) problems.push(`literal Markdown link in ${where(el)}: ${snippet(m)}`);
    if ((m = escaped.exec(text))) problems.push(`escaped character in ${where(el)}: ${snippet(m)}`);
  }
  for (const el of document.querySelectorAll('.md-nav__link, .md-tabs__link, .md-header__topic, .md-path__link')) {
    const text = el.textContent.trim();
    if (escaped.test(text)) problems.push(`escaped character in the navigation: ${JSON.stringify(text)}`);
  }
  if (escaped.test(document.title)) problems.push(`escaped character in the title: ${JSON.stringify(document.title)}`);
  return problems;
}"""

#: Overflow of the page, of tables and figures, and reachability of table columns.
LAYOUT_PROBLEMS = r"""() => {
  const problems = [];
  const doc = document.documentElement;
  const viewport = doc.clientWidth;
  if (doc.scrollWidth > viewport + 1) problems.push(`the page scrolls sideways: ${doc.scrollWidth} px wide in a ${viewport} px window`);
  const column = document.querySelector('article.md-content__inner') || document.querySelector('article');
  if (!column) return problems;
  const box = column.getBoundingClientRect();
  const style = getComputedStyle(column);
  const left = box.left + parseFloat(style.paddingLeft) - 1, right = box.right - parseFloat(style.paddingRight) + 1;
  const desktop = viewport >= 1000;
  const name = el => {
    const h = [...column.querySelectorAll('h1, h2, h3')]
      .filter(x => x.compareDocumentPosition(el) & Node.DOCUMENT_POSITION_FOLLOWING).pop();
    const what = el.tagName === 'IMG' ? `image ${JSON.stringify(el.getAttribute('alt') || el.src.split('/').pop())}`
      : `<${el.tagName.toLowerCase()}${el.className ? '.' + String(el.className).split(' ')[0] : ''}>`;
    return what + (h ? ` under "${h.textContent.replace(/¶$/, '').trim()}"` : '');
  };
  const visible = el => el.getClientRects().length > 0 && !el.closest('details:not([open])');
  // the scrolling box a wide element sits in (within the column), if any
  const scroller = el => {
    for (let p = el.parentElement; p && p !== column; p = p.parentElement) {
      const ox = getComputedStyle(p).overflowX;
      const b = p.getBoundingClientRect();
      if ((ox === 'auto' || ox === 'scroll') && b.left >= -1 && b.right <= viewport + 1) return p;
    }
    return null;
  };
  for (const el of column.querySelectorAll('table, img, figure, svg:not(.katex svg), pre, .attention-map')) {
    if (!visible(el) || el.closest('.md-nav, .katex')) continue;
    const r = el.getBoundingClientRect();
    if (r.width === 0) continue;
    const wide = r.right > right || r.left < left;
    const sc = scroller(el);
    if (el.tagName === 'TABLE') {
      if (desktop && (wide || (sc && sc.scrollWidth > sc.clientWidth + 1)))
        problems.push(`${name(el)} is ${Math.round(r.width)} px wide, wider than the ${Math.round(right - left)} px content column`);
      else if (wide && !sc) problems.push(`${name(el)} overflows the content column and does not scroll in its own box`);
      if (sc) {  // every header cell reachable by scrolling the box
        const s = sc.getBoundingClientRect();
        const reach = s.width + (sc.scrollWidth - sc.clientWidth) + 1;
        for (const th of el.querySelectorAll('thead th')) {
          const c = th.getBoundingClientRect();
          if (c.right - s.left + sc.scrollLeft > reach || c.width < 4)
            problems.push(`${name(el)}: column ${JSON.stringify(th.textContent.trim())} cannot be reached`);
        }
      }
    } else if (desktop ? wide : (r.right > viewport + 1 || r.left < -1) && !sc) {
      // on a phone, code blocks bleed to the screen's edge (Material) and a wide map may
      // scroll in its own box: only what leaves the screen, or the page, counts
      problems.push(`${name(el)} is ${Math.round(r.width)} px wide, wider than the ${Math.round(right - left)} px content column`);
    }
  }
  return problems;
}"""


#: Tables whose first two columns are not in view without scrolling (run at phone width): the
#: row's name and its first number must be readable as the page opens.
FIRST_COLUMNS_PROBLEMS = r"""() => {
  const problems = [];
  const viewport = document.documentElement.clientWidth;
  const column = document.querySelector('article.md-content__inner') || document.querySelector('article');
  if (!column) return problems;
  const visible = el => el.getClientRects().length > 0 && !el.closest('details:not([open])');
  for (const table of column.querySelectorAll('table')) {
    if (!visible(table)) continue;
    const row = table.querySelector('thead tr') || table.querySelector('tr');
    const cells = row ? [...row.children] : [];
    if (cells.length < 2) continue;
    // the view of the table before any scroll: the screen, cut by the table's scrolling box
    let right = viewport;
    for (let p = table.parentElement; p && p !== document.body; p = p.parentElement) {
      const ox = getComputedStyle(p).overflowX;
      if (ox === 'auto' || ox === 'scroll' || ox === 'hidden') {
        p.scrollLeft = 0;
        right = Math.min(right, p.getBoundingClientRect().right);
      }
    }
    const second = cells[1].getBoundingClientRect();
    if (second.right > right + 1 || cells[0].getBoundingClientRect().left < -1) {
      const h = [...column.querySelectorAll('h1, h2, h3')]
        .filter(x => x.compareDocumentPosition(table) & Node.DOCUMENT_POSITION_FOLLOWING).pop();
      problems.push(`table${h ? ` under "${h.textContent.replace(/¶$/, '').trim()}"` : ''}: its second column `
        + `${JSON.stringify(cells[1].textContent.trim())} ends at ${Math.round(second.right)} px, `
        + `past the ${Math.round(right)} px in view`);
    }
  }
  return problems;
}"""
