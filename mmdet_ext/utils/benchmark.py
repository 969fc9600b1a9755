"""Inference benchmark that runs on CPU as well as CUDA.

MMDetection's ``InferenceBenchmark`` moves the model with ``.cuda()``, synchronises with
``torch.cuda.synchronize()`` and reports CUDA memory, so ``benchmark.py --task inference``
fails on a CPU machine. This subclass follows the chosen device: CUDA when present (as
upstream), otherwise the CPU, where it reports peak resident memory instead.

Polar heads (PolarNeXt, PolarMask) have a ``test_cfg.mask_output`` switch:
off, they return polygons only (the papers' FPS protocol), on, also the RLE
masks that ``CocoMetric`` needs. The benchmark times both on every image,
alternately, so both see the same load.
"""
import copy
import time
from contextlib import contextmanager
from functools import partial
from typing import (Callable, Dict, Iterator, List, Optional, Sequence,
                    Tuple)

import numpy as np
import torch
import torch.nn as nn
from mmcv.cnn import fuse_conv_bn
from mmengine.analysis import get_model_complexity_info
from mmengine.config import Config, ConfigDict
from mmengine.device import get_max_cuda_memory
from mmengine.runner import load_checkpoint
from mmengine.structures import InstanceData
from torch import Tensor

from mmdet.registry import MODELS
from mmdet.structures import DetDataSample
from mmdet.utils.benchmark import (InferenceBenchmark, print_log,
                                   print_process_memory)
# Re-exported for the tests that import it from here; the generator lives
# in mmdet_ext.testing.


def default_device() -> torch.device:
    """CUDA when available, else the CPU."""
    return torch.device('cuda' if torch.cuda.is_available() else 'cpu')


def mask_output_modules(model: nn.Module) -> List[nn.Module]:
    """Modules whose ``test_cfg`` has a ``mask_output`` switch (the polar
    heads; empty for other models)."""
    return [
        module for module in model.modules()
        if isinstance(getattr(module, 'test_cfg', None), dict)
        and 'mask_output' in module.test_cfg
    ]


def has_mask_output(model: nn.Module) -> bool:
    """True for a model with a ``test_cfg.mask_output`` switch."""
    return bool(mask_output_modules(model))


@contextmanager
def mask_output(model: nn.Module, enabled: Optional[bool]) -> Iterator[None]:
    """Set ``test_cfg.mask_output`` of every polar head of ``model`` for the
    duration of the block (``None`` leaves the config as it is).

    Args:
        model (nn.Module): Detector.
        enabled (bool, optional): Produce masks or polygons only.
    """
    modules = mask_output_modules(model) if enabled is not None else []
    saved = [module.test_cfg['mask_output'] for module in modules]
    for module in modules:
        module.test_cfg['mask_output'] = enabled
    try:
        yield
    finally:
        for module, value in zip(modules, saved):
            module.test_cfg['mask_output'] = value


def mask_mode_name(enabled: Optional[bool]) -> str:
    """Label of a ``mask_output`` mode in the log."""
    return {None: 'as configured', False: 'without mask generation',
            True: 'with mask generation'}[enabled]


