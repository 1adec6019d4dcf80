"""The glossary defines every method by its registry label and every term the report uses,
and every link the home page's summary makes into it lands on an entry."""

from __future__ import annotations

import re

from physdocs.methods import REGISTRY
from physdocs.report import summary as S
from tests.report_fakes import ROOT
from tests.test_summary import CLAIMS, planted

GLOSSARY = (ROOT / "docs" / "glossary.md").read_text(encoding="utf-8")
HEADINGS = [line.lstrip("#").strip().lower() for line in GLOSSARY.splitlines() if line.startswith("#")]
ANCHORS = set(re.findall(r"\{: #([\w-]+) \}", GLOSSARY))

#: The concepts the report's pages use, each named in a heading of the glossary.
TERMS = ("PhysDiffuser", "AR decoder", "model alone", "pipeline", "Operon alone", "canvas", "PAD", "length head",
         "revision", "wobble", "flicker", "z slot", "pooled memory slot", "MAB1", "MAB2", "ISAB", "PMA",
         "inducing points", "held-out", "held-back", "exact recovery", "R² > 0.99", "Wilson interval",
         "Freedman–Lane permutation", "Holm correction", "paired bootstrap", "minimum effect",
         "random-initialised control", "seed report", "seed", "McNemar's exact test", "Newcombe interval",
         "knockout", "logit lens", "decision layer", "path patching")


def test_every_method_of_the_registry_is_defined_by_its_label():
    missing = [m.label for m in REGISTRY if not any(m.label.lower() in h for h in HEADINGS)]
    assert not missing


def test_every_term_is_defined():
    missing = [t for t in TERMS if not any(t.lower() in h for h in HEADINGS)]
    assert not missing
    # "seed": the three meanings told apart
    seed = GLOSSARY[GLOSSARY.index("{: #seed }"):]
    assert all(s in seed for s in ("random seed", "seeding Operon", "PMA seed"))


def test_every_link_of_the_summary_lands_on_an_entry():
    text = " ".join(str(i.text) + " ".join(map(str, i.items)) for i in S.summary(planted(12, 0), CLAIMS))
    linked = set(re.findall(r"\]\(glossary\.md#([\w-]+)\)", text))
    declared = {a for _, a, _ in S.RATE_METHODS} | set(S.DECODER_TERMS.values())
    assert {"pipeline", "control", "minimum-effect"} <= linked and linked | declared <= ANCHORS
    assert len(ANCHORS) == GLOSSARY.count("{: #")  # no anchor twice


def test_the_glossary_is_in_the_navigation():
    import yaml

    nav = yaml.safe_load((ROOT / "mkdocs.yml").read_text())["nav"]
    assert {"Glossary": "glossary.md"} in nav
