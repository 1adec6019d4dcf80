"""From analysis results to pages: pure functions, results in, Markdown out.

Each ``*_data`` function selects and arranges what one page shows; every number it passes on
is taken from ``results`` (a :class:`~physdocs.results.analysis.Results`, or the evaluation
JSON inside it) unchanged, and the templates only format it. :func:`render_pages` renders them all: ``{site path: markdown}``.

``figures`` (the set of site paths of the figures this build renders) decides which images a
page shows, so a small or seed-only build never links to a missing figure.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping, Sequence
from dataclasses import replace
from typing import Any

import jinja2
import numpy as np
from markupsafe import Markup, escape

from physdocs import methods as M
from physdocs.analysis import schema as S
from physdocs.analysis.schema import ClaimResult
from physdocs.benchmark import TIERS
from physdocs.constants import ALPHA
from physdocs.methods import REGISTRY
from physdocs.report import answers as A
from physdocs.report import explorer as X
from physdocs.report import figures as F
from physdocs.report import readout_page as RP
from physdocs.report.apparatus import About
from physdocs.report.architecture import ARCHITECTURE_PATH, Budget, architecture_svg
from physdocs.report.evaluation_page import (
    equal_time_table,
    evaluation_data,
    grid_summary,
    method_label,
    method_pairs,
    method_tier_rows,
    rate_ci,
    stage_rows,
    training_metadata,
    training_summary,
    untimed_note,
)
from physdocs.report.render import render, tex_ok
from physdocs.report.summary import paired_by_tier, summary
from physdocs.results.analysis import Results, log_legs
from physdocs.results.equal_time import EqualTime
from physdocs.results.equations import EquationRecord, Trajectory
from physdocs.results.evaluation import ResultRow
from physdocs.results.readout import DECODER_LABELS, POINT_FEATURES

COMPONENT_NAMES = {c.id: c.name for c in S.COMPONENTS}
ENCODER = tuple(c.id for c in S.COMPONENTS if c.kind == "encoder")
MODELS = S.MODELS
TOKEN_TYPES = S.TOKEN_TYPES
#: The token-type tables' rows: each type, the operators together after the two operator types.
TABLE_TYPES = (*S.OPERATOR_TYPES, S.OPERATOR, *(t for t in TOKEN_TYPES if t not in S.OPERATOR_TYPES))

# ----------------------------------------------------------------- shared pieces


def tiers_present(results: Results) -> list[str]:
    """Tiers with at least one analysed equation, in benchmark order."""
    have = {eq.tier for eq in results.equations}
    return [t for t in TIERS if t in have]


def claims_for(results: Results, page: str) -> list[ClaimResult]:
    """The findings the registry places on ``page`` (a site path), in registry order."""
    return [c for c in results.claims if page in c.pages]


def entropy_table(results: Results, component: str) -> dict[str, Any]:
    """Rows per tier for one component: trained, control and uniform entries, and the seed's value."""
    tables, meta = results.tiers, results.meta
    has_seed = component == "diffuser.self" and bool(meta.seed_entropy_by_tier)
    out = []
    for tier in tiers_present(results):
        out.append(
            {
                "tier": tier,
                **{m: tables.entropy_row(component, tier, m) for m in ("trained", "control", "uniform")},
                "seed": meta.seed_entropy(tier) if has_seed else None,
            }
        )
    return {"component": component, "name": COMPONENT_NAMES[component], "rows": out, "has_seed": has_seed}


def token_type_table(results: Results, component: str) -> dict[str, Any]:
    """Rows per (tier, type) for one self-attention component: trained and control side by side."""
    tables = results.tiers
    out = []
    for tier in tiers_present(results):
        for typ in TABLE_TYPES:
            trained, control = (tables.token_type_row(component, tier, typ, m) for m in ("trained", "control"))
            if trained is None and control is None:
                continue
            out.append({"tier": tier, "type": typ, "label": S.TYPE_LABELS[typ], "trained": trained,
                        "control": control})
    return {"component": component, "name": COMPONENT_NAMES[component], "rows": out}


