"""What a user gets from `pip install`: build the wheel, install it into a fresh virtual
environment outside the checkout, and use it from a temporary folder.

Run by `nox -s wheel` (and so by CI). Steps, each a failure if it goes wrong:
1. `python -m build --wheel` in the checkout;
2. a new venv in a temporary folder; `pip install '<wheel>[report]'`;
3. from another temporary folder: `physdocs derive --csv` on an SI-scale file (p = m*v with
   m near 9e-31 kg) must print `p = m*v`, with `--json` too, and the Python API `derive`
   must give `m*v`;
4. `physdocs report --equations two.toml --weights W --site-dir site --budget 0.1` must
   build a site;
5. the site opens offline: index.html exists and no page loads a script, style sheet or
   font from the network.
"""

from __future__ import annotations

import re
import subprocess
import sys
import tempfile
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TWO_EQUATIONS = '''
[[equation]]
id = "feynman_001"
name = "Einstein Mass-Energy Equivalence"
tier = "trivial"
output = "E"
formula = "m*c**2"
variables = [
  { name = "m", meaning = "rest mass", low = 1.0, high = 5.0 },
  { name = "c", meaning = "speed of light", low = 1.0, high = 5.0 },
]

[[equation]]
id = "feynman_021"
name = "Ohm's Law"
tier = "simple"
output = "V"
formula = "I*R"
variables = [
  { name = "I", meaning = "current", low = 1.0, high = 5.0 },
  { name = "R", meaning = "resistance", low = 1.0, high = 5.0 },
]
'''
REMOTE = re.compile(r"""<(?:script|link)[^>]+(?:src|href)=["']https?://""", re.I)


def run(cmd: list[str], cwd: Path, **kw) -> subprocess.CompletedProcess:
    print("$", " ".join(map(str, cmd)), flush=True)
    out = subprocess.run(cmd, cwd=cwd, text=True, capture_output=True, **kw)
    print(out.stdout[-3000:], out.stderr[-3000:], sep="\n", flush=True)
    if out.returncode:
        raise SystemExit(f"wheel check: `{' '.join(map(str, cmd))}` failed with exit {out.returncode}")
    return out


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="physdocs-wheel-") as tmp:
        tmp = Path(tmp)
        run([sys.executable, "-m", "build", "--wheel", "--outdir", str(tmp / "dist"), str(ROOT)], cwd=ROOT)
        wheel = next((tmp / "dist").glob("physdocs-*.whl"))
        venv.create(tmp / "venv", with_pip=True)
        py = tmp / "venv" / "bin" / "python"
        run([str(py), "-m", "pip", "install", "--quiet", f"{wheel}[report]"], cwd=tmp)
        work = tmp / "work"
        work.mkdir()
        physdocs = str(tmp / "venv" / "bin" / "physdocs")
        rows = ["m,v,p"]
        for i in range(60):
            m, v = 8e-31 + 2e-33 * i, 5e5 + 2.5e4 * ((i * 7) % 60)
            rows.append(f"{m!r},{v!r},{m * v!r}")
        (work / "momentum.csv").write_text("\n".join(rows) + "\n")
        out = run([physdocs, "derive", "--csv", "momentum.csv", "--budget", "0.25"], cwd=work)
        if "p = m*v" not in out.stdout:
            raise SystemExit("wheel check: derive --csv did not print p = m*v")
        out = run([physdocs, "derive", "--csv", "momentum.csv", "--budget", "0.25", "--json"], cwd=work)
        if '"formula": "m*v"' not in out.stdout:
            raise SystemExit("wheel check: derive --csv --json did not give the formula m*v")
        api = ("import numpy as np; from physdocs import derive; rng = np.random.default_rng(0); "
               "m, v = rng.uniform(1, 4, 60), rng.uniform(2, 6, 60); "
               "r = derive(np.c_[m, v], m * v, names=['m', 'v'], target='p', budget=0.25); print(r.formula)")
        out = run([str(py), "-c", api], cwd=work)
        if out.stdout.strip().splitlines()[-1] != "m*v":
            raise SystemExit("wheel check: the Python API did not derive m*v")
        weights = run([str(py), "-c", "import physdocs.paths as p; print(p.DEFAULT_WEIGHTS)"], cwd=work).stdout.strip()
        (work / "two.toml").write_text(TWO_EQUATIONS)
        run([physdocs, "report", "--equations", "two.toml", "--weights", weights, "--site-dir", "site",
             "--budget", "0.1"], cwd=work,
            env={"PATH": f"{tmp / 'venv' / 'bin'}:/usr/bin:/bin", "HOME": str(tmp), "PHYSDOCS_WORKERS": "2"})
        index = work / "site" / "index.html"
        if not index.is_file():
            raise SystemExit("wheel check: the report built no site/index.html")
        remote = [str(p.relative_to(work)) for p in (work / "site").rglob("*.html") if REMOTE.search(p.read_text())]
        if remote:
            raise SystemExit(f"wheel check: pages load from the network: {', '.join(remote[:5])}")
        print(f"wheel check: passed ({len(list((work / 'site').rglob('*.html')))} pages)")


if __name__ == "__main__":
    main()
