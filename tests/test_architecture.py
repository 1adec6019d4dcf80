"""The home page's architecture diagram: drawn from the configuration, valid SVG, text inside its boxes."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from physdocs.models.config import DecoderConfig, EncoderConfig, SystemConfig
from physdocs.report.architecture import ARCHITECTURE_PATH, Budget, architecture_svg, boxes

SVG = "{http://www.w3.org/2000/svg}"
BUDGET = Budget(diffusion_steps=20, diffusion_samples=48, beam_size=32, ar_samples=64, n_support=50,
                operon_seeds=8, holdout=0.25)


def texts(svg: str) -> list[str]:
    return [t.text for t in ET.fromstring(svg).iter(f"{SVG}text")]


def test_every_size_comes_from_the_configuration():
    small = architecture_svg(SystemConfig(), BUDGET)
    big = architecture_svg(SystemConfig(encoder=EncoderConfig(n_isab=3, n_inducing=32, input_dim=96),
                                        diffuser=DecoderConfig(n_layers=6, n_heads=8, length_head=True)),
                           Budget(diffusion_steps=12))
    assert "2 × ISAB, 16 inducing" in texts(small) and "3 × ISAB, 32 inducing" in texts(big)
    assert "4 layers × 4 heads, d = 128" in texts(small) and "6 layers × 8 heads, d = 128" in texts(big)
    assert "20 refinement steps" in texts(small) and "12 refinement steps" in texts(big)
    assert "up to 9 inputs + y" in texts(small) and "up to 5 inputs + y" in texts(big)  # 16 bits per number
    # What the budget does not record is left out, not invented.
    assert not any("canvases" in t or "beam" in t for t in texts(big))


def test_memory_says_what_the_decoders_read():
    assert "memory: a key per point + z" in texts(architecture_svg(SystemConfig(), BUDGET))
    assert "memory: z alone (one key)" in texts(architecture_svg(SystemConfig(memory="pooled"), BUDGET))


@pytest.mark.parametrize("system", [SystemConfig(), SystemConfig(encoder=EncoderConfig(d_model=1024, n_heads=16))])
def test_each_line_fits_its_box(system):
    # Helvetica's average advance is about half the font size; 13 px lines, 15 px bold titles.
    for box in boxes(system, BUDGET)[0]:
        for line, size in [(box.title, 15 * 1.1), *((s, 13) for s in box.lines)]:
            assert 0.5 * size * len(line) + 4 <= box.w, (box.title, line)
        assert 44 + 18 * (len(box.lines) - 1) <= box.h - 6, box.title


def test_text_is_escaped_and_the_document_parses():
    svg = architecture_svg(SystemConfig(), BUDGET)
    root = ET.fromstring(svg)  # raises on malformed XML
    assert root.tag == f"{SVG}svg" and root.get("viewBox")
    assert root.find(f"{SVG}title").text.startswith("PhysDiffuser+")


def test_the_home_page_embeds_and_links_it(tmp_path):
    from physdocs.report.pages import render_pages
    from physdocs.results.analysis import Results
    from tests.report_fakes import FakeAnalysisConfig, synthetic_run

    raw, _ = synthetic_run(FakeAnalysisConfig())
    pages = render_pages(Results.from_json(raw), set())
    assert ET.fromstring(pages[ARCHITECTURE_PATH]).tag == f"{SVG}svg"
    home = pages["index.md"]
    assert home.index("<svg") < home.index("## This build")  # the drawing opens the page
    assert f'href="{ARCHITECTURE_PATH}"' in home

    # Weights whose configuration was not recorded: no drawing, no file, the page still renders.
    raw["meta"]["model_config"] = {}
    pages = render_pages(Results.from_json(raw), set())
    assert ARCHITECTURE_PATH not in pages and "<svg" not in pages["index.md"]
