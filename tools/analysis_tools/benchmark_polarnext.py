"""Speed of PolarNeXt against FCOS and SOLOv2, measured in one run.

Prints three plain-text tables whose ratios all come from the same process:

1. **Inference** per image (batch 1, ``eval()``, ``torch.inference_mode``):
   forward only (backbone + neck + head), post-processing alone, the full
   ``model.predict(..., rescale=True)`` and the RLE encoding that
   ``CocoMetric`` would still have to do, for PolarNeXt R-50 with mask
   generation off and on, MMDetection's FCOS R-50 (caffe backbone, GN
   head, as in ``fcos_r50-caffe_fpn_gn-head_1x_coco.py``; plus the same
   FCOS on PolarNeXt's pytorch-style backbone as a like-for-like
   reference) and SOLOv2 R-50. Every model is randomly initialised (no
   download); its class-0 logit is calibrated so that the same number of
   locations (``--candidates``) pass its score threshold, which leaves
   100 detections after NMS (see :func:`force_detections`).
2. **Mask generation** for exactly 100 polygons of 36 vertices at the
   output size: PolarNeXt's ``RLEMasks.from_polygons`` (RLE straight from
   the polygons) against the official recipe (one ``cv2.drawContours`` of
   the ``.int()`` polygon per instance on a full-size canvas, a float32
   (N, H, W) stack, then ``encode_mask_results`` because ``CocoMetric``
   needs RLE), with the IoU agreement of both mask sets.
3. **Training step** of PolarNeXt R-50 per image on a synthetic image with
   polygon GT: backbone + neck, head forward, each step of
   ``PolarTargetBuilder.build``, the losses and the backward pass.

Times are medians over ``--repeats`` after ``--warmup`` untimed rounds;
models are timed round-robin so that background load hits all of them
alike.

Example::

    python tools/analysis_tools/benchmark_polarnext.py --threads 2
    python tools/analysis_tools/benchmark_polarnext.py --quick
"""
import argparse
import copy
import os
import os.path as osp
import platform
import sys
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Callable, Dict, Iterator, List, Optional, Sequence, Tuple

import cv2
import numpy as np
import torch
from torch import Tensor, nn

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))
import _bootstrap  # noqa: E402,F401  (repo on sys.path, project registries)
import mmcv  # noqa: E402
import mmdet  # noqa: E402
from mmengine.analysis import FlopAnalyzer  # noqa: E402
from mmengine.config import Config, ConfigDict  # noqa: E402
from mmengine.logging import MMLogger  # noqa: E402
from mmengine.registry import init_default_scope  # noqa: E402
from mmengine.structures import InstanceData  # noqa: E402
from pycocotools import mask as mask_utils  # noqa: E402

from mmdet.structures import DetDataSample  # noqa: E402
from mmdet.structures.mask import encode_mask_results  # noqa: E402
from mmdet_ext.geometry.hard_rasterizer import \
    polygons_to_crop_masks  # noqa: E402
from mmdet_ext.geometry.ray_origin import compute_ray_origins  # noqa: E402
from mmdet_ext.structures.rle_masks import RLEMasks  # noqa: E402
from mmdet_ext.task_modules import PositiveTargets  # noqa: E402
from mmdet_ext.task_modules.polar_targets import \
    gt_polygons  # noqa: E402
from mmdet_ext.utils.benchmark import (StageTimer,  # noqa: E402,F401
                                       build_model, contention_warning,
                                       dense_head, fmt_ms, fmt_ratio,
                                       force_detections, format_table,
                                       make_batch, parse_size,
                                       synthetic_gt, without_pretrained)

REPO_ROOT = _bootstrap.REPO_ROOT
POLARNEXT_CONFIG = osp.join(REPO_ROOT, 'projects', 'PolarNeXt', 'configs',
                            'polarnext_r50-torch_fpn_1x_coco.py')
SOLOV2_CONFIG = osp.join(REPO_ROOT, 'configs', 'solov2',
                         'solov2_r50_fpn_1x_coco.py')
# MMDetection's own FCOS config, shipped with the package.
FCOS_CONFIG = osp.join(
    osp.dirname(mmdet.__file__), '.mim', 'configs', 'fcos',
    'fcos_r50-caffe_fpn_gn-head_1x_coco.py')

# Row labels of the inference table.
POLARNEXT_OFF = 'PolarNeXt R-50 (masks off)'
POLARNEXT_ON = 'PolarNeXt R-50 (masks on)'
FCOS_CAFFE = 'FCOS R-50 caffe (mmdet cfg)'
FCOS_PYTORCH = 'FCOS R-50 pytorch-style'
SOLOV2 = 'SOLOv2 R-50'

