"""Time the report build: cold build, warm rebuild, and ``mkdocs serve`` reloads (medians of runs).

Run from the repository root, in an environment with the package and the docs group:

    python benchmarks/build_timing.py                 # the whole report, 3 runs
    PHYSDOCS_EQUATIONS=feynman_001,feynman_046 python benchmarks/build_timing.py --runs 1

Each run uses a fresh, empty cache (``PHYSDOCS_CACHE_DIR`` = a temporary directory):

1. cold: ``mkdocs build --strict`` with the empty cache;
2. warm: the same build again, reusing that cache;
3. serve reload, for ``mkdocs serve --dirty --no-strict`` (what ``nox -s docs -- serve`` runs) and for
   plain ``mkdocs serve``: once the first build is served, a marker comment is appended to
   ``docs/rebuild.md`` and the time until the served page shows it is measured. The file
   is restored and the server stopped afterwards.

The table gives the median of the runs and every run's value. Other ``PHYSDOCS_*``
variables (equations, weights, figures, budget) pass through.

``--compare OTHER_CHECKOUT`` times another checkout side by side (for example
``git worktree add /tmp/prev <commit>``): in each run the two trees' cold and warm builds
alternate, each tree with its own empty cache and its own package first on ``PYTHONPATH``,
so load on the machine falls on both alike. The serve measurements are then left out.
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EDITED = ROOT / "docs" / "rebuild.md"
REPORT_LINE = re.compile(r"physdocs report: (.*)")


def mkdocs() -> list[str]:
    exe = Path(sys.executable).with_name("mkdocs")
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "mkdocs"]


def environment(cache_dir: Path, root: Path = ROOT) -> dict[str, str]:
    env = dict(os.environ)
    env.update(DISABLE_MKDOCS_2_WARNING="true", NO_MKDOCS_2_WARNING="1", PHYSDOCS_CACHE_DIR=str(cache_dir))
    if root != ROOT:  # the other checkout's package, not the installed one
        env["PYTHONPATH"] = os.pathsep.join([str(root), *filter(None, [env.get("PYTHONPATH")])])
    return env


def timed_build(env: dict[str, str], site_dir: Path, root: Path = ROOT) -> tuple[float, str]:
    """Seconds for one strict build, and the report's own timing line from the log."""
    t0 = time.perf_counter()
    out = subprocess.run(
        [*mkdocs(), "build", "--strict", "--site-dir", str(site_dir)],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
    )
    seconds = time.perf_counter() - t0
    if out.returncode != 0:
        sys.exit(f"mkdocs build failed ({out.returncode}):\n{out.stderr[-4000:]}")
    found = REPORT_LINE.search(out.stderr)
    return seconds, found.group(1) if found else ""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def fetch(url: str) -> str | None:
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            return r.read().decode("utf-8", "replace")
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return None


def wait_for(predicate, timeout: float, poll: float = 0.2) -> float:
    """Seconds until ``predicate()`` is true; exits the script after ``timeout``."""
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < timeout:
        if predicate():
            return time.perf_counter() - t0
        time.sleep(poll)
    sys.exit(f"gave up after {timeout:.0f} s")


def serve_reload(env: dict[str, str], timeout: float, dirty: bool) -> tuple[float, float]:
    """(seconds to the first served page, seconds from a Markdown edit to the served change)."""
    port = free_port()
    url = f"http://127.0.0.1:{port}/rebuild/"
    log = tempfile.TemporaryFile()
    server = subprocess.Popen(
        [*mkdocs(), "serve", *(["--dirty", "--no-strict"] if dirty else []), "-a", f"127.0.0.1:{port}"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    original = EDITED.read_bytes()
    marker = f"timing-marker-{uuid.uuid4().hex}"
    try:
        first = wait_for(lambda: fetch(url) is not None, timeout)
        t0 = time.perf_counter()
        EDITED.write_bytes(original + f"\n<!-- {marker} -->\n".encode())
        wait_for(lambda: marker in (fetch(url) or ""), timeout)
        return first, time.perf_counter() - t0
    finally:
        EDITED.write_bytes(original)
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()
        log.close()


def one_run(tmp: Path, serve: bool, timeout: float) -> dict[str, tuple[float, str]]:
    """``{stage: (seconds, the report's own timing line)}`` for one run with an empty cache."""
    env = environment(tmp / "cache")
    rows = {"cold build (empty cache)": timed_build(env, tmp / "site-cold")}
    rows["warm rebuild (cached)"] = timed_build(env, tmp / "site-warm")
    if serve:
        for dirty, name in ((True, "mkdocs serve --dirty"), (False, "mkdocs serve")):
            first, reload = serve_reload(env, timeout, dirty)
            rows[f"{name}: first page"] = (first, "cached analysis")
            rows[f"{name}: reload after a Markdown edit"] = (reload, "docs/rebuild.md")
    return rows


def side_by_side(tmp: Path, other: Path) -> dict[str, tuple[float, str]]:
    """Cold and warm builds of this checkout and ``other``, interleaved, each with its own cache."""
    trees = {"this": ROOT, "compare": other}
    envs = {name: environment(tmp / name / "cache", root) for name, root in trees.items()}
    rows = {}
    for stage, site in (("cold build (empty cache)", "site-cold"), ("warm rebuild (cached)", "site-warm")):
        for name, root in trees.items():
            rows[f"{name}: {stage}"] = timed_build(envs[name], tmp / name / site, root)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="runs, each from an empty cache (default 3)")
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds to wait for the server")
    parser.add_argument("--no-serve", action="store_true", help="skip the mkdocs serve measurements")
    parser.add_argument("--compare", type=Path, help="another checkout, timed side by side (no serve)")
    args = parser.parse_args()

    runs = []
    for i in range(args.runs):
        with tempfile.TemporaryDirectory(prefix="physdocs-timing-") as tmp:
            if args.compare:
                runs.append(side_by_side(Path(tmp), args.compare.resolve()))
            else:
                runs.append(one_run(Path(tmp), not args.no_serve, args.timeout))
        print(f"run {i + 1}: " + ", ".join(f"{k} {v[0]:.1f} s" for k, v in runs[-1].items()), flush=True)

    equations = os.environ.get("PHYSDOCS_EQUATIONS") or "all"
    print(f"\nequations: {equations}; {args.runs} run(s); cpus: {os.cpu_count()}")
    width = max(len(name) for name in runs[0])
    print(f"{'stage':<{width}}  {'median s':>8}  runs")
    for name in runs[0]:
        values = [run[name][0] for run in runs]
        print(f"{name:<{width}}  {statistics.median(values):>8.1f}  {' '.join(f'{v:.1f}' for v in values)}")
    print("\nreport timings (last run):")
    for name, (_, note) in runs[-1].items():
        if note:
            print(f"  {name}: {note}")


if __name__ == "__main__":
    main()