def _figure(path: str, figures: Collection[str]) -> str | None:
    return path if path in figures else None


def seed_map_figures(results: Results, component: str, figures: Collection[str]) -> list[dict]:
    """The seed's per-equation maps of one component that this build has."""
    out = []
    for eq_id in F.SEED_EQUATIONS:
        eq, path = results.equation(eq_id), F.seed_map_path(eq_id, component)
        if eq is not None and path in figures:
            out.append({"id": eq_id, "name": eq.name, "tier": eq.tier, "path": path})
    return out


def common(results: Results) -> dict[str, Any]:
    meta = results.meta
    return {
        "n_equations": meta.n_equations,
        "weights": meta.weights,
        "weights_sha256": meta.weights_sha256,
        "seed": meta.seed,
        "tiers": tiers_present(results),
    }


# ----------------------------------------------------------------- evaluation


def evaluation_rows(results: Results, eq_id: str) -> list[ResultRow]:
    """One equation's evaluation rows; a prediction's LaTeX is dropped when page math cannot hold it."""
    rows = results.evaluation.rows_of(eq_id) if results.evaluation else ()
    return [replace(r, latex=r.latex if r.latex and tex_ok(r.latex) else None) for r in rows]


# ----------------------------------------------------------------- page data


def overall_accuracy(results: Results) -> list[dict[str, Any]]:
    """Each method over the whole benchmark: exact and R² > 0.99 with intervals, and mean seconds."""
    evaluation = results.evaluation
    out = []
    for m, d in method_pairs(evaluation) if evaluation else ():
        overall, timing = evaluation.outcome(m, d, "all"), evaluation.timing_row(m, d, "all")
        out.append({"method": method_label(m, d), "exact": rate_ci(overall.exact),
                    "r2": rate_ci(overall.r2_gt_099), "seconds": timing.mean_seconds if timing else None,
                    "seconds_note": untimed_note(evaluation, m, d)})
    return out


def home_architecture(results: Results) -> str | None:
    """The architecture diagram (SVG) of the analysed weights, or None when the analysis did not
    record their configuration."""
    if not results.meta.model_config:
        return None
    from physdocs.models.config import SystemConfig  # imports torch: only when pages are rendered

    evaluation = results.evaluation.meta.config if results.evaluation else None
    return architecture_svg(SystemConfig.from_dict(dict(results.meta.model_config)),
                            Budget.from_configs(results.meta.config, evaluation))


def index_data(results: Results, figures: Collection[str], about: About | None = None,
               architecture: str | None = None) -> dict[str, Any]:
    """The home page: the summary's sentences and figure first; the claims table is on findings.md.

    ``about``: author, version and build date, and the citation, closing the page (None: left out).
    ``architecture``: the diagram (:func:`home_architecture`) the page opens with (None: left out).
    """
    return {**common(results), "n_claims": len(results.claims), "summary": summary(results.evaluation, results.claims),
            # built by architecture_svg, every text escaped
            "architecture": None if architecture is None else Markup(architecture),
            "architecture_path": ARCHITECTURE_PATH,
            "summary_figure": _figure(F.SUMMARY_PATH, figures),
            "summary_paired": bool(paired_by_tier(results.evaluation)), "accuracy": overall_accuracy(results),
            "pipeline_label": M.BY_KEY["pipeline"].label, "operon_label": M.BY_KEY["operon"].label,
            "about": about, "bibtex": about.bibtex() if about else None}


def methodology_data(results: Results, figures: Collection[str]) -> dict[str, Any]:
    """The generated end of methodology.md (after its hand-written prose): how the maps were captured.

    It is said here once, from the analysis' own note (its noise levels); every page that shows
    a map links to it.
    """
    return {"capture_note": results.meta.capture}


