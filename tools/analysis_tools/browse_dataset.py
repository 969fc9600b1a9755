# Draw the ground truth of a config's training set after its pipeline (as MMDetection's
# browse_dataset.py) and save PNG files.
import argparse
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))
import _bootstrap  # noqa: E402,F401  (repo on sys.path, project registries)
import numpy as np  # noqa: E402
from mmengine.config import Config, DictAction  # noqa: E402
from mmengine.registry import init_default_scope  # noqa: E402
from mmengine.utils import ProgressBar  # noqa: E402

from mmdet.models.utils import mask2ndarray  # noqa: E402
from mmdet.registry import DATASETS, VISUALIZERS  # noqa: E402
from mmdet.structures.bbox import BaseBoxes  # noqa: E402
from mmdet_ext.utils import merge_cfg_options  # noqa: E402


def parse_args():
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
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override some settings in the used config, the key-value pair '
        'in xxx=yyy format will be merged into config file.')
    return parser.parse_args()


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


def main():
    args = parse_args()
    cfg = Config.fromfile(args.config)
    merge_cfg_options(cfg, args.cfg_options)
    init_default_scope(cfg.get('default_scope', 'mmdet'))

    dataset = DATASETS.build(cfg.train_dataloader.dataset)
    visualizer = VISUALIZERS.build(cfg.visualizer)
    visualizer.dataset_meta = dataset.metainfo

    num = len(dataset) if args.max_images is None else min(
        args.max_images, len(dataset))
    progress_bar = ProgressBar(num)
    for index in range(num):
        item = dataset[index]
        img = item['inputs'].permute(1, 2, 0).numpy()[..., [2, 1, 0]]
        data_sample = to_drawable(item['data_samples'].numpy())
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
