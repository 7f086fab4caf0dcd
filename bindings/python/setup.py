"""Builds the wheel of the Python binding with libmeterdb inside it.

``pip install ./bindings/python`` (from a MeterDB checkout) runs this through setuptools'
PEP 517 backend. The build step

1. runs ``cargo build --release -p meterdb-ffi`` in the workspace (two directories up), with
   the features in ``METERDB_FFI_FEATURES`` (default ``parquet``, which ``bindings/run-all.sh``
   uses too; an empty value builds none) and the workspace's ``target/`` unless
   ``CARGO_TARGET_DIR`` names another, so a library already built is not compiled again;
2. copies ``libmeterdb.so`` into the package (``meterdb/libmeterdb.so``, without its debug
   information), where ``meterdb._native`` finds it first.

Everything setuptools writes (``build/``, ``meterdb.egg-info``) goes to a temporary directory
outside the checkout, removed when the build ends. The wheel is tagged ``py3-none-<platform>``:
it holds no Python extension, only a C library loaded with ctypes.
"""

import atexit
import os
import shutil
import subprocess
import sys
import tempfile

from setuptools import setup
from setuptools.command.bdist_wheel import bdist_wheel
from setuptools.command.build_py import build_py
from setuptools.dist import Distribution

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
LIBNAME = {"darwin": "libmeterdb.dylib", "win32": "meterdb.dll"}.get(sys.platform, "libmeterdb.so")

# Out of the checkout: setuptools' build/ and egg-info directories.
SCRATCH = tempfile.mkdtemp(prefix="meterdb-py-build-")
atexit.register(shutil.rmtree, SCRATCH, True)


def build_library():
    """Builds libmeterdb with cargo and returns the path of the library file."""
    if not os.path.isfile(os.path.join(ROOT, "ffi", "Cargo.toml")):
        sys.exit(
            "meterdb: the package is built from a MeterDB checkout (bindings/python inside it, "
            "the workspace with ffi/ two directories up); %s is not one" % ROOT
        )
    cargo = shutil.which("cargo")
    if cargo is None:
        sys.exit("meterdb: cargo not found; install Rust 1.89 or later (https://rustup.rs)")
    target = os.environ.get("CARGO_TARGET_DIR") or os.path.join(ROOT, "target")
    features = os.environ.get("METERDB_FFI_FEATURES", "parquet")
    cmd = [cargo, "build", "--release", "-p", "meterdb-ffi"]
    if features:
        cmd += ["--features", features]
    env = dict(os.environ, CARGO_TARGET_DIR=target)
    print("meterdb: %s (CARGO_TARGET_DIR=%s)" % (" ".join(cmd), target), flush=True)
    subprocess.run(cmd, cwd=ROOT, env=env, check=True)
    path = os.path.join(target, "release", LIBNAME)
    if not os.path.isfile(path):
        sys.exit("meterdb: cargo built no %s" % path)
    return path


class BuildPyWithLibrary(build_py):
    """``build_py``, then libmeterdb into the package directory of the build."""

    def run(self):
        super().run()
        built = build_library()
        dest = os.path.join(self.build_lib, "meterdb", LIBNAME)
        os.makedirs(os.path.dirname(dest), exist_ok=True)
        if os.path.exists(dest):
            os.remove(dest)
        strip = shutil.which("strip") if sys.platform.startswith("linux") else None
        # The release profile keeps debug information (70 MB of the 80); users need none.
        if strip is None or subprocess.run([strip, "--strip-debug", "-o", dest, built]).returncode != 0:
            shutil.copyfile(built, dest)
        os.chmod(dest, 0o755)


class WithNativeLibrary(Distribution):
    """A distribution with platform-specific content: built into build/lib.<platform>, and a
    wheel whose root is platlib."""

    def has_ext_modules(self):
        return True


class PlatformWheel(bdist_wheel):
    """A wheel for this platform (it carries a native library) but any Python 3."""

    def get_tag(self):
        _, _, plat = super().get_tag()
        return "py3", "none", plat


setup(
    distclass=WithNativeLibrary,
    cmdclass={"build_py": BuildPyWithLibrary, "bdist_wheel": PlatformWheel},
    options={
        "build": {"build_base": os.path.join(SCRATCH, "build")},
        "egg_info": {"egg_base": SCRATCH},
    },
)