def encoder_data(results: Results, figures: Collection[str]) -> dict[str, Any]:
    return {
        **common(results),
        "figure": _figure(F.ENCODER_PATH, figures),
        "encoder_equation": F.SEED_ENCODER_EQUATION,
        "coverage": results.inducing_coverage,
        "tables": [entropy_table(results, c) for c in ENCODER],
        "claims": claims_for(results, "encoder.md"),
    }


def head_role_rows(results: Results, model: str = "trained") -> dict[str, Any] | None:
    """The trained diffuser's loss increase per token type when one head is removed, per head."""
    roles = results.head_roles_of(model)
    if roles is None:
        return None
    rows = [{"layer": layer + 1, "head": head + 1, "values": values}
            for layer, heads in enumerate(roles.increase) for head, values in enumerate(heads)]
    return {"types": roles.types, "rows": rows}


def diffuser_self_data(results: Results, figures: Collection[str]) -> dict[str, Any]:
    return {
        **common(results),
        "keys": results.tiers.keys,
        "roles": head_role_rows(results),
        "maps": seed_map_figures(results, "diffuser.self", figures),
        "entropy_figure": _figure(F.ENTROPY_PATH, figures),
        "head_importance_figure": _figure(F.HEAD_IMPORTANCE_PATH, figures),
        "table": entropy_table(results, "diffuser.self"),
        "claims": claims_for(results, "diffuser-self-attention.md"),
    }


def cross_attention_data(results: Results, figures: Collection[str]) -> dict[str, Any]:
    return {
        **common(results),
        "single_slot": results.single_slot,
        "keys": results.tiers.keys,
        "maps": seed_map_figures(results, "diffuser.cross", figures),
        "tables": [entropy_table(results, c) for c in ("diffuser.cross", "decoder.cross")],
        "claims": claims_for(results, "cross-attention.md"),
    }


def decoder_data(results: Results, figures: Collection[str]) -> dict[str, Any]:
    return {
        **common(results),
        "self_maps": seed_map_figures(results, "decoder.self", figures),
        "cross_maps": seed_map_figures(results, "decoder.cross", figures),
        "head_importance_figure": _figure(F.HEAD_IMPORTANCE_PATH, figures),
        "tables": [entropy_table(results, c) for c in ("decoder.self", "decoder.cross")],
    }


def token_grid(steps: Sequence[Mapping[str, Any]], width: int) -> Markup:
    """A trajectory as a compact HTML grid: one column per step that changed the canvas, one row
    per position; a token fixed at that step is marked ``new``, a masked slot shows ``·``.

    Steps that change nothing are left out (the step numbers show the gap), so the grid is
    at most as wide as the number of steps; every value is escaped.
    """
    kept, previous = [], None
    for s in steps:
        tokens = list(s["tokens"][:width])
        if previous is None or tokens != previous:
            kept.append((int(s["step"]), tokens, previous))
            previous = tokens
    head = "".join(f"<th>{step}</th>" for step, _, _ in kept)
    rows = []
    for i in range(width):
        cells = []
        for _, tokens, before in kept:
            tok = tokens[i] if i < len(tokens) else ""
            cls = "mask" if tok == "MASK" else ("new" if before is not None and before[i] != tok else "")
            text = "·" if tok == "MASK" else str(escape(tok))
            cells.append(f'<td class="{cls}">{text}</td>' if cls else f"<td>{text}</td>")
        rows.append(f"<tr><th>{i}</th>{''.join(cells)}</tr>")
    return Markup(
        '<div class="token-grid"><table class="token-grid-table"><thead><tr><th>position \\ step</th>'
        + head + "</tr></thead><tbody>" + "".join(rows) + "</tbody></table></div>"
    )