# Goals of the re-implementation (design notes §10 items 16-19).
FORWARD_RATIO_GOAL = 1.05
MASK_TIME_GOAL_MS = 5.0
MASK_SPEEDUP_GOAL = 10.0



# ---------------------------------------------------------------- helpers
def default_device() -> str:
    """``'cuda'`` when available, else ``'cpu'``."""
    return 'cuda' if torch.cuda.is_available() else 'cpu'


def goal_line(description: str, met: bool, detail: str) -> str:
    """``'  goal <description>: MET (<detail>)'`` or ``NOT MET``."""
    return f'  goal {description}: {"MET" if met else "NOT MET"} ({detail})'


# ----------------------------------------------------------------- models
def polarnext_model_cfg() -> ConfigDict:
    """PolarNeXt R-50 model config of the project, without pretraining."""
    cfg = Config.fromfile(POLARNEXT_CONFIG).model
    cfg.backbone.init_cfg = None
    return cfg


def fcos_model_cfg(backbone_style: str = 'caffe') -> ConfigDict:
    """FCOS R-50 FPN with GN head: the model of MMDetection's shipped
    ``fcos/fcos_r50-caffe_fpn_gn-head_1x_coco.py`` (no pretraining).

    Args:
        backbone_style (str): ``'caffe'`` (the MMDetection config: stride
            on the 1x1 convs, frozen BN, BGR caffe normalisation) or
            ``'pytorch'`` (PolarNeXt's backbone and normalisation, for a
            like-for-like head comparison).
    """
    cfg = without_pretrained(Config.fromfile(FCOS_CONFIG).model)
    if backbone_style == 'pytorch':
        polarnext = polarnext_model_cfg()
        cfg.data_preprocessor = polarnext.data_preprocessor
        cfg.backbone = polarnext.backbone
    return cfg


def solov2_model_cfg() -> ConfigDict:
    """SOLOv2 R-50 model config of this repository, without pretraining."""
    cfg = Config.fromfile(SOLOV2_CONFIG).model
    cfg.backbone.init_cfg = None
    return cfg


# ------------------------------------------------------------ 1. inference
@dataclass
class InferenceCase:
    """One row of the inference table.

    Attributes:
        name (str): Row label.
        model (nn.Module): Detector in eval mode.
        test_cfg (ConfigDict): Test config given to its head.
        inputs (Tensor): Preprocessed image (1, 3, H, W).
        data_samples (list[DetDataSample]): Their samples.
        detections (list[int]): Detections of every timed predict.
        has_masks (bool): Whether ``predict`` returned masks.
        gmacs (float): Multiply-accumulates of the forward, in billions.
    """
    name: str
    model: nn.Module
    test_cfg: ConfigDict
    inputs: Tensor
    data_samples: List[DetDataSample]
    detections: List[int] = field(default_factory=list)
    has_masks: bool = False
    gmacs: float = float('nan')


def to_coco_rle(masks) -> list:
    """What ``CocoMetric.process`` does to predicted masks: tensors are
    RLE-encoded, anything else (e.g. :class:`RLEMasks`) is kept."""
    if isinstance(masks, Tensor):
        return encode_mask_results(masks.detach().cpu().numpy())
    return masks


def time_inference_case(case: InferenceCase, timer: StageTimer) -> None:
    """Time forward, post-processing, full predict and COCO encoding once."""
    model, head = case.model, dense_head(case.model)
    head.test_cfg = case.test_cfg
    metas = [sample.metainfo for sample in case.data_samples]
    with torch.inference_mode():
        with timer(f'{case.name}/forward'):
            outs = head.forward(model.extract_feat(case.inputs))
        with timer(f'{case.name}/post'):
            head.predict_by_feat(*outs, batch_img_metas=metas, rescale=True)
        with timer(f'{case.name}/predict'):
            samples = model.predict(
                case.inputs, case.data_samples, rescale=True)
        pred = samples[0].pred_instances
        masks = pred.masks if 'masks' in pred else None
        with timer(f'{case.name}/rle'):
            if masks is not None:
                to_coco_rle(masks)
    case.detections.append(len(pred))
    case.has_masks = masks is not None


def _tensors(outputs) -> Iterator[Tensor]:
    """Every tensor of nested head outputs, depth first."""
    if isinstance(outputs, Tensor):
        yield outputs
    else:
        for item in outputs:
            yield from _tensors(item)


class ForwardOnly(nn.Module):
    """Backbone + neck + head forward with flat tensor outputs (traceable).

    Args:
        model (nn.Module): Detector.
    """

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, inputs: Tensor) -> Tuple[Tensor, ...]:
        outputs = dense_head(self.model).forward(
            self.model.extract_feat(inputs))
        return tuple(_tensors(outputs))


