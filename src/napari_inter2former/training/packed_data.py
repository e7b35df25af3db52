"""Training data packed into one LZMA-compressed .npz, for machines that get little else.

A GPU machine gets the working tree and at most 64 MiB with it; the raw folders
are larger (Usiigaci is uint16). 8-bit images are stored as they are (they
compress best so, and `ImageSource` normalises them again on load exactly as
`load_folder` does); other images as the normalised uint8 planes `load_folder`
makes, one plane for grey. Labels are stored as uint16. Loading gives the same
`LabelledImage`s as `load_folder` on the source folders.

    python -m napari_inter2former.training.packed_data ../shared/data/train runs/train.npz
"""

from __future__ import annotations

import argparse
import json
import os
import zipfile
from pathlib import Path

import numpy as np

from ..session.errors import ImageError
from ..session.image_source import ImageSource
from .dataset import MIN_OBJECT_AREA, LabelledImage, labelled_image, normalised_planes, read_pair


def _write(zf: zipfile.ZipFile, name: str, array: np.ndarray) -> None:
    with zf.open(name + ".npy", "w", force_zip64=True) as f:
        np.lib.format.write_array(f, np.ascontiguousarray(array), allow_pickle=False)


def pack_folders(folders: list[str | Path], path: str | Path) -> int:
    """Pack data folders (images/, labels/) into `path`; returns the number of images packed.
    The folders are checked first, so a wrong path leaves no half-written file behind."""
    for folder in map(Path, folders):
        if not (folder / "images").is_dir() or not (folder / "labels").is_dir():
            raise FileNotFoundError(f"{folder} must contain images/ and labels/ folders")
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    entries = []
    partial = Path(str(path) + ".partial")  # renamed when whole: a failure leaves no half file
    try:
        with zipfile.ZipFile(partial, "w", compression=zipfile.ZIP_LZMA) as zf:
            for folder in folders:
                folder = Path(folder)
                for image_path in sorted((folder / "images").glob("*.tif")):
                    image, labels = read_pair(image_path, folder / "labels")
                    if labels.max() > np.iinfo(np.uint16).max:
                        raise ValueError(f"{image_path.name}: more than 65535 labels cannot be packed")
                    i = len(entries)
                    try:
                        source = ImageSource(image)
                    except ImageError as exc:  # e.g. a blank image: skipped, as training does
                        print(f"skipped {image_path.name}: {exc}")
                        continue
                    if image.dtype == np.uint8:
                        _write(zf, f"raw_{i}", image)
                        colour = source.rgb
                    else:
                        planes, colour = normalised_planes(image)
                        _write(zf, f"planes_{i}", planes[:1] if not colour else planes)
                    _write(zf, f"labels_{i}", labels.astype(np.uint16))
                    entries.append({"name": image_path.stem, "colour": bool(colour)})
            if not entries:
                raise ValueError(f"no usable .tif images in {', '.join(map(str, folders))}")
            _write(zf, "index", np.frombuffer(json.dumps(entries).encode(), dtype=np.uint8))
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    os.replace(partial, path)
    return len(entries)


class NothingToTrainOn(ValueError):
    """A packed file whose images hold no object big enough to train on."""


def load_packed(path: str | Path) -> list[LabelledImage]:
    if Path(path).is_file() and not zipfile.is_zipfile(path):
        # np.load would try it as a pickle, and advise allowing those
        raise ValueError(f"{path} is not a packed training file (not a zip archive); make one with "
                         "python -m napari_inter2former.training.packed_data FOLDERS OUT.npz")
    try:
        with np.load(path, allow_pickle=False) as data:
            entries = json.loads(bytes(data["index"]).decode())
            out = [item for i, entry in enumerate(entries) if (item := _entry_image(data, i, entry)) is not None]
    except (ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:
        raise ValueError(f"{path} is not a packed training file (np.load failed: {exc})") from exc
    if not out:
        raise NothingToTrainOn(f"no labelled images in {path}")
    return out


def _entry_image(data, i: int, entry: dict) -> LabelledImage | None:
    """Image `i` of an open packed file (None: no object big enough)."""
    if f"raw_{i}" in data:
        planes, colour = normalised_planes(data[f"raw_{i}"])
    else:
        planes, colour = data[f"planes_{i}"], entry["colour"]
        if planes.shape[0] == 1:
            planes = np.repeat(planes, 3, axis=0)
    return labelled_image(entry["name"], planes, data[f"labels_{i}"].astype(np.int32), colour)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="pack data folders into one .npz for training")
    parser.add_argument("folders", nargs="+", help="data folders (images/, labels/)")
    parser.add_argument("out", help="output .npz")
    args = parser.parse_args(argv)
    try:
        pack_folders(args.folders, args.out)
        images = load_packed(args.out)
    except (FileNotFoundError, ValueError) as exc:
        if isinstance(exc, NothingToTrainOn):
            Path(args.out).unlink()  # packed, but nothing in it to train on
            exc = f"no object of at least {MIN_OBJECT_AREA} px in {', '.join(args.folders)}"
        parser.exit(2, f"{parser.prog}: error: {exc}\n")
    size = Path(args.out).stat().st_size / 2**20
    print(f"packed {len(images)} images, {sum(len(im.objects) for im in images)} objects into {args.out} ({size:.1f} MiB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