def trajectory_rows(trajectory: Trajectory, truth: Sequence[str] = ()) -> dict[str, Any]:
    """A refinement trajectory as one line per step, and what it spent its steps on.

    Columns run to the final canvas's first ``EOS`` (or else its last non-``PAD`` token).
    ``first_equation_step``, ``pad_only_steps``, ``revisions`` and ``repeated_variable`` are
    the analysis record's (:func:`physdocs.trajectory.trajectory_stats`).
    ``matches_truth``: the decoded equation is the true one, token for token (one argmax
    sample; the evaluation draws many more).
    """
    tokens = trajectory.tokens
    final = tokens[-1] if tokens else ()
    real = [i for i, t in enumerate(final) if t != "PAD"]
    width = final.index("EOS") + 1 if "EOS" in final else (real[-1] + 1 if real else len(final))
    decoded = list(final[:width])
    steps = [{"step": s, "tokens": row[:width]} for s, row in enumerate(tokens)]
    return {
        "width": width,
        "steps": steps,
        "grid": token_grid(steps, width),
        "final": _strip_padding(trajectory.final),
        "flicker_rate": trajectory.flicker_rate,
        "first_equation_step": trajectory.stats.first_equation_step,
        "pad_only_steps": trajectory.stats.pad_only_steps,
        "revisions": trajectory.stats.revisions,
        "repeated_variable": trajectory.stats.repeated_variable,
        "matches_truth": bool(truth) and decoded == list(truth),
    }


def trajectory_summary(results: Results, model: str) -> dict[str, Any]:
    """Over every equation's argmax trajectory: the median first equation step and PAD-only
    steps, and how many decodes revise a token or repeat a variable in adjacent leaves."""
    rows = [eq.models[model].trajectory.stats for eq in results.equations]
    firsts = [r.first_equation_step for r in rows if r.first_equation_step is not None]
    return {
        "n": len(rows),
        "first_equation_step": float(np.median(firsts)) if firsts else None,
        "pad_only_steps": float(np.median([r.pad_only_steps for r in rows])) if rows else None,
        "revised": sum(r.revisions > 0 for r in rows),
        "repeated_variable": sum(r.repeated_variable for r in rows),
    }


def _strip_padding(tokens: Sequence[str]) -> list[str]:
    out = list(tokens)
    while out and out[-1] == "PAD":
        out.pop()
    return out


def trajectories_data(results: Results, figures: Collection[str]) -> dict[str, Any]:
    shown = []
    for eq in filter(None, map(results.equation, F.SEED_TRAJECTORIES)):
        shown.append(
            {
                "id": eq.id,
                "name": eq.name,
                "tier": eq.tier,
                "figure": _figure(F.trajectory_path(eq.id), figures),
                **{m: trajectory_rows(eq.models[m].trajectory, eq.tokens) for m in MODELS},
            }
        )
    flicker = [{"id": eq.id, "tier": eq.tier, **{m: eq.models[m].trajectory.flicker_rate for m in MODELS}}
               for eq in results.equations]
    return {
        **common(results),
        "trajectories": shown,
        "summary": {m: trajectory_summary(results, m) for m in MODELS},
        "flicker": flicker,
        "claims": claims_for(results, "trajectories.md"),
    }


def evidence_data(results: Results, figures: Collection[str]) -> dict[str, Any]:
    return {
        **common(results),
        "figure": _figure(F.TOKEN_TYPE_PATH, figures),
        "tables": [token_type_table(results, c) for c in ("diffuser.self", "decoder.self")],
        "claims": claims_for(results, "evidence.md"),
    }


def entropy_scaling_data(results: Results, figures: Collection[str]) -> dict[str, Any]:
    return {
        **common(results),
        "figure": _figure(F.ENTROPY_PATH, figures),
        "tables": [entropy_table(results, c) for c in COMPONENT_NAMES],
        "claims": claims_for(results, "entropy-scaling.md"),
    }


def findings_data(results: Results, figures: Collection[str]) -> dict[str, Any]:
    return {**common(results), "claims": list(results.claims), "split": results.split or None}


