"""Side-by-side comparison of polar, box and mask-based detectors.

The compared methods (:data:`MODEL_SPECS`: their COCO R-50 and tiny CPU
configs), how a model is built from them (FCOS on PolarNeXt's backbone and
neck included) and evaluated (``Runner.test``), and what is timed on it: the
whole ``test_step`` and, for single-stage heads, the forward and the
post-processing apart, with the GMACs of the forward. The timing loop,
memory and tables are the tool's (``tools/analysis_tools/compare_models.py``
with ``tools/_benchmark.py``).
"""
import copy
import os.path as osp
import tempfile
from dataclasses import dataclass, field
from functools import partial
from typing import Callable, Dict, List, Mapping, Optional, Tuple

import torch
import torch.nn as nn
from mmengine.analysis import get_model_complexity_info
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmengine.runner import load_checkpoint

from mmdet_ext.engine import build_runner
from .benchmark import build_model, has_mask_output, mask_output
from .config_utils import merge_cfg_options
from .forced_detections import (dense_head, force_detections,
                                needs_forced_detections)

REFERENCE = 'polarnext'
POLARNEXT = 'projects/PolarNeXt/configs/polarnext_'
PANET = 'projects/PANet/configs/'
LADDER = PANET + 'ablations/mask-rcnn_'


@dataclass(frozen=True)
class ModelSpec:
    """One compared method.

    Attributes:
        key (str): Command-line name (``--models``, ``--checkpoint``).
        name (str): Display name.
        r50 (str): Config of the COCO R-50 variant, relative to the
            repository.
        toy (str): Config of the tiny R-18 CPU variant.
        fast_label (str): What the row with ``mask_output=False`` returns.
        fcos_head (bool): Replace the config's head by an FCOS head of the
            same width (FCOS with the config's backbone and neck).
    """
    key: str
    name: str
    r50: str
    toy: str
    fast_label: str = 'polygons only'
    fcos_head: bool = False


MODEL_SPECS = (
    ModelSpec('polarnext', 'PolarNeXt', POLARNEXT + 'r50-torch_fpn_1x_coco.py',
              POLARNEXT + 'r18_fpn_toy-cpu.py'),
    ModelSpec('polarmask', 'PolarMask',
              'projects/PolarMask/configs/polarmask_r50_fpn_1x_coco.py',
              'projects/PolarMask/configs/polarmask_r18_fpn_toy-cpu.py'),
    # Boxes only: what PolarNeXt's polygons cost over FCOS on the same
    # backbone, neck and tower width.
    ModelSpec('fcos', 'FCOS (PolarNeXt backbone)',
              POLARNEXT + 'r50-torch_fpn_1x_coco.py',
              POLARNEXT + 'r18_fpn_toy-cpu.py', fcos_head=True),
    ModelSpec('solov2', 'SOLOv2', 'configs/solov2/solov2_r50_fpn_1x_coco.py',
              'configs/solov2/solov2_r18_fpn_toy-cpu.py'),
    ModelSpec('sparseinst', 'SparseInst', 'projects/SparseInst/configs/'
              'sparseinst_r50_iam_8xb8-ms-270k_coco.py',
              'projects/SparseInst/configs/sparseinst_r18_iam_toy-cpu.py',
              fast_label='boxes only'),
    ModelSpec('mask-rcnn', 'Mask R-CNN',
              'configs/mask_rcnn/mask-rcnn_r50_fpn_1x_coco.py',
              'configs/mask_rcnn/mask-rcnn_r18_fpn_toy-cpu.py'),
    ModelSpec('mask-rcnn-pafpn', 'Mask R-CNN + PAFPN',
              'configs/mask_rcnn_pafpn/mask-rcnn_r50_pafpn_1x_coco.py',
              'configs/mask_rcnn_pafpn/mask-rcnn_r18_pafpn_toy-cpu.py'),
    # PANet (projects/PANet): its ablation ladder on top of Mask R-CNN +
    # PAFPN, then the full model (GN, official recipe)
    ModelSpec('panet-afp', 'Mask R-CNN + PAFPN + AFP',
              LADDER + 'r50_pafpn_afp_1x_coco.py',
              LADDER + 'r18_pafpn_afp_toy-cpu.py'),
    ModelSpec('panet-afp-ff', 'Mask R-CNN + PAFPN + AFP + FF',
              LADDER + 'r50_pafpn_afp_ff_1x_coco.py',
              LADDER + 'r18_pafpn_afp_ff_toy-cpu.py'),
    ModelSpec('panet-afp-ff-4conv1fc',
              'Mask R-CNN + PAFPN + AFP + FF + 4conv1fc',
              LADDER + 'r50_pafpn_afp_ff_4conv1fc_1x_coco.py',
              LADDER + 'r18_pafpn_afp_ff_4conv1fc_toy-cpu.py'),
    ModelSpec('panet', 'PANet', PANET + 'panet_r50-caffe_pafpn-gn_1x_coco.py',
              PANET + 'panet_r18_pafpn-gn_toy-cpu.py'),
)
SPECS = {spec.key: spec for spec in MODEL_SPECS}


