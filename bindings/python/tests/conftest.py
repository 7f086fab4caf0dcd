import os
import sys

import pytest

# Import the package from this source tree (run-tests.sh runs pytest from bindings/python).
sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), "..")))

import meterdb  # noqa: E402

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
