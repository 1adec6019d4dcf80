"""What an evaluation runs: the typed configuration and the names of its strata."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from physdocs.baselines import GPConfig
from physdocs.constants import DEFAULT_SEED
from physdocs.decoding.derive import DERIVE_BEAM
from physdocs.decoding.diffusion import BeamConfig
from physdocs.decoding.refine import RefineConfig
from physdocs.decoding.search import SearchConfig
from physdocs.methods import BASELINES, DECODERS

VARIANTS = ("original", "shifted", "noisy")
EXPOSURE_STRATA = ("never drawn", "1-999 draws", "1,000+ draws")
VARIABLE_GROUPS = ("1-2", "3-4", "5-9")


@dataclass(frozen=True)
class EvalConfig:
    seed: int = DEFAULT_SEED
    decoders: tuple[str, ...] = ("ar", "diffusion")
    models: tuple[str, ...] = ("trained", "control")
    # The budget is counted in candidates and rounds, never seconds, so a seed gives the same
    # result on any machine; the seconds are reported (target: under 10 s per equation).
    beam_size: int = 32  # AR beams
    ar_samples: int = 32  # AR ancestral samples beside the beams
    # Diffusion canvases (first guess): the sampler's 48 and the diffuser's beam search's best
    # 48 (DERIVE_BEAM's share; physdocs.decoding.derive says what was measured), then 2 rounds
    # of refinement: at most 144 candidates, as the sampler's 48 with 4 rounds were.
    # diffusion_beam=None: the sampler alone.
    n_samples: int = 96
    diffusion_beam: BeamConfig | None = DERIVE_BEAM
    refine: RefineConfig | None = RefineConfig(rounds=2)  # diffusion only; None = first guess only
    restarts: int = 4
    # Probes beside the benchmark (physdocs.probes), trained model only; "pipeline" is the
    # derivation pipeline on the benchmark (physdocs.decoding.search).
    parts: tuple[str, ...] = ("benchmark", "synthetic", "grid", "pipeline")
    synthetic_per_split: int = 100
    # Benchmark copies for the trained model ("original" always runs; see the module doc).
    variants: tuple[str, ...] = VARIANTS
    # Classical baselines on the benchmark: gplearn (physdocs.baselines) and Operon alone
    # (physdocs.decoding.operon, at the pipeline's counted budget).
    baselines: tuple[str, ...] = ()
    gp: GPConfig = GPConfig()
    # The derivation pipeline (model candidates -> seeded Operon -> held-back choice), part "pipeline".
    search: SearchConfig = SearchConfig()
    n_support: int = 50
    n_test: int = 200
    weights: str | None = None
    benchmark: str | None = None  # an equations TOML file; None = the packaged benchmark
    tier: str | None = None
    limit: int | None = None
    workers: int = 2

    def __post_init__(self) -> None:
        counts = {k: getattr(self, k) for k in ("beam_size", "n_samples", "restarts", "n_support", "n_test", "workers")}
        bad = {k: v for k, v in counts.items() if v < 1}
        if bad or self.ar_samples < 0 or self.synthetic_per_split < 0:
            raise ValueError(f"EvalConfig counts must be >= 1 (ar_samples, synthetic_per_split >= 0); got "
                             f"{bad or {'ar_samples': self.ar_samples, 'synthetic_per_split': self.synthetic_per_split}}")
        unknown = set(self.parts) - {"benchmark", "synthetic", "grid", "pipeline"}
        if set(self.variants) - set(VARIANTS):
            raise ValueError(f"EvalConfig: unknown variants {sorted(set(self.variants) - set(VARIANTS))}; "
                             f"variants are {', '.join(VARIANTS)}")
        if unknown or set(self.baselines) - set(BASELINES) or set(self.decoders) - set(DECODERS):
            raise ValueError(f"EvalConfig: unknown parts {sorted(unknown)}, baselines {self.baselines} or "
                             f"decoders {self.decoders}; parts are benchmark/synthetic/grid/pipeline, baselines "
                             f"{'/'.join(BASELINES)}, decoders {'/'.join(DECODERS)}")

    def to_dict(self) -> dict:
        return asdict(self)

    def decoder_budget(self, decoder: str) -> dict:
        """The keyword budget of :func:`physdocs.decoding.derive.derive` for one decoder alone."""
        return {"n_samples": self.n_samples if decoder == "diffusion" else self.ar_samples,
                "beam_size": self.beam_size, "restarts": self.restarts,
                "refine": self.refine if decoder == "diffusion" else None,
                "diffusion_beam": self.diffusion_beam if decoder == "diffusion" else None}
