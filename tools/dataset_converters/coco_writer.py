"""Shared pieces of the ``*2coco.py`` converters: a COCO instances file built
object by object, the train/val split and the output layout.

Every converter writes the layout that
``configs/_base_/datasets/coco_format_instance.py`` reads (README "Train on
your own data")::

    OUT/annotations/instances_train.json   OUT/train/<images>
    OUT/annotations/instances_val.json     OUT/val/<images>

Image paths below the input folder are kept below the split folder
(``file_name`` is relative to it). Polygon coordinates are clamped to the
image and rounded; a part with fewer than 3 distinct vertices is dropped,
and an object left without a part is skipped and counted.
"""
import argparse
import json
import os
import os.path as osp
import shutil
import sys
from collections import Counter
from fractions import Fraction
from pathlib import Path
from typing import (Callable, Dict, Iterable, List, Optional, Sequence, Tuple,
                    TypeVar)

import numpy as np
from PIL import Image
from tqdm import tqdm

#: Image files the converters look for (lower case).
IMAGE_EXTENSIONS = ('.jpg', '.jpeg', '.png', '.bmp', '.tif', '.tiff', '.webp')
#: How files reach the split folders (``--copy-mode``).
COPY_MODES = ('copy', 'symlink', 'hardlink')
_EXIF_ORIENTATION = 0x0112
_TRANSPOSING_ORIENTATIONS = (5, 6, 7, 8)

T = TypeVar('T')


class ConversionError(RuntimeError):
    """The input cannot be converted (the message names the file)."""


# ------------------------------------------------------------- polygons
def clean_polygon(coords: Sequence[float], width: int, height: int,
                  decimals: int = 2) -> Optional[List[float]]:
    """A flat ``[x0, y0, x1, y1, ...]`` polygon clamped to the image,
    rounded, without repeated consecutive vertices; None if fewer than 3
    distinct vertices (or any non-finite coordinate) remain.

    Args:
        coords (Sequence[float]): Flat coordinates in pixels.
        width (int): Image width.
        height (int): Image height.
        decimals (int): Decimals kept.

    Returns:
        list[float] | None: The polygon.
    """
    xy = np.asarray(coords, dtype=np.float64)
    if xy.size < 6 or xy.size % 2 or not np.isfinite(xy).all():
        return None
    xy = xy.reshape(-1, 2)
    xy[:, 0] = xy[:, 0].clip(0, width)
    xy[:, 1] = xy[:, 1].clip(0, height)
    xy = xy.round(decimals)
    keep = np.any(xy != np.roll(xy, 1, axis=0), axis=1)
    xy = xy[keep]
    if len(np.unique(xy, axis=0)) < 3:
        return None
    return [float(v) for v in xy.reshape(-1)]


def polygon_area(polygons: Sequence[Sequence[float]]) -> float:
    """Sum of the shoelace areas of the parts (a hole joined to its outline
    by a cut counts negatively, see ``mask_to_polygons``)."""
    total = 0.
    for part in polygons:
        xy = np.asarray(part, dtype=np.float64).reshape(-1, 2)
        x, y = xy[:, 0], xy[:, 1]
        total += abs(float(np.dot(x, np.roll(y, -1)) -
                           np.dot(np.roll(x, -1), y))) / 2
    return total


def polygon_bbox(polygons: Sequence[Sequence[float]]) -> List[float]:
    """``[x, y, w, h]`` of the extent of all parts."""
    xy = np.concatenate(
        [np.asarray(p, dtype=np.float64).reshape(-1, 2) for p in polygons])
    x0, y0 = xy.min(0)
    x1, y1 = xy.max(0)
    return [float(x0), float(y0), float(x1 - x0), float(y1 - y0)]


# ------------------------------------------------------------ the writer
def make_categories(names: Sequence[str],
                    ids: Optional[Sequence[int]] = None) -> List[dict]:
    """COCO categories: ``names`` with ``ids`` (1, 2, ... by default)."""
    ids = list(ids) if ids is not None else list(range(1, len(names) + 1))
    if len(ids) != len(names):
        raise ConversionError(
            f'{len(names)} class names but {len(ids)} category ids')
    return [dict(id=int(i), name=name) for i, name in zip(ids, names)]


