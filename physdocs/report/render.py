"""The Jinja environment for ``templates/*.md.j2``: strict, escaping, with number filters.

Pages are Markdown, and Markdown passes raw HTML straight through, so every data string is
escaped on its way into a page, whatever its context: :func:`md_escape` HTML-escapes it and
backslash-escapes the Markdown and attr_list syntax (``* _ [ ] { } # ` |``), so an equation
named ``<script>...`` or ``[x](javascript:...)`` shows as text. Filters that produce markup
(:func:`code`, :func:`html`, :func:`url`) escape their input themselves and return
:class:`markupsafe.Markup`, which is passed through unchanged.

Filters: ``fmt`` (3 significant figures), ``pct``, ``ci``, ``code``, ``html``, ``url``, ``math`` (:func:`tex`),
``passthrough`` (:func:`passthrough`),
``math_html``.

Large tables are written as raw HTML blocks (``<table>`` at the start of a line): Markdown
stores such a block whole instead of parsing every cell, which made the equation pages three
times faster to convert. In those blocks every value goes through ``html`` (or a filter that
returns Markup): the Markdown backslash-escaping of plain values would show as text there.
``None`` prints as ``"—"``.
``StrictUndefined`` makes a missing value an error instead of a blank.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

import jinja2
from markupsafe import Markup, escape

from physdocs.paths import TEMPLATES_DIR as _TEMPLATES_DIR

#: ``templates/`` at the repository root, or the copy an installed wheel carries (:mod:`physdocs.paths`).
TEMPLATES_DIR = _TEMPLATES_DIR
#: What a missing or undefined number shows as.
MISSING = "—"

_MD_SPECIAL = re.compile(r"([\\`*_\[\]{}#|])")
_URL_SAFE = re.compile(r"[A-Za-z0-9_./#-]+")


def md_escape(value: Any) -> Markup:
    """Any value as inert page text: HTML-escaped, Markdown/attr_list syntax backslash-escaped."""
    if isinstance(value, Markup):
        return value
    text = _MD_SPECIAL.sub(r"\\\1", str(value)).replace("\n", " ")
    return Markup(str(escape(text)))  # after the backslashes, so entities keep their '#'


def fmt(value: float | int | None, digits: int = 3) -> str:
    """A number to ``digits`` significant figures (fixed notation from 1e-4 to 1e6).

    ``0.123456 -> "0.123"``, ``2.909 -> "2.91"``, ``12 -> "12"``, ``None``/nan -> ``"—"``.
    """
    if value is None or isinstance(value, bool):
        return MISSING if value is None else str(value)
    if isinstance(value, int):
        return str(value)
    x = float(value)
    if not math.isfinite(x):
        return MISSING
    if x == 0:
        return "0"
    magnitude = math.floor(math.log10(abs(x)))
    if -4 <= magnitude < 6:
        decimals = max(0, digits - 1 - magnitude)
        return f"{x:.{decimals}f}"
    return f"{x:.{digits - 1}e}"


def pct(value: float | None, decimals: int = 1) -> str:
    """A fraction as a percentage: ``0.1234 -> "12.3%"``; ``None``/nan -> ``"—"``."""
    if value is None or not math.isfinite(float(value)):
        return MISSING
    return f"{100 * float(value):.{decimals}f}%"


def ci(bounds: tuple[float | None, float | None] | list | None) -> str:
    """A confidence interval ``[lo, hi]`` formatted with :func:`fmt`; missing -> ``"—"``."""
    if not bounds or bounds[0] is None or bounds[1] is None:
        return MISSING
    return f"[{fmt(bounds[0])}, {fmt(bounds[1])}]"


#: Markdown syntax inside raw inline HTML is still parsed (``<code>a*b*c</code>`` gets an
#: ``<em>``): these characters, and HTML's own, become character references in :func:`code`.
_CODE_REFS = str.maketrans(
    {"<": "&lt;", ">": "&gt;", "&": "&amp;", '"': "&#34;", "'": "&#39;"}
    | {c: f"&#{ord(c)};" for c in "\\`*_[]{}#|~^"}
)


def inert(value: Any) -> Markup:
    """Text for HTML that Markdown may still read: HTML-escaped, Markdown syntax as character references."""
    return Markup(str(value).translate(_CODE_REFS))


def code(value: Any) -> Markup:
    """Inline code as HTML (``<code>`` with escaped text): safe for any string, in tables too.

    Markdown syntax characters become character references, so ``m*c**2`` stays as written.
    """
    return Markup(f"<code>{inert(value)}</code>")


def html(value: Any) -> Markup:
    """Plain HTML escaping (no Markdown escaping), for raw-HTML contexts such as attributes.

    Markup (from :func:`code` or :func:`math_html`) passes through unchanged.
    """
    return Markup(escape(value))


def math_html(value: Any) -> Markup:
    """Inline maths for a raw-HTML block, as arithmatex writes it: ``<span class="arithmatex">\\(..\\)</span>``.

    The same checks as :func:`tex`; the TeX is HTML-escaped (KaTeX reads it back as text).
    """
    return Markup(f'<span class="arithmatex">\\({escape(str(tex(value)))}\\)</span>')


def url(value: Any) -> Markup:
    """A relative link target built from ids; anything but ``[A-Za-z0-9_./#-]`` is an error."""
    text = str(value)
    if not _URL_SAFE.fullmatch(text):
        raise ValueError(f"unsafe link target {text!r}: ids and paths may use A-Z a-z 0-9 _ . / # - only")
    return Markup(text)


_MATH_FORBIDDEN = re.compile(r"[$<>`\n]")


def tex_ok(text: str) -> bool:
    """Whether :func:`tex` accepts ``text``."""
    return _MATH_FORBIDDEN.search(text) is None


def tex(value: Any) -> Markup:
    """LaTeX for ``$...$`` / ``$$...$$``, left raw for arithmatex; ``|`` becomes ``\\vert``.

    A dollar sign, angle bracket, backtick or newline in it is an error: each could end the
    math and let the rest through as Markdown or HTML.
    """
    text = str(value)
    bad = _MATH_FORBIDDEN.search(text)
    if bad:
        raise ValueError(f"LaTeX {text!r} contains {bad.group()!r}, which cannot appear inside page math")
    return Markup(text.replace("|", r"\vert "))


#: Markers around a large HTML block that Markdown would only pass through: the mkdocs hook
#: (:mod:`physdocs.report.navhook`) cuts it out before conversion and puts it back after, so
#: Python-Markdown's HTML scan (about 20 ms per equation page's overview) is skipped.
PASSTHROUGH_START, PASSTHROUGH_END = "<!-- physdocs:passthrough -->", "<!-- /physdocs:passthrough -->"


def passthrough(value: Any) -> Markup:
    """``value`` (trusted HTML) between the pass-through markers, as its own block."""
    return Markup(f"{PASSTHROUGH_START}\n{value}\n{PASSTHROUGH_END}")


def _finalize(value: Any) -> Any:
    return MISSING if value is None else md_escape(value)


def make_environment(templates_dir: Path | str = TEMPLATES_DIR) -> jinja2.Environment:
    """A fresh strict environment over ``templates_dir``."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(templates_dir)),
        undefined=jinja2.StrictUndefined,
        autoescape=True,  # data strings are escaped; templates' own Markdown is not
        finalize=_finalize,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(fmt=fmt, pct=pct, ci=ci, code=code, html=html, url=url, math=tex, math_html=math_html,
                       passthrough=passthrough)
    return env


_DEFAULT_ENV: jinja2.Environment | None = None


def environment() -> jinja2.Environment:
    """The shared environment over :data:`TEMPLATES_DIR` (templates reload when they change)."""
    global _DEFAULT_ENV
    if _DEFAULT_ENV is None:
        _DEFAULT_ENV = make_environment()
    return _DEFAULT_ENV


def render(template: str, env: jinja2.Environment | None = None, **data: Any) -> str:
    """Render ``template`` (a name under ``templates/``) with ``data``."""
    return (env or environment()).get_template(template).render(**data)
