"""Generate a one-class set of small blobs (COCO format) for learnability checks.

The toy set (``make_toy_dataset.py``) mixes six shape families and every size;
this set isolates the other end: one class (``blob``), 10-13 small, separate,
irregular convex-ish blobs per image on a noisy background, 5-20 px in radius
(about 50-620 px^2 at 512 px). Its 36-ray oracle is near 1, so what a model
loses on it is what it loses on small objects. Layout (as coco128_seg)::

    OUT_DIR/annotations/instances_train.json
    OUT_DIR/train/000001.jpg ...

Deterministic for a given ``--seed``. Example (README "Learnability")::

    python tools/misc/make_blob_dataset.py data/blobs
    python tools/analysis_tools/learning_curve.py CONFIG --data-root data/blobs \\
        --iters 800 --seeds 0
"""
import argparse
import json
import os
import os.path as osp
from typing import List, Tuple

import cv2
import numpy as np

NUM_VERTICES = 24
MIN_GAP = 4.0
# Blob vertices reach 1.35 radii from the centre; centres keep this far from
# the border (at least MARGIN px).
MARGIN = 30.0
MARGIN_RADII = 1.5
MAX_TRIES = 500


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('out_dir')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--num-images', type=int, default=4)
    parser.add_argument('--img-size', type=int, nargs=2, default=(640, 480),
                        metavar=('W', 'H'))
    parser.add_argument('--radius', type=float, nargs=2, default=(5., 20.),
                        metavar=('MIN', 'MAX'), help='blob radius in px')
    parser.add_argument('--num-objects', type=int, nargs=2, default=(10, 13),
                        metavar=('MIN', 'MAX'), help='blobs per image')
    return parser.parse_args()


def centre_margin(max_radius: float) -> float:
    """Distance of the blob centres from the image border."""
    return max(MARGIN, MARGIN_RADII * max_radius)


def blob_polygon(rng: np.random.Generator, cx: float, cy: float,
                 radius: float) -> np.ndarray:
    """Vertices (NUM_VERTICES, 2) of an irregular, squashed blob."""
    theta = np.sort(rng.uniform(0, 2 * np.pi, NUM_VERTICES))
    lobes = 0.25 * np.sin(2 * theta + rng.uniform(0, 6))
    rad = radius * (1 + lobes + rng.uniform(-0.1, 0.1, NUM_VERTICES))
    squash = rng.uniform(0.6, 1.0)
    return np.stack(
        [cx + rad * np.cos(theta), cy + squash * rad * np.sin(theta)], 1)


def make_image(rng: np.random.Generator, width: int, height: int,
               radius: Tuple[float, float], num_objects: Tuple[int, int],
               image_id: int,
               first_ann_id: int) -> Tuple[np.ndarray, List[dict]]:
    """One image (H, W, 3) and the annotations of its blobs, placed at least
    ``MIN_GAP`` px apart (fewer than drawn if they do not fit)."""
    img = rng.normal(110, 18, (height, width, 3)).clip(0, 255)
    img = cv2.GaussianBlur(img.astype(np.uint8), (5, 5), 0)
    count = int(rng.integers(num_objects[0], num_objects[1] + 1))
    margin = centre_margin(radius[1])
    placed, anns = [], []
    for _ in range(MAX_TRIES):
        if len(placed) == count:
            break
        r = rng.uniform(*radius)
        cx = rng.uniform(margin, width - margin)
        cy = rng.uniform(margin, height - margin)
        if any(np.hypot(cx - x, cy - y) < r + rr + MIN_GAP
               for x, y, rr in placed):
            continue
        placed.append((cx, cy, r))
        pts = blob_polygon(rng, cx, cy, r)
        color = [int(c) for c in rng.integers(150, 250, 3)]
        cv2.fillPoly(img, [np.round(pts).astype(np.int32)], color)
        x0, y0 = pts.min(0)
        x1, y1 = pts.max(0)
        anns.append(
            dict(
                id=first_ann_id + len(anns),
                image_id=image_id,
                category_id=1,
                segmentation=[pts.reshape(-1).round(2).tolist()],
                area=float(cv2.contourArea(pts.astype(np.float32))),
                bbox=[float(x0), float(y0), float(x1 - x0), float(y1 - y0)],
                iscrowd=0))
    return img, anns


def make_blob_dataset(out_dir: str,
                      seed: int = 0,
                      num_images: int = 4,
                      img_size: Tuple[int, int] = (640, 480),
                      radius: Tuple[float, float] = (5., 20.),
                      num_objects: Tuple[int, int] = (10, 13)) -> dict:
    """Write the set under ``out_dir``.

    Returns:
        dict: ``ann_file`` (the annotation file), ``num_images`` and
        ``num_blobs``.

    Raises:
        ValueError: radii not 0 < min <= max, object counts not
            0 < min <= max, or images too small for the largest blob.
    """
    if not 0 < radius[0] <= radius[1]:
        raise ValueError(f'radius needs 0 < MIN <= MAX, got {radius}')
    if not 0 < num_objects[0] <= num_objects[1]:
        raise ValueError(
            f'num_objects needs 0 < MIN <= MAX, got {num_objects}')
    width, height = img_size
    if min(width, height) <= 2 * centre_margin(radius[1]):
        raise ValueError(f'images of {width} x {height} are too small for '
                         f'blobs of radius {radius[1]}')
    rng = np.random.default_rng(seed)
    os.makedirs(osp.join(out_dir, 'train'), exist_ok=True)
    os.makedirs(osp.join(out_dir, 'annotations'), exist_ok=True)
    images, annotations = [], []
    for image_id in range(1, num_images + 1):
        img, anns = make_image(rng, width, height, tuple(radius),
                               tuple(num_objects), image_id,
                               len(annotations) + 1)
        name = f'{image_id:06d}.jpg'
        cv2.imwrite(osp.join(out_dir, 'train', name), img)
        images.append(
            dict(id=image_id, file_name=name, width=width, height=height))
        annotations += anns
    ann_file = osp.join(out_dir, 'annotations', 'instances_train.json')
    with open(ann_file, 'w') as f:
        json.dump(
            dict(
                images=images,
                annotations=annotations,
                categories=[dict(id=1, name='blob')]), f)
    return dict(
        ann_file=ann_file,
        num_images=len(images),
        num_blobs=len(annotations))


def main():
    args = parse_args()
    try:
        result = make_blob_dataset(args.out_dir, args.seed, args.num_images,
                                   tuple(args.img_size), tuple(args.radius),
                                   tuple(args.num_objects))
    except ValueError as error:
        raise SystemExit(f'error: {error}')
    print(f"{result['num_blobs']} blobs in {result['num_images']} images: "
          f'{args.out_dir}')


if __name__ == '__main__':
    main()
