"""The report: analysis results -> figures and Markdown pages for the mkdocs site.

* :mod:`physdocs.report.cache` -- cache key and the on-disk cache of results and figures.
* :mod:`physdocs.report.figures` -- which figures the site has (the seed's figure index under
  its file names, plus per-equation and aggregate figures) and rendering them.
* :mod:`physdocs.report.render` -- the strict, escaping Jinja environment over ``templates/``.
* :mod:`physdocs.report.pages` -- pure functions from results to page data and pages.
* :mod:`physdocs.report.summary` -- the home page's computed summary and its paired statistics.
* :mod:`physdocs.report.reference` -- the API reference pages.
* :mod:`physdocs.report.explorer` -- payloads for the interactive attention explorer.
* :mod:`physdocs.report.build` -- one build: analysis (cached), figures (cached), pages, under
  a time budget; ``docs/gen_pages.py`` writes what it returns.
"""
