"""The attention explorer's payload, markup and script (physdocs.report.explorer, docs/assets/explorer.js)."""

import base64
import json
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch

from physdocs.analysis.run import COMPONENTS, MODELS, AnalysisConfig, run_analysis
from physdocs.report.explorer import (
    MAX_PAYLOAD_BYTES,
    decode_matrix,
    encode_matrix,
    explorer_html,
    explorer_payload,
    payload_json,
    payload_size,
    relative_data_url,
)

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "docs" / "assets" / "explorer.js"
STYLE = ROOT / "docs" / "assets" / "explorer.css"
TINY_IDS = ("feynman_001", "feynman_046")
LONGEST = "feynman_087"  # 38 tokens, the longest benchmark equation
TYPICAL = "feynman_097"  # 12 tokens, the median length
DEFAULT_IDS = (LONGEST, TYPICAL, "feynman_081", "feynman_002")
KINDS = {
    "encoder.isab1.mab1": "isab-mab1",
    "encoder.isab1.mab2": "isab-mab2",
    "encoder.isab2.mab1": "isab-mab1",
    "encoder.isab2.mab2": "isab-mab2",
    "encoder.pma": "pma",
    "diffuser.self": "self",
    "diffuser.cross": "cross",
    "decoder.self": "self",
    "decoder.cross": "cross",
}
HOSTILE = "<script>alert(1)</script>"


def _config(weights, ids):
    return AnalysisConfig(
        equation_ids=ids, weights=str(weights), n_boot=10, n_perm=10, diffusion_steps=2, head_importance=False
    )


@pytest.fixture(scope="module")
def tiny(tiny_weights):
    results, arrays = run_analysis(_config(tiny_weights, TINY_IDS))
    return results["equations"], arrays


@pytest.fixture(scope="module")
def default_size(tmp_path_factory):
    """A default-size random model (4 layers, 4 heads) over the longest equation and a few others."""
    from physdocs.models import PhysDiffuserPlus, SystemConfig
    from physdocs.models.checkpoint import save_checkpoint

    path = tmp_path_factory.mktemp("default") / "default.safetensors"
    torch.manual_seed(1)
    save_checkpoint(PhysDiffuserPlus(SystemConfig()), path, {"note": "random default-size test model"})
    results, arrays = run_analysis(_config(path, DEFAULT_IDS))
    return {eq["id"]: eq for eq in results["equations"]}, arrays


def _matrix(payload, model, comp, layer, head):
    spec = payload["components"][comp]
    return decode_matrix(payload["models"][model][comp]["data"][str(layer)][head], spec["shape"])


# ----------------------------------------------------------------- payload on real data


def test_payload_has_every_model_and_component_with_matching_labels(tiny):
    equations, arrays = tiny
    for eq in equations:
        p = explorer_payload(eq, arrays)
        n = len(eq["tokens"])
        assert p["id"] == eq["id"] and p["tokens"] == eq["tokens"]
        assert p["model_order"] == list(MODELS) and set(p["models"]) == set(MODELS)
        assert p["component_order"] == list(COMPONENTS) and set(p["components"]) == set(COMPONENTS)
        for comp, spec in p["components"].items():
            assert spec["kind"] == KINDS[comp]
            q, k = spec["shape"]
            assert len(spec["queries"]) == q and len(spec["keys"]) == k
            for model in MODELS:
                base = arrays[f"{model}/{eq['id']}/{comp}"]
                expected_k = base.shape[2] + (comp == "diffuser.self")
                assert (q, k) == (base.shape[1], expected_k)
                entry = p["models"][model][comp]
                assert entry["heads"] == base.shape[0]
                assert entry["detail"] == "all"
                n_layers = 1 if comp.startswith("encoder") else 2  # the tiny model has 2 layers
                assert entry["n_layers"] == n_layers and entry["layers"] == list(range(1, n_layers + 1))
                for mats in entry["data"].values():
                    assert len(mats) == entry["heads"]
                    assert all(len(base64.b64decode(m)) == q * k for m in mats)
        comps = p["components"]
        assert comps["encoder.isab1.mab1"]["queries"] == [f"i{i}" for i in range(1, 17)]
        assert comps["encoder.isab1.mab1"]["keys"] == [f"p{i}" for i in range(1, 51)]
        assert comps["encoder.isab2.mab2"]["queries"] == [f"p{i}" for i in range(1, 51)]
        assert comps["encoder.isab2.mab2"]["keys"] == [f"i{i}" for i in range(1, 17)]
        assert comps["encoder.pma"]["queries"] == ["seed"]
        assert comps["diffuser.self"]["queries"] == eq["tokens"]
        assert comps["diffuser.self"]["keys"] == [*eq["tokens"], "PAD"]
        assert comps["decoder.self"]["keys"] == eq["tokens"] and comps["decoder.self"]["causal"] is True
        for comp in ("diffuser.cross", "decoder.cross"):
            assert comps[comp]["queries"] == eq["tokens"]
            assert comps[comp]["keys"] == [f"p{i}" for i in range(1, 51)] + ["z"]
        assert comps["diffuser.self"]["shape"] == [n, n + 1]


