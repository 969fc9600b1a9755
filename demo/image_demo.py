"""Run a detector on images and draw its predictions (MMDetection's
``demo/image_demo.py`` conventions, through ``mmdet.apis.DetInferencer``).

On top of MMDetection's boxes, labels with scores and filled masks, polar
models (PolarNeXt, PolarMask) get their predicted contours outlined and,
with ``--draw-rays``, each detection's rays from its ray origin.

Example::

    python demo/image_demo.py data/toy/val/ \\
        projects/PolarNeXt/configs/polarnext_r18_fpn_toy-cpu.py \\
        --weights work_dirs/quickstart/epoch_36.pth --draw-rays

writes ``outputs/vis/<image>.png`` (and ``outputs/preds/<image>.json``
unless ``--no-save-pred``).
"""
import argparse
import inspect
import os.path as osp
import sys
from typing import List, Optional, Sequence

REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
if REPO_ROOT not in sys.path:
    sys.path.insert(0, REPO_ROOT)

import mmcv  # noqa: E402
from mmcv.transforms import LoadImageFromFile  # noqa: E402
import torch  # noqa: E402
from mmengine.config import Config, DictAction  # noqa: E402
from mmengine.utils import import_modules_from_strings  # noqa: E402

import mmdet_ext  # noqa: E402,F401  (registries, safe checkpoint loading)
import mmdet_ext.visualization  # noqa: E402,F401  (PolarDetVisualizer)
from mmdet.apis import DetInferencer  # noqa: E402
from mmdet_ext.utils import (  # noqa: E402
    DataCheckError, checkpoint_classes, merge_cfg_options, sync_classes)
from mmdet_ext.utils.dataset_classes import coco_format_datasets  # noqa


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Draw the predictions of a detector on images')
    parser.add_argument(
        'inputs', type=str, help='Input image file or folder path.')
    parser.add_argument('model', type=str, help='Config file of the model.')
    parser.add_argument('--weights', default=None, help='Checkpoint file.')
    parser.add_argument(
        '--out-dir',
        type=str,
        default='outputs',
        help='Output directory of images (vis/) and predictions (preds/).')
    parser.add_argument(
        '--device',
        default=None,
        help='Device used for inference (default: cuda if available, '
        'else cpu).')
    parser.add_argument(
        '--pred-score-thr',
        type=float,
        default=0.3,
        help='Score threshold of the drawn detections.')
    parser.add_argument(
        '--batch-size', type=int, default=1, help='Inference batch size.')
    parser.add_argument(
        '--show',
        action='store_true',
        help='Display the image in a popup window.')
    parser.add_argument(
        '--no-save-vis',
        action='store_true',
        help='Do not save detection vis results')
    parser.add_argument(
        '--no-save-pred',
        action='store_true',
        help='Do not save detection json results')
    parser.add_argument(
        '--print-result',
        action='store_true',
        help='Whether to print the results.')
    parser.add_argument(
        '--palette',
        default='none',
        choices=['coco', 'voc', 'citys', 'random', 'none'],
        help='Color palette used for visualization (none: the config\'s '
        'or the checkpoint\'s)')
    parser.add_argument(
        '--draw-rays',
        action='store_true',
        help='Draw the rays of every detection from its origin (polar '
        'models; needs the head to return origins)')
    parser.add_argument(
        '--no-polygons',
        action='store_true',
        help='Do not outline predicted polygons (polar models)')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override some settings in the config (key=value)')
    args = parser.parse_args(argv)
    if args.device is None:
        args.device = 'cuda:0' if torch.cuda.is_available() else 'cpu'
    return args


def demo_config(args: argparse.Namespace) -> Config:
    """The model config with the project imported and the visualiser
    replaced by :class:`~mmdet_ext.visualization.PolarDetVisualizer`."""
    if not osp.isfile(args.model):
        raise SystemExit(f'error: config file not found: {args.model}')
    cfg = Config.fromfile(args.model)
    merge_cfg_options(cfg, args.cfg_options)
    use_trained_classes(cfg, args.weights)
    # mmengine's inferencer does not read custom_imports.
    if cfg.get('custom_imports', None):
        import_modules_from_strings(**cfg.custom_imports)
    use_inferencer_loader(cfg)
    visualizer = dict(cfg.get('visualizer', None) or {})
    visualizer.update(
        type='PolarDetVisualizer',
        draw_polygons=not args.no_polygons,
        draw_rays=args.draw_rays)
    # The demo writes its PNGs itself (see save_png).
    visualizer['vis_backends'] = None
    cfg.visualizer = visualizer
    return cfg


