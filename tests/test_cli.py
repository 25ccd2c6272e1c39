import json
import subprocess
import sys

from actbench.cli import main


def test_eval_text(capsys):
    assert main(["eval", "mul(hard_sigmoid(hard_sigmoid(x)), elu(x))"]) == 0
    out = capsys.readouterr().out
    assert "mul(hard_sigmoid(hard_sigmoid(x)),elu(x))" in out
    assert "HardSigmoid(HardSigmoid(x)) · ELU(x)" in out
    assert "on the 1000 sample points (float64)" in out


def test_eval_points_json_and_space(capsys):
    assert main(["eval", "relu(x)", "--x", "-1", "0", "2", "--json", "--space", "act-bench"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["y"] == [0.0, 0.0, 2.0]
    assert info["representative"] == "sub(relu(x),zero(x))"
    assert "add(relu(x),zero(x))" in info["equivalents"]
    assert main(["eval", "div(one(x),x)", "--x", "0", "--dtype", "float32"]) == 0
    assert "f(0) = inf" in capsys.readouterr().out


def test_eval_summary_json(capsys):
    assert main(["eval", "div(zero(x),zero(x))", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["sample_points"]["nan"] == 1000 and info["sample_points"]["min"] is None


def test_eval_errors_exit_2(capsys):
    assert main(["eval", "rleu(x)"]) == 2
    err = capsys.readouterr().err
    assert "did you mean 'relu'" in err and "^" in err
    assert main(["eval", "relu(x)", "--space", "nope"]) == 2
    assert "unknown space 'nope'" in capsys.readouterr().err
    assert main(["eval", "tanh(tanh(tanh(x)))", "--space", "act-bench"]) == 2


def test_space_writes_classes(tmp_path, capsys):
    out = tmp_path / "classes.tsv"
    assert main(["space", "act-bench", "-o", str(out)]) == 0
    text = capsys.readouterr().out
    assert "names        5,103" in text and "unique       2,791" in text and "paper        2,913" in text
    lines = out.read_text().splitlines()
    assert lines[0].startswith("# actbench")
    rows = [line.split("\t") for line in lines[1:]]
    assert len(rows) == 2791
    assert sum(int(r[1]) for r in rows) == 5103
    relu = next(r for r in rows if r[0] == "sub(relu(x),zero(x))")
    assert "add(relu(x),zero(x))" in relu[2].split(" ")
    assert not list(tmp_path.glob("*.tmp"))


def test_space_list_ops_and_errors(tmp_path, capsys):
    assert main(["space", "--list"]) == 0
    assert "large" in capsys.readouterr().out
    assert main(["ops"]) == 0
    out = capsys.readouterr().out
    assert "hard_sigmoid" in out and "(extra: CoAtNet experiment)" in out
    assert main(["space", "act-bench", "-o", str(tmp_path / "missing" / "x.tsv")]) == 2
    assert "No such file or directory" in capsys.readouterr().err
    assert main([]) == 2


def test_console_entry_point_help():
    out = subprocess.run([sys.executable, "-m", "actbench", "space", "--help"], capture_output=True,
                         text=True, check=True).stdout
    assert "equivalence classes" in out or "equivalent functions" in out


def test_outputs_are_written_whole_or_not_at_all(tmp_path, capsys):
    """Every command writes its output files through one atomic writer: a missing folder is an error that
    leaves nothing, and a written file has no temporary file beside it."""
    args = ["search", "--strategy", "random", "--budget", "3", "--repeats", "1"]
    assert main([*args, "--json", str(tmp_path / "missing" / "r.json")]) == 2
    assert "No such file or directory" in capsys.readouterr().err and not (tmp_path / "missing").exists()
    assert main([*args, "--json", str(tmp_path / "r.json"), "--plot", str(tmp_path / "r.png")]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.json", "r.png"]
    assert (tmp_path / "r.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_outputs_never_replace_what_they_must_not(tmp_path, capsys):
    """-o refuses a folder, a named pipe (as it would a device) and the command's own input, and leaves
    nothing behind."""
    import json
    import os
    import stat

    from fixtures import official_records, write_official_json

    src = write_official_json(tmp_path / "in.json", official_records(3, 4, seed=1))
    before = src.read_bytes()
    assert main(["convert", str(src), "--bench", "cnn", "-o", str(src), "--no-progress"]) == 2
    assert "is the input of this command" in capsys.readouterr().err and src.read_bytes() == before
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    assert main(["convert", str(src), "--bench", "cnn", "-o", str(fifo), "--no-progress"]) == 2
    assert main(["space", "act-bench", "-o", str(fifo)]) == 2
    assert "not a regular file" in capsys.readouterr().err and stat.S_ISFIFO(os.stat(fifo).st_mode)
    folder = tmp_path / "out"
    folder.mkdir()
    assert main(["convert", str(src), "--bench", "cnn", "-o", str(folder), "--no-progress"]) == 2
    assert main(["space", "act-bench", "-o", str(folder)]) == 2
    assert "is a folder" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.json", "out", "pipe"] and not list(folder.iterdir())
    assert json.loads(before)  # the input is still the file it was


def test_control_characters_never_reach_the_terminal(capsys):
    """A newline or an escape sequence in an argument is shown escaped: it can neither start a line that
    looks like actbench's nor colour or clear the terminal."""
    assert main(["query", "relu(x)\nactbench: all good"]) == 2
    err = capsys.readouterr().err
    assert not any(line.startswith("actbench: all good") for line in err.splitlines()) and "\\x0a" in err
    assert main(["query", "relu(x)\x1b[2J"]) == 2
    err = capsys.readouterr().err
    assert "\x1b" not in err and "\\x1b" in err


def test_an_output_name_that_is_not_utf8_converts_and_leaves_nothing_else(tmp_path, capsys, monkeypatch):
    import os
    import sys

    from fixtures import official_records, write_official_json

    src = write_official_json(tmp_path / "in.json", official_records(3, 4, seed=1))
    out = os.fsdecode(os.fsencode(str(tmp_path)) + b"/\xff.h5")  # a Latin-1 file name: not valid UTF-8
    args = ["convert", str(src), "--bench", "cnn", "-o", out, "--no-progress", "--source", "test-fixture"]
    monkeypatch.setattr(sys, "argv", ["actbench", *args])  # what the provenance records
    assert main(args) == 0
    assert sorted(os.listdir(os.fsencode(tmp_path))) == [b"in.json", b"\xff.h5"]
    from actbench import ActBench

    assert "\\udcff.h5" in (ActBench(out).provenance.command or "")
