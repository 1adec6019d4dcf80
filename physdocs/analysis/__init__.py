"""Attention analysis: metrics as pure functions on arrays, statistics, and the seed's claims.

* :mod:`physdocs.analysis.metrics` -- entropy, attention received by token type, rollout,
  inducing-point specialisation, refinement-trajectory measures, tree depths.
* :mod:`physdocs.analysis.stats` -- bootstrap CIs, Spearman with CI, permutation tests.
* :mod:`physdocs.analysis.claims` -- the seed's seven findings as computed tests
  (:class:`~physdocs.analysis.claims.ClaimResult`).

Nothing here imports torch or a model: every function takes numpy arrays.
"""