class DeviceInferenceBenchmark(InferenceBenchmark):
    """``InferenceBenchmark`` on any device, timing ``model.test_step``.

    Args:
        cfg (Config): Full config.
        checkpoint (str, optional): Weights to load; ``None`` benchmarks the
            freshly initialised model (speed does not depend on the weights,
            but post-processing does depend on how many detections survive).
        device (str, optional): ``'cpu'``, ``'cuda'``...; defaults to CUDA when
            available.
        is_fuse_conv_bn (bool): Fuse conv and BN before timing.
        max_iter (int): Images to time (after warm-up).
        log_interval (int): Logging interval.
        num_warmup (int): Untimed warm-up images.
        num_threads (int, optional): ``torch.set_num_threads`` on CPU.
        mask_modes (Sequence[bool], optional): ``test_cfg.mask_output``
            values to time on every image (polar models). ``None`` times
            ``(False, True)`` for a model with the switch and the model as
            configured otherwise.
        logger (MMLogger, optional): Logger.
    """

    def __init__(self,
                 cfg,
                 checkpoint: Optional[str],
                 device: Optional[str] = None,
                 is_fuse_conv_bn: bool = False,
                 max_iter: int = 2000,
                 log_interval: int = 50,
                 num_warmup: int = 5,
                 num_threads: Optional[int] = None,
                 mask_modes: Optional[Sequence[bool]] = None,
                 logger=None):
        self.device = torch.device(device) if device else default_device()
        if num_threads and self.device.type == 'cpu':
            torch.set_num_threads(num_threads)
        super().__init__(cfg, checkpoint, False, is_fuse_conv_bn, max_iter,
                         log_interval, num_warmup, logger)
        if mask_modes is None:
            mask_modes = (False, True) if has_mask_output(self.model) \
                else (None, )
        elif not has_mask_output(self.model):
            raise ValueError('mask_modes given, but the model has no '
                             'test_cfg.mask_output switch (not a polar head)')
        self.mask_modes = tuple(mask_modes)

    def _init_model(self, checkpoint: Optional[str],
                    is_fuse_conv_bn: bool) -> nn.Module:
        model = MODELS.build(self.cfg.model)
        if checkpoint:
            load_checkpoint(model, checkpoint, map_location='cpu')
        else:
            model.init_weights()
        if is_fuse_conv_bn:
            model = fuse_conv_bn(model)
        model = model.to(self.device)
        model.eval()
        return model

    def _synchronize(self) -> None:
        if self.device.type == 'cuda':
            torch.cuda.synchronize(self.device)

    def _memory_message(self) -> str:
        if self.device.type == 'cuda':
            return f'cuda memory: {get_max_cuda_memory(self.device)} MB'
        rss = self._process.memory_info().rss / 1024**2
        return f'process rss: {rss:.0f} MB'

    def _time_test_step(self, data: dict) -> float:
        """Seconds of one ``model.test_step`` (synchronised)."""
        self._synchronize()
        start_time = time.perf_counter()
        with torch.no_grad():
            self.model.test_step(data)
        self._synchronize()
        return time.perf_counter() - start_time

    def run_once(self) -> dict:
        """Time ``max_iter`` images after ``num_warmup`` untimed ones, each
        image once per mask mode.

        Returns:
            dict: ``fps`` of the last mode (masks on for a polar model) and
            ``fps_by_mode`` ({mode: fps}).
        """
        total: Dict[Optional[bool], float] = {m: 0. for m in self.mask_modes}
        done = 0
        for i, data in enumerate(self.data_loader):
            for mode in self.mask_modes:
                with mask_output(self.model, mode):
                    elapsed = self._time_test_step(data)
                if i >= self.num_warmup:
                    total[mode] += elapsed
            if i >= self.num_warmup:
                done = i + 1 - self.num_warmup
                if (i + 1) % self.log_interval == 0:
                    print_log(
                        f'Done image [{i + 1:<3}/{self.max_iter}], '
                        f'{self._fps_message(total, done)}, '
                        f'{self._memory_message()}', self.logger)
            if i + 1 == self.max_iter:
                break
        if done == 0 or min(total.values()) == 0:
            raise RuntimeError(
                f'no image was timed: the test set has fewer than '
                f'num_warmup + 1 = {self.num_warmup + 1} images')
        fps_by_mode = {mode: done / t for mode, t in total.items()}
        return {'fps': fps_by_mode[self.mask_modes[-1]],
                'fps_by_mode': fps_by_mode}

    def _fps_message(self, total: Dict[Optional[bool], float],
                     done: int) -> str:
        """``fps: ... img/s, times per image: ... ms/img`` per mode."""
        parts = []
        for mode, seconds in total.items():
            fps = done / seconds
            label = '' if mode is None else f' ({mask_mode_name(mode)})'
            parts.append(f'fps{label}: {fps:.2f} img/s, times per image: '
                         f'{1000 / fps:.1f} ms/img')
        return ', '.join(parts)

    def average_multiple_runs(self, results: List[dict]) -> dict:
        by_mode = {}
        print_log('============== Done ==================', self.logger)
        for mode in self.mask_modes:
            fps_list = [round(r['fps_by_mode'][mode], 2) for r in results]
            avg_fps = sum(fps_list) / len(fps_list)
            by_mode[mode] = avg_fps
            label = '' if mode is None else f' {mask_mode_name(mode)}'
            print_log(
                f'Overall fps{label}: {fps_list}[{avg_fps:.2f}] img/s, '
                f'times per image: {1000 / avg_fps:.1f} ms/img on '
                f'{self.device}', self.logger)
        if len(self.mask_modes) == 2:
            print_log(
                f'mask generation costs '
                f'{1000 / by_mode[True] - 1000 / by_mode[False]:.1f} '
                'ms/img', self.logger)
        print_log(self._memory_message(), self.logger)
        print_process_memory(self._process, self.logger)
        return {'avg_fps': by_mode[self.mask_modes[-1]],
                'avg_fps_by_mode': by_mode,
                'device': str(self.device)}


