"""Operon (``pyoperon``), a genetic-programming engine with local constant fitting, seeded by the model.

The model's best distinct candidates are written as Operon infix and placed in the first
individuals of Operon's population; Operon then searches for a counted budget (evaluations
and generations, never seconds, one thread: the same seed gives the same front on any
machine). Two objectives, accuracy and length (NSGA-II), give a front of formulas, one per
size; the caller chooses among them on held-back points (Operon's own choice, minimum
description length on the training points, prefers long trees).

Writing seeds for Operon's parser: ``^``/``**`` and a bare unary minus are avoided (the
parser misreads ``**`` and crashes on ``-X1``), so integer powers become products or
``square``, other powers ``exp(k * log(b))``, and ``-a`` becomes ``((-1) * a)``.

Operon is driven through its core API (:class:`_Engine`) with the settings of its
scikit-learn wrapper, which would cost a derive over a second of start-up importing
scikit-learn; a test checks that both give the same front.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from physdocs.decoding.from_sympy import UnsupportedExpression, from_sympy
from physdocs.grammar import INTEGERS, Node

#: Operon's primitives: those of our grammar that Operon has (``square`` for ``x**2``).
SYMBOLS = "add,sub,mul,div,constant,variable,sin,cos,exp,log,sqrt,square"


@dataclass(frozen=True)
class OperonConfig:
    """Operon's counted budget and settings (about 1-3 s per equation on one core)."""

    max_evaluations: int = 150_000
    generations: int = 500
    population_size: int = 500
    max_length: int = 40
    symbols: str = SYMBOLS
    # Wall-clock seconds for the run (None: the counts alone bound it). Only for equal-time
    # comparisons: a time limit makes the result depend on the machine.
    max_time: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class OperonError(RuntimeError):
    """Operon could not be run (the message says why and the fix)."""


def _num(v: float) -> str:
    return f"({v!r})" if v < 0 else repr(v)


def to_infix(steps: Node | Sequence[Node], constants: Sequence[float]) -> str:
    """Our (fitted) tree as Operon infix over ``X1 ..``, constants written as numbers.

    A derivation's steps are written one after another, each ``s<j>`` replaced by step
    ``j``'s text, so every constant is read once, in the order the fitter wrote it.
    """
    seq = (steps,) if isinstance(steps, Node) else tuple(steps)
    values = iter(constants)
    refs: dict[str, str] = {}

    def w(n: Node) -> str:
        s = n.symbol
        if s == "C":
            return _num(float(next(values)))
        if s == "pi":
            return repr(math.pi)
        if s in INTEGERS:
            return f"{int(s)}.0"
        if s in refs:
            return f"({refs[s]})"
        if s.startswith("x") and not n.children:
            return f"X{s[1:]}"
        if s == "neg":
            return f"((-1.0) * {w(n.children[0])})"
        if s in ("sin", "cos", "exp", "log", "sqrt"):
            return f"{s}({w(n.children[0])})"
        a = w(n.children[0])
        if s == "pow":
            ex = n.children[1]
            if ex.symbol in INTEGERS:
                k = int(ex.symbol)
                return f"square({a})" if k == 2 else "(" + " * ".join([a] * k) + ")"
            return f"exp(({w(ex)}) * log({a}))"
        b = w(n.children[1])
        return f"({a} {dict(add='+', sub='-', mul='*', div='/')[s]} {b})"

    text = ""
    for k, step in enumerate(seq, start=1):
        text = w(step)
        refs[f"s{k}"] = text
    return text


def _sympy_of(tree, variables: dict[int, str]):
    """Operon's postfix node list as a sympy expression (sympy merges its numbers)."""
    import sympy as sp

    stack: list[Any] = []
    for n in tree.Nodes:
        name = n.Name
        if n.IsVariable:
            weight, symbol = float(n.Value), sp.Symbol(variables[n.HashValue])
            stack.append(symbol if weight == 1.0 else sp.Float(weight) * symbol)
        elif n.IsConstant:
            stack.append(sp.Float(float(n.Value)))
        elif n.Arity == 1:
            a = stack.pop()
            fn = {"square": lambda v: v**2, "sqrt": sp.sqrt, "exp": sp.exp, "log": sp.log,
                  "sin": sp.sin, "cos": sp.cos}.get(name)
            if fn is None:
                raise UnsupportedExpression(f"Operon primitive {name!r}")
            stack.append(fn(a))
        else:  # Operon's n-ary nodes pop their children in order
            args = [stack.pop() for _ in range(n.Arity)]
            op = {"+": sp.Add, "*": sp.Mul}.get(name)
            if op is not None:
                stack.append(op(*args))
            elif name == "-":
                stack.append(args[0] - sp.Add(*args[1:]))
            elif name == "/":
                stack.append(args[0] / sp.Mul(*args[1:]))
            else:
                raise UnsupportedExpression(f"Operon primitive {name!r}")
    if len(stack) != 1:
        raise UnsupportedExpression("malformed Operon tree")
    return stack[0]


