"""The installed form: the package pip built carries libmeterdb and loads it with no
environment variable; ``METERDB_LIB`` overrides it; ``__version__`` is the package's version.

run-tests.sh sets ``METERDB_TEST_INSTALLED`` (the checkout's path) when it runs these tests
against the package installed in a virtual environment; without it, the tests that need the
installed form are skipped.
"""

import os
import subprocess
import sys

import pytest

import meterdb
from meterdb import _native

SOURCE = os.environ.get("METERDB_TEST_INSTALLED")
installed = pytest.mark.skipif(not SOURCE, reason="run-tests.sh tests the installed package")


def _inside(path, root):
    path, root = os.path.realpath(path), os.path.realpath(root)
    return os.path.commonpath([path, root]) == root


@installed
def test_imported_from_the_installation_not_the_checkout():
    assert not _inside(meterdb.__file__, SOURCE), meterdb.__file__
    assert _inside(meterdb.__file__, sys.prefix), (meterdb.__file__, sys.prefix)


@installed
def test_the_bundled_library_is_loaded():
    assert "METERDB_LIB" not in os.environ
    bundled = os.path.join(os.path.dirname(meterdb.__file__), os.path.basename(_native.path))
    assert _native.path == bundled
    assert os.path.isfile(bundled)
    assert meterdb.version() == meterdb.__version__


@installed
def test_version_is_the_package_version():
    from importlib.metadata import version

    assert meterdb.__version__ == version("meterdb")


def _import_with(env_lib):
    env = dict(os.environ, METERDB_LIB=env_lib)
    code = "import meterdb, meterdb._native as n; print(n.path)"
    return subprocess.run(
        [sys.executable, "-c", code], env=env, cwd=os.path.dirname(os.path.dirname(meterdb.__file__)),
        capture_output=True, text=True,
    )


def test_meterdb_lib_overrides(tmp_path):
    missing = str(tmp_path / "nowhere" / "libmeterdb.so")
    r = _import_with(missing)
    assert r.returncode != 0
    assert "libmeterdb not found" in r.stderr and missing in r.stderr, r.stderr

    link = tmp_path / "libmeterdb-copy.so"
    os.symlink(os.path.realpath(_native.path), link)
    r = _import_with(str(link))
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == str(link)


def test_readme_example(tmp_path, monkeypatch, capsys):
    """The README's first example, as written (run-tests.sh gives the README's path)."""
    readme = os.environ.get("METERDB_README") or os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "..", "README.md"
    )
    if not os.path.exists(readme):
        pytest.skip("README.md not found")
    text = open(readme, encoding="utf-8").read()
    code = text.split("```python\n", 1)[1].split("```", 1)[0]
    monkeypatch.chdir(tmp_path)
    exec(compile(code, readme, "exec"), {})
    out = capsys.readouterr().out.split("\n")
    assert out[0] == "1795507200000 1234.56", out
    assert out[1] == "1795508100000 1236.01", out
    assert out[2].startswith("Sample(ts=1795508100000, value=1236.01"), out
