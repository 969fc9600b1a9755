"""Convert YOLO segmentation labels (Ultralytics' txt format) to a COCO-format
folder (README "Train on your own data").

Example::

    python tools/dataset_converters/yolo2coco.py path/to/yolo data/my_dataset \\
        --classes path/to/yolo/data.yaml --val-ratio 0.2

Input: ``ROOT/images/**/<name>.<ext>`` and ``ROOT/labels/**/<name>.txt``
(Ultralytics' layout; ``--images``/``--labels`` name other folders). Each
label line is one object, ``class x1 y1 x2 y2 ...`` with coordinates
normalised to the image as shown (EXIF orientation applied, as
Ultralytics measures it); a line of 4 numbers, ``class cx cy w h``, is a
box and becomes a rectangle. An image without a label file has no object.

Ultralytics' COCO converter joins the parts of an object into one polygon
with zero-width bridges that visit the joining vertices twice; such a
polygon is split back at its repeated vertices into its parts (a part with
fewer than 3 vertices, a bridge, is dropped).

Classes: ``--classes`` (a data.yaml with ``names``, a ``.txt`` with one name
per line, or ``a,b,c``); without it ``class_0``, ``class_1``... up to the
largest index found. ``--category-ids`` gives the COCO id of each class
index (1, 2... by default). Objects with an index beyond the names, odd
coordinate counts or coordinates outside ``[0, 1]`` are skipped and counted.

Output: see ``coco_writer.py`` (``OUT/annotations/instances_<split>.json``,
``OUT/<split>/``); image ids are 1, 2... or, with ``--image-ids-from-names``,
the integer file names (COCO images).
"""
import argparse
import os.path as osp
import sys
from collections import Counter
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

sys.path.insert(0, osp.dirname(osp.abspath(__file__)))
from coco_writer import (CocoWriter, ConversionError,  # noqa: E402
                         add_output_args, assign_splits, dump_splits,
                         find_images, make_categories, output_kwargs,
                         parse_class_list, place_image, progress,
                         run_converter, shown_size)

#: Tolerance of the normalised coordinates (some exporters round 1.0 up).
_NORMALISED_SLACK = 0.01

Point = Tuple[float, float]


def split_at_repeated_vertices(points: Sequence[Point]) -> List[List[Point]]:
    """The closed loops of a closed walk, cut at its repeated vertices.

    Walking the vertices, a vertex already on the current path closes a
    loop: the loop is taken out and the walk goes on from that vertex. A
    simple polygon is one loop; a polygon whose parts were joined by
    zero-width bridges (each joining vertex visited twice) gives back its
    parts, and the bridges give loops of fewer than 3 vertices, dropped.

    Args:
        points (Sequence[tuple]): Vertices ``(x, y)`` of a closed polygon.

    Returns:
        list[list[tuple]]: Loops of 3 or more distinct vertices.
    """
    loops, path, position = [], [], {}
    for point in list(points) + list(points[:1]):
        if point not in position:
            position[point] = len(path)
            path.append(point)
            continue
        start = position[point]
        loop = path[start:]
        for vertex in path[start + 1:]:
            del position[vertex]
        del path[start + 1:]
        if len(loop) >= 3:
            loops.append(loop)
    return loops


def parse_label_line(values: Sequence[float], width: int,
                     height: int) -> Tuple[Optional[List[List[float]]], str]:
    """The polygon parts (pixels) of one label line's coordinates.

    Args:
        values (Sequence[float]): The numbers after the class index.
        width (int): Image width (shown).
        height (int): Image height (shown).

    Returns:
        tuple: ``(parts, '')``, or ``(None, why)`` for a line to skip.
    """
    if len(values) == 4:
        cx, cy, w, h = values
        values = [cx - w / 2, cy - h / 2, cx + w / 2, cy - h / 2,
                  cx + w / 2, cy + h / 2, cx - w / 2, cy + h / 2]
    elif len(values) < 6 or len(values) % 2:
        return None, 'label lines without a polygon'
    if min(values) < -_NORMALISED_SLACK or \
            max(values) > 1 + _NORMALISED_SLACK:
        return None, 'objects with coordinates outside [0, 1]'
    points = list(zip(values[0::2], values[1::2]))
    parts = [[c for x, y in loop for c in (x * width, y * height)]
             for loop in split_at_repeated_vertices(points)]
    if not parts:
        return None, 'label lines without a polygon'
    return parts, ''


def read_labels(path: str) -> List[Tuple[int, List[float]]]:
    """``(class index, coordinates)`` per line of a label file (none if the
    file does not exist).

    Raises:
        ConversionError: On a line that is not numbers.
    """
    if not osp.isfile(path):
        return []
    objects = []
    with open(path) as f:
        for number, line in enumerate(f, start=1):
            fields = line.split()
            if not fields:
                continue
            try:
                objects.append((int(float(fields[0])),
                                [float(v) for v in fields[1:]]))
            except ValueError:
                raise ConversionError(
                    f'{path}:{number}: not a YOLO label line: '
                    f'{line.strip()[:60]!r}') from None
    return objects


