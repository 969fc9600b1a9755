"""Convert LabelMe annotations (one JSON per image) to a COCO-format folder
(README "Train on your own data").

Example::

    python tools/dataset_converters/labelme2coco.py path/to/labelme \\
        data/my_dataset --val-ratio 0.2

Input: every LabelMe ``*.json`` below INPUT_DIR (other JSON files are
skipped and counted). The image is ``imagePath`` (relative to the JSON);
when it is missing, the image embedded in ``imageData`` is written instead.
The size is LabelMe's ``imageWidth`` x ``imageHeight``: LabelMe shows, and
stores, photos with their EXIF orientation applied, as MMDetection's loader
decodes them.

Objects: ``polygon`` shapes, ``rectangle`` (two opposite corners) and
``circle`` (centre and a point on it, as a 32-gon). Shapes with the same
label and the same ``group_id`` are the parts of one object (LabelMe's
convention); a shape without ``group_id`` is an object of its own. Other
shape types (``line``, ``point``, ``linestrip``, ``mask``...) are skipped
and counted.

Classes: ``--classes`` (a ``.txt`` with one name per line, as LabelMe's
labels.txt, or ``a,b,c``), in that order; shapes of other labels are skipped
and counted. Without it, every label found, sorted. ``__ignore__`` and
``_background_`` are never classes.

Output: see ``coco_writer.py`` (``OUT/annotations/instances_<split>.json``,
``OUT/<split>/``, image paths below INPUT_DIR kept).
"""
import argparse
import base64
import json
import math
import os
import os.path as osp
import sys
from collections import Counter
from pathlib import Path
from typing import Dict, List, NamedTuple, Optional, Sequence, Tuple

sys.path.insert(0, osp.dirname(osp.abspath(__file__)))
from coco_writer import (CocoWriter, ConversionError,  # noqa: E402
                         add_output_args, assign_splits, dump_splits,
                         make_categories, output_kwargs, parse_class_list,
                         place_image, progress, run_converter, shown_size)

#: LabelMe's labels.txt lists these first; they are not classes.
NOT_CLASSES = ('__ignore__', '_background_')
#: Vertices of the polygon that stands for a circle.
CIRCLE_VERTICES = 32


class LabelMeFile(NamedTuple):
    """What the conversion needs of one LabelMe JSON."""
    json_path: str
    image_path: str  # absolute; may not exist (then image_data)
    image_data: Optional[bytes]
    width: Optional[int]
    height: Optional[int]
    shapes: List[dict]


def read_labelme(json_path: str) -> Optional[LabelMeFile]:
    """Parse one LabelMe JSON; None if it is not one (no ``shapes`` list).

    Raises:
        ConversionError: If the file is not valid JSON.
    """
    try:
        with open(json_path, 'rb') as f:
            content = json.load(f)
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ConversionError(f'{json_path} is not valid JSON ({err})') \
            from None
    if not isinstance(content, dict) or not isinstance(
            content.get('shapes'), list):
        return None
    image_path = content.get('imagePath') or ''
    # LabelMe on Windows writes backslashes.
    image_path = osp.normpath(
        osp.join(osp.dirname(json_path), image_path.replace('\\', '/')))
    data = content.get('imageData')
    return LabelMeFile(
        json_path=json_path,
        image_path=image_path,
        image_data=base64.b64decode(data) if data else None,
        width=content.get('imageWidth'),
        height=content.get('imageHeight'),
        shapes=content['shapes'])


def shape_polygon(shape: dict) -> Optional[List[float]]:
    """Flat polygon of a polygon, rectangle or circle shape; None for other
    shape types or too few points."""
    kind = shape.get('shape_type') or 'polygon'
    points = shape.get('points') or []
    if kind == 'polygon' and len(points) >= 3:
        return [float(c) for point in points for c in point[:2]]
    if kind == 'rectangle' and len(points) == 2:
        (x0, y0), (x1, y1) = points[0][:2], points[1][:2]
        return [x0, y0, x1, y0, x1, y1, x0, y1]
    if kind == 'rectangle' and len(points) == 4:
        return [float(c) for point in points for c in point[:2]]
    if kind == 'circle' and len(points) == 2:
        (cx, cy), (px, py) = points[0][:2], points[1][:2]
        radius = math.hypot(px - cx, py - cy)
        angles = [2 * math.pi * i / CIRCLE_VERTICES
                  for i in range(CIRCLE_VERTICES)]
        return [c for a in angles for c in (cx + radius * math.cos(a),
                                            cy + radius * math.sin(a))]
    return None


def group_objects(shapes: Sequence[dict]) -> List[Tuple[str, List[dict]]]:
    """``(label, shapes)`` per object: shapes sharing a label and a
    ``group_id`` form one object, in the order of their first shape."""
    objects: Dict[tuple, Tuple[str, List[dict]]] = {}
    for index, shape in enumerate(shapes):
        label = str(shape.get('label', ''))
        group = shape.get('group_id')
        key = (label, group) if group is not None else (label, None, index)
        objects.setdefault(key, (label, []))[1].append(shape)
    return list(objects.values())


