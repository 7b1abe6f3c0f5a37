"""The built wheel holds every package of the source tree, mapped into the vtg namespace.

methods/ and overlays/ install as vtg.methods and vtg.overlays through pyproject's package-dir
mapping, and the package list is kept by hand (setuptools' finder cannot map a folder into
another package's namespace). A subpackage left out of that list still imports in an editable
install and in the tests, and silently vanishes from the wheel users get; building the wheel is
the only check that sees it.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MAPPED = {"vtg": "vtg", "methods": "vtg/methods", "overlays": "vtg/overlays"}


def source_modules() -> set[str]:
    """Every .py file of every package directory (one holding __init__.py), as its wheel path."""
    found = set()
    for folder, target in MAPPED.items():
        for init in (ROOT / folder).rglob("__init__.py"):
            if "__pycache__" in init.parts:
                continue
            package = init.parent
            for module in package.glob("*.py"):
                found.add(f"{target}/{module.relative_to(ROOT / folder).as_posix()}")
    return found


@pytest.fixture(scope="module")
def wheel_names(tmp_path_factory) -> set[str]:
    pytest.importorskip("setuptools", minversion="77")  # SPDX license strings (the dev extra pins it)
    work = tmp_path_factory.mktemp("wheel")
    src = work / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, src / name)
    for folder in MAPPED:  # a copy, so the build writes nothing into the repository
        shutil.copytree(ROOT / folder, src / folder, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    done = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index",
                           "-q", str(src), "-w", str(work / "dist")], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    wheels = list((work / "dist").glob("vtg-*.whl"))
    assert len(wheels) == 1
    with zipfile.ZipFile(wheels[0]) as archive:
        return set(archive.namelist())


def test_every_package_and_module_is_in_the_wheel(wheel_names):
    expected = source_modules()
    assert "vtg/methods/tfvtg/localizer.py" in expected and "vtg/overlays/__init__.py" in expected
    missing = sorted(expected - wheel_names)
    assert not missing, f"not in the wheel (add the package to pyproject.toml's list): {missing}"


def test_nothing_lands_outside_the_vtg_namespace(wheel_names):
    tops = {name.split("/", 1)[0] for name in wheel_names}
    assert {top for top in tops if not top.endswith(".dist-info")} == {"vtg"}
    metadata = next(name for name in wheel_names if name.endswith(".dist-info/entry_points.txt"))
    assert metadata
