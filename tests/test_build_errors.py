"""Each way the report build fails: one BuildError naming the cause and the fix, nothing cached.

Most tests call :func:`physdocs.report.build.build_site` with the real analysis of a tiny
random checkpoint, which fails before any model work; one runs ``mkdocs build`` through the
publish step, as ``nox -s docs`` does, and checks what mkdocs prints and that the previous
site is untouched.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import pytest

from physdocs.benchmark import get_equation
from physdocs.grammar import parse_infix
from physdocs.report import build
from tests.report_fakes import FakeAnalysisConfig, fake_render, synthetic_run
from tests.sites import benchmark_toml, mkdocs_env, publish_build

run = pytest.importorskip("physdocs.analysis.run")


def _cfg(tmp_path: Path, weights: Path | str, **analysis) -> build.BuildConfig:
    analysis = {
        "equation_ids": ("feynman_001",),
        "n_boot": 20,
        "n_perm": 20,
        "head_importance": False,
    } | analysis
    return build.BuildConfig(
        analysis=run.AnalysisConfig(weights=str(weights), **analysis),
        cache_dir=tmp_path / "cache",
        evaluation_path=None,
        workers=1,
    )


def _fails(cfg: build.BuildConfig, *patterns: str) -> str:
    with pytest.raises(build.BuildError) as info:
        build.build_site(cfg)
    message = str(info.value)
    for pattern in patterns:
        assert pattern in message, message
    assert "\n" not in message
    cache = cfg.cache_dir
    assert not cache.exists() or not any(cache.iterdir()), "a failed build cached something"
    return message


@pytest.fixture
def weights_file(tmp_path) -> Path:
    path = tmp_path / "w.safetensors"
    path.write_bytes(b"weights-v1")
    return path


def _copy_weights(src: Path, dst_dir: Path) -> Path:
    dst = dst_dir / src.name
    shutil.copy(src, dst)
    shutil.copy(src.with_suffix(".json"), dst.with_suffix(".json"))
    return dst


# ----------------------------------------------------------------- weights


def test_missing_weights(tmp_path):
    missing = tmp_path / "nowhere.safetensors"
    _fails(
        _cfg(tmp_path, missing),
        f"weights file {missing} is missing",
        "nox -s train",
        "PHYSDOCS_WEIGHTS=PATH",
    )


def test_corrupted_weights(tmp_path, tiny_weights):
    weights = _copy_weights(tiny_weights, tmp_path)
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0xFF
    weights.write_bytes(bytes(data))
    _fails(
        _cfg(tmp_path, weights),
        f"weights file {weights} is corrupted (SHA-256 differs from {weights.stem}.json)",
        "git checkout --",
        "PHYSDOCS_WEIGHTS=PATH",
    )


def test_weights_for_another_configuration(tmp_path, tiny_weights):
    weights = _copy_weights(tiny_weights, tmp_path)
    sidecar = weights.with_suffix(".json")
    doc = json.loads(sidecar.read_text())
    for part in ("diffuser", "ar"):  # the sidecar now describes a wider model
        doc["config"][part]["d_model"] = 64
    sidecar.write_text(json.dumps(doc))
    _fails(
        _cfg(tmp_path, weights),
        f"weights file {weights} does not match its config {sidecar.name}",
        "mis-shaped",
        "nox -s train",
    )


# ----------------------------------------------------------------- benchmark


@pytest.mark.parametrize(
    ("edit", "fault"),
    [
        (('formula = "m*c**2"', 'formula = "m*tanh(c)"'), "unknown symbol 'tanh'"),
        (('formula = "m*c**2"', 'formula = "m*sin(c, m)"'), "wrong arity: 'sin' takes 1 argument"),
        (
            ('low = 1.0, high = 5.0 },\n  { name = "c"', 'low = 5.0, high = 1.0 },\n  { name = "c"'),
            "inverted range: low 5.0 > high 1.0",
        ),
    ],
    ids=["unknown-operator", "wrong-arity", "inverted-range"],
)
def test_malformed_benchmark_entry(tmp_path, tiny_weights, edit, fault):
    text = benchmark_toml(["feynman_001"])
    assert edit[0] in text
    path = tmp_path / "bench.toml"
    path.write_text(text.replace(edit[0], edit[1]))
    env = {
        "PHYSDOCS_BENCHMARK": str(path),
        "PHYSDOCS_WEIGHTS": str(tiny_weights),
        "PHYSDOCS_CACHE_DIR": str(tmp_path / "cache"),
    }
    message = _fails(build.config_from_env(env), f"{path}: equation feynman_001: ", fault, "Fix: ")
    assert message.index(fault) < message.index("Fix: ")


def test_benchmark_env_names_a_file(tmp_path):
    with pytest.raises(build.BuildError, match=r"PHYSDOCS_BENCHMARK=.* is not a file\. Fix: "):
        build.config_from_env({"PHYSDOCS_BENCHMARK": str(tmp_path / "missing.toml")})


def test_custom_benchmark_is_analysed_and_keyed(tmp_path):
    path = tmp_path / "bench.toml"
    path.write_text(benchmark_toml(["feynman_001"]))
    cfg = build.config_from_env({"PHYSDOCS_BENCHMARK": str(path)})
    assert cfg.analysis.benchmark == str(path.resolve())
    key = build.cache.cache_key(cfg.analysis.to_dict(), None)
    path.write_text(benchmark_toml(["feynman_001"]).replace("Einstein", "Einstein's"))
    assert build.cache.cache_key(cfg.analysis.to_dict(), None) != key


# ----------------------------------------------------------------- one equation


def test_all_nan_observations_name_the_equation(tmp_path, tiny_weights, monkeypatch):
    eq = get_equation("feynman_001")
    undefined = parse_infix("sqrt(-m)*c", {"m": "x1", "c": "x2"})  # NaN on the whole box
    broken = dataclasses.replace(eq, tree=undefined, step_trees=(undefined,))
    with pytest.raises(
        run.AnalysisError,
        match=r"^equation feynman_001 \(Einstein Mass-Energy Equivalence\): all \d+ observations are NaN .*fix the ranges",
    ):
        run._inputs([broken], 2026, 48)
    monkeypatch.setattr(run, "load_benchmark", lambda path=None: (broken,))
    _fails(
        _cfg(tmp_path, tiny_weights),
        "equation feynman_001 (Einstein Mass-Energy Equivalence): all ",
        "are NaN",
    )


def test_an_exception_in_one_equation_names_it(tmp_path, tiny_weights, monkeypatch):
    original = run.model_record

    def record(eq, *args, **kw):
        if eq.id == "feynman_046":
            raise ZeroDivisionError("division by zero")
        return original(eq, *args, **kw)

    monkeypatch.setattr(run, "model_record", record)
    message = _fails(
        _cfg(tmp_path, tiny_weights, equation_ids=("feynman_001", "feynman_046")),
        "equation feynman_046 (Coulomb's Law (Full Form)): the analysis failed "
        "(ZeroDivisionError: division by zero). Fix: leave it out (PHYSDOCS_EQUATIONS",
    )
    assert "feynman_001" not in message


def test_bad_explorer_data_names_the_equation(tmp_path, weights_file, monkeypatch):
    def broken(cfg):
        results, arrays = synthetic_run(cfg)
        arrays["trained/feynman_046/diffuser.self"] = arrays["trained/feynman_046/diffuser.self"][:, :2]
        return results, arrays

    monkeypatch.setattr(build.F, "render_jobs", fake_render)
    cfg = build.BuildConfig(
        analysis=FakeAnalysisConfig(weights=str(weights_file)), cache_dir=tmp_path / "c", evaluation_path=None
    )
    with pytest.raises(
        build.BuildError, match=r"^equation feynman_046: its attention explorer data could not"
    ):
        build.build_site(cfg, run_fn=broken)


def test_bad_overview_names_the_equation(tmp_path, weights_file, monkeypatch):
    def overview(eq, arrays):
        if eq["id"] == "feynman_046":
            raise ValueError("shape (2, 2)")
        return "<div></div>\n"

    monkeypatch.setattr(build.F, "render_jobs", fake_render)
    monkeypatch.setattr(build, "overview_html", overview)
    cfg = build.BuildConfig(
        analysis=FakeAnalysisConfig(weights=str(weights_file)), cache_dir=tmp_path / "c", evaluation_path=None
    )
    with pytest.raises(
        build.BuildError, match=r"^equation feynman_046: its attention overview could not be drawn \(ValueError: shape"
    ):
        build.build_site(cfg, run_fn=synthetic_run)


def test_bad_page_names_the_equation(tmp_path, weights_file, monkeypatch):
    def dollar(cfg):
        results, arrays = synthetic_run(cfg)
        results["equations"][0]["latex"] = "E = $5"
        return results, arrays

    monkeypatch.setattr(build.F, "render_jobs", fake_render)
    cfg = build.BuildConfig(
        analysis=FakeAnalysisConfig(weights=str(weights_file)), cache_dir=tmp_path / "c", evaluation_path=None
    )
    with pytest.raises(
        build.BuildError, match=r"^equation feynman_001: its page could not be rendered \(ValueError: .*Fix: "
    ):
        build.build_site(cfg, run_fn=dollar)


def test_figure_failure_names_the_figure():
    from physdocs.plots import attention_heads

    job = build.F.FigureJob("figures/attention_maps/x.png", attention_heads, {"attn": None})
    with pytest.raises(build.F.FigureError, match=r"^figure figures/attention_maps/x\.png \(attention"):
        build.F.render_job(job)
    assert build.known_error(build.F.FigureError("x"))


# ----------------------------------------------------------------- through mkdocs


@pytest.mark.slow  # a whole pipeline, mkdocs build or process group: `nox -s slow`
def test_mkdocs_prints_one_line_and_keeps_the_previous_site(tmp_path):
    site = tmp_path / "site"
    site.mkdir()
    (site / "index.html").write_text("previous build\n")
    env = mkdocs_env(
        tmp_path,
        weights=tmp_path / "missing.safetensors",
        equations="feynman_001",
        cache_dir=tmp_path / "cache",
    )
    out = publish_build(site, env, timeout=300)
    assert out.returncode == 1, out.stderr[-3000:]
    errors = [line for line in out.stderr.splitlines() if line.startswith("ERROR")]
    assert len(errors) == 1, out.stderr
    assert f"physdocs report: weights file {tmp_path / 'missing.safetensors'} is missing" in errors[0]
    assert "PHYSDOCS_WEIGHTS=PATH" in errors[0]
    assert "Traceback" not in out.stderr
    assert "Aborted with a BuildError!" in out.stdout + out.stderr
    assert "was left as it was" in out.stderr
    assert (site / "index.html").read_text() == "previous build\n"
    assert not [p.name for p in tmp_path.iterdir() if p.name.startswith(".site.")]  # no temporary site


def test_shipped_evaluation_is_only_attached_to_the_shipped_weights(tmp_path):
    from physdocs.report.build import DEFAULT_EVALUATION, config_from_env

    assert config_from_env({}).evaluation_path == DEFAULT_EVALUATION
    assert config_from_env({"PHYSDOCS_WEIGHTS": "other.safetensors"}).evaluation_path is None
    own = tmp_path / "eval.json"
    cfg = config_from_env({"PHYSDOCS_WEIGHTS": "other.safetensors", "PHYSDOCS_EVALUATION": str(own)})
    assert cfg.evaluation_path == own


def test_shipped_causal_interventions_are_only_read_for_the_shipped_weights_and_benchmark(tmp_path):
    """The shipped artifact covers the shipped weights on the whole packaged benchmark: other
    weights, another benchmark or a subset get the file PHYSDOCS_CAUSAL names, or none."""
    from physdocs.analysis.schema import AnalysisConfig
    from physdocs.report.build import DEFAULT_CAUSAL, config_from_env, with_evaluation

    assert config_from_env({}).causal_path == DEFAULT_CAUSAL and DEFAULT_CAUSAL.is_file()
    benchmark = tmp_path / "mine.toml"
    benchmark.write_text("")
    for env in ({"PHYSDOCS_WEIGHTS": "other.safetensors"}, {"PHYSDOCS_EQUATIONS": "feynman_001"},
                {"PHYSDOCS_BENCHMARK": str(benchmark)}):
        assert config_from_env(env).causal_path is None, env
    own = tmp_path / "causal.json"
    cfg = config_from_env({"PHYSDOCS_WEIGHTS": "other.safetensors", "PHYSDOCS_CAUSAL": str(own)})
    assert cfg.causal_path == own
    # a named file reaches the analysis even when missing, so the analysis names the command
    assert with_evaluation(cfg).analysis.causal == str(own.resolve())
    assert with_evaluation(dataclasses.replace(cfg, causal_path=None)).analysis.causal is None
    assert AnalysisConfig().causal is None  # the analysis reads none unless the build names one