def test_decoded_matrices_match_the_arrays_within_one_step(tiny):
    equations, arrays = tiny
    eq = equations[0]
    p = explorer_payload(eq, arrays)
    tol = 1 / 255 + 1e-9
    for model in MODELS:
        for comp in COMPONENTS:
            last = arrays[f"{model}/{eq['id']}/{comp}"]
            layers = p["models"][model][comp]["layers"]
            for head in range(last.shape[0]):
                got = _matrix(p, model, comp, layers[-1], head)
                if comp == "diffuser.self":
                    pad = np.clip(1 - last[head].astype(np.float64).sum(-1), 0, 1)
                    assert np.abs(got[:, -1] - pad).max() <= tol
                    got = got[:, :-1]
                assert np.abs(got - last[head]).max() <= tol, (model, comp, head)
            if not comp.startswith("encoder"):
                first = arrays[f"{model}/{eq['id']}/{comp}.l1"].astype(np.float64)
                got = _matrix(p, model, comp, 1, 0)[:, : first.shape[2]]
                assert np.abs(got - first[0]).max() <= tol


def test_padding_mass_is_one_minus_row_sum(tiny):
    equations, arrays = tiny
    p = explorer_payload(equations[1], arrays)
    full = _matrix(p, "trained", "diffuser.self", 2, 0)
    assert np.allclose(full.sum(-1), 1.0, atol=full.shape[1] / 255)


def test_payload_is_deterministic(tiny, tiny_weights):
    equations, arrays = tiny
    first = [payload_json(explorer_payload(eq, arrays)) for eq in equations]
    again_eqs, again_arrays = run_analysis(_config(tiny_weights, TINY_IDS))
    again = [payload_json(explorer_payload(eq, again_arrays)) for eq in again_eqs["equations"]]
    assert first == again
    doc = json.loads(first[0])
    assert first[0] == json.dumps(doc, sort_keys=True, separators=(",", ":"))  # sorted keys, compact


# ----------------------------------------------------------------- size


def test_default_size_model_fits_the_budget_on_the_longest_equation(default_size):
    equations, arrays = default_size
    sizes = {}
    for eq_id, eq in equations.items():
        p = explorer_payload(eq, arrays)
        sizes[eq_id] = payload_size(p)
        assert sizes[eq_id] == len(payload_json(p).encode()) <= MAX_PAYLOAD_BYTES
        assert set(p["models"]) == set(MODELS) and set(p["components"]) == set(COMPONENTS)
    assert len(equations[LONGEST]["tokens"]) == 38
    assert sizes[LONGEST] == max(sizes.values())
    longest = explorer_payload(equations[LONGEST], arrays)
    typical = explorer_payload(equations[TYPICAL], arrays)
    # The typical equation keeps everything; the longest drops the control's per-layer data first.
    assert typical["reductions"] == []
    assert all(e["detail"] == "all" for m in typical["models"].values() for e in m.values())
    assert longest["reductions"][:4] == [
        f"control/{c}: last layer only"
        for c in ("decoder.cross", "decoder.self", "diffuser.cross", "diffuser.self")
    ]
    assert longest["models"]["control"]["diffuser.self"]["layers"] == [4]
    assert longest["models"]["trained"]["diffuser.self"]["layers"] == [1, 2, 3, 4]
    assert longest["models"]["trained"]["diffuser.self"]["heads"] == 4