def label_file(labels_dir: str, image: str) -> str:
    """The label file of an image path relative to the images folder."""
    return osp.join(labels_dir, str(Path(image).with_suffix('.txt')))


def image_id_of(image: str) -> int:
    """The integer name of an image (COCO's ``000000000009.jpg`` -> 9)."""
    stem = Path(image).stem
    if not stem.isdigit():
        raise ConversionError(
            f'--image-ids-from-names: {image} is not named by a number')
    return int(stem)


def convert_yolo(images_dir: str,
                 labels_dir: str,
                 out_dir: str,
                 class_names: Optional[Sequence[str]] = None,
                 category_ids: Optional[Sequence[int]] = None,
                 categories: Optional[Sequence[dict]] = None,
                 val_ratio: float = 0.,
                 split: str = 'train',
                 image_ids_from_names: bool = False,
                 copy_mode: str = 'copy',
                 decimals: int = 2,
                 info: Optional[dict] = None
                 ) -> Tuple[Dict[str, CocoWriter], Counter]:
    """Convert a YOLO segmentation set (see the module docstring).

    Args:
        images_dir (str): Folder of the images (sub-folders included).
        labels_dir (str): Folder of the label files (same sub-paths).
        out_dir (str): Output folder.
        class_names (Sequence[str], optional): Name of each class index.
        category_ids (Sequence[int], optional): COCO id of each class
            index; 1, 2... by default.
        categories (Sequence[dict], optional): Whole COCO categories of
            the class indices (``id``, ``name``, ``supercategory``...),
            in place of ``class_names`` and ``category_ids``.
        val_ratio (float): Fraction of the images held out as ``val``.
        split (str): Split of the other images.
        image_ids_from_names (bool): Image id = integer file name.
        copy_mode (str): ``copy``, ``symlink`` or ``hardlink``.
        decimals (int): Decimals of the polygon coordinates.
        info (dict, optional): ``info`` of the annotation files.

    Returns:
        tuple: Split -> :class:`CocoWriter` (already written), and the
        counts of what was skipped.
    """
    images = find_images(images_dir)
    if not images:
        raise ConversionError(f'no image found in {images_dir}')
    labels = {image: read_labels(label_file(labels_dir, image))
              for image in images}
    if categories is None:
        if class_names is None:
            top = max((c for objs in labels.values() for c, _ in objs),
                      default=0)
            class_names = [f'class_{i}' for i in range(top + 1)]
        categories = make_categories(class_names, category_ids)
    splits = assign_splits(images, val_ratio, split)
    writers = {
        name: CocoWriter(categories, decimals, info)
        for name in dict.fromkeys(splits.values())
    }
    skipped = Counter()
    for image in progress(images, 'yolo2coco'):
        writer = writers[splits[image]]
        src = osp.join(images_dir, image)
        width, height = shown_size(src)
        image_id = writer.add_image(
            image, width, height,
            image_id_of(image) if image_ids_from_names else None)
        for index, values in labels[image]:
            if not 0 <= index < len(categories):
                skipped['objects of a class index without a name'] += 1
                continue
            parts, why = parse_label_line(values, width, height)
            if parts is None:
                skipped[why] += 1
                continue
            writer.add_object(image_id, categories[index]['id'], parts)
        place_image(src, osp.join(out_dir, splits[image], image), copy_mode)
    dump_splits(out_dir, writers)
    return writers, skipped


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Convert YOLO segmentation labels to COCO format')
    parser.add_argument('root', help='YOLO folder with images/ and labels/')
    parser.add_argument('out_dir', help='output COCO-format folder')
    parser.add_argument('--images', help='image folder (ROOT/images)')
    parser.add_argument('--labels', help='label folder (ROOT/labels)')
    parser.add_argument(
        '--classes',
        help='data.yaml, a .txt with one name per line, or a,b,c')
    parser.add_argument(
        '--category-ids',
        help='comma-separated COCO id of each class index (default 1, 2...)')
    parser.add_argument(
        '--image-ids-from-names',
        action='store_true',
        help='image id = the integer file name (COCO images)')
    add_output_args(parser)
    return parser.parse_args(argv)


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = parse_args(argv)
    return run_converter(
        'yolo2coco', args.out_dir, lambda: convert_yolo(
            args.images or osp.join(args.root, 'images'),
            args.labels or osp.join(args.root, 'labels'),
            args.out_dir,
            class_names=parse_class_list(args.classes)
            if args.classes else None,
            category_ids=[int(i) for i in args.category_ids.split(',')]
            if args.category_ids else None,
            image_ids_from_names=args.image_ids_from_names,
            **output_kwargs(args)))


if __name__ == '__main__':
    sys.exit(main())
