"""Inference benchmark that runs on CPU as well as CUDA.

MMDetection's ``InferenceBenchmark`` moves the model with ``.cuda()``, synchronises with
``torch.cuda.synchronize()`` and reports CUDA memory, so ``benchmark.py --task inference``
fails on a CPU machine. This subclass follows the chosen device: CUDA when present (as
upstream), otherwise the CPU, where it reports peak resident memory instead.
"""
import time
from typing import List, Optional

import torch
import torch.nn as nn
from mmcv.cnn import fuse_conv_bn
from mmengine.device import get_max_cuda_memory
from mmengine.runner import load_checkpoint

from mmdet.registry import MODELS
from mmdet.utils.benchmark import (InferenceBenchmark, print_log,
                                   print_process_memory)


def default_device() -> torch.device:
    """CUDA when available, else the CPU."""
    return torch.device('cuda' if torch.cuda.is_available() else 'cpu')


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
                 logger=None):
        self.device = torch.device(device) if device else default_device()
        if num_threads and self.device.type == 'cpu':
            torch.set_num_threads(num_threads)
        super().__init__(cfg, checkpoint, False, is_fuse_conv_bn, max_iter,
                         log_interval, num_warmup, logger)

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

    def run_once(self) -> dict:
        """Time ``max_iter`` images after ``num_warmup`` untimed ones."""
        pure_inf_time = 0.
        fps = 0.
        for i, data in enumerate(self.data_loader):
            self._synchronize()
            start_time = time.perf_counter()
            with torch.no_grad():
                self.model.test_step(data)
            self._synchronize()
            elapsed = time.perf_counter() - start_time
            if i >= self.num_warmup:
                pure_inf_time += elapsed
                done = i + 1 - self.num_warmup
                fps = done / pure_inf_time
                if (i + 1) % self.log_interval == 0:
                    print_log(
                        f'Done image [{i + 1:<3}/{self.max_iter}], '
                        f'fps: {fps:.2f} img/s, times per image: '
                        f'{1000 / fps:.1f} ms/img, {self._memory_message()}',
                        self.logger)
            if i + 1 == self.max_iter:
                break
        if pure_inf_time == 0:
            raise RuntimeError(
                f'no image was timed: the test set has fewer than '
                f'num_warmup + 1 = {self.num_warmup + 1} images')
        return {'fps': fps}

    def average_multiple_runs(self, results: List[dict]) -> dict:
        fps_list = [round(result['fps'], 2) for result in results]
        avg_fps = sum(fps_list) / len(fps_list)
        print_log('============== Done ==================', self.logger)
        print_log(
            f'Overall fps: {fps_list}[{avg_fps:.2f}] img/s, times per image: '
            f'{1000 / avg_fps:.1f} ms/img on {self.device}', self.logger)
        print_log(self._memory_message(), self.logger)
        print_process_memory(self._process, self.logger)
        return {'avg_fps': avg_fps, 'fps_list': fps_list,
                'device': str(self.device)}