def use_trained_classes(cfg: Config, weights: Optional[str]) -> None:
    """Give a config whose datasets are ``CocoFormatDataset`` (classes from
    the annotation file, README "Train on your own data") the classes of
    the checkpoint, or of the annotation files without one, and the model
    as many (:func:`~mmdet_ext.utils.sync_classes`). The checkpoint comes
    first: the annotation files may be absent where the demo runs."""
    if not coco_format_datasets(cfg):
        return
    classes = checkpoint_classes(weights) if weights else None
    try:
        sync_classes(cfg, classes=classes)
    except (DataCheckError, ValueError) as err:
        raise SystemExit(f'error: {err}') from None


def use_inferencer_loader(cfg: Config) -> None:
    """Let ``DetInferencer`` find the test pipeline's image loader.

    It looks for a transform named exactly ``LoadImageFromFile`` and swaps
    it for its ``InferencerLoader`` (which also takes arrays); a subclass
    such as this project's ``CheckedLoadImageFromFile`` is renamed to it,
    keeping the shared arguments (the loader reads files itself).
    """
    pipeline = cfg.test_dataloader.dataset.pipeline
    for transform in pipeline:
        name = str(transform['type']).split('.')[-1]
        if name == 'LoadImageFromFile':
            return
        if name.endswith('LoadImageFromFile'):
            accepted = inspect.signature(LoadImageFromFile).parameters
            for key in [k for k in transform if k not in accepted]:
                transform.pop(key)
            transform['type'] = 'LoadImageFromFile'
            return


class PolarDetInferencer(DetInferencer):
    """``DetInferencer`` that also turns into prediction dicts the RLE
    masks of the polar heads (``RLEMasks``).

    When the boxes of an image are all zero (an image without detection),
    MMDetection derives them from ``masks.cpu()``, which only a tensor has;
    such masks are decoded into one first.
    """

    def pred2dict(self, data_sample, pred_out_dir: str = '') -> dict:
        pred = data_sample.get('pred_instances', None)
        masks = None if pred is None else pred.get('masks', None)
        if hasattr(masks, 'to_ndarray') and (
                'bboxes' not in pred or pred.bboxes.sum() == 0):
            pred.masks = torch.from_numpy(masks.to_ndarray().astype(bool))
        return super().pred2dict(data_sample, pred_out_dir)


def save_png(image, inputs: List[str], index: int, out_dir: str) -> str:
    """Write one RGB visualisation as ``OUT_DIR/vis/<stem>.png``."""
    source = inputs[index] if index < len(inputs) else f'{index:08d}'
    stem = osp.splitext(osp.basename(str(source)))[0]
    out_file = osp.join(out_dir, 'vis', stem + '.png')
    mmcv.imwrite(image[..., ::-1], out_file)
    return out_file


def main(argv: Optional[Sequence[str]] = None) -> List[str]:
    """Run the demo; returns the PNG files written."""
    args = parse_args(argv)
    if args.weights is not None and not osp.isfile(args.weights):
        raise SystemExit(f'error: checkpoint not found: {args.weights}')
    inferencer = PolarDetInferencer(
        model=demo_config(args),
        weights=args.weights,
        device=args.device,
        palette=args.palette)
    inputs = inferencer._inputs_to_list(args.inputs)
    if not inputs:
        raise SystemExit(f'error: no image found in {args.inputs}')
    save_vis = not args.no_save_vis
    results = inferencer(
        inputs,
        batch_size=args.batch_size,
        show=args.show,
        pred_score_thr=args.pred_score_thr,
        return_vis=save_vis,
        no_save_vis=True,
        no_save_pred=args.no_save_pred,
        print_result=args.print_result,
        out_dir=args.out_dir)
    written = [
        save_png(image, inputs, i, args.out_dir)
        for i, image in enumerate(results.get('visualization') or [])
    ] if save_vis else []
    missing = inferencer.visualizer.missing_fields
    if args.draw_rays and missing:
        print(f'note: rays not drawn: the predictions have no '
              f'{" / ".join(missing)} (not a polar model, or its head '
              'does not return them)')
    if written:
        print(f'results have been saved at {osp.join(args.out_dir, "vis")}'
              f' ({len(written)} PNG)')
    if not args.no_save_pred:
        print(f'predictions have been saved at '
              f'{osp.join(args.out_dir, "preds")}')
    return written


if __name__ == '__main__':
    main()