def forward_gmacs(model: nn.Module, inputs: Tensor) -> float:
    """Multiply-accumulates (billions) of the forward, counted by
    mmengine's ``FlopAnalyzer``: unlike times, immune to machine load.
    nan if the model cannot be traced."""
    try:
        with torch.no_grad():
            analyzer = FlopAnalyzer(ForwardOnly(model), (inputs, ))
            analyzer.unsupported_ops_warnings(False)
            analyzer.uncalled_modules_warnings(False)
            return analyzer.total() / 1e9
    except Exception:  # noqa: BLE001  (a count is optional information)
        return float('nan')


def inference_cases(size: Tuple[int, int], device: torch.device, seed: int,
                    num_candidates: int) -> List[InferenceCase]:
    """The models of the inference table, with forced detections (see
    :func:`force_detections`)."""
    cases = []
    polarnext = build_model(polarnext_model_cfg(), device).eval()
    for name, mask_output in ((POLARNEXT_OFF, False), (POLARNEXT_ON, True)):
        test_cfg = ConfigDict(copy.deepcopy(polarnext.bbox_head.test_cfg))
        test_cfg.mask_output = mask_output
        cases.append((name, polarnext, test_cfg))
    for name, cfg in ((FCOS_CAFFE, fcos_model_cfg()),
                      (FCOS_PYTORCH, fcos_model_cfg('pytorch')),
                      (SOLOV2, solov2_model_cfg())):
        model = build_model(cfg, device).eval()
        cases.append((name, model,
                      ConfigDict(copy.deepcopy(dense_head(model).test_cfg))))
    built, gmacs = [], {}
    for name, model, test_cfg in cases:
        inputs, samples = make_batch(model, size, seed)
        if id(model) not in gmacs:
            with torch.inference_mode():
                force_detections(model, inputs, num_candidates)
            gmacs[id(model)] = forward_gmacs(model, inputs)
        built.append(
            InferenceCase(name, model, test_cfg, inputs, samples,
                          gmacs=gmacs[id(model)]))
    return built


def run_inference(cases: List[InferenceCase], repeats: int, warmup: int,
                  device: torch.device) -> StageTimer:
    """Round-robin timing of all cases; warm-up rounds are discarded."""
    timer = StageTimer(device)
    for round_index in range(warmup + repeats):
        round_timer = timer if round_index >= warmup else StageTimer(device)
        for case in cases:
            time_inference_case(case, round_timer)
    return timer


def report_inference(cases: List[InferenceCase], timer: StageTimer,
                     size: Tuple[int, int]) -> str:
    """Inference table and the PolarNeXt / FCOS ratio lines."""
    reference, like_for_like = FCOS_CAFFE, FCOS_PYTORCH
    gmacs = {case.name: case.gmacs for case in cases}
    ref_fwd = timer.ms(f'{reference}/forward')
    ref_full = timer.ms(f'{reference}/predict')
    rows = []
    for case in cases:
        fwd = timer.ms(f'{case.name}/forward')
        full = timer.ms(f'{case.name}/predict')
        rle = timer.ms(f'{case.name}/rle')
        lo, hi = timer.spread(f'{case.name}/predict')
        rows.append([
            case.name,
            fmt_ms(fwd),
            fmt_ms(timer.ms(f'{case.name}/post')),
            fmt_ms(full), f'{fmt_ms(lo)}-{fmt_ms(hi)}',
            fmt_ms(rle) if case.has_masks else 'n/a',
            f'{case.gmacs:.1f}',
            fmt_ratio(case.gmacs / gmacs[reference]),
            fmt_ratio(fwd / ref_fwd),
            fmt_ratio(full / ref_full),
            '/'.join(str(n) for n in sorted(set(case.detections)))
        ])
    table = format_table([
        'model', 'forward', 'post', 'full predict', 'predict range',
        'to RLE', 'GMACs', 'MACs/FCOS', 'fwd/FCOS', 'predict/FCOS', 'dets'
    ], rows, f'[1] Inference per image at {size[0]}x{size[1]} '
              '(ms, median; forward = backbone+neck+head, post = '
              'predict_by_feat, to RLE = what CocoMetric still encodes, '
              'GMACs of the forward)')
    lines = [table]
    lines.append(
        f'  ratio PolarNeXt / FCOS GMACs: caffe '
        f'{fmt_ratio(gmacs[POLARNEXT_OFF] / gmacs[reference])}, '
        f'pytorch-style '
        f'{fmt_ratio(gmacs[POLARNEXT_OFF] / gmacs[like_for_like])}')
    for name in (POLARNEXT_OFF, POLARNEXT_ON):
        fwd = timer.ms(f'{name}/forward')
        full = timer.ms(f'{name}/predict')
        lines.append(f'  ratio {name} / FCOS caffe: forward only '
                     f'{fmt_ratio(fwd / ref_fwd)}, full predict '
                     f'{fmt_ratio(full / ref_full)}')
        lines.append(
            f'  ratio {name} / FCOS pytorch-style: forward only '
            f'{fmt_ratio(fwd / timer.ms(like_for_like + "/forward"))}, '
            f'full predict '
            f'{fmt_ratio(full / timer.ms(like_for_like + "/predict"))}')
    # Both PolarNeXt rows run the very same forward: their difference is the
    # timing noise of this run.
    same = [timer.ms(f'{name}/forward') for name in (POLARNEXT_OFF,
                                                      POLARNEXT_ON)]
    lines.append(f'  noise: identical PolarNeXt forwards differ by '
                 f'{100 * abs(same[0] - same[1]) / min(same):.1f}%')
    fwd_ratio = timer.ms(f'{POLARNEXT_OFF}/forward') / ref_fwd
    lines.append(
        goal_line(
            f'PolarNeXt forward <= {FORWARD_RATIO_GOAL:.2f}x FCOS',
            fwd_ratio <= FORWARD_RATIO_GOAL,
            f'time {fmt_ratio(fwd_ratio)}, GMACs '
            f'{fmt_ratio(gmacs[POLARNEXT_OFF] / gmacs[reference])}'))
    short = [c.name for c in cases if min(c.detections, default=0) < 100]
    if short:
        lines.append('  note: fewer than 100 detections in ' +
                     ', '.join(short))
    return '\n'.join(lines)