def causal_data(results: Results, figures: Collection[str]) -> dict[str, Any]:
    """The interventions of the causal artifact (``physdocs causal``), trained beside control."""
    causal = results.causal
    if causal is None:
        return {**common(results), "causal": None}
    trained, control = causal.models["trained"], causal.models["control"]

    def below(p: float | None) -> bool:
        return p is not None and p < ALPHA

    heads = list(trained.heads)
    reseed = trained.reseed
    decoded = [h for h in heads if h.ablation.behaviour is not None]
    most = max(decoded, key=lambda h: (h.ablation.behaviour.lost, -h.ablation.behaviour.gained.k), default=None)
    return {
        **common(results),
        "causal": causal,
        "meta": causal.meta,
        "decode": causal.decode,
        "trained": trained,
        "control": control,
        "reseed": reseed,
        "claims": claims_for(results, "causal.md"),
        "cross": [(c, control.condition(c.name)) for c in trained.cross],
        "patching": trained.patching,
        "control_patching": control.patching,
        "patching_layers": [(r, control.patching.layer_row(r.layer)) for r in trained.patching.layers],
        "heads": heads,
        "behaviour_significant": [h for h in decoded if below(h.ablation.behaviour.p_holm)],
        "loss_raised": [h for h in heads if below(h.loss_p_holm) and (h.ablation.loss.value or 0) > 0],
        "loss_lowered": [h for h in heads if below(h.loss_p_holm) and (h.ablation.loss.value or 0) < 0],
        # the head that takes away the most derivations, and the smallest unadjusted McNemar p
        "most_lost": most,
        "smallest_p": min((h.ablation.behaviour.p_value for h in decoded), default=None),
        "random_decoded": [h for h in heads if h.ablation.random_behaviour is not None],
        "agreement": trained.agreement,
        "alpha": ALPHA,
    }


def faithfulness_data(results: Results, figures: Collection[str]) -> dict[str, Any]:
    """Knockouts of the most, randomly and least attended keys, and which observations are favoured."""
    r = results.readout
    data = {**common(results), "readout": r, "claims": claims_for(results, "faithfulness.md")}
    if r is None:
        return data
    return {**data, "cross_rows": RP.knockout_rows(r, "cross_attn"), "self_rows": RP.knockout_rows(r, "self_attn"),
            "key_types": r.key_types, "favoured": RP.favoured_rows(r), "features": POINT_FEATURES,
            "labels": DECODER_LABELS}


def readout_data(results: Results, figures: Collection[str]) -> dict[str, Any]:
    """The logit lens of both decoders, path patching, and where each decides."""
    r = results.readout
    data = {**common(results), "readout": r, "claims": claims_for(results, "readout.md")}
    if r is None:
        return data
    return {**data, "figure": _figure(F.READOUT_PATH, figures), "lens": r.lens, "where": RP.where_decided(r),
            "comparison": RP.comparison_sentence(r), "patching": r.patching, "parts": r.parts,
            "labels": DECODER_LABELS}


def evaluation_page_data(results: Results, figures: Collection[str],
                         equal_time: EqualTime | None = None) -> dict[str, Any]:
    """The evaluation page; ``equal_time`` is the equal-time benchmark, shown for the evaluation's weights."""
    return {
        **common(results),
        "evaluation": evaluation_data(results.evaluation),
        "equal_time": equal_time_table(equal_time, results.evaluation),
        "accuracy_figure": _figure(F.ACCURACY_PATH, figures),
        "training_figure": _figure(F.TRAINING_PATH, figures),
        "data_dependence_figure": _figure(F.DATA_DEPENDENCE_PATH, figures),
        "grid_figures": [
            {"decoder": d, "path": F.GRID_PATH.format(decoder=d)}
            for d in ("diffusion", "ar") if F.GRID_PATH.format(decoder=d) in figures
        ],
        "trained_meta": training_metadata(results.meta.trained_meta),
        "methods": method_tier_rows(results.evaluation) if results.evaluation else None,
        "stages": stage_rows(results.evaluation) if results.evaluation else [],
        "grid_summary": grid_summary(results.evaluation.grid if results.evaluation else None),
        "n_log_records": len(results.training_log),
        "training_summary": training_summary(results.log, log_legs(results.training_log)),
    }


