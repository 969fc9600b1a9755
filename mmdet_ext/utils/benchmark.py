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
from typing import Dict, Iterator, List, Optional, Sequence

import torch
import torch.nn as nn
from mmcv.cnn import fuse_conv_bn
from mmengine.config import ConfigDict
from mmengine.device import get_max_cuda_memory
from mmengine.runner import load_checkpoint

from mmdet.registry import MODELS
from mmdet.utils.benchmark import (InferenceBenchmark, print_log,
                                   print_process_memory)


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