def _synthetic(n_tokens: int, heads: int, layers: int, *, label: str = "x1"):
    """Random row-stochastic maps with the analysis's shapes."""
    rng = np.random.default_rng(0)
    tokens = ["BOS", *([label] * (n_tokens - 2)), "EOS"]
    shapes = {
        "encoder.isab1.mab1": (16, 50),
        "encoder.isab1.mab2": (50, 16),
        "encoder.isab2.mab1": (16, 50),
        "encoder.isab2.mab2": (50, 16),
        "encoder.pma": (1, 50),
        "diffuser.self": (n_tokens, n_tokens),
        "diffuser.cross": (n_tokens, 51),
        "decoder.self": (n_tokens, n_tokens),
        "decoder.cross": (n_tokens, 51),
    }
    arrays = {}
    for model in MODELS:
        for comp, (q, k) in shapes.items():
            per_layer = []
            for _ in range(1 if comp.startswith("encoder") else layers):
                a = rng.random((heads, q, k))
                a /= a.sum(-1, keepdims=True) * (1.2 if comp == "diffuser.self" else 1.0)
                per_layer.append(a)
            arrays[f"{model}/e_1/{comp}"] = per_layer[-1].astype(np.float32)
            if not comp.startswith("encoder"):
                for i, a in enumerate(per_layer):
                    arrays[f"{model}/e_1/{comp}.l{i + 1}"] = a.astype(np.float16)
    return {"id": "e_1", "tokens": tokens, "token_types": ["special"] * n_tokens}, arrays


@pytest.mark.parametrize(("heads", "layers"), [(8, 6), (16, 8), (32, 8)])
def test_large_models_are_reduced_in_the_documented_order_and_never_exceed(heads, layers):
    eq, arrays = _synthetic(48, heads, layers)
    p = explorer_payload(eq, arrays)
    assert payload_size(p) <= MAX_PAYLOAD_BYTES
    order = {"last layer only": 0, "mean of heads only (last layer)": 1, "matrices omitted": 2}
    steps = [(order[r.split(": ")[1]], r.split("/")[0] != "control") for r in p["reductions"]]
    assert steps == sorted(steps), p["reductions"]  # by stage; control before trained in each
    for model in MODELS:
        for entry in p["models"][model].values():
            assert entry["layers"] == [int(k) for k in entry["data"]]
            if entry["detail"] == "mean":
                assert (
                    entry["layers"] == [entry["n_layers"]] and len(entry["data"][str(entry["n_layers"])]) == 1
                )
            if entry["detail"] == "omitted":
                assert entry["data"] == {}
    # The report's main component is the last thing to go.
    assert p["models"]["trained"]["diffuser.self"]["detail"] != "omitted"


def test_long_labels_lead_to_omitted_matrices_within_budget():
    eq, arrays = _synthetic(48, 1, 2, label="v" * 540)
    p = explorer_payload(eq, arrays)
    assert payload_size(p) <= MAX_PAYLOAD_BYTES
    assert p["reductions"][-1].endswith("matrices omitted")
    assert not any("mean of heads" in r for r in p["reductions"])  # one head: its own mean
    omitted = [(m, c) for m in MODELS for c, e in p["models"][m].items() if e["detail"] == "omitted"]
    first = next(r for r in p["reductions"] if r.endswith("matrices omitted"))
    assert first == "control/decoder.cross: matrices omitted"
    assert ("trained", "diffuser.self") not in omitted
    assert all(p["models"][m][c]["layers"] == [] for m, c in omitted)


def test_impossible_budget_raises_instead_of_exceeding():
    eq, arrays = _synthetic(8, 1, 1, label="x" * 40_000)
    with pytest.raises(ValueError, match="exceeds"):
        explorer_payload(eq, arrays)


def test_mismatched_tokens_are_rejected(tiny):
    equations, arrays = tiny
    eq = dict(equations[0], tokens=equations[0]["tokens"][:-1])
    with pytest.raises(ValueError, match="tokens"):
        explorer_payload(eq, arrays)


def test_quantisation_round_trip():
    a = np.array([[0.0, 0.5, 1.0], [1 / 3, 0.999, 0.002]])
    got = decode_matrix(encode_matrix(a), a.shape)
    assert np.abs(got - a).max() <= 0.5 / 255 + 1e-12
    assert decode_matrix(encode_matrix(np.array([[np.nan, 2.0, -1.0]])), (1, 3)).tolist() == [[0.0, 1.0, 0.0]]


# ----------------------------------------------------------------- markup


def test_explorer_html_escapes_everything():
    out = explorer_html(HOSTILE, f'data/"{HOSTILE}.json', name=f"Ohm's {HOSTILE} & co")
    assert "<script" not in out and "alert(1)</" not in out
    assert '"><' not in out.replace('">\n<noscript', "").replace('">this', "")
    assert out.startswith('<div class="attention-explorer" data-src="data/&quot;&lt;script&gt;')
    assert 'data-equation="&lt;script&gt;alert(1)&lt;/script&gt;"' in out
    assert "Ohm&#x27;s" in out and "&amp; co" in out
    assert "<noscript>" in out and out.rstrip().endswith("</div>")
    # One raw-HTML block for Markdown: no blank lines inside.
    assert "\n\n" not in out.strip()