# ------------------------------------------------------ 2. mask generation
def random_polygons(num: int, num_vertices: int, size: Tuple[int, int],
                    rng: np.random.Generator) -> Tensor:
    """Star-shaped polygons as PolarNeXt decodes them: vertex k at angle
    2 pi k / K from a centre, clipped to the image.

    Radii are log-uniform from 8 px to 40 % of the short side, so small,
    medium and large objects all occur.

    Returns:
        Tensor: float32 (num, num_vertices, 2) as (x, y).
    """
    height, width = size
    angles = 2 * np.pi * np.arange(num_vertices) / num_vertices
    centres = rng.uniform((0, 0), (width, height), size=(num, 2))
    radii = np.exp(
        rng.uniform(np.log(8.0), np.log(0.4 * min(height, width)), num))
    lengths = radii[:, None] * rng.uniform(0.6, 1.0, (num, num_vertices))
    xy = centres[:, None] + lengths[..., None] * np.stack(
        [np.cos(angles), np.sin(angles)], -1)
    xy[..., 0] = xy[..., 0].clip(0, width - 1)
    xy[..., 1] = xy[..., 1].clip(0, height - 1)
    return torch.from_numpy(xy.astype(np.float32))


def official_bitmaps(polygons: Tensor, height: int, width: int) -> Tensor:
    """The official ``mask2result``: per instance, an (H, W) uint8 canvas,
    ``cv2.drawContours`` of the ``.int()`` vertices, copied into a float32
    (N, H, W) CPU tensor."""
    masks = torch.zeros((len(polygons), height, width), dtype=torch.float32)
    for i, polygon in enumerate(polygons.int().cpu().numpy()):
        canvas = np.zeros((height, width), dtype=np.uint8)
        cv2.drawContours(canvas, [polygon], -1, 1, thickness=-1)
        masks[i] = torch.from_numpy(canvas)
    return masks


def mask_agreement(ours: list, official: list) -> Dict[str, float]:
    """IoU of each of our masks with the matching official mask.

    Returns:
        dict: ``mean``, ``median``, ``min`` IoU, and ``mean_large``, the
        mean over objects of at least 32 x 32 px (official area).
    """
    ours = [dict(m) for m in ours]
    iou = np.diag(mask_utils.iou(ours, list(official), [0] * len(ours)))
    large = mask_utils.area(list(official)) >= 32 * 32
    return dict(
        mean=float(iou.mean()),
        median=float(np.median(iou)),
        min=float(iou.min()),
        mean_large=float(iou[large].mean()) if large.any() else float('nan'))


