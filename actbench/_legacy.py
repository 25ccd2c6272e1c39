"""Module paths of earlier releases, kept working without warnings.

Before the package was arranged in layers, every module sat directly under ``actbench/``. Each earlier
path below names the very same module object as its new home (``actbench.ops is actbench.lang.ops``), so
imports, ``monkeypatch.setattr("actbench.hub.X", ...)`` and ``isinstance`` checks all keep working. New
code imports the new paths; ``docs/architecture.md`` lists both.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import sys

#: earlier path -> the module it names now
MOVED: dict[str, str] = {
    "actbench.errors": "actbench.base.errors",
    "actbench._constants": "actbench.lang.points",
    "actbench.ops": "actbench.lang.ops",
    "actbench.expr": "actbench.lang.expr",
    "actbench.space": "actbench.lang.space",
    "actbench.provenance": "actbench.table.provenance",
    "actbench.results": "actbench.table.results",
    "actbench.registry": "actbench.sources.registry",
    "actbench._download": "actbench.sources.download",
    "actbench.hub": "actbench.sources.hub",
    "actbench.official": "actbench.sources.official",
    "actbench.convert": "actbench.sources.convert",
    "actbench.study": "actbench.sources.study",
    "actbench.features": "actbench.analysis.features",
    "actbench.surrogate": "actbench.analysis.surrogate",
    "actbench.compare": "actbench.analysis.compare",
    "actbench._plot": "actbench.analysis.plot",
    "actbench.multifidelity": "actbench.search.multifidelity",
    "actbench.samplers": "actbench.search.samplers",
}


class _Redirect(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Imports an earlier path as the module it names now (the same object, under both names)."""

    def find_spec(self, fullname, path=None, target=None):
        if fullname not in MOVED:
            return None
        return importlib.machinery.ModuleSpec(fullname, self)

    def __init__(self) -> None:
        self._specs: dict[str, importlib.machinery.ModuleSpec] = {}

    def create_module(self, spec):
        module = importlib.import_module(MOVED[spec.name])
        self._specs[module.__name__] = module.__spec__
        return module

    def exec_module(self, module) -> None:
        # the import system stamped the earlier name's spec on the module: give it back its own
        module.__spec__ = self._specs.pop(module.__name__, module.__spec__)


def install() -> None:
    """Put the redirect on ``sys.meta_path`` (once)."""
    if not any(isinstance(f, _Redirect) for f in sys.meta_path):
        sys.meta_path.append(_Redirect())
