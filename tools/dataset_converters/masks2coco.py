"""Convert instance-mask PNGs to a COCO-format folder (README "Train on your
own data").

Example::

    python tools/dataset_converters/masks2coco.py path/to/images \\
        path/to/masks data/my_dataset --class-name cell --val-ratio 0.2

Input: every image below IMAGES_DIR and, below MASKS_DIR, the mask with the
same relative path and stem plus ``--mask-suffix`` (``a/b.jpg`` ->
``a/b.png``; an image without a mask has no object). A mask is an instance
map: 0 is background and every other value one object; single-channel
8- or 16-bit, or RGB with one colour per object (black background).

Classes: one class (``--class-name``, default ``object``), or with
``--id-divisor N`` the category id of an object is ``value // N`` (as in
Cityscapes' ``*_instanceIds.png``: 26001 -> 26); values below ``N`` are
background. ``--classes`` names the category ids 1, 2... (default
``class_<id>``).

Each object is traced with the project's ``mask_to_polygons``: every part a
polygon and, unless ``--fill-holes``, every hole kept (joined to its outline
by a zero-width cut, which pycocotools rasterises away), so the polygons
rasterise back to the mask exactly. ``area`` is the pixel count, ``bbox``
the pixel box. The image size is the mask's; an image of another size (as
shown and as stored) is skipped and counted.

Output: see ``coco_writer.py`` (``OUT/annotations/instances_<split>.json``,
``OUT/<split>/``).
"""
import argparse
import os.path as osp
import sys
from collections import Counter
from pathlib import Path
from typing import Dict, Iterator, List, Optional, Sequence, Tuple

import numpy as np
from PIL import Image

REPO_ROOT = osp.abspath(osp.join(osp.dirname(__file__), '..', '..'))
if REPO_ROOT not in sys.path:
    sys.path.insert(0, REPO_ROOT)
sys.path.insert(0, osp.dirname(osp.abspath(__file__)))
from coco_writer import (CocoWriter, ConversionError,  # noqa: E402
                         add_output_args, assign_splits, dump_splits,
                         find_images, image_sizes, make_categories,
                         output_kwargs, parse_class_list, place_image,
                         progress, run_converter, shown_size)

from mmdet_ext.datasets.transforms.rle_to_polygons import \
    mask_to_polygons  # noqa: E402


def read_instance_map(path: str) -> np.ndarray:
    """An (H, W) integer map of object ids, as stored (no EXIF rotation).

    Palette (indexed) PNGs give their indices, grayscale ones their values
    (8 or 16 bits), RGB ones one id per colour (``R << 16 | G << 8 | B``).

    Raises:
        ConversionError: If the file is not an image.
    """
    try:
        with Image.open(path) as img:
            if img.mode in ('RGB', 'RGBA'):
                rgb = np.asarray(img.convert('RGB')).astype(np.int64)
                return rgb[..., 0] << 16 | rgb[..., 1] << 8 | rgb[..., 2]
            return np.asarray(img).astype(np.int64)
    except (OSError, SyntaxError, ValueError) as err:
        raise ConversionError(f'cannot read mask {path}: {err}') from None


def instances(id_map: np.ndarray,
              id_divisor: Optional[int] = None,
              background: Sequence[int] = (0, )
              ) -> Iterator[Tuple[int, np.ndarray]]:
    """``(category id, binary mask)`` per object of an instance map (ids in
    increasing order; one category, 1, without ``id_divisor``).

    Args:
        id_map (np.ndarray): (H, W) object ids.
        id_divisor (int, optional): Category id = id // divisor; ids below
            it are background.
        background (Sequence[int]): Ids that are no object (e.g. 0 and the
            255 "void" border of Pascal VOC's masks).
    """
    for value in np.unique(id_map):
        if value in background:
            continue
        category = 1 if id_divisor is None else int(value) // id_divisor
        if category == 0:
            continue
        yield category, (id_map == value).astype(np.uint8)


def pixel_bbox(mask: np.ndarray) -> List[float]:
    """``[x, y, w, h]`` of the pixels of a binary mask (pixel corners)."""
    ys, xs = np.nonzero(mask)
    x0, y0 = int(xs.min()), int(ys.min())
    return [float(x0), float(y0), float(xs.max() + 1 - x0),
            float(ys.max() + 1 - y0)]


def mask_path(masks_dir: str, image: str, suffix: str) -> str:
    """The mask of an image path relative to the images folder."""
    return osp.join(masks_dir, str(Path(image).with_suffix(suffix)))


def size_matches(image_path: str, height: int, width: int) -> bool:
    """Whether the image has the mask's size as shown (EXIF orientation
    applied) or as stored (the loaders follow the annotation file, see
    ``CheckedLoadImageFromFile``)."""
    return (width, height) in image_sizes(image_path)