@dataclass
class Entry:
    """A built model and everything measured on it.

    Attributes:
        spec (ModelSpec): Which method.
        config (str): Config path.
        cfg (Config): The loaded config.
        model (nn.Module): The detector.
        checkpoint (str, optional): Loaded weights.
        params (int): Number of parameters.
        gmacs (float): Multiply-accumulates of the forward, in billions.
        metrics (dict): Test metrics of ``Runner.test`` (checkpoint only).
        train (dict): Training step results (``ms``, ``memory_mb``,
            ``breakdown`` {scope: ms}).
    """
    spec: ModelSpec
    config: str
    cfg: Config
    model: nn.Module
    checkpoint: Optional[str] = None
    params: int = 0
    gmacs: float = float('nan')
    metrics: Dict[str, float] = field(default_factory=dict)
    train: dict = field(default_factory=dict)


@dataclass
class InferenceRow:
    """One row of the inference table.

    Attributes:
        label (str): Row label.
        entry (Entry): Its model.
        mask_mode (bool, optional): ``test_cfg.mask_output`` (None: not a
            polar model).
    """
    label: str
    entry: Entry
    mask_mode: Optional[bool]

    @property
    def key(self) -> str:
        return f'{self.entry.spec.key}/{self.mask_mode}'


def build_entry(spec: ModelSpec, config: str, checkpoint: Optional[str],
                device: torch.device, root: str = '.') -> Entry:
    """Build the model of ``spec`` from ``config`` (FCOS head swapped in if
    the spec asks), load ``checkpoint`` if given, in eval mode on
    ``device``; ``Entry.config`` is relative to ``root``."""
    cfg = Config.fromfile(config)  # imports the config's custom_imports
    if spec.fcos_head:
        cfg = with_fcos_head(cfg)
    init_default_scope(cfg.get('default_scope', 'mmdet'))
    model = build_model(cfg.model, torch.device('cpu'))
    if checkpoint is not None:
        load_checkpoint(model, checkpoint, map_location='cpu')
    model = model.to(device).eval()
    return Entry(spec, osp.relpath(config, root), cfg, model, checkpoint,
                 sum(p.numel() for p in model.parameters()))


def evaluate(entry: Entry, data_root: Optional[str],
             max_images: Optional[int]) -> Dict[str, float]:
    """Test metrics of ``entry.checkpoint`` through mmengine's
    ``Runner.test`` on the config's test dataloader and evaluator.

    Args:
        entry (Entry): A model with a checkpoint.
        data_root (str, optional): Moves the datasets and the evaluator
            (as ``--cfg-options data_root=...``).
        max_images (int, optional): Test on the first N images only.

    Returns:
        dict[str, float]: The metrics (``coco/segm_mAP`` ...).
    """
    cfg = copy.deepcopy(entry.cfg)
    merge_cfg_options(cfg, dict(data_root=data_root) if data_root else None)
    cfg.load_from = entry.checkpoint
    cfg.log_level = 'WARNING'
    if max_images:
        cfg.test_dataloader.dataset.indices = max_images
    # One pass: persistent workers would outlive the runner, and joining
    # them when the loader is collected took 10 s (5 s per worker).
    cfg.test_dataloader.persistent_workers = False
    with tempfile.TemporaryDirectory() as work_dir:
        cfg.work_dir = work_dir
        metrics = build_runner(cfg).test()
    # CocoMetric returns nothing when no image has a detection: AP 0.
    metrics.setdefault('coco/segm_mAP', 0.0)
    return metrics