def run_mask_generation(size: Tuple[int, int], num: int, num_vertices: int,
                        repeats: int, warmup: int,
                        seed: int) -> Tuple[StageTimer, Dict[str, float]]:
    """Time our RLE generation against the official bitmap route."""
    height, width = size
    polygons = random_polygons(num, num_vertices, size,
                               np.random.default_rng(seed))
    timer = StageTimer(torch.device('cpu'))
    ours = official = None
    for round_index in range(warmup + repeats):
        t = timer if round_index >= warmup else StageTimer(timer.device)
        with t('ours'):
            ours = to_coco_rle(
                RLEMasks.from_polygons(polygons, height, width))
        with t('official'):
            with t('official/bitmaps'):
                bitmaps = official_bitmaps(polygons, height, width)
            with t('official/encode'):
                official = to_coco_rle(bitmaps)
        del bitmaps
    return timer, mask_agreement(ours, official)


def report_mask_generation(timer: StageTimer, agreement: Dict[str, float],
                           size: Tuple[int, int], num: int,
                           num_vertices: int) -> str:
    """Mask generation table, ratio, goal and IoU lines."""
    ours, official = timer.ms('ours'), timer.ms('official')
    rows = [
        ['ours: RLEMasks.from_polygons', fmt_ms(ours), '1.00x'],
        ['official: cv2 bitmaps + encode', fmt_ms(official),
         fmt_ratio(official / ours)],
        ['  polygon -> float32 bitmaps',
         fmt_ms(timer.ms('official/bitmaps')),
         fmt_ratio(timer.ms('official/bitmaps') / ours)],
        ['  encode_mask_results', fmt_ms(timer.ms('official/encode')),
         fmt_ratio(timer.ms('official/encode') / ours)],
    ]
    table = format_table(
        ['method', 'ms', 'vs ours'], rows,
        f'[2] Mask generation for CocoMetric: {num} polygons x '
        f'{num_vertices} vertices at {size[0]}x{size[1]} (ms, median)')
    speedup = official / ours
    return '\n'.join([
        table,
        f'  ratio official / ours: {fmt_ratio(speedup)}',
        goal_line(f'ours < {MASK_TIME_GOAL_MS:.0f} ms',
                  ours < MASK_TIME_GOAL_MS, f'{fmt_ms(ours)} ms'),
        goal_line(f'ours >= {MASK_SPEEDUP_GOAL:.0f}x cheaper',
                  speedup >= MASK_SPEEDUP_GOAL, fmt_ratio(speedup)),
        f'  IoU ours vs official (sanity; official truncates to int): '
        f'mean {agreement["mean"]:.3f}, median {agreement["median"]:.3f}, '
        f'min {agreement["min"]:.3f}, mean over >= 32x32 px '
        f'{agreement["mean_large"]:.3f}',
    ])


# -------------------------------------------------------------- 3. training


def timed_build(builder, points: Tensor, strides: Tensor, cls_logits: Tensor,
                rays: Tensor, gt_instances: InstanceData, timer: StageTimer,
                prefix: str) -> Tuple[Tensor, Tensor, dict]:
    """``PolarTargetBuilder.build`` step by step through its public
    methods, with the same inputs, timing each step.

    Returns:
        tuple: Class targets (P, ), positive point indices (S, ) (to check
        against ``build``) and the counts (objects, candidates, positives,
        edges) and ``cost_mask`` mode.
    """
    device = points.device
    with timer(f'{prefix}gt polygons + ray origins'):
        polygons, gt_labels = gt_polygons(gt_instances, device)
        ray_polys = (
            polygons if builder.ray_target_parts == 'all' else
            polygons.largest_part())
        mask_polys = (
            polygons if builder.mask_target_parts == 'all' else
            polygons.largest_part())
        origins = compute_ray_origins(ray_polys, method=builder.ray_origin)
    with timer(f'{prefix}candidates'):
        pair_point, pair_gt = builder.candidates(points, strides, origins,
                                                 ray_polys.bboxes())
    with timer(f'{prefix}ray targets (ray_coder.encode)'):
        target_rays = builder.ray_coder.encode(points[pair_point], ray_polys,
                                               pair_gt)
    with torch.no_grad():
        with timer(f'{prefix}crop boxes'):
            boxes = builder.crop_boxes(points[pair_point], rays[pair_point],
                                       mask_polys.bboxes()[pair_gt])
        with timer(f'{prefix}target crops (polygons_to_crop_masks)'):
            edges, edge_valid = mask_polys.edges()
            target_masks = polygons_to_crop_masks(edges[pair_gt],
                                                  edge_valid[pair_gt], boxes,
                                                  builder.mask_size)
        with timer(f'{prefix}cost masks of candidates (no grad)'):
            cost_masks = builder.cost_masks(points[pair_point],
                                            rays[pair_point].detach(), boxes)
        with timer(f'{prefix}matcher.pair_costs'):
            costs = builder.matcher.pair_costs(
                cls_logits[pair_point, gt_labels[pair_gt]], rays[pair_point],
                target_rays, cost_masks, target_masks)
        with timer(f'{prefix}matcher.select'):
            selected = builder.matcher.select(costs, pair_gt, pair_point)
    with timer(f'{prefix}soft raster of positives (grad)'):
        pos_points = pair_point[selected]
        labels = points.new_full((len(points), ),
                                 builder.num_classes,
                                 dtype=torch.long)
        labels[pos_points] = gt_labels[pair_gt[selected]]
        pos_soft = builder.soft_masks(points[pos_points], rays[pos_points],
                                      boxes[selected])
    with timer(f'{prefix}soft raster backward (positives)'):
        torch.autograd.grad(
            pos_soft, rays, torch.rand_like(pos_soft), retain_graph=True)
    counts = dict(
        cost_mask=builder.cost_mask,
        objects=len(polygons),
        candidates=len(pair_point),
        positives=len(pos_points),
        max_edges=int(edges.shape[1]))
    return labels, pos_points, counts


