"""Every operator against an independent formula (mpmath or elementary math), on the sample points."""

import math

import mpmath
import numpy as np
import pytest
from scipy import special

from actbench import evaluate, sample_points
from actbench.ops import BINARY, EXTRA_UNARY, NARY, OPERATORS, UNARY, Operator, register

X = sample_points()


def _sig(v):
    return 1 / (1 + math.exp(-v))


def _softplus(v):
    return math.log1p(math.exp(v)) if v < 30 else v + math.log1p(math.exp(-v))


INDEPENDENT = {
    "zero": lambda v: 0.0,
    "one": lambda v: 1.0,
    "identity": lambda v: v,
    "negative": lambda v: -v,
    "abs": lambda v: abs(v),
    "reciprocal": lambda v: 1 / v,
    "square": lambda v: v * v,
    "exp": math.exp,
    "erf": lambda v: float(mpmath.erf(v)),
    "erfc": lambda v: float(mpmath.erfc(v)),
    "sinh": math.sinh,
    "cosh": math.cosh,
    "tanh": math.tanh,
    "expm1": math.expm1,
    "sigmoid": _sig,
    "log_sigmoid": lambda v: -_softplus(-v),
    "arcsinh": math.asinh,
    "arctan": math.atan,
    "bessel_i0e": lambda v: float(mpmath.besseli(0, v) * mpmath.exp(-abs(v))),
    "bessel_i1e": lambda v: float(mpmath.besseli(1, v) * mpmath.exp(-abs(v))),
    "relu": lambda v: max(v, 0.0),
    "elu": lambda v: v if v > 0 else math.exp(v) - 1,
    "selu": lambda v: 1.0507009873554805 * (v if v > 0 else 1.6732632423543772 * (math.exp(v) - 1)),
    "swish": lambda v: v * _sig(v),
    "softplus": _softplus,
    "softsign": lambda v: v / (1 + abs(v)),
    "hard_sigmoid": lambda v: min(1.0, max(0.0, 0.2 * v + 0.5)),  # TF 2.8 Keras, not x/6 + 0.5
    "elish": lambda v: v * _sig(v) if v > 0 else (math.exp(v) - 1) * _sig(v),
    "leakyrelu": lambda v: v if v >= 0 else 0.01 * v,
    "mish": lambda v: v * math.tanh(_softplus(v)),
    "gelu": lambda v: float(0.5 * v * (1 + mpmath.erf(v / mpmath.sqrt(2)))),
}


def test_registry_contents():
    assert len(UNARY) == 27 and len(BINARY) == 7 and len(NARY) == 4 and len(EXTRA_UNARY) == 4
    assert set(INDEPENDENT) == set(UNARY) | set(EXTRA_UNARY)
    assert all(OPERATORS[n].extra for n in EXTRA_UNARY) and not any(OPERATORS[n].extra for n in UNARY)


@pytest.mark.parametrize("name", list(UNARY) + list(EXTRA_UNARY))
def test_unary_against_independent_formula(name):
    got = evaluate(f"{name}(x)")
    want = np.array([INDEPENDENT[name](float(v)) for v in X])
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-14)
    assert np.isfinite(got).all()  # every unary op is finite on the sample points (none is 0)


def test_hard_sigmoid_is_tf_not_torch():
    y = evaluate("hard_sigmoid(x)", [-2.5, -1.0, 0.0, 1.0, 2.5, 3.0])
    np.testing.assert_allclose(y, [0.0, 0.3, 0.5, 0.7, 1.0, 1.0])


@pytest.mark.parametrize("name, formula", [
    ("add", lambda a, b: a + b),
    ("sub", lambda a, b: a - b),
    ("mul", lambda a, b: a * b),
    ("div", lambda a, b: a / b),
    ("max", max),
    ("min", min),
])
def test_binary_against_formula(name, formula):
    got = evaluate(f"{name}(erf(x),tanh(x))")
    want = np.array([formula(float(mpmath.erf(v)), math.tanh(v)) for v in X])
    np.testing.assert_allclose(got, want, rtol=1e-12)


def test_pow_is_ieee_pow():
    got = evaluate("pow(x,abs(x))")
    want = np.array([math.nan if v < 0 else v ** abs(v) for v in X])
    np.testing.assert_allclose(got, want, rtol=1e-12)
    assert np.isnan(got[X < 0]).all()
    assert evaluate("pow(x,square(x))", [-2.0])[0] == 16.0  # integer exponent: defined
    assert evaluate("pow(zero(x),negative(one(x)))", [1.0])[0] == math.inf


def test_max_min_propagate_nan():
    assert np.isnan(evaluate("max(x,pow(x,abs(x)))", [-0.5]))[0]
    assert np.isnan(evaluate("min_n(x,one(x),pow(x,abs(x)))", [-0.5]))[0]


@pytest.mark.parametrize("name, formula", [
    ("sum_n", lambda *a: sum(a)),
    ("prod_n", lambda *a: math.prod(a)),
    ("max_n", max),
    ("min_n", min),
])
def test_nary_against_formula(name, formula):
    got = evaluate(f"{name}(x,sigmoid(x),square(x))")
    want = np.array([formula(v, _sig(v), v * v) for v in X])
    np.testing.assert_allclose(got, want, rtol=1e-12)
    got4 = evaluate(f"{name}(x,one(x),x,negative(x))")
    np.testing.assert_allclose(got4, [formula(v, 1.0, v, -v) for v in X], rtol=1e-12)


@pytest.mark.parametrize("name", list(OPERATORS))
def test_float32_path_is_float32_and_close(name):
    op = OPERATORS[name]
    args = {"unary": "x", "binary": "x,sigmoid(x)", "nary": "x,sigmoid(x),x"}[op.kind]
    y64 = evaluate(f"{name}({args})")
    y32 = evaluate(f"{name}({args})", dtype=np.float32)
    assert y32.dtype == np.float32
    ok = np.isfinite(y64)
    np.testing.assert_allclose(y32[ok], y64[ok], rtol=2e-5, atol=1e-6)
    assert np.array_equal(np.isnan(y32), np.isnan(y64))


def test_extreme_inputs_do_not_warn():
    x = np.array([-1e308, -800.0, -1.0, -0.0, 0.0, 1e-320, 1.0, 800.0, 1e308, np.inf, -np.inf, np.nan])
    for name in OPERATORS:
        op = OPERATORS[name]
        args = {"unary": "x", "binary": "x,x", "nary": "x,x,x"}[op.kind]
        y = evaluate(f"{name}({args})", x)  # warnings are errors in this suite
        assert y.shape == x.shape


def test_register_rejects_duplicates_and_bad_names():
    with pytest.raises(ValueError, match="already registered"):
        register(OPERATORS["relu"])
    bad = Operator("x", "unary", np.abs, abs, "x", "x")
    with pytest.raises(ValueError, match="must be an identifier other than 'x'"):
        register(bad)
    assert special.expit(0.0) == 0.5  # scipy is the float64 path's dependency
