"""The producer side: training, Fisher features, sharding, studies. Needs PyTorch (an optional extra).

Only whether PyTorch is installed is checked here (without importing it: the launcher, the merge step and the
Slurm helpers start in a fraction of a second); the modules that train import it themselves."""

import importlib.util as _util
import sys as _sys


def _has_torch() -> bool:
    if "torch" in _sys.modules:
        return _sys.modules["torch"] is not None
    return _util.find_spec("torch") is not None


if not _has_torch():
    _MESSAGE = ("generation needs PyTorch, which is not installed: pip install 'actbench[generation]' installs "
                "it with the default (CUDA) build, what GPU clusters want; on a CPU-only machine install the CPU "
                "wheel instead: "
                "pip install torch --index-url https://download.pytorch.org/whl/cpu")
    if _sys.argv[:1] == ["-m"]:  # `python -m generation.<module>`: one line, no traceback
        print(f"error: {_MESSAGE}", file=_sys.stderr)
        raise SystemExit(2) from None
    from actbench.base.errors import MissingExtraError

    raise MissingExtraError(_MESSAGE)