# (group, step) rows of the build breakdown, in execution order.
BUILD_STEPS = (
    ('candidates + ray targets', 'gt polygons + ray origins'),
    ('candidates + ray targets', 'candidates'),
    ('candidates + ray targets', 'ray targets (ray_coder.encode)'),
    ('crop targets + soft raster', 'crop boxes'),
    ('crop targets + soft raster', 'target crops (polygons_to_crop_masks)'),
    ('crop targets + soft raster', 'cost masks of candidates (no grad)'),
    ('matcher', 'matcher.pair_costs'),
    ('matcher', 'matcher.select'),
    ('positives', 'soft raster of positives (grad)'),
)


@dataclass
class BuildInputs:
    """What ``loss_by_feat`` gave ``target_builder.build`` and got back.

    Attributes:
        points (Tensor): All points (P, 2).
        strides (Tensor): Their strides (P, ).
        flat_cls (Tensor): Class logits (B, P, num_classes).
        flat_rays (Tensor): Rays (B, P, K).
        labels (list[Tensor]): Class targets per image, (P, ) each.
        positives (PositiveTargets): Positives of the batch.
    """
    points: Tensor
    strides: Tensor
    flat_cls: Tensor
    flat_rays: Tensor
    labels: List[Tensor]
    positives: PositiveTargets


def train_iteration(
        model: nn.Module, inputs: Tensor, data_samples: List[DetDataSample],
        timer: StageTimer) -> Tuple[Dict[str, Tensor], BuildInputs]:
    """One training forward/backward of PolarNeXt, stage by stage, as
    ``PolarNeXtHead.loss_by_feat`` does it.

    Returns:
        tuple: The losses and the inputs / outputs of the builder.
    """
    head = model.bbox_head
    model.zero_grad(set_to_none=True)
    with timer('backbone + neck forward'):
        feats = model.extract_feat(inputs)
    with timer('head forward'):
        cls_scores, ray_preds, quality_preds = head(feats)
    with timer('target_builder.build'):
        points, point_strides = head._points(
            [s.shape[-2:] for s in cls_scores], inputs.device)
        flat_cls = head._flatten_levels(cls_scores)
        flat_rays = head._flatten_levels(ray_preds)
        flat_quality = head._flatten_levels(quality_preds)[..., 0]
        labels, positives = [], []
        for i, sample in enumerate(data_samples):
            img_labels, img_pos = head.target_builder.build(
                points, point_strides, flat_cls[i].detach(), flat_rays[i],
                sample.gt_instances)
            labels.append(img_labels)
            positives.append(img_pos.offset_points(i * len(points)))
        pos = PositiveTargets.cat(positives)
    with timer('losses (_losses)'):
        losses = head._losses(
            flat_cls.flatten(0, 1), torch.cat(labels),
            flat_quality.flatten(), pos)
    with timer('backward (whole model)'):
        sum(losses.values()).backward()
    return losses, BuildInputs(points, point_strides, flat_cls, flat_rays,
                               labels, pos)


def check_replica(model: nn.Module, inputs: Tensor,
                  data_samples: List[DetDataSample],
                  losses: Dict[str, Tensor]) -> bool:
    """True when ``loss_by_feat`` gives the losses of the replica above
    (guards the breakdown against drifting from the head's code)."""
    with torch.no_grad():
        reference = model.bbox_head.loss(
            model.extract_feat(inputs), data_samples)
    return all(
        torch.allclose(reference[k].float(), losses[k].detach().float(),
                       rtol=1e-4, atol=1e-5) for k in losses)


