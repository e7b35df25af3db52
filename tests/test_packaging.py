"""What a pip install from PyPI gets: declared dependencies, the torch range, the sdist's contents."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
import tarfile
from importlib.metadata import packages_distributions
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

tomllib = pytest.importorskip("tomllib")  # Python 3.11+

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "src" / "napari_inter2former"
# Imported inside try/except ImportError, with a fallback: optional on purpose.
OPTIONAL = {"psutil"}


def _project() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def _declared() -> set[str]:
    project = _project()
    lines = list(project["dependencies"])
    for extra in project["optional-dependencies"].values():
        lines += extra
    return {canonicalize_name(Requirement(line).name) for line in lines}


def _imported_top_level_modules() -> set[str]:
    names = set()
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.Import):
                names.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module.split(".")[0])
    return names - set(sys.stdlib_module_names) - {"napari_inter2former", "__future__"}


def test_every_imported_package_is_declared():
    """A module that only arrives through another package's dependencies can vanish with that
    package's next release (scipy came through scikit-image, qtpy through napari)."""
    dists = packages_distributions()
    declared = _declared()
    missing = []
    for module in sorted(_imported_top_level_modules() - OPTIONAL):
        if module.startswith("efficientnet_"):  # the train extra, imported by name at run time
            continue
        owners = {canonicalize_name(d) for d in dists.get(module, [])}
        if not owners & declared:
            missing.append(f"{module} (from {sorted(owners) or 'not installed'})")
    assert not missing, f"imported but not declared in pyproject.toml: {missing}"


def test_torch_range_accepts_newer_cpu_builds():
    """setup.sh pins the local CPU wheel; the package must not make pip replace a user's newer
    CPU torch (pip would fetch PyPI's default build, CUDA on Linux)."""
    (torch,) = [Requirement(line) for line in _project()["dependencies"] if Requirement(line).name == "torch"]
    for version in ("2.13.0+cpu", "2.13.1", "2.14.1+cpu", "3.0.0"):
        assert torch.specifier.contains(version, prereleases=False), f"{torch} refuses torch {version}"


def test_sdist_carries_tests_with_their_fixtures_and_the_licence(tmp_path):
    tree = tmp_path / "tree"
    shutil.copytree(ROOT, tree, ignore=shutil.ignore_patterns(
        ".venv", ".git", "__pycache__", "*.egg-info", "build", "dist", "runs", ".gpu"))
    proc = subprocess.run(
        [sys.executable, "-c", "from setuptools.build_meta import build_sdist; print(build_sdist('dist'))"],
        cwd=tree, capture_output=True, text=True, timeout=300)
    if proc.returncode != 0:
        pytest.skip(f"sdist build not possible here: {proc.stderr[-500:]}")
    name = proc.stdout.strip().splitlines()[-1]
    with tarfile.open(tree / "dist" / name) as tar:
        members = {m.name.split("/", 1)[1] for m in tar.getmembers() if "/" in m.name}
    shipped_tests = {p.relative_to(ROOT).as_posix() for p in (ROOT / "tests").glob("*.py")}
    assert shipped_tests <= members, sorted(shipped_tests - members)
    assert {"LICENSE", "napari.yaml", "docs/model-card.md", "src/napari_inter2former/weights/inter2former_micro.safetensors"} <= members
