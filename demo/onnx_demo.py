"""Run an exported detector (polar models, SparseInst) in ONNX Runtime on images and draw its
predictions as ``demo/image_demo.py`` does for the PyTorch model.

Images go through the config's test pipeline (annotation loading dropped),
the graph (``tools/deployment/pytorch2onnx.py --dynamic-shape``) and the
post-processing of :class:`mmdet_ext.deployment.ONNXRuntimeDetector`; the
instances are drawn by the same :class:`PolarDetVisualizer` with the class
names and palette stored in the graph at export.

Example::

    python demo/onnx_demo.py data/toy/val/ \\
        projects/PolarNeXt/configs/polarnext_r18_fpn_toy-cpu.py \\
        work_dirs/polarnext.onnx --draw-rays

writes ``outputs/vis/<image>.png`` (and ``outputs/preds/<image>.json``
unless ``--no-save-pred``).
"""
import argparse
import json
import os
import os.path as osp
import sys
from typing import Dict, List, Optional, Sequence

REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
if REPO_ROOT not in sys.path:
    sys.path.insert(0, REPO_ROOT)

import mmcv  # noqa: E402
from mmengine.config import Config, DictAction  # noqa: E402
from mmengine.dataset import Compose  # noqa: E402
from mmengine.structures import InstanceData  # noqa: E402

import mmdet_ext  # noqa: E402,F401  (registries)
import mmdet_ext.visualization  # noqa: E402,F401  (PolarDetVisualizer)
from mmdet.registry import VISUALIZERS  # noqa: E402
from mmdet.visualization.palette import get_palette  # noqa: E402
from mmdet_ext.deployment import ONNXRuntimeDetector  # noqa: E402
from mmdet_ext.deployment.detector import (dataset_meta,  # noqa: E402
                                           import_config_modules)
from mmdet_ext.utils import merge_cfg_options  # noqa: E402

IMAGE_EXTENSIONS = ('.jpg', '.jpeg', '.png', '.ppm', '.bmp', '.pgm', '.tif',
                    '.tiff', '.webp')


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Draw the predictions of an exported detector (ONNX '
        'Runtime) on images')
    parser.add_argument('inputs', help='input image file or folder')
    parser.add_argument('config', help='config file of the model')
    parser.add_argument('model', help='.onnx file from pytorch2onnx.py')
    parser.add_argument(
        '--out-dir',
        default='outputs',
        help='output directory of images (vis/) and predictions (preds/)')
    parser.add_argument(
        '--pred-score-thr',
        type=float,
        default=0.3,
        help='score threshold of the drawn detections')
    parser.add_argument(
        '--palette',
        default='none',
        choices=['coco', 'voc', 'citys', 'random', 'none'],
        help="colour palette (none: the graph's or the config's)")
    parser.add_argument(
        '--draw-rays',
        action='store_true',
        help='draw the rays of every detection from its origin')
    parser.add_argument(
        '--no-polygons',
        action='store_true',
        help='do not outline the predicted polygons')
    parser.add_argument(
        '--no-save-pred',
        action='store_true',
        help='do not save the predictions as JSON')
    parser.add_argument(
        '--threads',
        type=int,
        default=None,
        help='ONNX Runtime intra-op threads (default: one per core)')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override some settings in the config (key=value)')
    return parser.parse_args(argv)


def list_images(inputs: str) -> List[str]:
    """The image file, or the images of the folder in name order."""
    if osp.isdir(inputs):
        return sorted(
            osp.join(inputs, name) for name in os.listdir(inputs)
            if name.lower().endswith(IMAGE_EXTENSIONS))
    if osp.isfile(inputs):
        return [inputs]
    raise SystemExit(f'error: input not found: {inputs}')


def inference_pipeline(cfg: Config) -> Compose:
    """The test pipeline without the transforms that load annotations."""
    pipeline = [
        transform for transform in cfg.test_dataloader.dataset.pipeline
        if 'Annotations' not in str(transform['type'])
    ]
    return Compose(pipeline)


