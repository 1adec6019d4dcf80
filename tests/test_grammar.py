"""Grammar: arity table, prefix round trips (property-based), sympy, LaTeX, evaluation."""

import numpy as np
import pytest
import sympy as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from physdocs.grammar import (
    ARITY,
    BINARY,
    CONSTANTS,
    UNARY,
    VARIABLES,
    VOCAB,
    GrammarError,
    Node,
    decode_sequence,
    encode_sequence,
    evaluate,
    flatten,
    parse_infix,
    prefix_to_tree,
    to_latex,
    to_sympy,
    token_type,
    tree_to_prefix,
)

leaves = st.sampled_from([*VARIABLES, *CONSTANTS]).map(Node)


def _extend(children):
    return st.one_of(
        st.tuples(st.sampled_from(UNARY), children).map(lambda t: Node(t[0], (t[1],))),
        st.tuples(st.sampled_from(BINARY), children, children).map(lambda t: Node(t[0], (t[1], t[2]))),
    )


trees = st.recursive(leaves, _extend, max_leaves=12)


def test_vocabulary_is_the_seed_s_plus_what_the_benchmark_needs():
    for tok in ("PAD", "BOS", "EOS", "MASK", "STEP", "END_STEP", "add", "sub", "mul", "div", "pow",
                "sin", "cos", "exp", "log", "sqrt", "neg", "x1", "x9", "C", "pi"):
        assert tok in VOCAB
    assert len(set(VOCAB)) == len(VOCAB)
    assert all(ARITY[op] == 2 for op in BINARY) and all(ARITY[op] == 1 for op in UNARY)


@settings(max_examples=300, deadline=None)
@given(trees)
def test_prefix_round_trip(tree):
    assert prefix_to_tree(tree_to_prefix(tree)) == tree
    assert decode_sequence(encode_sequence([tree])) == (tree,)


@pytest.mark.parametrize(
    "tokens, message",
    [(["mul", "x1"], "ended early"), (["x1", "x2"], "left after"), (["foo"], "unknown")],
)
def test_bad_prefix_is_a_clear_error(tokens, message):
    with pytest.raises(GrammarError, match=message):
        prefix_to_tree(tokens)


def test_infix_keeps_written_structure_and_names_faults():
    names = {"q1": "x1", "q2": "x2", "eps": "x3", "r": "x4"}
    tree = parse_infix("q1*q2/(4*pi*eps*r**2)", names)
    assert tree_to_prefix(tree)[:4] == ["div", "mul", "x1", "x2"]
    with pytest.raises(GrammarError, match="unknown symbol 'tanh'"):
        parse_infix("tanh(q1)", names)
    with pytest.raises(GrammarError, match="wrong arity"):
        parse_infix("sin(q1, q2)", names)
    with pytest.raises(GrammarError, match="not a declared variable"):
        parse_infix("q1*z", names)


def test_latex_and_token_types():
    tree = parse_infix("m*c**2", {"m": "x1", "c": "x2"})
    assert to_latex(tree, {"x1": "m", "x2": "c"}) == "c^{2} m"
    assert [token_type(t) for t in ["mul", "sin", "x3", "pi", "EOS"]] == [
        "binary", "unary", "variable", "constant", "special"]


def test_evaluation_reports_domain_problems_instead_of_hiding_them():
    x = np.array([[4.0], [-1.0], [0.0]])
    ev = evaluate(parse_infix("sqrt(a)", {"a": "x1"}), x)
    assert ev.n_nan == 1 and not ev.ok and np.isnan(ev.values[1])
    ev = evaluate(parse_infix("1/a", {"a": "x1"}), x)
    assert ev.n_inf == 1 and np.isinf(ev.values[2])
    assert evaluate(parse_infix("a*2", {"a": "x1"}), np.ones((3, 1))).ok


def test_constants_are_taken_in_prefix_order():
    tree = Node("add", (Node("mul", (Node("C"), Node("x1"))), Node("C")))
    np.testing.assert_allclose(evaluate(tree, np.array([[2.0]]), constants=(3.0, 1.0)).values, [7.0])
    with pytest.raises(GrammarError, match="2 constant"):
        evaluate(tree, np.array([[2.0]]), constants=(3.0,))


def test_multi_step_sequences_flatten_to_the_same_values():
    steps = (parse_infix("p*c", {"p": "x1", "c": "x2"}),
             parse_infix("sqrt(s1**2 + (m*c**2)**2)", {"s1": "s1", "m": "x3", "c": "x2"}))
    tokens = encode_sequence(steps)
    assert tokens[:2] == ["BOS", "STEP"] and tokens.count("END_STEP") == 2
    assert decode_sequence(tokens) == steps
    x = np.random.default_rng(1).uniform(1, 3, size=(20, 3))
    flat = flatten(steps)
    np.testing.assert_allclose(evaluate(steps, x).values, evaluate(flat, x).values)
    expected = np.sqrt((x[:, 0] * x[:, 1]) ** 2 + (x[:, 2] * x[:, 1] ** 2) ** 2)
    np.testing.assert_allclose(evaluate(flat, x).values, expected)
    with pytest.raises(GrammarError, match="not an earlier step"):
        decode_sequence(["BOS", "STEP", "s1", "END_STEP", "STEP", "x1", "END_STEP", "EOS"])


def test_sympy_symbols_and_fitted_constants():
    tree = parse_infix("C*x + 2", {"x": "x1"})
    assert to_sympy(tree, constants=[1.5]) == sp.Float(1.5) * sp.Symbol("x1", positive=True) + 2
