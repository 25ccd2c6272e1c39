"""The official release's licence: shown before the first download, accepted once per machine.

The release is under the authors' Academic Public License (non-commercial). The first download prints it and
needs an acceptance, which is recorded in the cache (``official/LICENSE-ACCEPTED.json``):
``accept_license=True``, ``actbench download --accept-license``, ``ACTBENCH_ACCEPT_LICENSE=1``, or answering
the prompt (only when standard input is a terminal; a script is never blocked by a prompt).
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import sys
from pathlib import Path

from actbench._version import __version__
from actbench.base import settings
from actbench.base.errors import LicenseNotAcceptedError, UnknownBenchmarkError
from actbench.base.files import write_atomic
from actbench.base.text import did_you_mean
from actbench.sources.registry import BENCHMARKS, LICENCE

__all__ = ["accept_license", "license_accepted", "official_benchmarks", "require_license"]


def official_benchmarks() -> list[str]:
    """The benchmarks with an official release."""
    return [b for b, s in BENCHMARKS.items() if s.json_name]


def official_spec(bench: str):
    """The :class:`~actbench.sources.registry.BenchmarkSpec` of a benchmark with an official release.

    Raises:
        UnknownBenchmarkError: ``bench`` has none."""
    spec = BENCHMARKS.get(bench)
    if spec is None or spec.json_name is None:
        raise UnknownBenchmarkError(f"{bench!r} has no official release{did_you_mean(bench, official_benchmarks())}; "
                                    f"those are: {', '.join(official_benchmarks())}")
    return spec


def _licence_file(cache) -> Path:
    return settings.cache_dir(cache) / "official" / "LICENSE-ACCEPTED.json"


def license_accepted(cache: str | os.PathLike | None = None) -> bool:
    """Whether the official release's licence was accepted on this machine (recorded in the cache) or by
    ``ACTBENCH_ACCEPT_LICENSE``."""
    if settings.accept_license_env():
        return True
    path = _licence_file(cache)
    try:
        return json.loads(path.read_text()).get("license") == LICENCE["name"]
    except (OSError, ValueError):
        return False


def accept_license(cache: str | os.PathLike | None = None, *, how: str = "accept_license()") -> Path:
    """Record in the cache that the user accepted the official release's licence; returns the record."""
    path = _licence_file(cache)
    path.parent.mkdir(parents=True, exist_ok=True)
    now = _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat()
    write_atomic(path, json.dumps({"license": LICENCE["name"], "url": LICENCE["url"], "accepted": now, "how": how,
                                "actbench": __version__}, indent=1))
    return path


def _notice(bench: str) -> str:
    spec = official_spec(bench)
    return (f"{spec.title} is the authors' official release ({spec.json_name}, fetched from their own location, "
            f"never re-hosted by actbench). It is under the {LICENCE['name']}: {LICENCE['restriction']}. "
            f"Read it at {LICENCE['url']}.")


def require_license(bench: str, cache, accept: bool | None) -> None:
    if license_accepted(cache):
        return
    print(_notice(bench), file=sys.stderr)
    if accept:
        accept_license(cache, how="accepted by flag")
        print("Licence accepted (recorded in the cache).", file=sys.stderr)
        return
    if accept is None and sys.stdin is not None and sys.stdin.isatty():
        answer = input("Accept this licence and download? [y/N] ").strip().lower()
        if answer in ("y", "yes"):
            accept_license(cache, how="accepted at the prompt")
            return
    raise LicenseNotAcceptedError(
        f"the licence of {official_spec(bench).title} has not been accepted on this machine. {_notice(bench)} To accept "
        f"it: ActBench({bench!r}, accept_license=True), `actbench download {bench} --accept-license`, or set "
        "ACTBENCH_ACCEPT_LICENSE=1 (clusters, scripts).")
