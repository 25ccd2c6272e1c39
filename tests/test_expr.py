import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import actbench
from actbench import ArityError, Expr, ParseError, UnknownOperatorError, evaluate, parse
from actbench.expr import MAX_DEPTH, MAX_LENGTH
from actbench.ops import OPERATORS


def _exprs(max_leaves: int = 12):
    """Random expression trees over the whole registry."""
    names = {k: [n for n, op in OPERATORS.items() if op.kind == k] for k in ("unary", "binary", "nary")}

    def extend(children):
        return st.one_of(
            st.builds(lambda op, a: Expr(op, (a,)), st.sampled_from(names["unary"]), children),
            st.builds(lambda op, a, b: Expr(op, (a, b)), st.sampled_from(names["binary"]), children, children),
            st.builds(lambda op, a: Expr(op, tuple(a)), st.sampled_from(names["nary"]),
                      st.lists(children, min_size=2, max_size=4)),
        )

    return st.recursive(st.just(Expr("x")), extend, max_leaves=max_leaves)


@settings(max_examples=300, deadline=None)
@given(_exprs(), st.data())
def test_round_trip_any_spacing(expr, data):
    text = str(expr)
    assert " " not in text
    assert parse(text) == expr
    # insert random whitespace between tokens: parsing must not care
    pads = st.sampled_from(["", " ", "\t", "\n "])
    spaced = re.sub(r"[(),]", lambda m: data.draw(pads) + m.group(0) + data.draw(pads), text)
    assert parse(spaced) == expr
    assert str(parse(spaced)) == text


@settings(max_examples=100, deadline=None)
@given(_exprs(max_leaves=6))
def test_pretty_and_latex_are_total(expr):
    assert expr.pretty()
    assert expr.latex()


def test_canonical_spelling_and_structure():
    e = parse("  min( square(x) ,selu( x ) ) ")
    assert str(e) == "min(square(x),selu(x))"
    assert e.op == "min" and [str(a) for a in e.args] == ["square(x)", "selu(x)"]
    assert e.depth == 2
    assert e.operators() == ["min", "square", "selu"]
    assert repr(e) == "Expr('min(square(x),selu(x))')"
    assert parse(e) is e
    assert hash(parse("relu(x)")) == hash(parse(" relu ( x ) "))


@pytest.mark.parametrize("name, pretty", [
    ("mul(hard_sigmoid(hard_sigmoid(x)),elu(x))", "HardSigmoid(HardSigmoid(x)) · ELU(x)"),
    ("sub(x,add(x,x))", "x − (x + x)"),
    ("add(x,sub(x,x))", "x + x − x"),
    ("div(x,mul(x,x))", "x / (x · x)"),
    ("mul(add(x,x),x)", "(x + x) · x"),
    ("pow(negative(x),square(x))", "(−x)^(x²)"),
    ("max_n(x,relu(x),zero(x))", "max{x, ReLU(x), 0}"),
    ("identity(abs(x))", "|x|"),
    ("reciprocal(swish(x))", "1/Swish(x)"),
    ("sum_n(sigmoid(x),one(x),tanh(x))", "Sigmoid(x) + 1 + tanh(x)"),
])
def test_pretty(name, pretty):
    assert parse(name).pretty() == pretty


def test_latex():
    assert parse("div(x,relu(x))").latex() == "\\frac{x}{\\operatorname{ReLU}\\left(x\\right)}"
    assert parse("square(sigmoid(x))").latex() == "{\\sigma\\left(x\\right)}^{2}"


# --- errors: every branch of the parser --------------------------------------------------------