def test_explorer_html_plain():
    out = explorer_html("feynman_001", "../data/feynman_001.json")
    assert re.search(r'data-src="\.\./data/feynman_001\.json" data-equation="feynman_001"', out)


def test_relative_data_url():
    assert (
        relative_data_url("equations/feynman_001.md", "equations/data/feynman_001.json")
        == "../data/feynman_001.json"
    )
    assert (
        relative_data_url(
            "equations/feynman_001.md", "equations/data/feynman_001.json", use_directory_urls=False
        )
        == "data/feynman_001.json"
    )
    assert relative_data_url("equations/index.md", "equations/data/x.json") == "data/x.json"


# ----------------------------------------------------------------- script and style


def test_script_uses_no_inner_html_or_network():
    js = SCRIPT.read_text()
    assert "innerHTML" not in js and "outerHTML" not in js and "insertAdjacentHTML" not in js
    assert "eval(" not in js and "document.write" not in js
    assert "http://" not in js and "https://" not in js and "XMLHttpRequest" not in js
    for hook in (
        "document$",
        "DOMContentLoaded",
        "data-query-index",
        "data-weight",
        "aria-label",
        'el("canvas"',
    ):
        assert hook in js


def test_style_follows_the_material_palette():
    css = STYLE.read_text()
    for var in ("--md-default-fg-color", "--md-default-bg-color", "--md-accent-fg-color"):
        assert var in css
    assert ":focus-visible" in css
    assert "url(" not in css and "@import" not in css  # nothing fetched


@pytest.fixture(scope="module")
def node():
    exe = shutil.which("node")
    if exe is None:
        pytest.skip("node is not installed")
    return exe


def test_script_syntax(node):
    subprocess.run([node, "--check", str(SCRIPT)], check=True, capture_output=True, timeout=60)


def test_script_decodes_what_python_encodes(node, tiny, tmp_path):
    equations, arrays = tiny
    p = explorer_payload(equations[0], arrays)
    data = tmp_path / "payload.json"
    data.write_text(payload_json(p))
    probe = f"""
    const ex = require({json.dumps(str(SCRIPT))});
    const p = JSON.parse(require("fs").readFileSync({json.dumps(str(data))}, "utf8"));
    const out = {{}};
    for (const comp of ["diffuser.self", "decoder.cross", "encoder.isab1.mab2"]) {{
      const layer = p.models.trained[comp].layers.slice(-1)[0];
      out[comp] = {{h0: Array.from(ex.matrixFor(p, "trained", comp, layer, 0)),
                   mean: Array.from(ex.matrixFor(p, "trained", comp, layer, "mean"))}};
    }}
    const sl = p.models.trained["diffuser.self"].layers.slice(-1)[0];
    out.top = ex.sharedTop(p, "diffuser.self", sl, 0);
    out.relative = [ex.isRelative("../data/x.json"), ex.isRelative("https://x/y.json"), ex.isRelative("//x/y.json")];
    out.csv = ex.csvCell("=cmd");
    out.format = ex.FORMAT;
    process.stdout.write(JSON.stringify(out));
    """
    res = subprocess.run([node, "-e", probe], check=True, capture_output=True, text=True, timeout=60)
    got = json.loads(res.stdout)
    for comp in ("diffuser.self", "decoder.cross", "encoder.isab1.mab2"):
        layer = p["models"]["trained"][comp]["layers"][-1]
        h0 = _matrix(p, "trained", comp, layer, 0)
        mats = [_matrix(p, "trained", comp, layer, h) for h in range(p["models"]["trained"][comp]["heads"])]
        np.testing.assert_allclose(np.array(got[comp]["h0"]).reshape(h0.shape), h0, atol=1e-6)
        np.testing.assert_allclose(np.array(got[comp]["mean"]).reshape(h0.shape), np.mean(mats, 0), atol=1e-6)
    # the colour scale's top is the map's largest weight in either model: trained and control on one scale
    layer = p["models"]["trained"]["diffuser.self"]["layers"][-1]
    tops = {m: float(_matrix(p, m, "diffuser.self", layer, 0).max()) for m in p["models"]}
    assert len(tops) == 2 and got["top"] == pytest.approx(max(tops.values()), abs=1e-6)
    assert got["relative"] == [True, False, False]
    assert got["csv"] == "'=cmd"
    assert got["format"] == p["format"]