def output_name(item: LabelMeFile, input_dir: str) -> str:
    """Path of the image below the split folder: its path below
    ``input_dir`` (or below the JSON's folder when it lies elsewhere, or
    the JSON's name for an image only embedded in the JSON)."""
    if not osp.isfile(item.image_path):
        suffix = Path(item.image_path).suffix or '.png'
        base = Path(osp.relpath(item.json_path, input_dir)).with_suffix(
            suffix)
        return base.as_posix()
    rel = osp.relpath(item.image_path, input_dir)
    if rel.startswith('..'):
        rel = osp.join(osp.relpath(osp.dirname(item.json_path), input_dir),
                       osp.basename(item.image_path))
    return Path(osp.normpath(rel)).as_posix()


def find_labelme_files(input_dir: str,
                       skipped: Counter) -> List[Tuple[str, LabelMeFile]]:
    """``(output image name, file)`` of every LabelMe JSON, sorted by
    image name; counts the JSON files that are not LabelMe's and the
    annotations without an image."""
    found = {}
    for folder, _, files in os.walk(input_dir):
        for name in sorted(files):
            if not name.lower().endswith('.json'):
                continue
            item = read_labelme(osp.join(folder, name))
            if item is None:
                skipped['JSON files that are not LabelMe annotations'] += 1
            elif not osp.isfile(item.image_path) and not item.image_data:
                skipped['LabelMe files without their image'] += 1
            else:
                image = output_name(item, input_dir)
                if image in found:
                    raise ConversionError(
                        f'{item.json_path} and {found[image].json_path} '
                        f'both annotate {image}')
                found[image] = item
    return sorted(found.items())


def class_names_of(files: Sequence[Tuple[str, LabelMeFile]]) -> List[str]:
    """Every label of the files, sorted."""
    labels = {str(shape.get('label', '')) for _, item in files
              for shape in item.shapes}
    return sorted(label for label in labels
                  if label and label not in NOT_CLASSES)


def write_image(item: LabelMeFile, dst: str, copy_mode: str) -> None:
    """The image file, or the image embedded in the JSON, at ``dst``."""
    if osp.isfile(item.image_path):
        place_image(item.image_path, dst, copy_mode)
        return
    os.makedirs(osp.dirname(dst), exist_ok=True)
    with open(dst, 'wb') as f:
        f.write(item.image_data)


def convert_labelme(input_dir: str,
                    out_dir: str,
                    class_names: Optional[Sequence[str]] = None,
                    val_ratio: float = 0.,
                    split: str = 'train',
                    copy_mode: str = 'copy',
                    decimals: int = 2
                    ) -> Tuple[Dict[str, CocoWriter], Counter]:
    """Convert a folder of LabelMe files (see the module docstring).

    Args:
        input_dir (str): Folder of LabelMe JSON files (and images).
        out_dir (str): Output folder.
        class_names (Sequence[str], optional): Classes, in label order.
        val_ratio (float): Fraction of the images held out as ``val``.
        split (str): Split of the other images.
        copy_mode (str): ``copy``, ``symlink`` or ``hardlink``.
        decimals (int): Decimals of the polygon coordinates.

    Returns:
        tuple: Split -> :class:`CocoWriter` (already written), and the
        counts of what was skipped.
    """
    skipped = Counter()
    files = find_labelme_files(input_dir, skipped)
    if not files:
        raise ConversionError(f'no LabelMe JSON with an image found in '
                              f'{input_dir}')
    names = [n for n in (class_names or class_names_of(files))
             if n not in NOT_CLASSES]
    if not names:
        raise ConversionError(f'no class: the shapes in {input_dir} have '
                              'no label')
    categories = make_categories(names)
    category_of = {c['name']: c['id'] for c in categories}
    splits = assign_splits([image for image, _ in files], val_ratio, split)
    writers = {
        name: CocoWriter(categories, decimals)
        for name in dict.fromkeys(splits.values())
    }
    for image, item in progress(files, 'labelme2coco'):
        writer = writers[splits[image]]
        dst = osp.join(out_dir, splits[image], image)
        write_image(item, dst, copy_mode)
        width, height = (item.width, item.height) if item.width and \
            item.height else shown_size(dst)
        image_id = writer.add_image(image, width, height)
        for label, shapes in group_objects(item.shapes):
            if label not in category_of:
                skipped['objects of labels that are not classes'] += 1
                continue
            parts = [shape_polygon(shape) for shape in shapes]
            for shape, part in zip(shapes, parts):
                if part is None:
                    kind = shape.get('shape_type') or 'polygon'
                    skipped[f'{kind!r} shapes'] += 1
            parts = [part for part in parts if part is not None]
            if parts:
                writer.add_object(image_id, category_of[label], parts)
    dump_splits(out_dir, writers)
    return writers, skipped


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Convert LabelMe annotations to COCO format')
    parser.add_argument('input_dir', help='folder of LabelMe JSON files')
    parser.add_argument('out_dir', help='output COCO-format folder')
    parser.add_argument(
        '--classes',
        help='labels.txt (one name per line) or a,b,c; default: every '
        'label found, sorted')
    add_output_args(parser)
    return parser.parse_args(argv)


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = parse_args(argv)
    return run_converter(
        'labelme2coco', args.out_dir, lambda: convert_labelme(
            args.input_dir,
            args.out_dir,
            class_names=parse_class_list(args.classes)
            if args.classes else None,
            **output_kwargs(args)))


if __name__ == '__main__':
    sys.exit(main())