def _drop_tiny_offset(expr, below: float):
    """Operon adds an intercept to every model; one that is a fitting residue is dropped."""
    import sympy as sp

    if expr.is_Add:
        keep = [a for a in expr.args if not (a.is_Number and abs(float(a)) < below)]
        return sp.Add(*keep)
    return expr


#: Operon's mutation operators, each with weight 1, in the order its scikit-learn wrapper adds them.
MUTATIONS = ("onepoint", "multipoint", "discretepoint", "changevar", "changefunc", "insertsubtree",
             "replacesubtree", "removesubtree")


class _Engine:
    """One NSGA-II run of Operon on ``(x, y)``, built from its core API.

    These are the settings of ``pyoperon.sklearn.SymbolicRegressor`` with our
    :class:`OperonConfig` (objectives r2 and length, btc initialisation, tournaments of 5,
    subtree crossover, the eight mutations, keep-best reinsertion), assembled here so a
    derive need not import scikit-learn (over a second of start-up). The same seed gives
    the wrapper's front exactly (``tests/test_search.py``).
    """

    def __init__(self, x: np.ndarray, y: np.ndarray, cfg: OperonConfig, seed: int, *, generations: int,
                 max_evaluations: int):
        import pyoperon as op

        self.op, self.seed = op, seed
        self.y = np.ascontiguousarray(y, dtype=np.float64)
        self.data = np.asfortranarray(np.column_stack((x, self.y)))  # the dataset reads this buffer: kept
        self.ds = op.Dataset(self.data)
        target = max(self.ds.Variables, key=lambda v: v.Index)
        self.variables = {v.Hash: v.Name for v in sorted(self.ds.Variables, key=lambda v: v.Index)
                          if v.Hash != target.Hash}  # hash -> "X1" ..
        inputs = list(self.variables)
        self.range = op.Range(0, self.ds.Rows)
        problem = op.Problem(self.ds)
        problem.TrainingRange, problem.TestRange = self.range, op.Range(self.ds.Rows - 1, self.ds.Rows)
        problem.Target, problem.InputHashes = target, inputs
        primitives = 0
        for s in cfg.symbols.split(","):
            primitives |= int(getattr(op.NodeType, s.strip().capitalize()))
        problem.ConfigurePrimitiveSet(primitives)
        pset = problem.PrimitiveSet
        creator = op.BalancedTreeCreator(pset, inputs, 0.0)
        coeff_init = op.NormalCoefficientInitializer()
        coeff_init.ParameterizeDistribution(0, 1)
        self.dtable = op.DispatchTable()
        optimizer = op.LMOptimizer(self.dtable, problem, 0, 0)  # no local iterations, as the wrapper's default
        r2_metric = op.R2()
        r2 = op.Evaluator(problem, self.dtable, r2_metric, True)
        length = op.LengthEvaluator(problem)
        evaluator = op.MultiEvaluator(problem)
        for e in (r2, length):
            e.Budget = max_evaluations
            evaluator.Add(e)
        evaluator.Budget = max_evaluations
        comparison = op.CrowdedComparison()
        female, male = op.TournamentSelector(comparison), op.TournamentSelector(comparison)
        female.TournamentSize = male.TournamentSize = 5
        reinserter = op.KeepBestReinserter(comparison)
        crossover = op.SubtreeCrossover(0.9, 10, cfg.max_length)  # internal-node probability, max depth, length
        mutations = [self._mutation(name, inputs, pset, creator, coeff_init, cfg.max_length) for name in MUTATIONS]
        mutation = op.MultiMutation()
        for m in mutations:
            mutation.Add(m, 1.0)
        coeff_optimizer = op.CoefficientOptimizer(optimizer)
        generator = op.BasicOffspringGenerator(evaluator, crossover, mutation, female, male, coeff_optimizer)
        initializer = op.UniformLengthTreeInitializer(creator)
        initializer.ParameterizeDistribution(pset.FunctionArityLimits()[0] + 1, min(10, cfg.max_length))
        initializer.MinDepth, initializer.MaxDepth = 1, 1000
        config = op.GeneticAlgorithmConfig(
            generations=generations, max_evaluations=max_evaluations, local_iterations=0,
            population_size=cfg.population_size, pool_size=cfg.population_size, p_crossover=1.0, p_mutation=0.25,
            p_local=1.0, p_lamarck=1.0, epsilon=1e-5, seed=seed,
            max_time=cfg.max_time if cfg.max_time is not None else sys.maxsize)
        sorter = op.RankSorter()
        self.gp = op.NSGA2Algorithm(config, problem, initializer, coeff_init, generator, reinserter, sorter)
        # Operon holds these by pointer: they live as long as the engine.
        self._keep = (problem, pset, creator, coeff_init, optimizer, r2_metric, r2, length, sorter, evaluator, comparison, female, male,
                      reinserter, crossover, mutations, mutation, coeff_optimizer, generator, initializer, config)

    def _mutation(self, name, inputs, pset, creator, coeff_init, max_length):
        op = self.op
        if name in ("onepoint", "multipoint"):
            m = op.NormalOnePointMutation() if name == "onepoint" else op.NormalMultiPointMutation()
            m.ParameterizeDistribution(0, 1)
            return m
        if name == "discretepoint":
            m = op.DiscretePointMutation()
            for c in op.Math.Constants:
                m.Add(c, 1.0)
            return m
        if name == "changevar":
            return op.ChangeVariableMutation(inputs)
        if name == "changefunc":
            return op.ChangeFunctionMutation(pset)
        if name == "insertsubtree":
            return op.InsertSubtreeMutation(creator, coeff_init, 10, max_length)
        if name == "replacesubtree":
            return op.ReplaceSubtreeMutation(creator, coeff_init, 10, max_length)
        return op.RemoveSubtreeMutation(pset)

    def run(self, individuals=None) -> list:
        """Evolve (from ``individuals`` when given); returns the final population."""
        if individuals is not None:
            self.gp.RestoreIndividuals(individuals)
            self.gp.IsFitted = True
        self.gp.Run(self.op.RandomGenerator(np.uint64(self.seed)), None, 1, True)
        return list(self.gp.Individuals)

    def front(self) -> list:
        """The front's trees, each with the least-squares scale and offset Operon fits to it appended."""
        op, out = self.op, []
        for member in self.gp.BestFront:
            pred = op.Evaluate(self.dtable, member.Genotype, self.ds, self.range)
            scale, offset = op.FitLeastSquares(pred, self.y)
            nodes = member.Genotype.Nodes
            if scale != 1:
                nodes += [op.Node.Constant(scale), op.Node.Mul()]
            if offset != 0:
                nodes += [op.Node.Constant(offset), op.Node.Add()]
            out.append(op.Tree(nodes).UpdateNodes())
        return out


