"""Every code example in the README and docs/ runs as written.

Each page's ``python`` blocks run in order, as one script in a fresh interpreter (a page reads like a
notebook: later blocks use names from earlier ones), in a temporary folder with the test's cache and the clone on the path (generation/ is used from a clone); blocks
written as ``>>>`` sessions are checked with doctest, output included. A block preceded by
``<!-- not run by the tests: REASON -->`` is not run; the reasons allowed are the ones below (data or
hardware our machines do not have), and the test lists how many there are.
"""

import doctest
import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
ALLOWED = {"needs the official release (network, licence)",
           "needs numpy 1.x (dehb 0.1.2 requires numpy < 2)"}
_BLOCK = re.compile(r"(?:<!-- not run by the tests: (?P<why>[^>]*?) -->\n)?```python\n(?P<code>.*?)```", re.S)


def _blocks(page: Path) -> list[tuple[str | None, str]]:
    return [(m["why"], m["code"]) for m in _BLOCK.finditer(page.read_text())]


# the page imports these, and they import PyTorch
_NEEDS_TORCH = ("actbench.nn", "generation")


def _missing_packages(code: str) -> list[str]:
    """The packages a script imports that are not installed (``actbench.nn`` and ``generation`` stand for
    PyTorch, which they import)."""
    import ast
    import importlib.util

    wanted = set()
    for node in ast.walk(ast.parse(code)):
        names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
            [node.module] if isinstance(node, ast.ImportFrom) and node.module and not node.level else []
        for name in names:
            wanted.add("torch" if name.startswith(_NEEDS_TORCH) else name.split(".")[0])
    wanted.discard("actbench")
    return sorted(n for n in wanted if importlib.util.find_spec(n) is None)


def test_a_page_that_needs_a_missing_package_is_named():
    code = "import numpy\nfrom actbench.nn import Activation\nimport generation.tasks\nimport no_such_package_here\n"
    want = ["no_such_package_here"] + ([] if importlib.util.find_spec("torch") else ["torch"])
    assert _missing_packages(code) == sorted(want)


def test_only_blocks_that_need_missing_data_are_not_run():
    reasons = [why for page in PAGES for why, _ in _blocks(page) if why is not None]
    assert set(reasons) <= ALLOWED, set(reasons) - ALLOWED
    assert len(reasons) == 3  # README and tables.md: the official ResNet table; optimizers.md: DEHB
    assert sum(1 for page in PAGES for why, _ in _blocks(page) if why is None) >= 9


@pytest.mark.parametrize("page", [p for p in PAGES if any(w is None for w, _ in _blocks(p))],
                         ids=lambda p: p.name)
def test_page_examples_run(page, tmp_path):
    script, sessions = [], []
    for why, code in _blocks(page):
        if why is not None:
            continue
        (sessions if code.lstrip().startswith(">>>") else script).append(code)
    for i, session in enumerate(sessions):
        test = doctest.DocTestParser().get_doctest(session, {}, f"{page.name}[{i}]", str(page), 0)
        runner = doctest.DocTestRunner(optionflags=doctest.NORMALIZE_WHITESPACE)
        runner.run(test)
        assert runner.failures == 0, f"{page.name}: a >>> example gives other output (see above)"
    if script:
        missing = _missing_packages("\n".join(script))
        if missing:
            pytest.skip(f"{page.name}'s examples need {', '.join(missing)}, not installed here (the README's test "
                        "command installs it; PyTorch: pip install 'actbench[torch]')")
        env = {**os.environ, "PYTHONPATH": str(ROOT)}  # generation/ is used from a clone, as the docs say
        done = subprocess.run([sys.executable, "-c", "\n".join(script)], cwd=tmp_path, capture_output=True,
                              text=True, timeout=300, env=env)
        assert done.returncode == 0, f"{page.name}:\n{done.stderr[-3000:]}"