# ---------------------------------------------------------------------------
# Randomly initialised detectors that detect like trained ones, and the raw
# batch they are run on (the benchmark tools, the deployment tests and
# mmdet_ext.deployment). Timing, tables and memory are in tools/_benchmark.py.
# ---------------------------------------------------------------------------
# Score spread given to the forced candidates: the best one gets a logit
# this much above the score threshold (sigmoid(-2.9 + 6) = 0.96 for FCOS),
# so scores look like a trained model's and SOLOv2's Matrix NMS decay does
# not push every candidate under its ``filter_thr``.
FORCED_LOGIT_SPAN = 6.0
# Logit of the classes that are never detected (sigmoid(-20) ~ 2e-9).
SILENT_CLS_BIAS = -20.0
# Forced ray length in strides: polygons of radius 4 strides (32 px on P3
# ... 512 px on P7), i.e. real-sized masks.
FORCED_RAY_BIAS = 4.0
# FCOS-style box sides are exp(conv) pixels at test time: 32 px boxes.
FORCED_EXP_REG_BIAS = float(np.log(32.0))
# Softmax logit of class 0 in a two-stage box head: every proposal becomes
# a class-0 detection with score ~1.
FORCED_SOFTMAX_LOGIT = 10.0


def without_pretrained(model_cfg: ConfigDict) -> ConfigDict:
    """Copy of a model config whose backbone downloads nothing."""
    model_cfg = copy.deepcopy(model_cfg)
    if 'backbone' in model_cfg:
        model_cfg.backbone.init_cfg = None
    return model_cfg


def build_model(cfg: ConfigDict, device: torch.device) -> nn.Module:
    """Build and randomly initialise a detector on ``device`` (no
    pretrained weights are downloaded)."""
    model = MODELS.build(without_pretrained(cfg))
    model.init_weights()
    return model.to(device)


def dense_head(model: nn.Module) -> Optional[nn.Module]:
    """The single-stage head that post-processes (``bbox_head`` or SOLO's
    ``mask_head``), or None for a two-stage model."""
    if hasattr(model, 'roi_head'):
        return None
    head = getattr(model, 'bbox_head', None)
    return head if head is not None else getattr(model, 'mask_head', None)


def class_logits(model: nn.Module, inputs: Tensor) -> List[Tensor]:
    """Outputs of the head's ``conv_cls`` on every level, (B, C, H, W)."""
    head = dense_head(model)
    outputs = []
    handle = head.conv_cls.register_forward_hook(
        lambda module, args, output: outputs.append(output))
    try:
        head.forward(model.extract_feat(inputs))
    finally:
        handle.remove()
    return outputs