def build_visualizer(cfg: Config, args: argparse.Namespace, meta: Dict):
    """The demo's :class:`PolarDetVisualizer` with the model's classes and
    palette (``--palette`` overrides the palette)."""
    visualizer = dict(cfg.get('visualizer', None) or {})
    visualizer.update(
        type='PolarDetVisualizer',
        name='onnx_demo',
        draw_polygons=not args.no_polygons,
        draw_rays=args.draw_rays,
        vis_backends=None)
    visualizer = VISUALIZERS.build(visualizer)
    meta = dict(meta)
    if args.palette != 'none':
        meta['palette'] = args.palette
    if 'palette' in meta and 'classes' in meta:
        # JSON gives lists; the visualiser takes colours as tuples only.
        meta['palette'] = [
            tuple(color) for color in get_palette(meta['palette'],
                                                  len(meta['classes']))
        ]
    visualizer.dataset_meta = meta
    return visualizer


def model_meta(detector: ONNXRuntimeDetector, cfg: Config) -> Dict:
    """Classes and palette stored in the graph, else the config's."""
    stored = {
        key: detector.metadata[key]
        for key in ('classes', 'palette') if key in detector.metadata
    }
    return stored if 'classes' in stored else dataset_meta(cfg)


def prediction_dict(instances: InstanceData) -> dict:
    """JSON-serialisable predictions, as ``image_demo.py`` writes them."""
    result = dict(
        labels=instances.labels.tolist(),
        scores=instances.scores.tolist(),
        bboxes=instances.bboxes.tolist())
    if 'masks' in instances:
        result['masks'] = [dict(mask) for mask in instances.masks]
    return result


def save_outputs(image, instances: InstanceData, image_path: str,
                 args: argparse.Namespace) -> str:
    """Write ``vis/<stem>.png`` (and ``preds/<stem>.json``); returns the
    PNG path."""
    stem = osp.splitext(osp.basename(image_path))[0]
    out_file = osp.join(args.out_dir, 'vis', stem + '.png')
    mmcv.imwrite(image[..., ::-1], out_file)
    if not args.no_save_pred:
        pred_file = osp.join(args.out_dir, 'preds', stem + '.json')
        os.makedirs(osp.dirname(pred_file), exist_ok=True)
        with open(pred_file, 'w') as f:
            json.dump(prediction_dict(instances), f)
    return out_file


def main(argv: Optional[Sequence[str]] = None) -> List[str]:
    """Run the demo; returns the PNG files written."""
    args = parse_args(argv)
    for path, what in ((args.config, 'config'), (args.model, 'ONNX model')):
        if not osp.isfile(path):
            raise SystemExit(f'error: {what} file not found: {path}')
    images = list_images(args.inputs)
    if not images:
        raise SystemExit(f'error: no image found in {args.inputs}')
    cfg = Config.fromfile(args.config)
    merge_cfg_options(cfg, args.cfg_options)
    import_config_modules(cfg)
    try:
        detector = ONNXRuntimeDetector(args.model, args.threads)
    except (ImportError, ValueError) as err:
        raise SystemExit(f'error: {err}') from None
    pipeline = inference_pipeline(cfg)
    visualizer = build_visualizer(cfg, args, model_meta(detector, cfg))
    written = []
    for image_path in images:
        data = pipeline(dict(img_path=image_path, img_id=0))
        sample = data['data_samples']
        try:
            sample.pred_instances = detector.predict(data['inputs'],
                                                     sample.metainfo)
        except ValueError as err:
            raise SystemExit(f'error: {image_path}: {err}') from None
        image = mmcv.imread(image_path, channel_order='rgb')
        visualizer.add_datasample(
            osp.basename(image_path),
            image,
            sample,
            draw_gt=False,
            pred_score_thr=args.pred_score_thr)
        written.append(
            save_outputs(visualizer.get_image(), sample.pred_instances,
                         image_path, args))
    print(f'results have been saved at {osp.join(args.out_dir, "vis")} '
          f'({len(written)} PNG)')
    return written


if __name__ == '__main__':
    main()
