"""The schema: components declared once, hooks that exist, and a report that needs no torch."""

import subprocess
import sys

import pytest

from physdocs.analysis import schema as S


def test_every_component_hook_exists_in_the_model(tiny_weights):
    from physdocs.models.checkpoint import load_checkpoint

    names = set(load_checkpoint(tiny_weights).model.hook_names())
    for c in S.COMPONENTS:
        assert c.hook_name(0) in names, c.id
        if c.layered:
            assert c.hook_name(1) in names
    assert len(S.COMPONENT_IDS) == len(set(S.COMPONENT_IDS)) == 9


def test_unknown_component_names_the_known_ones():
    with pytest.raises(KeyError, match="diffuser.self"):
        S.component("diffuser.sideways")


def test_configs_refuse_bad_values_naming_them():
    with pytest.raises(ValueError, match="noise_levels"):
        S.AnalysisConfig(noise_levels=(1.5,))
    with pytest.raises(ValueError, match="n_boot"):
        S.AnalysisConfig(n_boot=0)


def test_the_report_builds_its_config_and_pages_without_torch():
    code = (
        "import sys\n"
        "from physdocs.report.build import BuildConfig, config_from_env\n"
        "from physdocs.report import pages, figures, explorer, evaluation_page, summary, architecture\n"
        "BuildConfig(); config_from_env({})\n"
        "heavy = [m for m in ('torch', 'scipy.stats', 'sympy', 'matplotlib') if m in sys.modules]\n"
        "assert not heavy, f'a warm build would import {heavy}'\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda: __import__("physdocs.models", fromlist=["x"]).DecoderConfig(d_model=130, n_heads=4), "d_model=130"),
        (lambda: __import__("physdocs.training.generator", fromlist=["x"]).GeneratorConfig(split="test"), "'test'"),
        (lambda: __import__("physdocs.training.loop", fromlist=["x"]).TrainConfig(batch_size=0), "batch_size"),
        (lambda: __import__("physdocs.evaluation", fromlist=["x"]).EvalConfig(n_samples=0), "n_samples"),
        (lambda: __import__("physdocs.evaluation", fromlist=["x"]).EvalConfig(parts=("bench",)), "bench"),
        (lambda: __import__("physdocs.decoding.refine", fromlist=["x"]).RefineConfig(rounds=0), "rounds=0"),
    ],
)
def test_every_config_refuses_bad_values_naming_them(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_the_report_recognises_input_errors_by_class_not_by_name():
    from physdocs.errors import InputError
    from physdocs.report import build

    class CheckpointError(Exception):  # the same name, but not one of the package's input errors
        pass

    assert not build.known_error(CheckpointError("x"))
    assert build.known_error(InputError("x")) and not build.known_error(ValueError("x"))


def test_array_keys_round_trip_through_layer_maps():
    import numpy as np

    arrays = {S.array_key("trained", "feynman_001", "diffuser.self", layer): np.full((1, 2, 2), layer, np.float16)
              for layer in (1, 2, 3)}
    arrays[S.array_key("trained", "feynman_001", "diffuser.self")] = np.full((1, 2, 2), 30.0, np.float32)
    maps = S.layer_maps(arrays, "trained", "feynman_001", "diffuser.self")
    assert list(maps) == [1, 2, 3] and maps[3].dtype == np.float32 and float(maps[1][0, 0, 0]) == 1.0
    enc = {S.array_key("trained", "feynman_001", "encoder.pma"): np.zeros((1, 1, 50))}
    assert list(S.layer_maps(enc, "trained", "feynman_001", "encoder.pma")) == [1]