#: The methods the equations index shows (the rest are on each equation's page).
INDEX_METHODS = tuple((m.model, m.decoder) for m in REGISTRY if m.index)


def derived_cell(row: ResultRow | None) -> dict[str, Any]:
    """One method on one equation in the index: derived (R² above the threshold) or not, and its R²."""
    if row is None:
        return {"mark": None, "r2": None}
    return {"mark": "✓" if row.derived else "✗", "r2": row.r2_test}


def equations_index_data(results: Results, figures: Collection[str]) -> dict[str, Any]:
    """Every equation: tier, formula, entropy, and per main method ✓ (derived) or ✗ with its R²."""
    evaluation = results.evaluation
    tier_order = {t: i for i, t in enumerate(TIERS)}
    present = sorted({(r.model, r.decoder) for r in evaluation.results}) if evaluation else []
    # the index shows the methods a reader compares first; every method is on each equation's page
    decoders = [d for d in INDEX_METHODS if d in present] or present
    rows = []
    for eq in results.equations:
        rows.append(
            {
                "id": eq.id,
                "name": eq.name,
                "tier": eq.tier,
                "tier_rank": tier_order.get(eq.tier, len(tier_order)),
                "latex": eq.latex,
                "n_tokens": len(eq.tokens),
                "entropy": eq.models["trained"].entropy["diffuser.self"],
                "cells": [derived_cell(evaluation.result(eq.id, *d)) for d in decoders],
            }
        )
    return {**common(results), "rows": rows, "decoders": [method_label(*d) for d in decoders],
            "evaluated": bool(decoders), "more_methods": len(present) > len(decoders), "threshold": A.THRESHOLD}


def equation_page(eq_id: str) -> str:
    """Site path of an equation's page."""
    return f"equations/{eq_id}.md"


#: HTML escaping for a title, and attr_list's braces as character references (as in the page body).
_TITLE_REFS = str.maketrans(
    {"<": "&lt;", ">": "&gt;", "&": "&amp;", '"': "&#34;", "'": "&#39;", "{": "&#123;", "}": "&#125;"}
)


def page_title(text: str) -> Markup:
    """A page title for YAML front matter: escaped HTML, as a JSON (so YAML) double-quoted string.

    Without it mkdocs takes the title from the page's first heading, and Material writes that
    into ``<title>`` through Jinja's ``striptags``, which *unescapes* entities: a name holding
    ``</title><script>`` would become live markup. Material writes ``page.meta.title`` as given.
    """
    return Markup(json.dumps(text.translate(_TITLE_REFS), ensure_ascii=True))


def explorer_block(eq: EquationRecord) -> Markup:
    """The attention explorer's container for an equation page (escaped by :func:`X.explorer_html`)."""
    url = X.relative_data_url(equation_page(eq.id), X.data_path(eq.id))
    return Markup(X.explorer_html(eq.id, url, name=eq.name))


def equation_data(
    eq: EquationRecord,
    results: Results,
    figures: Collection[str],
    variables: Sequence[Mapping[str, Any]] = (),
    explorer: bool = False,
    overview: str | None = None,
) -> dict[str, Any]:
    """One equation's page: formula, each method's verdicts and answer, variables, entropy per
    component, trajectories.

    ``explorer``: whether the build wrote this equation's explorer payload (:func:`X.data_path`);
    ``overview``: its attention overview block (:func:`physdocs.report.overview.overview_html`).
    """
    models = eq.models
    entropy = [
        {"component": c, "name": name, **{m: models[m].entropy_of(c) for m in MODELS}}
        for c, name in COMPONENT_NAMES.items()
        if any(c in models[m].entropy for m in MODELS)
    ]
    rows = evaluation_rows(results, eq.id)
    return {
        "title": page_title(f"{eq.id}: {eq.name}"),
        "eq": eq,
        "tokens": list(zip(eq.tokens, eq.token_types, strict=True)),
        "variables": list(variables),
        "entropy": entropy,
        "inducing_specialisation": {m: models[m].inducing_specialisation for m in MODELS},
        "answers": A.answers(rows, variables, results.evaluation),
        "behind": A.behind_operon(rows),
        "threshold": A.THRESHOLD,
        "evaluated": bool(results.evaluation),
        "overview": Markup(overview) if overview else None,
        "explorer": explorer_block(eq) if explorer else None,
        "trajectory": {m: trajectory_rows(models[m].trajectory) for m in MODELS},
    }