@pytest.mark.parametrize("text, position, fragment", [
    ("", 0, "empty function name"),
    ("   ", 3, "empty function name"),
    ("relu(x", 6, "expected ')'"),
    ("relu x", 5, "expected '(' after operator 'relu'"),
    ("relu", 4, "expected '(' after operator 'relu'"),
    ("relu(x))", 7, "after the end of the expression"),
    ("relu(x) relu(x)", 8, "after the end of the expression"),
    ("relu(x)+1", 7, "unexpected character '+'"),
    ("relu(2)", 5, "unexpected character '2'"),
    ("relu()", 5, "expected 'x' or an operator, found ')'"),
    ("add(x,)", 6, "expected 'x' or an operator"),
    ("x(x)", 0, "'x' is the input variable and takes no arguments"),
])
def test_parse_errors_say_where(text, position, fragment):
    with pytest.raises(ParseError) as info:
        parse(text)
    err = info.value
    assert isinstance(err, ValueError)
    assert err.position == position
    assert fragment in str(err)
    # the caret sits under the reported position
    lines = str(err).splitlines()
    assert lines[-1].index("^") - 2 == position


def test_unknown_operator_did_you_mean():
    with pytest.raises(UnknownOperatorError) as info:
        parse("mul(rleu(x),x)")
    assert isinstance(info.value, ParseError)
    assert info.value.op == "rleu" and info.value.position == 4
    assert "did you mean 'relu'" in str(info.value)
    with pytest.raises(UnknownOperatorError, match="did you mean 'relu'"):
        parse("ReLU(x)")  # case is suggested too
    with pytest.raises(UnknownOperatorError) as info:
        parse("qqqqqqq(x)")
    assert "did you mean" not in str(info.value) and "actbench ops" in str(info.value)


@pytest.mark.parametrize("text, fragment", [
    ("relu(x,x)", "unary operator 'relu' takes exactly 1 argument, got 2"),
    ("add(x)", "binary operator 'add' takes exactly 2 arguments, got 1"),
    ("add(x,x,x)", "binary operator 'add' takes exactly 2 arguments, got 3"),
    ("sum_n(x)", "nary operator 'sum_n' takes at least 2 arguments, got 1"),
])
def test_arity(text, fragment):
    with pytest.raises(ArityError, match=fragment):
        parse(text)


def test_limits():
    deep_ok = "relu(" * MAX_DEPTH + "x" + ")" * MAX_DEPTH
    assert parse(deep_ok).depth == MAX_DEPTH
    too_deep = "relu(" * (MAX_DEPTH + 1) + "x" + ")" * (MAX_DEPTH + 1)
    with pytest.raises(ParseError, match="nesting deeper than the limit"):
        parse(too_deep)
    with pytest.raises(ParseError, match="characters long, more than the limit") as info:
        parse("relu(" * 3000 + "x" + ")" * 3000)
    assert len(str(info.value).splitlines()[1]) < 200  # a window, not the whole input
    assert MAX_LENGTH < 20_000


def test_type_error():
    with pytest.raises(TypeError, match="must be a str"):
        parse(42)  # type: ignore[arg-type]


def test_evaluate_defaults_and_dtypes():
    y = evaluate("relu(x)")
    assert y.dtype == np.float64 and y.shape == (1000,)
    assert np.array_equal(y, np.maximum(actbench.sample_points(), 0))
    y32 = evaluate("swish(x)", [1.0, -2.0], dtype=np.float32)
    assert y32.dtype == np.float32
    np.testing.assert_allclose(y32, [1 / (1 + np.exp(-1)), -2 / (1 + np.exp(2))], rtol=1e-6)
    assert evaluate(parse("x"), 3.0) == 3.0
    with pytest.raises(ValueError, match="float32 or float64"):
        evaluate("relu(x)", [1.0], dtype=np.int64)


def test_evaluate_gives_ieee_values_without_warnings():
    # filterwarnings=error in pyproject turns any RuntimeWarning into a failure
    y = evaluate("div(one(x),x)", [0.0, -0.0, 1.0])
    assert np.isposinf(y[0]) and np.isneginf(y[1]) and y[2] == 1.0
    assert np.isnan(evaluate("pow(x,reciprocal(square(x)))", [-2.0]))[0]  # (-2)**0.25
    assert np.isinf(evaluate("exp(exp(x))", [10.0]))[0]
    assert np.isnan(evaluate("sub(exp(exp(x)),exp(exp(x)))", [10.0]))[0]
