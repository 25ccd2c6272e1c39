"""``actbench eval``, ``space`` and ``ops``: the function language on the command line."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from actbench._version import __version__
from actbench.base.text import plural

__all__ = ["add_commands"]


def add_commands(sub) -> None:
    e = sub.add_parser(
        "eval",
        help="parse and evaluate one activation function",
        description="Parse NAME (e.g. 'swish(x)' or 'mul(hard_sigmoid(x), elu(x))'), print its canonical "
        "spelling, display forms, and its values: at the points given with --x, else a summary over "
        "the 1000 reference sample points. With --space, also its equivalence class in that space.",
    )
    e.add_argument("name", help="function name; quote it in the shell, e.g. 'min(square(x),selu(x))'")
    e.add_argument("--x", type=float, nargs="+", metavar="X", help="evaluate at these input values")
    e.add_argument("--dtype", choices=["float64", "float32"], default="float64",
                   help="arithmetic precision (default float64, the reference)")
    e.add_argument("--space", metavar="SPACE", help="also show the class in this space (act-bench, large)")
    e.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    e.set_defaults(func=_cmd_eval)

    s = sub.add_parser(
        "space",
        help="enumerate a search space and its equivalence classes",
        description="Enumerate the search space NAME, evaluate every function on the sample points, "
        "group equivalent functions, and print the counts. With -o, write one line per class: "
        "representative, class size, and all its names (tab-separated; names separated by spaces).",
    )
    s.add_argument("name", nargs="?", default="act-bench", help="space name (default act-bench)")
    s.add_argument("-o", "--output", type=Path, metavar="FILE", help="write the classes to FILE (TSV)")
    s.add_argument("--list", action="store_true", help="list the registered spaces and exit")
    s.set_defaults(func=_cmd_space)

    o = sub.add_parser("ops", help="list the operators of the function language",
                       description="List every operator with its kind and display name.")
    o.set_defaults(func=_cmd_ops)


def _cmd_eval(args: argparse.Namespace) -> int:
    from actbench.lang.expr import evaluate, parse
    from actbench.lang.space import get_space, sample_points

    expr = parse(args.name)
    x = np.asarray(args.x, dtype=np.float64) if args.x else sample_points()
    y = evaluate(expr, x, dtype=args.dtype)
    info: dict = {"name": str(expr), "pretty": expr.pretty(), "latex": expr.latex(), "dtype": args.dtype}
    if args.x:
        info["x"] = x.tolist()
        info["y"] = [_num(v) for v in y]
    else:
        finite = y[np.isfinite(y)]
        info["sample_points"] = {
            "n": int(y.size), "nan": int(np.isnan(y).sum()), "inf": int(np.isinf(y).sum()),
            "min": _num(finite.min()) if finite.size else None,
            "max": _num(finite.max()) if finite.size else None,
            "mean": _num(finite.mean()) if finite.size else None,
        }
    if args.space:
        space = get_space(args.space)
        info["space"] = args.space
        info["representative"] = space.canonical(expr)
        info["equivalents"] = space.equivalents(expr)
    if args.json:
        print(json.dumps(info, indent=2))
        return 0
    print(f"name       {info['name']}\npretty     {info['pretty']}\nlatex      {info['latex']}")
    if args.x:
        for xi, yi in zip(info["x"], info["y"]):
            print(f"f({xi:g}) = {yi}")
    else:
        sp = info["sample_points"]
        print(f"on the {sp['n']} sample points ({args.dtype}): min {sp['min']}, max {sp['max']}, "
              f"mean {sp['mean']}, {sp['nan']} NaN, {sp['inf']} inf")
    if args.space:
        eq = info["equivalents"]
        print(f"class in {args.space!r}: representative {info['representative']}, {plural(len(eq), 'name')}")
    return 0


def _num(v: float) -> float | str:
    v = float(v)
    return v if np.isfinite(v) else str(v)


def _cmd_space(args: argparse.Namespace) -> int:
    from actbench.lang.space import SPACES, get_space

    if args.list:
        for spec in SPACES.values():
            print(f"{spec.name:<12} {spec.description}")
        return 0
    t0 = time.perf_counter()
    space = get_space(args.name)
    took = time.perf_counter() - t0
    paper = space.spec.paper_unique
    print(f"space        {space.name}")
    print(f"schemas      {', '.join(space.spec.schemas)}" + (" + literals" if space.spec.literals else ""))
    print(f"names        {space.n_names:,}")
    print(f"unique       {space.n_classes:,} (float64 outputs on the sample points, "
          f"equal to 32 significant bits)")
    if paper is not None:
        print(f"paper        {paper:,} (TF 2.8 float32 exact equality; see docs/spaces.md)")
    print(f"built in     {took:.1f} s")
    if args.output:
        _write_classes(space, args.output)
        print(f"wrote        {args.output} ({plural(space.n_classes, 'class')})")
    return 0


def _write_classes(space, path: Path) -> None:
    from actbench.base.files import atomic_write

    with atomic_write(path) as tmp, open(tmp, "w", encoding="utf-8") as f:
        f.write(f"# actbench {__version__} space {space.name}: representative, size, members\n")
        for rep, members in space.classes():
            f.write(f"{rep}\t{len(members)}\t{' '.join(members)}\n")


def _cmd_ops(args: argparse.Namespace) -> int:
    from actbench.lang.ops import OPERATORS

    for op in OPERATORS.values():
        lo, hi = op.arity
        arity = f"{lo}" if lo == hi else f"{lo}+"
        extra = "  (extra: CoAtNet experiment)" if op.extra else ""
        print(f"{op.name:<14} {op.kind:<7} args {arity:<3} {op.pretty}{extra}")
    return 0
