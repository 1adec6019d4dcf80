"""Screenshots of the built site in Chromium, for reviewing the layout at desktop and phone width.

Run from the repository root after a build (``nox -s docs``), in an environment with the
browser group:

    python benchmarks/screenshots.py --out shots/             # the default pages, 1400 and 400 px
    python benchmarks/screenshots.py --page equations/feynman_046/ --width 400

The site is served over HTTP on 127.0.0.1; Chromium is Debian's (``chromium`` on PATH).
Each page is taken in full length, and the layout checks of the browser tests
(``tests/page_checks.py``) are printed for it.
"""

from __future__ import annotations

import argparse
import functools
import http.server
import json
import shutil
import sys
import threading
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.page_checks import LAYOUT_PROBLEMS, RENDERING_PROBLEMS  # noqa: E402

DEFAULT_PAGES = ("", "findings/", "evaluation/", "causal/")


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--site", type=Path, default=ROOT / "site")
    ap.add_argument("--out", type=Path, default=ROOT / "shots")
    ap.add_argument("--page", action="append", help="site path (default: home, findings, evaluation, causal)")
    ap.add_argument("--width", type=int, action="append", help="viewport width in px (default: 1400 and 400)")
    args = ap.parse_args()
    from playwright.sync_api import sync_playwright

    handler = functools.partial(_Quiet, directory=str(args.site))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}/"
    args.out.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=shutil.which("chromium"), args=["--headless", "--no-sandbox"])
        for width in args.width or (1400, 400):
            ctx = browser.new_context(viewport={"width": width, "height": 900}, color_scheme="light")
            page = ctx.new_page()
            for path in args.page or DEFAULT_PAGES:
                page.goto(base + path, wait_until="load")
                page.evaluate("() => document.fonts.ready.then(() => true)")
                page.wait_for_timeout(300)
                name = (path.strip("/").replace("/", "_") or "home") + f"-{width}.png"
                page.screenshot(path=str(args.out / name), full_page=True)
                problems = page.evaluate(RENDERING_PROBLEMS) + page.evaluate(LAYOUT_PROBLEMS)
                print(f"{name}: {json.dumps(problems) if problems else 'no problems found'}")
            ctx.close()
        browser.close()
    server.shutdown()


if __name__ == "__main__":
    main()