# ----------------------------------------------------------------- rendering

#: site path -> (template, data function)
SECTION_PAGES = {
    "index.md": ("index.md.j2", index_data),
    "encoder.md": ("encoder.md.j2", encoder_data),
    "diffuser-self-attention.md": ("diffuser_self_attention.md.j2", diffuser_self_data),
    "cross-attention.md": ("cross_attention.md.j2", cross_attention_data),
    "decoder.md": ("decoder.md.j2", decoder_data),
    "trajectories.md": ("trajectories.md.j2", trajectories_data),
    "evidence.md": ("evidence.md.j2", evidence_data),
    "entropy-scaling.md": ("entropy_scaling.md.j2", entropy_scaling_data),
    "findings.md": ("findings.md.j2", findings_data),
    "causal.md": ("causal.md.j2", causal_data),
    "faithfulness.md": ("faithfulness.md.j2", faithfulness_data),
    "readout.md": ("readout.md.j2", readout_data),
    "evaluation.md": ("evaluation.md.j2", evaluation_page_data),
    "equations/index.md": ("equations_index.md.j2", equations_index_data),
    # appended to docs/methodology.md by the build (physdocs.report.build.write_mode)
    "methodology.md": ("methodology.md.j2", methodology_data),
}


def render_pages(
    results: Results,
    figures: Collection[str],
    variables: Mapping[str, Sequence[Mapping[str, Any]]] | None = None,
    env: jinja2.Environment | None = None,
    explorer: Collection[str] = (),
    overviews: Mapping[str, str] | None = None,
    equal_time: EqualTime | None = None,
    about: About | None = None,
) -> dict[str, str]:
    """Every page: ``{site path: markdown}``.

    ``variables[eq_id]`` lists an equation's inputs; ``explorer`` holds the ids of the
    equations whose explorer payload the build writes (their pages embed the explorer);
    ``overviews[eq_id]`` is an equation's attention overview block (HTML); ``equal_time``
    the equal-time benchmark (the evaluation page shows it); ``about`` the author, version,
    build date and citation (the home page ends with them).
    An error on one equation's page is re-raised as :class:`EquationPageError` naming it.
    """
    pages = {}
    for eq in results.equations:  # first, so a fault in one equation's data is named
        try:
            data = equation_data(
                eq, results, figures, (variables or {}).get(eq.id, ()), explorer=eq.id in explorer,
                overview=(overviews or {}).get(eq.id),
            )
            pages[equation_page(eq.id)] = render("equation.md.j2", env, **data)
        except Exception as exc:
            raise EquationPageError(eq.id, exc) from exc
    drawing = home_architecture(results)  # the home page embeds it and links this file
    extra = {"evaluation.md": {"equal_time": equal_time}, "index.md": {"about": about, "architecture": drawing}}
    sections = {path: render(tpl, env, **fn(results, figures, **extra.get(path, {})))
                for path, (tpl, fn) in SECTION_PAGES.items()}
    return {**sections, **pages, **({ARCHITECTURE_PATH: drawing} if drawing else {})}


class EquationPageError(RuntimeError):
    """Rendering one equation's page failed; the message names the equation and the cause."""

    def __init__(self, eq_id: str, cause: BaseException):
        super().__init__(
            f"equation {eq_id}: its page could not be rendered ({type(cause).__name__}: {cause})"
        )
        self.eq_id = eq_id