@torch.no_grad()
def force_detections(model: nn.Module, inputs: Tensor,
                     num_candidates: int) -> None:
    """Make a randomly initialised detector detect like a trained one.

    With random weights no location passes the score threshold (or, with a
    raised bias, every location and class does), so post-processing and
    mask generation would not be timed. For a single-stage head the class-0
    logit of ``conv_cls`` is calibrated so that exactly ``num_candidates``
    locations (over all levels) score above ``score_thr``, with scores
    spread up to ``FORCED_LOGIT_SPAN`` above it, and the other classes never
    do; ray / box regressions get real sizes. For a two-stage model every
    RPN proposal becomes a class-0 detection. Either way, NMS then leaves
    ``max_per_img`` detections, as a trained model on a crowded image.

    Args:
        model (nn.Module): Detector in eval mode.
        inputs (Tensor): The preprocessed image the model will be timed on.
        num_candidates (int): Locations above the score threshold
            (single-stage heads).
    """
    head = dense_head(model)
    if head is None:
        _force_two_stage(model)
        return
    conv_cls = head.conv_cls
    if hasattr(head, 'conv_rays'):
        _force_ray_lengths(head)
    if hasattr(head, 'conv_reg'):
        head.conv_reg.bias.fill_(FORCED_EXP_REG_BIAS)
    conv_cls.bias.fill_(0.0)
    logits = torch.cat(
        [level[:, 0].flatten() for level in class_logits(model, inputs)])
    logits = logits.float().sort(descending=True).values
    k = max(1, min(num_candidates, len(logits) - 1))
    scale = FORCED_LOGIT_SPAN / max(float(logits[0] - logits[k]), 1e-6)
    conv_cls.weight[0] *= scale
    score_thr = float(head.test_cfg.get('score_thr', 0.05))
    threshold = float(np.log(score_thr / (1 - score_thr)))
    conv_cls.bias.fill_(SILENT_CLS_BIAS)
    conv_cls.bias[0] = threshold - scale * float(logits[k - 1] +
                                                 logits[k]) / 2


def _force_ray_lengths(head: nn.Module) -> None:
    """Rays of about ``FORCED_RAY_BIAS`` strides on every level, whichever
    the parametrisation: PolarNeXt's linear ``Scale * conv * stride`` or
    ``exp(Scale * conv) * stride`` (``ray_activation='exp'``), or
    PolarMask's ``exp(Scale_l(conv))`` (one learnable scale per level in
    ``scales_rays``), so that all produce polygons of the same sizes."""
    scales = getattr(head, 'scales_rays', None)
    if scales is None:
        exp_rays = getattr(head, 'ray_activation', 'linear') == 'exp'
        head.conv_rays.bias.fill_(
            float(np.log(FORCED_RAY_BIAS)) if exp_rays else FORCED_RAY_BIAS)
        return
    head.conv_rays.bias.fill_(1.0)
    for scale, stride in zip(scales, head.strides):
        scale.scale.data.fill_(float(np.log(FORCED_RAY_BIAS * stride)))


def _force_two_stage(model: nn.Module) -> None:
    """Class 0 wins the softmax of the RoI box head on every proposal."""
    bbox_head = model.roi_head.bbox_head
    fc_cls = getattr(bbox_head, 'fc_cls', None)
    if fc_cls is None:
        raise ValueError(f'{type(bbox_head).__name__} has no fc_cls: cannot '
                         'force detections')
    fc_cls.weight.zero_()
    fc_cls.bias.fill_(0.0)
    fc_cls.bias[0] = FORCED_SOFTMAX_LOGIT


def raw_batch(size: Tuple[int, int],
              seed: int,
              gt_instances: Optional[InstanceData] = None) -> dict:
    """A random uint8 image (3, H, W) and its sample, as a dataloader
    yields them (what ``model.test_step`` takes).

    Args:
        size (tuple[int, int]): Image (height, width), also the original
            size (scale factor 1).
        seed (int): Seed of the image.
        gt_instances (InstanceData, optional): Ground truth to attach.

    Returns:
        dict: ``inputs`` (list of one uint8 tensor) and ``data_samples``.
    """
    height, width = size
    generator = torch.Generator().manual_seed(seed)
    image = torch.randint(
        0, 256, (3, height, width), dtype=torch.uint8, generator=generator)
    sample = DetDataSample(
        metainfo=dict(
            img_id=0,
            img_path='',
            img_shape=(height, width),
            ori_shape=(height, width),
            pad_shape=(height, width),
            scale_factor=(1.0, 1.0)))
    if gt_instances is not None:
        sample.gt_instances = gt_instances
    return dict(inputs=[image], data_samples=[sample])


def needs_forced_detections(model: nn.Module) -> bool:
    """Dense heads and two-stage models detect nothing with random
    weights. A query-based model (SparseInst's decoder) needs no forcing:
    from its prior initialisation every one of its N queries scores
    sqrt(0.01 * 0.5) > the official 0.005 threshold, so it post-processes
    all N masks, as a trained model does."""
    return not hasattr(model, 'decoder')