class CocoWriter:
    """One COCO instances file, built image by image and object by object.

    Args:
        categories (Sequence[dict]): COCO categories (``id``, ``name``...),
            in label order.
        decimals (int): Decimals kept in polygon coordinates.
        info (dict, optional): The file's ``info``.
    """

    def __init__(self,
                 categories: Sequence[dict],
                 decimals: int = 2,
                 info: Optional[dict] = None) -> None:
        self.categories = [dict(c) for c in categories]
        self.decimals = decimals
        self.info = dict(info or {})
        self.images: List[dict] = []
        self.annotations: List[dict] = []
        self.skipped = Counter()  # reason -> objects left out
        self._sizes: Dict[int, Tuple[int, int]] = {}

    def add_image(self,
                  file_name: str,
                  width: int,
                  height: int,
                  image_id: Optional[int] = None) -> int:
        """Add an image; returns its id (1, 2, ... unless given)."""
        image_id = len(self.images) + 1 if image_id is None else image_id
        self.images.append(
            dict(id=int(image_id), file_name=file_name, width=int(width),
                 height=int(height)))
        self._sizes[int(image_id)] = (int(width), int(height))
        return int(image_id)

    def add_object(self,
                   image_id: int,
                   category_id: int,
                   polygons: Iterable[Sequence[float]],
                   area: Optional[float] = None,
                   bbox: Optional[List[float]] = None) -> Optional[dict]:
        """Add one object made of polygon parts (cleaned with
        :func:`clean_polygon`).

        Args:
            image_id (int): Id returned by :meth:`add_image`.
            category_id (int): One of the categories' ids.
            polygons (Iterable[Sequence[float]]): Flat parts in pixels.
            area (float, optional): Exact area (e.g. a mask's pixel count);
                the shoelace area of the parts by default.
            bbox (list[float], optional): Exact ``[x, y, w, h]``; the
                extent of the parts by default.

        Returns:
            dict | None: The annotation, or None if no part is left (then
            counted in :attr:`skipped`).
        """
        width, height = self._sizes[image_id]
        parts = [
            part for part in (clean_polygon(p, width, height, self.decimals)
                              for p in polygons) if part is not None
        ]
        if not parts:
            self.skipped['no polygon with 3 points in the image'] += 1
            return None
        area = polygon_area(parts) if area is None else area
        bbox = polygon_bbox(parts) if bbox is None else bbox
        ann = dict(
            id=len(self.annotations) + 1,
            image_id=image_id,
            category_id=int(category_id),
            segmentation=parts,
            area=round(float(area), self.decimals),
            bbox=[round(v, self.decimals) for v in bbox],
            iscrowd=0)
        self.annotations.append(ann)
        return ann

    def to_dict(self) -> dict:
        """The COCO instances content."""
        return dict(
            info=self.info,
            images=self.images,
            annotations=self.annotations,
            categories=self.categories)

    def dump(self, path: str) -> None:
        """Write the file (parent folders created)."""
        os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
        with open(path, 'w') as f:
            json.dump(self.to_dict(), f)


# ------------------------------------------------------- inputs, outputs
def parse_class_list(spec: str) -> List[str]:
    """Class names from ``--classes``: a ``.txt`` file (one per line), a
    ``.yaml``/``.yml`` file with ``names`` (a list, or a dict index ->
    name, as Ultralytics' data.yaml) or a comma-separated list."""
    if spec.endswith(('.yaml', '.yml')):
        import yaml
        with open(spec) as f:
            names = (yaml.safe_load(f) or {}).get('names')
        if isinstance(names, dict):
            names = [names[k] for k in sorted(names)]
        if not isinstance(names, list) or not names:
            raise ConversionError(f'{spec} has no "names" list or dict')
        return [str(n) for n in names]
    if spec.endswith('.txt'):
        with open(spec) as f:
            return [line.strip() for line in f if line.strip()]
    return [name.strip() for name in spec.split(',') if name.strip()]


def find_images(root: str) -> List[str]:
    """Image files below ``root`` (relative posix paths, sorted)."""
    found = []
    for folder, _, files in os.walk(root):
        for name in files:
            if name.lower().endswith(IMAGE_EXTENSIONS):
                found.append(
                    Path(osp.relpath(osp.join(folder, name),
                                     root)).as_posix())
    return sorted(found)


def image_sizes(path: str) -> Tuple[Tuple[int, int], Tuple[int, int]]:
    """``(width, height)`` of an image as shown (EXIF orientation applied,
    as viewers, annotation tools and MMDetection's loader do) and as
    stored; reads only the header.

    Raises:
        ConversionError: If the file is not an image Pillow can open.
    """
    try:
        with Image.open(path) as img:
            stored = img.size
            orientation = img.getexif().get(_EXIF_ORIENTATION, 1)
    except (OSError, SyntaxError, ValueError) as err:
        raise ConversionError(f'cannot read image {path}: {err}') from None
    if orientation in _TRANSPOSING_ORIENTATIONS:
        return stored[::-1], stored
    return stored, stored


