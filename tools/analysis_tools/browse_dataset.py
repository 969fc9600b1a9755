# Draw the ground truth of a config's training set after its pipeline (as
# MMDetection's browse_dataset.py) and save PNG files; on top, the polar
# representation a polar head learns: each object's GT polygon parts, its ray
# origin and its ray targets.
import argparse
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))
import _bootstrap  # noqa: E402,F401  (repo on sys.path, project registries)
import numpy as np  # noqa: E402
import torch  # noqa: E402
from mmengine.config import Config, DictAction  # noqa: E402
from mmengine.registry import init_default_scope  # noqa: E402
from mmengine.structures import InstanceData  # noqa: E402
from mmengine.utils import ProgressBar, import_modules_from_strings  # noqa

import mmdet_ext.visualization  # noqa: E402,F401  (PolarDetVisualizer)
from mmdet.models.utils import mask2ndarray  # noqa: E402
from mmdet.registry import DATASETS, VISUALIZERS  # noqa: E402
from mmdet.structures.bbox import BaseBoxes  # noqa: E402
from mmdet_ext.evaluation.polar_oracle import (  # noqa: E402
    DEFAULT_SETTINGS, PART_CHOICES, polar_head_settings, polar_rays)
from mmdet_ext.geometry.ray_origin import ORIGIN_METHODS  # noqa: E402
from mmdet_ext.geometry.ray_targets import RAY_MODES  # noqa: E402
from mmdet_ext.structures.mask_tracing import gt_polygon_tensor  # noqa
from mmdet_ext.utils import merge_cfg_options  # noqa: E402

def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Browse a dataset')
    parser.add_argument('config', help='train config file path')
    parser.add_argument(
        '--output-dir',
        default=None,
        type=str,
        help='If there is no display interface, you can save it')
    parser.add_argument('--not-show', default=False, action='store_true')
    parser.add_argument(
        '--show-interval',
        type=float,
        default=2,
        help='the interval of show (s)')
    parser.add_argument(
        '--max-images', type=int, default=None, help='stop after N images')
    parser.add_argument(
        '--no-rays',
        action='store_true',
        help='draw only what MMDetection draws (boxes, labels, masks)')
    parser.add_argument(
        '--num-rays',
        type=int,
        default=None,
        help='rays per object (default: the polar head\'s, else 36)')
    parser.add_argument(
        '--ray-origin',
        dest='center',
        choices=ORIGIN_METHODS,
        default=None,
        help='ray origin (default: the polar head\'s, else centroid)')
    parser.add_argument(
        '--ray-mode',
        dest='mode',
        choices=RAY_MODES,
        default=None,
        help='farthest or nearest crossing (default: the polar head\'s, '
        'else farthest)')
    parser.add_argument(
        '--ray-parts',
        dest='parts',
        choices=PART_CHOICES,
        default=None,
        help='polygon parts the rays target (default: the polar head\'s, '
        'else largest)')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override some settings in the used config, the key-value pair '
        'in xxx=yyy format will be merged into config file.')
    args = parser.parse_args(argv)
    if args.num_rays is not None and args.num_rays < 3:
        parser.error('--num-rays must be >= 3')
    return args


def polar_settings(cfg: Config, args: argparse.Namespace) -> dict:
    """Number of rays, origin method, crossing mode and target parts: the
    command line first, then the config's polar head, then the official
    values (:func:`mmdet_ext.evaluation.polar_oracle.polar_head_settings`).
    """
    settings = polar_head_settings(cfg.get('model')) or DEFAULT_SETTINGS
    return {key: value if getattr(args, key) is None else getattr(args, key)
            for key, value in settings.items()}


def add_polar_targets(gt_instances: InstanceData, settings: dict) -> None:
    """Attach ``polygons`` (all GT parts), ``origins`` (N, 2) and
    ``ray_ends`` (N, K, 2) (ray targets decoded to points) to the GT.

    Polygon masks are used as they are, bitmaps (``poly2mask=True``) are
    traced into pixel-exact outlines (:func:`gt_polygon_tensor`), and the
    rays are the polar oracle's (:func:`polar_rays`). Objects without a
    valid part get NaN origins and ends (not drawn).
    """
    masks = gt_instances.get('masks', None)
    if masks is None or len(gt_instances) == 0:
        return
    polygons = gt_polygon_tensor(masks)
    origins, ends, _ = polar_rays(polygons, **settings)
    invalid = ~polygons.valid
    origins[invalid] = float('nan')
    ends[invalid] = float('nan')
    gt_instances.polygons = polygons.to_list()
    gt_instances.origins = origins
    gt_instances.ray_ends = ends


def to_drawable(data_sample):
    """Turn boxes and (polygon or bitmap) masks into what the visualiser
    draws."""
    gt_instances = data_sample.gt_instances
    gt_bboxes = gt_instances.get('bboxes', None)
    if gt_bboxes is not None and isinstance(gt_bboxes, BaseBoxes):
        gt_instances.bboxes = gt_bboxes.tensor
    gt_masks = gt_instances.get('masks', None)
    if gt_masks is not None:
        gt_instances.masks = mask2ndarray(gt_masks).astype(bool)
    data_sample.gt_instances = gt_instances
    return data_sample


def build_visualizer(cfg: Config, draw_rays: bool, dataset_meta: dict):
    """The config's visualiser as a ``PolarDetVisualizer``."""
    vis_cfg = dict(cfg.get('visualizer', None) or {})
    vis_cfg.update(
        type='PolarDetVisualizer', name='browse_dataset',
        draw_polygons=draw_rays, draw_rays=draw_rays, vis_backends=None)
    visualizer = VISUALIZERS.build(vis_cfg)
    visualizer.dataset_meta = dataset_meta
    return visualizer


def main(argv=None):
    args = parse_args(argv)
    cfg = Config.fromfile(args.config)
    merge_cfg_options(cfg, args.cfg_options)
    if cfg.get('custom_imports', None):
        import_modules_from_strings(**cfg.custom_imports)
    init_default_scope(cfg.get('default_scope', 'mmdet'))
    settings = polar_settings(cfg, args)
    if not args.no_rays:
        print('polar targets: ' + ', '.join(f'{k}={v}'
                                            for k, v in settings.items()))

    dataset = DATASETS.build(cfg.train_dataloader.dataset)
    visualizer = build_visualizer(cfg, not args.no_rays, dataset.metainfo)

    num = len(dataset) if args.max_images is None else min(
        args.max_images, len(dataset))
    progress_bar = ProgressBar(num)
    for index in range(num):
        item = dataset[index]
        img = item['inputs'].permute(1, 2, 0).numpy()[..., [2, 1, 0]]
        data_sample = item['data_samples'].numpy()
        if not args.no_rays:
            with torch.no_grad():
                add_polar_targets(data_sample.gt_instances, settings)
        data_sample = to_drawable(data_sample)
        name = osp.splitext(osp.basename(data_sample.img_path))[0] + '.png'
        out_file = osp.join(args.output_dir,
                            name) if args.output_dir is not None else None
        visualizer.add_datasample(
            name,
            np.ascontiguousarray(img),
            data_sample,
            draw_pred=False,
            show=not args.not_show,
            wait_time=args.show_interval,
            out_file=out_file)
        progress_bar.update()


if __name__ == '__main__':
    main()
