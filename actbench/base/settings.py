"""Every setting actbench reads from the environment, resolved in one place.

A function per setting takes the caller's explicit value first (an argument of ``ActBench``, a command-line
flag) and falls back to the environment, then to the default. Nothing here touches the network or imports
more than the standard library, so that opening a cached table stays as cheap as reading a file.

======================== ==================================================================
variable                 meaning
======================== ==================================================================
``ACTBENCH_CACHE``       the cache folder (default ``~/.cache/actbench``)
``ACTBENCH_OFFLINE``     ``1``: never touch the network (``HF_HUB_OFFLINE=1`` too)
``ACTBENCH_MANIFEST``    a Hub manifest to use instead of the shipped one (mirrors, tests)
``ACTBENCH_HUB_ENDPOINT`` the Hub endpoint (default: huggingface_hub's, i.e. ``HF_ENDPOINT``)
``ACTBENCH_OFFICIAL_URL`` a mirror's base URL or a local folder for the official release
``ACTBENCH_OFFICIAL_PINS`` the pinned checksums of the official files (default: the package's)
``ACTBENCH_ACCEPT_LICENSE`` ``1``: accept the official release's licence
``ACTBENCH_MIN_RATE``    the slowest transfer a download accepts, bytes/s (default 10,000; 0: no check)
``ACTBENCH_MAX_DOWNLOAD`` the largest official file a download accepts, bytes (default 2 GiB)
======================== ==================================================================
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["MAX_DOWNLOAD_BYTES", "MIN_RATE_BPS", "accept_license_env", "max_download", "cache_dir", "hub_endpoint", "is_offline", "manifest_path",
           "min_rate", "official_base_url", "pins_path"]

#: Default minimum transfer rate of a download in bytes per second (``ACTBENCH_MIN_RATE``; 0 disables).
MIN_RATE_BPS = 10_000.0
#: Default largest official file a download accepts (``ACTBENCH_MAX_DOWNLOAD``): the release's files are about
#: 127 MB each; a body past this is stopped and deleted.
MAX_DOWNLOAD_BYTES = 2 << 30

_TRUE = ("1", "true", "yes", "on")


def _flag(*names: str) -> bool:
    return any(os.environ.get(v, "").lower() in _TRUE for v in names)


def cache_dir(override: str | os.PathLike | None = None) -> Path:
    """The cache folder: ``override``, else ``$ACTBENCH_CACHE``, else ``~/.cache/actbench``."""
    if override is not None:
        return Path(override).expanduser()
    env = os.environ.get("ACTBENCH_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "actbench"


def is_offline(override: bool | None = None) -> bool:
    """``override`` if given, else whether ACTBENCH_OFFLINE or HF_HUB_OFFLINE is set to a true value."""
    if override is not None:
        return override
    return _flag("ACTBENCH_OFFLINE", "HF_HUB_OFFLINE")


def accept_license_env() -> bool:
    """Whether ``ACTBENCH_ACCEPT_LICENSE`` accepts the official release's licence."""
    return _flag("ACTBENCH_ACCEPT_LICENSE")


def manifest_path(override: str | os.PathLike | None = None) -> Path | None:
    """The Hub manifest to read: ``override``, else ``$ACTBENCH_MANIFEST``, else None (the shipped one)."""
    path = override or os.environ.get("ACTBENCH_MANIFEST")
    return Path(path) if path else None


def hub_endpoint() -> str | None:
    """``$ACTBENCH_HUB_ENDPOINT``, or None for huggingface_hub's own (``HF_ENDPOINT``)."""
    return os.environ.get("ACTBENCH_HUB_ENDPOINT") or None


def official_base_url(default: str) -> str:
    """Where the official release is read from: ``$ACTBENCH_OFFICIAL_URL`` (a mirror's base URL or a local
    folder), else ``default`` (the authors' location)."""
    return os.environ.get("ACTBENCH_OFFICIAL_URL") or default


def pins_path() -> Path:
    """The pinned checksums of the official files: ``$ACTBENCH_OFFICIAL_PINS``, else the package's file."""
    env = os.environ.get("ACTBENCH_OFFICIAL_PINS")
    if env:
        return Path(env).expanduser()
    from importlib import resources

    return Path(str(resources.files("actbench").joinpath("data/official_pins.json")))


def _number(name: str, cast, override, default, unit: str):
    if override is not None:
        return cast(override)
    env = os.environ.get(name)
    if env:
        try:
            return cast(env)
        except ValueError as e:
            raise ValueError(f"{name}={env!r} is not a number of {unit}") from e
    return default


def min_rate(override: float | None = None) -> float:
    """``override``, else ``$ACTBENCH_MIN_RATE``, else :data:`MIN_RATE_BPS` (bytes per second)."""
    return _number("ACTBENCH_MIN_RATE", float, override, MIN_RATE_BPS, "bytes per second (0 disables the check)")


def max_download(override: int | None = None) -> int:
    """``override``, else ``$ACTBENCH_MAX_DOWNLOAD``, else :data:`MAX_DOWNLOAD_BYTES` (bytes)."""
    return _number("ACTBENCH_MAX_DOWNLOAD", int, override, MAX_DOWNLOAD_BYTES, "bytes")