def run_training(size: Tuple[int, int], num_gt: int, repeats: int,
                 warmup: int, device: torch.device, seed: int) -> dict:
    """Time the training step and the builder's steps of PolarNeXt."""
    model = build_model(polarnext_model_cfg(), device).train()
    head = model.bbox_head
    gt = synthetic_gt(num_gt, size, head.num_classes,
                      np.random.default_rng(seed))
    inputs, samples = make_batch(model, size, seed, gt, training=True)
    timer = StageTimer(device)
    counts: dict = {}
    same_positives = True
    losses = {}
    for round_index in range(warmup + repeats):
        t = timer if round_index >= warmup else StageTimer(device)
        losses, built = train_iteration(model, inputs, samples, t)
        # A leaf copy of the rays: the split times the raster backward.
        rays = built.flat_rays[0].detach().requires_grad_(True)
        split_labels, pos_points, counts = timed_build(
            head.target_builder, built.points, built.strides,
            built.flat_cls[0].detach(), rays, samples[0].gt_instances, t,
            'build/')
        same_positives &= (
            torch.equal(split_labels, built.labels[0])
            and torch.equal(pos_points.sort().values,
                            built.positives.point_inds.sort().values))
    counts['points'] = len(built.points)
    return dict(
        timer=timer,
        counts=counts,
        same_positives=same_positives,
        replica_ok=check_replica(model, inputs, samples, losses),
        losses={k: v.detach().item() for k, v in losses.items()})


def report_training(result: dict, size: Tuple[int, int]) -> str:
    """Training step table, build() split table and check lines."""
    timer = result['timer']
    stages = ('backbone + neck forward', 'head forward',
              'target_builder.build', 'losses (_losses)',
              'backward (whole model)')
    total = sum(timer.ms(name) for name in stages)
    rows = [[
        name,
        fmt_ms(timer.ms(name)), f'{100 * timer.ms(name) / total:.1f}%'
    ] for name in stages]
    rows.append(['total', fmt_ms(total), '100.0%'])
    counts = result['counts']
    main = format_table(
        ['stage', 'ms', 'share'], rows,
        f'[3] PolarNeXt R-50 training step per image at {size[0]}x{size[1]}'
        f' ({counts["objects"]} GT objects, {counts["points"]} points, '
        f'{counts["candidates"]} candidates, {counts["positives"]} '
        f'positives; ms, median)')
    build_ms = timer.ms('target_builder.build')
    split_total = sum(timer.ms('build/' + step) for _, step in BUILD_STEPS)
    rows, group_ms = [], defaultdict(float)
    for group, step in BUILD_STEPS:
        value = timer.ms('build/' + step)
        group_ms[group] += value
        rows.append([f'{group}: {step}', fmt_ms(value),
                     f'{100 * value / split_total:.1f}%'])
    for group, value in group_ms.items():
        rows.append([f'subtotal {group}', fmt_ms(value),
                     f'{100 * value / split_total:.1f}%'])
    rows.append(['sum of the steps', fmt_ms(split_total), '100.0%'])
    rows.append([
        'extra: soft raster backward (positives)',
        fmt_ms(timer.ms('build/soft raster backward (positives)')), ''
    ])
    split = format_table(
        ['target_builder.build step', 'ms', 'share'], rows,
        '    build() split through the builder\'s public methods (max '
        f'{counts["max_edges"]} edges per object, cost_mask='
        f'{counts["cost_mask"]!r})')
    losses = ', '.join(f'{k} {v:.3f}' for k, v in result['losses'].items())
    return '\n'.join([
        main, split,
        f'  ratio sum of build steps / build(): '
        f'{fmt_ratio(split_total / build_ms)}',
        f'  ratio build() / head forward: '
        f'{fmt_ratio(build_ms / timer.ms("head forward"))}',
        f'  check split gives the same positives as build(): '
        f'{"yes" if result["same_positives"] else "NO"}',
        f'  check replica equals head.loss(): '
        f'{"yes" if result["replica_ok"] else "NO"} ({losses})',
    ])


