import importlib.util

import pytest

HAS_TORCH = importlib.util.find_spec("torch") is not None


def pytest_collection_modifyitems(config, items):
    skip = pytest.mark.skip(reason="PyTorch is not installed (pip install 'actbench[torch]')")
    for item in items:
        if "torch" in item.keywords and not HAS_TORCH:
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    """No test reads or writes the user's cache, accepts a licence for them, or follows their mirror."""
    monkeypatch.setenv("ACTBENCH_CACHE", str(tmp_path_factory.mktemp("actbench-cache")))
    monkeypatch.setenv("SYNETUNE_FOLDER", str(tmp_path_factory.mktemp("syne-tune")))  # not ~/syne-tune
    for var in ("ACTBENCH_ACCEPT_LICENSE", "ACTBENCH_OFFICIAL_URL", "ACTBENCH_OFFICIAL_PINS", "ACTBENCH_OFFLINE",
                "HF_HUB_OFFLINE", "ACTBENCH_MANIFEST"):
        monkeypatch.delenv(var, raising=False)


@pytest.fixture(scope="session")
def postgres_url():
    """A PostgreSQL server started for the test session (Debian's postgresql package; `.ci/run` installs it
    when absent), with an empty database; its URL for SQLAlchemy/Optuna."""
    from pg_server import running_server

    with running_server() as url:
        yield url


@pytest.fixture(scope="session")
def slurm():
    """A one-node Slurm cluster started for the test session (Debian's munge and Slurm packages; `.ci/run`
    installs them when absent): :class:`slurm_cluster.Cluster`."""
    from slurm_cluster import running_cluster

    with running_cluster() as cluster:
        yield cluster


@pytest.fixture()
def sqlite_connections(monkeypatch):
    """Every ``sqlite3`` connection opened while the test runs (SQLAlchemy, and so Optuna's RDB storages,
    open them through ``sqlite3.dbapi2.connect``), each knowing whether it was closed: a test checks that
    actbench closed all it opened, on any Python (Python 3.13 also warns about an unclosed one when it is
    collected; earlier Pythons close it silently, later)."""
    import sqlite3

    opened: list = []

    class Tracked(sqlite3.Connection):
        closed_by_caller = False

        def close(self):
            self.closed_by_caller = True
            super().close()

    real = sqlite3.dbapi2.connect

    def connect(*args, **kwargs):
        kwargs.setdefault("factory", Tracked)
        conn = real(*args, **kwargs)
        opened.append(conn)
        return conn

    monkeypatch.setattr(sqlite3.dbapi2, "connect", connect)
    monkeypatch.setattr(sqlite3, "connect", connect)
    yield opened
    for conn in opened:  # close what a failing test left open, quietly
        if not conn.closed_by_caller:
            conn.close()


def leaked(connections) -> list:
    """The connections of :func:`sqlite_connections` that nobody closed."""
    return [c for c in connections if not c.closed_by_caller]
