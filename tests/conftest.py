import importlib.util

import pytest

HAS_TORCH = importlib.util.find_spec("torch") is not None


def pytest_collection_modifyitems(config, items):
    skip = pytest.mark.skip(reason="PyTorch is not installed (pip install 'actbench[torch]')")
    for item in items:
        if "torch" in item.keywords and not HAS_TORCH:
            item.add_marker(skip)
