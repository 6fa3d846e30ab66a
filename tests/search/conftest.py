"""A real PostgreSQL server for the search-worker tests (skipped, saying why, where none
can start)."""
import pytest

from nasengine.errors import DataError
from nasengine.search.postgres import FAST, LocalPostgres


@pytest.fixture(scope="session")
def postgres_url():
    server = LocalPostgres(FAST)
    try:
        url = server.start()
    except DataError as exc:
        server.stop()
        pytest.skip(f"no PostgreSQL server could start here: {exc}")
    yield url
    server.stop()