def run_operon(
    x: np.ndarray, y: np.ndarray, seeds: Sequence[str], cfg: OperonConfig, seed: int
) -> tuple[list[tuple[Node, tuple[float, ...]]], dict[str, Any]]:
    """Operon's front on ``(x, y)``, started from ``seeds`` (infix over ``X1 ..``).

    Returns ``([(tree, constants), ...], stats)``: every front member that the grammar can
    write (simplified by sympy), and Operon's counters. Seeds that Operon cannot parse are
    skipped and counted in ``stats["seeds_rejected"]``.
    """
    try:
        import pyoperon as op
    except ImportError as exc:
        raise OperonError("pyoperon is not installed: pip install pyoperon==0.6.2") from exc
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if not (np.isfinite(x).all() and np.isfinite(y).all()):
        raise OperonError("Operon needs finite data: drop the rows with NaN or inf")
    with np.errstate(all="ignore"):  # a population to place the seeds in: one generation
        population = _Engine(x, y, cfg, seed, generations=1, max_evaluations=cfg.population_size).run()
    engine = _Engine(x, y, cfg, seed, generations=cfg.generations, max_evaluations=cfg.max_evaluations)
    hashes = {name: h for h, name in engine.variables.items()}
    placed, rejected = 0, 0
    for text in seeds[: cfg.population_size]:
        try:
            tree = op.InfixParser.Parse(text, hashes)
        except (RuntimeError, ValueError):
            rejected += 1
            continue
        population[placed].Genotype = tree
        placed += 1
    with np.errstate(all="ignore"):
        engine.run(population)
        trees = engine.front()
    names = {f"X{i}": f"x{i}" for i in range(1, x.shape[1] + 1)}
    front: list[tuple[Node, tuple[float, ...]]] = []
    negligible = 1e-6 * (float(np.std(y)) or 1.0)
    for tree in trees:
        try:
            expr = _drop_tiny_offset(_sympy_of(tree, engine.variables), negligible)
            front.append(from_sympy(expr, names))
        except (UnsupportedExpression, RecursionError, TypeError, ValueError):
            continue
    stats = {"generations": int(engine.gp.Generation), "seeds_placed": placed, "seeds_rejected": rejected,
             "front_size": len(trees)}
    return front, stats
