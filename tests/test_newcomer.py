"""What a new user trips over: interrupts, pipes, missing torch, early validation, helpful spellings,
readable records, and docs that point at facts inside the repository."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from actbench import ActBench, parse
from actbench.bench import RECORD_FIELDS
from actbench.errors import ParseError, UnknownOperatorError

ROOT = Path(__file__).resolve().parent.parent


def test_ctrl_c_exits_130_with_one_line_and_leaves_no_file(tmp_path):
    out = tmp_path / "classes.tsv"
    # a shell that starts a job in the background makes it (and so this child) ignore SIGINT: restore it
    proc = subprocess.Popen([sys.executable, "-m", "actbench", "space", "large", "-o", str(out)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    time.sleep(3)  # well inside the enumeration (about a minute)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "Traceback" not in err and err.strip() == "actbench: interrupted"
    assert list(tmp_path.iterdir()) == []  # nothing half-written


def test_a_reader_that_leaves_is_not_an_error():
    """`actbench ... | head -1`: the reader closes the pipe; actbench stops quietly (status 141, as Unix tools)."""
    proc = subprocess.Popen([sys.executable, "-m", "actbench", "best", "mini", "-k", "2000"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    proc.stdout.close()  # before anything is read: every write fails with a broken pipe
    err = proc.stderr.read().decode()
    proc.stderr.close()
    proc.wait(timeout=60)
    assert proc.returncode == 141 and err == ""


def test_generation_without_torch_says_what_to_install():
    block = ("import sys; sys.modules['torch'] = None; sys.argv = ['-m']; import runpy; "
             "runpy.run_module('generation.worker', run_name='__main__')")
    out = subprocess.run([sys.executable, "-c", block], capture_output=True, text=True, timeout=60)
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert "pip install 'actbench[generation]'" in out.stderr and "download.pytorch.org/whl/cpu" in out.stderr
    code = "import sys; sys.modules['torch'] = None; import generation.worker"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 1 and "MissingExtraError" in out.stderr and "actbench[generation]" in out.stderr


def test_surrogate_search_is_validated_at_construction():
    from actbench.search import SurrogateSearch

    with pytest.raises(ValueError, match="unknown regressor 'xgboost'; regressors: knr, rf, svr"):
        SurrogateSearch("xgboost", "fim")
    with pytest.raises(ValueError, match="unknown feature set 'fims' \\(did you mean 'fim'"):
        SurrogateSearch("knr", "fims")
    assert SurrogateSearch("rf", "outputs").name == "rf-outputs"


@pytest.mark.parametrize("text, meant", [("silu(x)", "swish"), ("SiLU(x)", "swish"), ("leaky_relu(x)", "leakyrelu"),
                                         ("asinh(x)", "arcsinh"), ("maximum(x,x)", "max")])
def test_other_names_of_our_operators_point_at_ours(text, meant):
    with pytest.raises(UnknownOperatorError, match=f"did you mean '{meant}'\\? '.*' is called '{meant}' here"):
        parse(text)


def test_a_variable_other_than_x_is_named_as_such():
    for text in ("swish(y)", "y", "add(x,t)"):
        with pytest.raises(ParseError, match="unknown variable '.': the input variable is always 'x'") as info:
            parse(text)
        assert not isinstance(info.value, UnknownOperatorError)
    with pytest.raises(UnknownOperatorError, match="unknown operator 'foo'"):
        parse("foo(x)")


def test_other_names_point_at_registered_operators_only():
    from actbench.ops import OPERATORS, OTHER_NAMES

    assert all(v in OPERATORS for v in OTHER_NAMES.values())
    assert not set(OTHER_NAMES) & set(OPERATORS)


def test_a_record_prints_readably(capsys):
    from actbench.cli import main

    bench = ActBench()
    rec = bench.query(bench._table.names[0])
    text = str(rec)
    assert text.count("\n") == len(RECORD_FIELDS) - 1 and text.startswith(f"name               {rec.name}")
    assert repr(rec).startswith("Record(name=") and "\n" not in repr(rec)
    assert main(["query", rec.name]) == 0 and capsys.readouterr().out.strip() == text


def test_best_lists_ten_by_default(capsys):
    from actbench.cli import main

    assert main(["best", "--names"]) == 0
    assert len(capsys.readouterr().out.split()) == 10


def test_no_reference_to_a_file_outside_the_repository():
    """Facts are stated in docs/, never cited as sections of a specification the reader cannot open."""
    hits = []
    for folder in ("actbench", "generation", "docs", "benchmarks", "tests"):
        for path in (ROOT / folder).rglob("*"):
            if path.suffix in (".py", ".md") and path.name != Path(__file__).name:
                hits += [f"{path}:{i}" for i, line in enumerate(path.read_text().splitlines(), 1) if "SPEC §" in line]
    assert hits == []


def test_gitignore_covers_what_the_documented_workflows_create():
    ignored = (ROOT / ".gitignore").read_text().split()
    for pattern in ("runs/", "features/", "*.h5", "!actbench/data/*.h5", "*.part"):
        assert pattern in ignored
    if (ROOT / ".git").exists():
        out = subprocess.run(["git", "check-ignore", "-q", "results.h5"], cwd=ROOT)
        assert out.returncode == 0
        out = subprocess.run(["git", "check-ignore", "-q", "actbench/data/mini.h5"], cwd=ROOT)
        assert out.returncode == 1
    assert os.sep  # (the checks above run from a clone; a source tarball has no .git)


def test_counts_agree_with_their_nouns(tmp_path, capsys):
    from actbench.errors import plural
    from actbench.table import Provenance, TableInfo, TableWriter

    assert [plural(n, "row") for n in (0, 1, 2, 2913)] == ["0 rows", "1 row", "2 rows", "2,913 rows"]
    assert plural(1, "class") == "1 class" and plural(3, "class") == "3 classes"
    assert plural(2, "index", "indices") == "2 indices"
    path = tmp_path / "one.h5"
    info = TableInfo(benchmark="one", description="synthetic one-row table")
    with TableWriter(path, info=info, provenance=Provenance.now(source="test-fixture", description="synthetic")) as w:
        w.add("relu(x)", {"val_acc": 0.5})
    with ActBench(path) as bench:
        assert "1 function," in repr(bench)
        with pytest.raises(KeyError, match=r"\(1 row\)"):
            bench.query("mul(tanh(x),erf(x))")
    from actbench.search import run_search

    with pytest.raises(ValueError, match="between 1 and the table's 1 function, got 2"):
        run_search(ActBench(path), "random", budget=2, seed=0)


def test_citation_names_the_package_version():
    import actbench

    cff = (Path(__file__).resolve().parents[1] / "CITATION.cff").read_text()
    assert f"\nversion: {actbench.__version__}\n" in cff, "update CITATION.cff's version with the release"
