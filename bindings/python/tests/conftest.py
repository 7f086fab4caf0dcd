import os

import pytest

# The package under test is the one Python imports: run-tests.sh runs these tests from a
# temporary directory against the package pip installed in a virtual environment; pytest run
# in bindings/python imports the source tree (pyproject.toml: pythonpath).
import meterdb

SHARED = os.path.abspath(
    os.path.join(os.path.dirname(__file__), "..", "..", "..", "..", "shared", "data", "uk-meters.csv.gz")
)


@pytest.fixture
def db(tmp_path):
    with meterdb.MeterDb(tmp_path / "db", durability=meterdb.Durability.NONE) as d:
        yield d


@pytest.fixture
def shared_csv():
    path = os.environ.get("METERDB_SHARED", SHARED)
    if not os.path.exists(path):
        pytest.skip("skipping: ../shared/data not found")
    return path
