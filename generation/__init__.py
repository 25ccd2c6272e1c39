"""The producer side: training, Fisher features, sharding, studies. Needs PyTorch (an optional extra)."""

import sys as _sys

try:
    import torch  # noqa: F401  - every generation module trains or builds models
except ImportError as _e:
    _MESSAGE = ("generation needs PyTorch, which is not installed: pip install 'actbench[generation]' installs "
                "it with the default (CUDA) build, what GPU clusters want; on a CPU-only machine install the CPU "
                "wheel instead: "
                "pip install torch --index-url https://download.pytorch.org/whl/cpu")
    if _sys.argv[:1] == ["-m"]:  # `python -m generation.<module>`: one line, no traceback
        print(f"error: {_MESSAGE}", file=_sys.stderr)
        raise SystemExit(2) from None
    from actbench.base.errors import MissingExtraError

    raise MissingExtraError(_MESSAGE) from _e
