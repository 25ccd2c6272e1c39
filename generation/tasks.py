"""Tasks: what a search or a benchmark trains on, as a registry.

A :class:`Task` is a recipe (model, data, training) plus the search space its functions come from
and what its data root must hold. The registry has the Act-Bench tasks (``cnn``, ``resnet``, ``vit``,
``digits``) and the paper's new ones (``cifar100-cnn``, ``cifar100-resnet``, ``imagenet-vit``,
``imagenet-resnet50``, ``coatnet``); ``python -m generation.tasks`` lists them.

A task of your own, in a module that you pass to the worker, precompute and study commands with
``--import my_task.py``::

    from generation.data import DataSplits, register_dataset
    from generation.models import register_model
    from generation.recipes import Recipe
    from generation.tasks import Task, register_task

    @register_model("my_mlp")
    def my_mlp(activation, *, num_classes, in_channels, **kw): ...   # uses actbench.nn.Activation(activation)

    @register_dataset("my_data")
    def my_data(root, **kw) -> DataSplits: ...                        # train / val / test tensors

    register_task(Task(name="my-task", space="act-bench", data_help="ROOT/my_data/*.npz",
                       recipe=Recipe(name="my-task", benchmark="my-task", description="my MLP on my data",
                                     model="my_mlp", data="my_data", epochs=20, batch_size=128, lr=0.01)))
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from generation.recipes import RECIPES, Recipe

__all__ = ["TASKS", "Task", "get_task", "import_plugin", "register_task"]


class Task(BaseModel):
    """A recipe, the space to search and what the data root holds."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    recipe: Recipe
    space: str = Field(description="key of actbench.space.SPACES the task's functions come from")
    data_help: str = Field(default="", description="what --data-root must contain")
    notes: dict[str, str] = {}

    @property
    def description(self) -> str:
        return self.recipe.description


TASKS: dict[str, Task] = {}


def register_task(task: Task) -> Task:
    """Add a task; a duplicate name, an unknown space, model or data set raises ``ValueError``."""
    from actbench.lang.space import SPACES
    from generation.data import DATASETS
    from generation.models import MODELS

    if task.name in TASKS:
        raise ValueError(f"task {task.name!r} is already registered")
    if task.space not in SPACES:
        raise ValueError(f"task {task.name!r}: unknown space {task.space!r}; spaces: {', '.join(SPACES)}")
    if task.recipe.model not in MODELS:
        raise ValueError(f"task {task.name!r}: unknown model {task.recipe.model!r} (register it with "
                         "generation.models.register_model first)")
    if task.recipe.data not in DATASETS:
        raise ValueError(f"task {task.name!r}: unknown data set {task.recipe.data!r} (register it with "
                         "generation.data.register_dataset first)")
    TASKS[task.name] = task
    return task


def get_task(name: str) -> Task:
    from actbench.base.text import did_you_mean

    if name not in TASKS:
        raise KeyError(f"unknown task {name!r}{did_you_mean(name, TASKS)}; tasks: {', '.join(TASKS)} (a task of your "
                       "own: register it in a module and pass --import MODULE)")
    return TASKS[name]


def import_plugin(spec: str) -> None:
    """Import a module by name (``my_lab.tasks``) or a Python file (``./my_task.py``) so that the models,
    data sets and tasks it registers exist."""
    path = Path(spec)
    if spec.endswith(".py"):
        if not path.is_file():
            raise FileNotFoundError(f"--import {spec}: no such file")
        name = f"actbench_plugin_{path.stem}"
        if name in sys.modules:
            return
        mod_spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(mod_spec)
        sys.modules[name] = module
        mod_spec.loader.exec_module(module)
        return
    try:
        importlib.import_module(spec)
    except ModuleNotFoundError as e:
        raise FileNotFoundError(f"--import {spec}: {e}; give a module on the Python path or a .py file") from e


_CIFAR10 = "ROOT/cifar-10-batches-py/{data_batch_1..5,test_batch} (CIFAR-10 'python version')"
_CIFAR100 = "ROOT/cifar-100-python/{train,test} (CIFAR-100 'python version')"
_IMAGENETTE = "ROOT/train/<class>/*.JPEG and ROOT/val/<class>/*.JPEG (Imagenette, full size or 320 px)"
_IMAGENET = "ROOT/train/<wnid>/*.JPEG and ROOT/val/<wnid>/*.JPEG (ImageNet-1k, val sorted into class folders)"

for _name, _space, _help in (
    ("digits", "act-bench", "nothing: scikit-learn's bundled 8x8 digits"),
    ("cnn", "act-bench", _CIFAR10),
    ("resnet", "act-bench", _CIFAR10),
    ("vit", "act-bench", _IMAGENETTE),
    ("cifar100-cnn", "large", _CIFAR100),
    ("cifar100-resnet", "large", _CIFAR100),
    ("imagenet-vit", "large", _IMAGENET),
    ("imagenet-resnet50", "large", _IMAGENET),
    ("coatnet", "large-extra", _IMAGENET),
):
    register_task(Task(name=_name, recipe=RECIPES[_name], space=_space, data_help=_help))


def main(argv: list[str] | None = None) -> int:
    import argparse

    p = argparse.ArgumentParser(prog="python -m generation.tasks", description="List the registered tasks.")
    p.add_argument("--import", dest="plugins", action="append", default=[], help="module or .py file to import first")
    p.add_argument("--show", help="print one task as JSON")
    args = p.parse_args(argv)
    try:
        for spec in args.plugins:
            import_plugin(spec)
        if args.show:
            print(get_task(args.show).model_dump_json(indent=2))
            return 0
    except (KeyError, FileNotFoundError) as e:
        print(f"tasks: error: {e.args[0] if isinstance(e, KeyError) else e}", file=sys.stderr)
        return 2
    for t in TASKS.values():
        r = t.recipe
        print(f"{t.name:18s} {t.space:12s} {r.model:13s} {r.data:10s} {r.epochs:4d} ep x {len(r.seeds)} seed(s)  "
              f"{r.description}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
