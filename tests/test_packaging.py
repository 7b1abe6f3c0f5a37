"""The built wheel holds every package of the source tree, in the vtg namespace.

methods/ and overlays/ install as vtg.methods and vtg.overlays: vtg/methods and vtg/overlays are
symbolic links to them, and setuptools' package finder follows the links, so no package list is
kept by hand. A package the finder missed would still import in an editable install and in the
tests and silently vanish from the wheel users get; building the wheel is the check that sees it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FOLDERS = ("vtg", "methods", "overlays")


def source_modules() -> set[str]:
    """Every .py file of every package directory (one holding __init__.py) under vtg/, following
    the links to methods/ and overlays/, as its wheel path."""
    found = set()
    for folder, _dirs, files in os.walk(ROOT / "vtg", followlinks=True):
        if "__init__.py" not in files or "__pycache__" in folder:
            continue
        for name in files:
            if name.endswith(".py"):
                found.add((Path(folder) / name).relative_to(ROOT).as_posix())
    return found


def test_methods_and_overlays_are_links_into_the_package():
    for name in ("methods", "overlays"):
        link = ROOT / "vtg" / name
        assert link.is_symlink() and link.resolve() == (ROOT / name).resolve()


@pytest.fixture(scope="module")
def wheel_names(tmp_path_factory) -> set[str]:
    pytest.importorskip("setuptools", minversion="77")  # SPDX license strings (the dev extra pins it)
    work = tmp_path_factory.mktemp("wheel")
    src = work / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, src / name)
    for folder in FOLDERS:  # a copy (links kept as links), so the build writes nothing into the repository
        shutil.copytree(ROOT / folder, src / folder, symlinks=True,
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
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
    assert not missing, f"not in the wheel (is the folder a package, with __init__.py?): {missing}"


def test_nothing_lands_outside_the_vtg_namespace(wheel_names):
    tops = {name.split("/", 1)[0] for name in wheel_names}
    assert {top for top in tops if not top.endswith(".dist-info")} == {"vtg"}
    metadata = next(name for name in wheel_names if name.endswith(".dist-info/entry_points.txt"))
    assert metadata