class TensorForward(nn.Module):
    """``model(inputs, data_samples, mode='tensor')`` with the samples
    bound: the one-tensor forward that the complexity analyzer traces (as
    MMDetection's ``get_flops.py``).

    Args:
        model (nn.Module): Detector.
        data_samples (list): Samples of the traced image.
    """

    def __init__(self, model: nn.Module, data_samples: list) -> None:
        super().__init__()
        self.model = model
        self.data_samples = data_samples

    def forward(self, inputs: torch.Tensor):
        return self.model(inputs, self.data_samples, mode='tensor')


def forward_gmacs(model: nn.Module, data: dict) -> float:
    """Multiply-accumulates (billions) of the forward on a preprocessed
    batch, from mmengine's ``get_model_complexity_info`` (its "flops"
    count one multiply-add as one): unlike times, immune to load."""
    with torch.no_grad():
        info = get_model_complexity_info(
            TensorForward(model, data['data_samples']),
            inputs=(data['inputs'], ),
            show_table=False,
            show_arch=False)
    return info['flops'] / 1e9


def inference_cases(model: nn.Module, mask_mode: Optional[bool],
                    batch: dict) -> Dict[str, Callable[[], object]]:
    """Calls that time a model's inference on ``batch`` in a mask mode.

    Args:
        model (nn.Module): Detector in eval mode.
        mask_mode (bool, optional): ``test_cfg.mask_output`` (None: as
            configured, for models without the switch).
        batch (dict): Raw batch (:func:`raw_batch`).

    Returns:
        dict: ``full`` (``test_step``: preprocessing, forward and
        post-processing; returns the number of detections and whether they
        carry masks) and, for single-stage heads, ``forward`` (backbone,
        neck and head) and ``post`` (``predict_by_feat`` on the forward's
        outputs, rescaled as ``test_step`` does; returns the detections).
    """
    cases = {'full': partial(_test_step, model, mask_mode, batch)}
    head = dense_head(model)
    if head is None:
        return cases
    with torch.no_grad():
        data = model.data_preprocessor(copy.deepcopy(batch), False)
        outs = head.forward(model.extract_feat(data['inputs']))
    metas = [sample.metainfo for sample in data['data_samples']]
    cases['forward'] = partial(_forward, model, head, data['inputs'])
    cases['post'] = partial(_post_process, model, mask_mode, head, outs,
                            metas)
    return cases


@torch.no_grad()
def _test_step(model: nn.Module, mode: Optional[bool],
               batch: dict) -> Tuple[int, bool]:
    """``test_step`` in a mask mode: (detections, whether with masks)."""
    with mask_output(model, mode):
        pred = model.test_step(copy.deepcopy(batch))[0].pred_instances
    return len(pred), 'masks' in pred


@torch.no_grad()
def _forward(model: nn.Module, head: nn.Module, inputs: torch.Tensor):
    """Backbone, neck and head forward (B, 3, H, W) -> head outputs."""
    return head.forward(model.extract_feat(inputs))


@torch.no_grad()
def _post_process(model: nn.Module, mode: Optional[bool], head: nn.Module,
                  outs: tuple, metas: List[dict]) -> int:
    """``predict_by_feat`` of head outputs, rescaled to the image as
    ``test_step`` does, in a mask mode; returns the detections."""
    with mask_output(model, mode):
        return len(
            head.predict_by_feat(*outs, batch_img_metas=metas,
                                 rescale=True)[0])


def with_fcos_head(cfg: Config) -> Config:
    """The detector of ``cfg`` with an FCOS head of the same width, levels
    and norm (MMDetection's FCOS R-50 head and test settings otherwise)."""
    head = cfg.model.bbox_head
    cfg.model.type = 'FCOS'
    cfg.model.bbox_head = dict(
        type='FCOSHead',
        num_classes=head.num_classes,
        in_channels=head.in_channels,
        feat_channels=head.get('feat_channels', 256),
        stacked_convs=head.get('stacked_convs', 4),
        strides=head.get('strides', [8, 16, 32, 64, 128]),
        norm_cfg=head.get('norm_cfg', dict(type='GN', num_groups=32)))
    test_cfg = cfg.model.test_cfg
    cfg.model.test_cfg = dict(
        nms_pre=test_cfg.nms_pre, min_bbox_size=0,
        score_thr=test_cfg.score_thr, nms=test_cfg.nms,
        max_per_img=test_cfg.max_per_img)
    return cfg