def convert_masks(images_dir: str,
                  masks_dir: str,
                  out_dir: str,
                  class_name: str = 'object',
                  id_divisor: Optional[int] = None,
                  class_names: Optional[Sequence[str]] = None,
                  mask_suffix: str = '.png',
                  background: Sequence[int] = (0, ),
                  keep_holes: bool = True,
                  val_ratio: float = 0.,
                  split: str = 'train',
                  copy_mode: str = 'copy',
                  decimals: int = 2
                  ) -> Tuple[Dict[str, CocoWriter], Counter]:
    """Convert images and their instance masks (see the module docstring).

    Args:
        images_dir (str): Folder of the images.
        masks_dir (str): Folder of the masks (same sub-paths).
        out_dir (str): Output folder.
        class_name (str): The class without ``id_divisor``.
        id_divisor (int, optional): Category id = mask value // divisor.
        class_names (Sequence[str], optional): Names of the category ids
            1, 2... with ``id_divisor``.
        mask_suffix (str): Suffix replacing the image's.
        background (Sequence[int]): Mask values that are no object.
        keep_holes (bool): Keep holes in the polygons.
        val_ratio (float): Fraction of the images held out as ``val``.
        split (str): Split of the other images.
        copy_mode (str): ``copy``, ``symlink`` or ``hardlink``.
        decimals (int): Decimals of the polygon coordinates.

    Returns:
        tuple: Split -> :class:`CocoWriter` (already written), and the
        counts of what was skipped.
    """
    images = find_images(images_dir)
    if not images:
        raise ConversionError(f'no image found in {images_dir}')
    maps = {}
    for image in images:
        path = mask_path(masks_dir, image, mask_suffix)
        maps[image] = path if osp.isfile(path) else None
    categories = _categories(maps, class_name, id_divisor, class_names,
                             background)
    known = {c['id'] for c in categories}
    splits = assign_splits(images, val_ratio, split)
    writers = {
        name: CocoWriter(categories, decimals)
        for name in dict.fromkeys(splits.values())
    }
    skipped = Counter()
    for image in progress(images, 'masks2coco'):
        src = osp.join(images_dir, image)
        if maps[image] is None:
            width, height = shown_size(src)
            id_map = None
        else:
            id_map = read_instance_map(maps[image])
            height, width = id_map.shape
            if not size_matches(src, height, width):
                skipped['images of another size than their mask'] += 1
                continue
        writer = writers[splits[image]]
        image_id = writer.add_image(image, width, height)
        place_image(src, osp.join(out_dir, splits[image], image), copy_mode)
        if id_map is None:
            continue
        for category, mask in instances(id_map, id_divisor, background):
            if category not in known:
                skipped['objects of a category without a name'] += 1
                continue
            writer.add_object(
                image_id, category,
                mask_to_polygons(mask, drop_collinear=True,
                                 keep_holes=keep_holes),
                area=float(mask.sum()),
                bbox=pixel_bbox(mask))
    dump_splits(out_dir, writers)
    return writers, skipped


def _categories(maps: Dict[str, Optional[str]], class_name: str,
                id_divisor: Optional[int],
                class_names: Optional[Sequence[str]],
                background: Sequence[int]) -> List[dict]:
    """One category, or (``id_divisor``) the named ids or every id
    found."""
    if id_divisor is None:
        return make_categories([class_name])
    if class_names:
        return make_categories(class_names)
    ids = set()
    for path in maps.values():
        if path is not None:
            ids.update(category for category, _ in instances(
                read_instance_map(path), id_divisor, background))
    if not ids:
        raise ConversionError('no object in the masks (every value is below'
                              f' --id-divisor {id_divisor})')
    return make_categories([f'class_{i}' for i in sorted(ids)], sorted(ids))


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Convert instance-mask PNGs to COCO format')
    parser.add_argument('images_dir', help='folder of the images')
    parser.add_argument('masks_dir', help='folder of the instance masks')
    parser.add_argument('out_dir', help='output COCO-format folder')
    parser.add_argument(
        '--mask-suffix',
        default='.png',
        help='suffix of a mask in place of its image\'s (e.g. _mask.png)')
    parser.add_argument(
        '--class-name', default='object', help='the one class\'s name')
    parser.add_argument(
        '--id-divisor',
        type=int,
        help='category id = mask value // N (e.g. 1000 for Cityscapes)')
    parser.add_argument(
        '--classes',
        help='with --id-divisor: names of the category ids 1, 2... (.txt, '
        'one per line, or a,b,c)')
    parser.add_argument(
        '--background',
        default='0',
        help='comma-separated mask values that are no object (default 0; '
        'Pascal VOC: 0,255)')
    parser.add_argument(
        '--fill-holes',
        action='store_true',
        help='fill the holes of the objects (default: keep them)')
    add_output_args(parser)
    args = parser.parse_args(argv)
    if args.classes and args.id_divisor is None:
        parser.error('--classes needs --id-divisor (else use --class-name)')
    if args.id_divisor is not None and args.id_divisor < 1:
        parser.error('--id-divisor must be >= 1')
    return args


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = parse_args(argv)
    return run_converter(
        'masks2coco', args.out_dir, lambda: convert_masks(
            args.images_dir,
            args.masks_dir,
            args.out_dir,
            class_name=args.class_name,
            id_divisor=args.id_divisor,
            class_names=parse_class_list(args.classes)
            if args.classes else None,
            mask_suffix=args.mask_suffix,
            background=[int(v) for v in args.background.split(',')],
            keep_holes=not args.fill_holes,
            **output_kwargs(args)))


if __name__ == '__main__':
    sys.exit(main())