def inference_rows(entries: List[Entry]) -> List[InferenceRow]:
    """Two rows (polygons only, with masks) per polar model, one per
    other model."""
    rows = []
    for entry in entries:
        if has_mask_output(entry.model):
            rows.append(
                InferenceRow(f'{entry.spec.name} ({entry.spec.fast_label})',
                             entry, False))
            rows.append(InferenceRow(entry.spec.name, entry, True))
        else:
            rows.append(InferenceRow(entry.spec.name, entry, None))
    return rows


def prepare_inference(entries: List[Entry], batch: dict, candidates: int,
                      note: Callable[[str], None]) -> None:
    """Force the detections of every model on ``batch`` and count the
    GMACs of its forward (nan, with a note, if it cannot be traced)."""
    for entry in entries:
        with torch.no_grad():
            data = entry.model.data_preprocessor(copy.deepcopy(batch), False)
            if needs_forced_detections(entry.model):
                force_detections(entry.model, data['inputs'], candidates)
        try:
            entry.gmacs = forward_gmacs(entry.model, data)
        # Tracing fails in model-specific ways (e.g. torch.sym_max on a
        # traced size); the count is optional, the timings are not.
        except Exception as err:  # noqa: BLE001
            note(f'GMACs of {entry.spec.name} not counted: the forward '
                 f'cannot be traced ({type(err).__name__})')


def timed_cases(rows: List[InferenceRow],
                batch: dict) -> Dict[str, Callable[[], object]]:
    """What is timed, by name: ``<row>/full`` for every row and, for
    single-stage heads, ``<model>/forward`` (one per model) and
    ``<row>/post`` (see :func:`inference_cases`)."""
    cases = {}
    for row in rows:
        parts = inference_cases(row.entry.model, row.mask_mode, batch)
        for part, case in parts.items():
            name = row.entry.spec.key if part == 'forward' else row.key
            cases[f'{name}/{part}'] = case
    return cases


def reference_row(rows: List[InferenceRow]) -> InferenceRow:
    """PolarNeXt with masks (the full pipeline), else the first row."""
    for row in rows:
        if row.entry.spec.key == REFERENCE and row.mask_mode is not False:
            return row
    return rows[0]


def _ratio(value: Optional[float], ref: Optional[float]) -> Optional[float]:
    return None if value is None or not ref else value / ref


def _or_none(value: float) -> Optional[float]:
    return None if value != value else value


def results(rows: List[InferenceRow], ms: Callable[[str], float],
            outputs: Mapping[str, Tuple[int, bool]]) -> List[dict]:
    """Numbers of every row, with ratios to the reference row.

    Args:
        rows (list[InferenceRow]): The rows, their entries measured.
        ms (Callable): Median milliseconds of a timed case by name (nan if
            the case was not timed).
        outputs (Mapping): What each ``<row>/full`` case returned
            (detections, whether with masks).

    Returns:
        list[dict]: One dict of numbers per row.
    """
    ref = reference_row(rows)
    ref_ms = ms(f'{ref.key}/full')
    ref_train = ref.entry.train
    out = []
    for row in rows:
        entry = row.entry
        row_ms = ms(f'{row.key}/full')
        detections, has_masks = outputs[f'{row.key}/full']
        full = row.mask_mode is not False
        train = entry.train if full else {}
        out.append(
            dict(
                label=row.label,
                model=entry.spec.key,
                config=entry.config,
                checkpoint=entry.checkpoint,
                mask_output=row.mask_mode,
                params_m=entry.params / 1e6,
                gmacs=entry.gmacs,
                inference_ms=row_ms,
                forward_ms=_or_none(ms(f'{entry.spec.key}/forward')),
                post_ms=_or_none(ms(f'{row.key}/post')),
                fps=1000 / row_ms,
                inference_ratio=row_ms / ref_ms,
                detections=detections,
                has_masks=has_masks,
                train_ms=train.get('ms'),
                train_ratio=_ratio(train.get('ms'), ref_train.get('ms')),
                train_memory_mb=train.get('memory_mb'),
                memory_ratio=_ratio(
                    train.get('memory_mb'), ref_train.get('memory_mb')),
                train_breakdown=train.get('breakdown'),
                segm_mAP=entry.metrics.get('coco/segm_mAP')
                if full else None,
                reference=row is ref))
    return out


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
        batch (dict): Raw batch (:func:`.forced_detections.raw_batch`).

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
    # Fresh lists per call: SOLOv2's predict_by_feat permutes its per-level
    # lists in place, so a reused list is permuted again on the next call.
    outs = [list(out) if isinstance(out, list) else out for out in outs]
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