def shown_size(path: str) -> Tuple[int, int]:
    """``(width, height)`` of an image as shown (see :func:`image_sizes`)."""
    return image_sizes(path)[0]


def assign_splits(names: Sequence[str],
                  val_ratio: float = 0.,
                  split: str = 'train',
                  val_split: str = 'val') -> Dict[str, str]:
    """Split of every name: ``split``, except an evenly spread
    ``val_ratio`` of them (in the given order) in ``val_split``.

    Image ``i`` goes to ``val_split`` when ``floor((i + 1) * r)`` exceeds
    ``floor(i * r)``: with ``r = 0.2`` the 5th, 10th, 15th... image, the same
    split whatever the number of images.

    Args:
        names (Sequence[str]): Image names, in a stable order.
        val_ratio (float): Fraction in ``[0, 1)``.
        split (str): Split of the other images.
        val_split (str): Split of the held-out images.

    Returns:
        dict[str, str]: Name -> split.
    """
    if not 0 <= val_ratio < 1:
        raise ConversionError(f'--val-ratio must be in [0, 1), got '
                              f'{val_ratio}')
    # exact arithmetic: 0.2 * 5 must be 1, not 0.9999...
    ratio = Fraction(str(val_ratio))
    return {
        name: val_split if (i + 1) * ratio // 1 > i * ratio // 1 else split
        for i, name in enumerate(names)
    }


def place_image(src: str, dst: str, mode: str = 'copy') -> None:
    """Put ``src`` at ``dst`` (copied, or linked with ``mode``)."""
    os.makedirs(osp.dirname(dst), exist_ok=True)
    if osp.lexists(dst):
        os.remove(dst)
    if mode == 'symlink':
        os.symlink(osp.abspath(src), dst)
    elif mode == 'hardlink':
        os.link(src, dst)
    else:
        shutil.copy2(src, dst)


def annotation_file(out_dir: str, split: str) -> str:
    """``OUT/annotations/instances_<split>.json``."""
    return osp.join(out_dir, 'annotations', f'instances_{split}.json')


def dump_splits(out_dir: str, writers: Dict[str, CocoWriter]) -> None:
    """Write the annotation file of every split."""
    for split, writer in writers.items():
        writer.dump(annotation_file(out_dir, split))


def progress(items: Sequence[T], desc: str) -> Iterable[T]:
    """``items`` with a progress bar on a terminal (none in logs)."""
    return tqdm(items, desc=desc, unit='img', disable=None, leave=False)


def summary(name: str, out_dir: str, writers: Dict[str, CocoWriter],
            skipped: Counter) -> str:
    """One line: images and objects per split, classes, what was left
    out."""
    splits = ', '.join(
        f'{split} {len(w.images)} images / {len(w.annotations)} objects'
        for split, w in writers.items())
    total = Counter(skipped)
    for writer in writers.values():
        total.update(writer.skipped)
    num_classes = len(next(iter(writers.values())).categories) \
        if writers else 0
    line = f'{name}: {splits}, {num_classes} classes -> {out_dir}'
    if total:
        line += '; skipped: ' + ', '.join(
            f'{n} {why}' for why, n in sorted(total.items()))
    return line


def output_kwargs(args: argparse.Namespace) -> Dict[str, object]:
    """The converters' keyword arguments from :func:`add_output_args`."""
    return dict(
        val_ratio=args.val_ratio,
        split=args.split,
        copy_mode=args.copy_mode,
        decimals=args.decimals)


def run_converter(name: str, out_dir: str,
                  convert: Callable[[], Tuple[Dict[str, CocoWriter],
                                              Counter]]) -> int:
    """A converter's command line: run ``convert()``, print its summary
    and return 0, or print the error of bad input and return 1."""
    try:
        writers, skipped = convert()
    except (ConversionError, OSError, ValueError) as err:
        print(f'error: {err}', file=sys.stderr)
        return 1
    print(summary(name, out_dir, writers, skipped))
    return 0


def add_output_args(parser: argparse.ArgumentParser) -> None:
    """``--val-ratio``, ``--split``, ``--copy-mode`` and ``--decimals``."""
    parser.add_argument(
        '--val-ratio',
        type=float,
        default=0.,
        help='hold out this fraction of the images (every 1/r-th by name) '
        'as the val split')
    parser.add_argument(
        '--split',
        default='train',
        help='split of the (other) images: OUT/<split>/ and '
        'annotations/instances_<split>.json')
    parser.add_argument(
        '--copy-mode',
        choices=COPY_MODES,
        default='copy',
        help='how images reach OUT/<split>/ (default: copy)')
    parser.add_argument(
        '--decimals',
        type=int,
        default=2,
        help='decimals of the polygon coordinates')
