"""Root pytest configuration: doctests of modules whose optional extra is missing are skipped."""

import importlib.util

collect_ignore = [] if importlib.util.find_spec("torch") else ["actbench/nn.py"]
