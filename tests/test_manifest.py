"""The napari manifest: the installed one is the top-level napari.yaml, valid, and inside wheels."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from importlib import resources
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
TOP_LEVEL = ROOT / "napari.yaml"


def test_installed_manifest_is_the_top_level_file():
    import npe2

    installed = resources.files("napari_inter2former") / "napari.yaml"
    assert installed.read_text() == TOP_LEVEL.read_text()
    from_dist = npe2.PluginManifest.from_distribution("napari-inter2former")
    from_file = npe2.PluginManifest.from_file(TOP_LEVEL)
    assert from_dist.name == from_file.name == "napari-inter2former"
    assert from_dist.contributions == from_file.contributions
    # every command resolves to an importable callable
    for command in from_file.contributions.commands:
        module, _, attr = command.python_name.partition(":")
        assert callable(getattr(__import__(module, fromlist=[attr]), attr)), command.id


def test_npe2_validate_accepts_the_manifest():
    npe2_cli = shutil.which("npe2", path=str(Path(sys.executable).parent))
    if npe2_cli is None:
        pytest.skip("npe2 command line not installed")
    proc = subprocess.run([npe2_cli, "validate", str(TOP_LEVEL)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_sample_data_loads_offline():
    from napari_inter2former._sample_data import nuclei_2d, nuclei_3d

    (image, meta, kind), = nuclei_2d()
    assert image.shape == (360, 360) and kind == "image"
    (volume, _, _), = nuclei_3d()
    assert volume.ndim == 3 and volume.shape[0] >= 16
    folder = resources.files("napari_inter2former") / "sample_data"
    assert "CC0" in (folder / "ATTRIBUTION.md").read_text() and "BSD-3" in (folder / "ATTRIBUTION.md").read_text()


def test_wheel_contains_manifest_and_sample_data(tmp_path):
    if (ROOT / "build").exists():
        pytest.skip("a build/ folder from another build is present; not touching it")
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
         "-w", str(tmp_path), str(ROOT)],
        capture_output=True, text=True, timeout=300)
    shutil.rmtree(ROOT / "build", ignore_errors=True)
    if proc.returncode != 0:
        pytest.skip(f"wheel build not possible here: {proc.stderr[-500:]}")
    (wheel,) = tmp_path.glob("napari_inter2former-*.whl")
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
        assert "napari_inter2former/napari.yaml" in names
        assert zf.read("napari_inter2former/napari.yaml").decode() == TOP_LEVEL.read_text()
        assert {"napari_inter2former/sample_data/nuclei_2d_dsb.tif",
                "napari_inter2former/sample_data/nuclei_3d_synthetic.tif",
                "napari_inter2former/sample_data/ATTRIBUTION.md"} <= names
        assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names), "no licence text in the wheel"
        entry_points = next(n for n in names if n.endswith("entry_points.txt"))
        assert "napari_inter2former:napari.yaml" in zf.read(entry_points).decode()


def test_samples_open_with_contrast_limits_that_show_the_nuclei():
    from napari_inter2former._sample_data import nuclei_2d, nuclei_3d

    for (image, meta, _), in (nuclei_2d(), nuclei_3d()):
        low, high = meta["contrast_limits"]
        assert image.min() <= low < high <= image.max()
        assert high < np.iinfo(image.dtype).max / 2  # napari's default (the dtype's range) showed them dim