# ------------------------------------------------------------------- main
def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    """Command line; ``--quick`` fills in small defaults."""
    parser = argparse.ArgumentParser(
        description='PolarNeXt speed benchmark (inference, mask '
        'generation, training breakdown) against FCOS and SOLOv2')
    parser.add_argument(
        '--device',
        default=default_device(),
        help='device (default: cuda if available, else cpu)')
    parser.add_argument(
        '--threads',
        type=int,
        default=2,
        help='torch threads on CPU (default: 2)')
    parser.add_argument(
        '--size',
        type=parse_size,
        default=None,
        help='inference and mask size HxW (default 800x1333; 160x256 with '
        '--quick)')
    parser.add_argument(
        '--train-size',
        type=parse_size,
        default=None,
        help='training image size HxW (default 512x640; 128x160 with '
        '--quick)')
    parser.add_argument(
        '--repeats',
        type=int,
        default=None,
        help='timed rounds, median reported (default 5; 2 with --quick)')
    parser.add_argument(
        '--warmup', type=int, default=1, help='untimed rounds (default 1)')
    parser.add_argument(
        '--candidates',
        type=int,
        default=1000,
        help='locations above the score threshold in the inference table '
        '(default 1000)')
    parser.add_argument(
        '--num-dets',
        type=int,
        default=100,
        help='polygons of the mask generation table')
    parser.add_argument(
        '--num-vertices', type=int, default=36, help='vertices per polygon')
    parser.add_argument(
        '--num-gt',
        type=int,
        default=15,
        help='synthetic GT objects of the training image')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument(
        '--sections',
        nargs='+',
        choices=['inference', 'masks', 'train'],
        default=['inference', 'masks', 'train'],
        help='tables to print')
    parser.add_argument(
        '--quick',
        action='store_true',
        help='small sizes and 2 repeats (smoke test, meaningless numbers)')
    args = parser.parse_args(argv)
    if args.size is None:
        args.size = (160, 256) if args.quick else (800, 1333)
    if args.train_size is None:
        args.train_size = (128, 160) if args.quick else (512, 640)
    if args.repeats is None:
        args.repeats = 2 if args.quick else 5
    if args.repeats < 1 or args.warmup < 0:
        parser.error('--repeats must be >= 1 and --warmup >= 0')
    if min(args.num_dets, args.num_gt, args.candidates) < 1 or \
            args.num_vertices < 3:
        parser.error('--num-dets, --num-gt, --candidates must be >= 1 and '
                     '--num-vertices >= 3')
    return args


def header(args: argparse.Namespace, device: torch.device) -> str:
    """Versions, device, threads, sizes and load of this run."""
    load = ', '.join(f'{v:.2f}' for v in os.getloadavg())
    return '\n'.join([
        'PolarNeXt speed benchmark (random weights, synthetic inputs)',
        f'torch {torch.__version__} | mmcv {mmcv.__version__} | mmdet '
        f'{mmdet.__version__} | python {platform.python_version()}',
        f'device {device} | threads {torch.get_num_threads()} | '
        f'cpu {platform.machine()} x{os.cpu_count()} | load average {load}',
        f'inference size {args.size[0]}x{args.size[1]} | mask size '
        f'{args.size[0]}x{args.size[1]} | train size '
        f'{args.train_size[0]}x{args.train_size[1]} | repeats '
        f'{args.repeats} (median) after {args.warmup} warm-up | '
        f'{args.candidates} candidates above score_thr'
        + (' | QUICK' if args.quick else ''),
    ])


def main(argv: Optional[Sequence[str]] = None,
         out: Callable[[str], None] = print) -> None:
    """Run the chosen sections and print their tables.

    Args:
        argv (Sequence[str], optional): Arguments (default: sys.argv).
        out (Callable[[str], None]): Where each block of text goes.
    """
    args = parse_args(argv)
    device = torch.device(args.device)
    if device.type == 'cpu':
        torch.set_num_threads(args.threads)
    init_default_scope('mmdet')
    # The newest logger is mmengine's "current" one: this silences the
    # per-parameter init_weights report.
    MMLogger.get_instance('benchmark_polarnext', log_level='WARNING')
    torch.manual_seed(args.seed)
    out(header(args, device))
    warning = contention_warning(device)
    if warning:
        out(warning)
    if 'inference' in args.sections:
        cases = inference_cases(args.size, device, args.seed,
                                args.candidates)
        timer = run_inference(cases, args.repeats, args.warmup, device)
        out('')
        out(report_inference(cases, timer, args.size))
        del cases
    if 'masks' in args.sections:
        timer, agreement = run_mask_generation(args.size, args.num_dets,
                                               args.num_vertices,
                                               args.repeats, args.warmup,
                                               args.seed)
        out('')
        out(
            report_mask_generation(timer, agreement, args.size,
                                   args.num_dets, args.num_vertices))
    if 'train' in args.sections:
        result = run_training(args.train_size, args.num_gt, args.repeats,
                              args.warmup, device, args.seed)
        out('')
        out(report_training(result, args.train_size))
    load = ', '.join(f'{v:.2f}' for v in os.getloadavg())
    out(f'\nload average at the end: {load}')
    warning = contention_warning(device, own_load=torch.get_num_threads())
    if warning:
        out(warning)


if __name__ == '__main__':
    main()
