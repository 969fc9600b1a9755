"""Side-by-side speed (and accuracy) of polar and mask-based models.

In one process and one run, on the same device, thread count and input
size, for PolarNeXt, PolarMask, SOLOv2, SparseInst, Mask R-CNN and Mask
R-CNN + PAFPN (same backbone depth):

1. **Inference**: ``model.test_step`` of a batch-1 image (preprocessing,
   forward and post-processing, as ``benchmark.py --task inference``),
   median over ``--repeats`` rounds after ``--warmup``; the models are timed
   round-robin so that background load hits all of them alike. Polar models
   get two rows: polygons only (``test_cfg.mask_output=False``, the papers'
   FPS protocol) and with the RLE masks that COCO evaluation needs;
   SparseInst likewise gets a boxes-only row (no full-resolution masks).
   Randomly initialised models detect nothing, so detections are forced
   (:func:`mmdet_ext.utils.benchmark.force_detections`): every model then
   post-processes about the same number of candidates and keeps up to
   ``max_per_img`` (100) detections, as a trained model on a crowded image.
2. **Training step**: forward, losses and backward of one image with
   synthetic polygon ground truth (``--num-gt`` objects), median time and
   peak memory (CUDA: ``max_memory_allocated``; CPU: parameters plus the
   peak of the tensors allocated during the step, from the profiler).
3. **Accuracy** (with ``--checkpoint NAME=PATH``): segm AP of the loaded
   models on their config's test set (``--data-root`` moves it), and the
   speed/accuracy plot (AP against FPS, polygons-only FPS as hollow
   markers).

Writes to ``--out-dir``: ``compare_models.md`` (command, environment and
the Markdown table, ratios to PolarNeXt), ``compare_models.png`` (ratio
chart), ``compare_models.json`` (all numbers) and, with checkpoints,
``speed_accuracy.png``.

Example::

    python tools/analysis_tools/compare_models.py --threads 2
    python tools/analysis_tools/compare_models.py --variant toy \\
        --checkpoint polarnext=work_dirs/quickstart/epoch_36.pth \\
        --data-root data/toy/
"""
import argparse
import copy
import json
import os
import os.path as osp
import platform
import shlex
import sys
import time
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple

# Only kineto's errors (the CPU memory profiler otherwise logs a failed GPU
# query on CPU-only machines).
os.environ.setdefault('KINETO_LOG_LEVEL', '5')

import numpy as np  # noqa: E402
import torch  # noqa: E402
from torch import nn  # noqa: E402

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))
import _bootstrap  # noqa: E402  (repo on sys.path, project registries)
import matplotlib  # noqa: E402

matplotlib.use('Agg')  # the tool writes files, no display needed
import matplotlib.pyplot as plt  # noqa: E402
import mmcv  # noqa: E402
import mmdet  # noqa: E402
from mmengine.config import Config  # noqa: E402
from mmengine.evaluator import Evaluator  # noqa: E402
from mmengine.logging import MMLogger  # noqa: E402
from mmengine.registry import init_default_scope  # noqa: E402
from mmengine.runner import Runner, load_checkpoint  # noqa: E402
from mmengine.utils import import_modules_from_strings  # noqa: E402
from torch.profiler import ProfilerActivity, profile  # noqa: E402

from mmdet_ext.utils import merge_cfg_options  # noqa: E402
from mmdet_ext.utils.benchmark import (StageTimer,  # noqa: E402
                                       build_model, contention_warning,
                                       force_detections, has_mask_output,
                                       load_average, markdown_table,
                                       mask_output, parse_size, raw_batch,
                                       synchronize, synthetic_gt)

REPO_ROOT = _bootstrap.REPO_ROOT
REFERENCE = 'polarnext'
DEFAULT_SIZES = dict(r50=(800, 1333), toy=(256, 320))


@dataclass(frozen=True)
class ModelSpec:
    """One compared method.

    Attributes:
        key (str): Command-line name (``--models``, ``--checkpoint``).
        name (str): Display name.
        configs (dict): Config path per variant (``r50``, ``toy``),
            relative to the repository.
        fast_label (str): What the row with ``mask_output=False`` returns.
    """
    key: str
    name: str
    configs: Dict[str, str]
    fast_label: str = 'polygons only'


MODEL_SPECS = (
    ModelSpec(
        'polarnext', 'PolarNeXt',
        dict(
            r50='projects/PolarNeXt/configs/'
            'polarnext_r50-torch_fpn_1x_coco.py',
            toy='projects/PolarNeXt/configs/polarnext_r18_fpn_toy-cpu.py')),
    ModelSpec(
        'polarmask', 'PolarMask',
        dict(
            r50='projects/PolarMask/configs/polarmask_r50_fpn_1x_coco.py',
            toy='projects/PolarMask/configs/polarmask_r18_fpn_toy-cpu.py')),
    ModelSpec(
        'solov2', 'SOLOv2',
        dict(
            r50='configs/solov2/solov2_r50_fpn_1x_coco.py',
            toy='configs/solov2/solov2_r18_fpn_toy-cpu.py')),
    ModelSpec(
        'sparseinst', 'SparseInst',
        dict(
            r50='projects/SparseInst/configs/'
            'sparseinst_r50_iam_8xb8-ms-270k_coco.py',
            toy='projects/SparseInst/configs/sparseinst_r18_iam_toy-cpu.py'),
        fast_label='boxes only'),
    ModelSpec(
        'mask-rcnn', 'Mask R-CNN',
        dict(
            r50='configs/mask_rcnn/mask-rcnn_r50_fpn_1x_coco.py',
            toy='configs/mask_rcnn/mask-rcnn_r18_fpn_toy-cpu.py')),
    ModelSpec(
        'mask-rcnn-pafpn', 'Mask R-CNN + PAFPN',
        dict(
            r50='configs/mask_rcnn_pafpn/mask-rcnn_r50_pafpn_1x_coco.py',
            toy='configs/mask_rcnn_pafpn/mask-rcnn_r18_pafpn_toy-cpu.py')),
    # PANet (projects/PANet): its ablation ladder on top of Mask R-CNN +
    # PAFPN, then the full model (GN, official recipe)
    ModelSpec(
        'panet-afp', 'Mask R-CNN + PAFPN + AFP',
        dict(
            r50='projects/PANet/configs/ablations/'
            'mask-rcnn_r50_pafpn_afp_1x_coco.py',
            toy='projects/PANet/configs/ablations/'
            'mask-rcnn_r18_pafpn_afp_toy-cpu.py')),
    ModelSpec(
        'panet-afp-ff', 'Mask R-CNN + PAFPN + AFP + FF',
        dict(
            r50='projects/PANet/configs/ablations/'
            'mask-rcnn_r50_pafpn_afp_ff_1x_coco.py',
            toy='projects/PANet/configs/ablations/'
            'mask-rcnn_r18_pafpn_afp_ff_toy-cpu.py')),
    ModelSpec(
        'panet-afp-ff-4conv1fc', 'Mask R-CNN + PAFPN + AFP + FF + 4conv1fc',
        dict(
            r50='projects/PANet/configs/ablations/'
            'mask-rcnn_r50_pafpn_afp_ff_4conv1fc_1x_coco.py',
            toy='projects/PANet/configs/ablations/'
            'mask-rcnn_r18_pafpn_afp_ff_4conv1fc_toy-cpu.py')),
    ModelSpec(
        'panet', 'PANet',
        dict(
            r50='projects/PANet/configs/panet_r50-caffe_pafpn-gn_1x_coco.py',
            toy='projects/PANet/configs/panet_r18_pafpn-gn_toy-cpu.py')),
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
        metrics (dict): Evaluation results (``segm_mAP`` ...).
        train (dict): Training step results (``ms``, ``memory_mb``).
    """
    spec: ModelSpec
    config: str
    cfg: Config
    model: nn.Module
    checkpoint: Optional[str] = None
    params: int = 0
    metrics: Dict[str, float] = field(default_factory=dict)
    train: Dict[str, float] = field(default_factory=dict)


@dataclass
class InferenceRow:
    """One row of the inference table.

    Attributes:
        label (str): Row label.
        entry (Entry): Its model.
        mask_mode (bool, optional): ``test_cfg.mask_output`` (None: not a
            polar model).
        detections (list[int]): Detections of every timed call.
        has_masks (bool): Whether the predictions carried masks.
    """
    label: str
    entry: Entry
    mask_mode: Optional[bool]
    detections: List[int] = field(default_factory=list)
    has_masks: bool = False

    @property
    def key(self) -> str:
        return f'{self.entry.spec.key}/{self.mask_mode}'


# ------------------------------------------------------------------ models
def parse_pairs(items: Optional[Sequence[str]], option: str) -> dict:
    """``['name=path', ...]`` -> ``{name: path}`` with known names."""
    pairs = {}
    for item in items or []:
        name, sep, path = item.partition('=')
        if not sep or not path:
            raise SystemExit(f'error: {option} expects NAME=PATH, got '
                             f'{item!r}')
        if name not in SPECS:
            raise SystemExit(f'error: {option}: unknown model {name!r}; '
                             f'choose from {", ".join(SPECS)}')
        pairs[name] = path
    return pairs


def load_model_config(path: str) -> Config:
    """Config with its ``custom_imports`` imported."""
    cfg = Config.fromfile(path)
    if cfg.get('custom_imports', None):
        import_modules_from_strings(**cfg.custom_imports)
    return cfg


def build_entries(args: argparse.Namespace, device: torch.device,
                  out) -> List[Entry]:
    """Build the requested models; a missing config (a method still being
    written) skips its row with a note."""
    configs = parse_pairs(args.config, '--config')
    checkpoints = parse_pairs(args.checkpoint, '--checkpoint')
    entries = []
    for key in args.models:
        spec = SPECS[key]
        path = configs.get(key, osp.join(REPO_ROOT,
                                         spec.configs[args.variant]))
        if not osp.isfile(path):
            out(f'note: {spec.name} skipped: config {osp.relpath(path)} '
                'not found')
            continue
        checkpoint = checkpoints.get(key)
        if checkpoint is not None and not osp.isfile(checkpoint):
            raise SystemExit(f'error: checkpoint not found: {checkpoint}')
        cfg = load_model_config(path)
        init_default_scope(cfg.get('default_scope', 'mmdet'))
        model = build_model(cfg.model, torch.device('cpu'))
        if checkpoint is not None:
            load_checkpoint(model, checkpoint, map_location='cpu')
        model = model.to(device).eval()
        entries.append(
            Entry(spec, osp.relpath(path, REPO_ROOT), cfg, model, checkpoint,
                  sum(p.numel() for p in model.parameters())))
    unused = set(checkpoints) - {e.spec.key for e in entries}
    if unused:
        raise SystemExit('error: --checkpoint for a model that is not '
                         f'compared: {", ".join(sorted(unused))}')
    return entries


# --------------------------------------------------------------- accuracy
def evaluate(entry: Entry, args: argparse.Namespace) -> Dict[str, float]:
    """COCO metrics of a loaded model on its config's test set.

    Polar heads evaluate with ``mask_output`` on (``CocoMetric`` needs the
    masks). ``--data-root`` moves the datasets and the evaluator, and
    ``--eval-max-images`` evaluates on the first N images only.
    """
    cfg = copy.deepcopy(entry.cfg)
    if args.data_root:
        merge_cfg_options(cfg, dict(data_root=args.data_root))
    loader_cfg = cfg.test_dataloader
    loader_cfg.num_workers = 0
    loader_cfg.persistent_workers = False
    loader_cfg.batch_size = 1
    if args.eval_max_images:
        loader_cfg.dataset.indices = args.eval_max_images
    loader = Runner.build_dataloader(loader_cfg)
    evaluator = Evaluator(cfg.test_evaluator)
    evaluator.dataset_meta = loader.dataset.metainfo
    polar = has_mask_output(entry.model)
    detections = 0
    with torch.no_grad(), mask_output(entry.model, True if polar else None):
        for batch in loader:
            outputs = entry.model.test_step(batch)
            detections += sum(len(o.pred_instances) for o in outputs)
            evaluator.process(outputs, batch)
    metrics = evaluator.evaluate(len(loader.dataset))
    metrics = {
        k.split('/')[-1]: float(v)
        for k, v in metrics.items() if isinstance(v, (int, float))
    }
    if detections == 0:
        # CocoMetric returns nothing for an empty result; no detection at
        # all is an AP of 0.
        metrics.setdefault('segm_mAP', 0.0)
    return metrics


# -------------------------------------------------------------- inference
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


def prepare_inference(entries: List[Entry], size: Tuple[int, int],
                      seed: int, candidates: int) -> dict:
    """The batch every model is timed on (on the model's device), after
    forcing its detections."""
    batch = raw_batch(size, seed)
    for entry in entries:
        if not needs_forced_detections(entry.model):
            continue
        with torch.no_grad():
            inputs = entry.model.data_preprocessor(batch, False)['inputs']
            force_detections(entry.model, inputs, candidates)
    return batch


def needs_forced_detections(model: nn.Module) -> bool:
    """Dense heads and two-stage models detect nothing with random
    weights. A query-based model (SparseInst's decoder) needs no forcing:
    from its prior initialisation every one of its N queries scores
    sqrt(0.01 * 0.5) > the official 0.005 threshold, so it post-processes
    all N masks, as a trained model does."""
    return not hasattr(model, 'decoder')


def time_row(row: InferenceRow, batch: dict, timer: StageTimer) -> None:
    """One timed ``test_step`` of a row."""
    model = row.entry.model
    with torch.no_grad(), mask_output(model, row.mask_mode):
        with timer(row.key):
            outputs = model.test_step(copy.deepcopy(batch))
    pred = outputs[0].pred_instances
    row.detections.append(len(pred))
    row.has_masks = 'masks' in pred


def run_inference(rows: List[InferenceRow], batch: dict, repeats: int,
                  warmup: int, device: torch.device) -> StageTimer:
    """Round-robin timing of all rows; warm-up rounds are discarded."""
    timer = StageTimer(device)
    for round_index in range(warmup + repeats):
        round_timer = timer if round_index >= warmup else StageTimer(device)
        for row in rows:
            time_row(row, batch, round_timer)
    return timer


# --------------------------------------------------------------- training
def train_batch(entry: Entry, size: Tuple[int, int], num_gt: int,
                seed: int) -> dict:
    """A raw training batch with synthetic polygon GT for the model's
    class count."""
    num_classes = model_num_classes(entry.model)
    gt = synthetic_gt(num_gt, size, num_classes, np.random.default_rng(seed))
    return raw_batch(size, seed, gt)


def model_num_classes(model: nn.Module) -> int:
    """Class count of a detector's (first) head that declares one."""
    for module in model.modules():
        if module is not model and isinstance(
                getattr(module, 'num_classes', None), int):
            return module.num_classes
    raise ValueError(f'{type(model).__name__} declares no num_classes')


def train_step(model: nn.Module, batch: dict) -> float:
    """Forward, losses and backward of one batch; returns the loss."""
    model.zero_grad(set_to_none=True)
    data = model.data_preprocessor(copy.deepcopy(batch), True)
    losses = model(**data, mode='loss')
    loss, _ = model.parse_losses(losses)
    loss.backward()
    return float(loss.detach())


def peak_memory_mb(model: nn.Module, batch: dict,
                   device: torch.device) -> float:
    """Peak memory of one training step in MB, gradients included.

    CUDA: ``max_memory_allocated``. CPU: parameters and buffers plus the
    highest running total of the tensor allocations and frees the profiler
    records during the step (gradients are freed before the step, so they
    are part of that total).
    """
    model.zero_grad(set_to_none=True)
    if device.type == 'cuda':
        torch.cuda.reset_peak_memory_stats(device)
        train_step(model, batch)
        synchronize(device)
        return torch.cuda.max_memory_allocated(device) / 2**20
    resident = sum(t.numel() * t.element_size()
                   for t in list(model.parameters()) + list(model.buffers()))
    with profile(activities=[ProfilerActivity.CPU],
                 profile_memory=True) as prof:
        train_step(model, batch)
    events = sorted((e.start_ns(), e.nbytes())
                    for e in prof.profiler.kineto_results.events()
                    if e.name() == '[memory]')
    running = peak = 0
    for _, nbytes in events:
        running += nbytes
        peak = max(peak, running)
    return (resident + peak) / 2**20


def run_training(entries: List[Entry], args: argparse.Namespace,
                 device: torch.device) -> None:
    """Time the training step of every model round-robin, then measure its
    peak memory (a separate, profiled step)."""
    batches = {}
    for entry in entries:
        entry.model.train()
        batches[entry.spec.key] = train_batch(entry, args.train_size,
                                              args.num_gt, args.seed)
    timer = StageTimer(device)
    for round_index in range(args.warmup + args.train_repeats):
        round_timer = timer if round_index >= args.warmup \
            else StageTimer(device)
        for entry in entries:
            with round_timer(entry.spec.key):
                train_step(entry.model, batches[entry.spec.key])
    for entry in entries:
        entry.train = dict(
            ms=timer.ms(entry.spec.key),
            memory_mb=peak_memory_mb(entry.model, batches[entry.spec.key],
                                     device))
        entry.model.zero_grad(set_to_none=True)
        entry.model.eval()


# ---------------------------------------------------------------- reports
def reference_row(rows: List[InferenceRow]) -> InferenceRow:
    """PolarNeXt with masks (the full pipeline), else the first row."""
    for row in rows:
        if row.entry.spec.key == REFERENCE and row.mask_mode is not False:
            return row
    return rows[0]


def results(rows: List[InferenceRow], timer: StageTimer) -> List[dict]:
    """Numbers of every row (ratios to the reference row)."""
    ref = reference_row(rows)
    ref_ms = timer.ms(ref.key)
    ref_train = ref.entry.train
    out = []
    for row in rows:
        ms = timer.ms(row.key)
        entry = row.entry
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
                inference_ms=ms,
                fps=1000 / ms,
                inference_ratio=ms / ref_ms,
                detections=sorted(set(row.detections)),
                has_masks=row.has_masks,
                train_ms=train.get('ms'),
                train_ratio=train['ms'] / ref_train['ms']
                if train and ref_train else None,
                train_memory_mb=train.get('memory_mb'),
                memory_ratio=train['memory_mb'] / ref_train['memory_mb']
                if train and ref_train else None,
                segm_mAP=entry.metrics.get('segm_mAP') if full else None,
                reference=row is ref))
    return out


def _cell(value, fmt: str) -> str:
    return '—' if value is None else format(value, fmt)


def table_markdown(numbers: List[dict]) -> str:
    """The comparison table (Markdown)."""
    ref = next(n['label'] for n in numbers if n['reference'])
    with_ap = any(n['segm_mAP'] is not None for n in numbers)
    headers = [
        'model', 'params (M)', 'inference (ms)', 'FPS',
        f'time / {ref}', 'detections', 'train step (ms)', f'/ {ref}',
        'train peak memory (MB)', f'/ {ref}'
    ] + (['segm AP'] if with_ap else [])
    rows = []
    for n in numbers:
        dets = '/'.join(str(d) for d in n['detections'])
        row = [
            n['label'],
            f'{n["params_m"]:.1f}', f'{n["inference_ms"]:.1f}',
            f'{n["fps"]:.2f}', f'{n["inference_ratio"]:.2f}x',
            dets + ('' if n['has_masks'] else ' (no masks)'),
            _cell(n['train_ms'], '.0f'),
            _cell(n['train_ratio'], '.2f') + ('x' if n['train_ratio']
                                              is not None else ''),
            _cell(n['train_memory_mb'], '.0f'),
            _cell(n['memory_ratio'], '.2f') + ('x' if n['memory_ratio']
                                               is not None else '')
        ]
        if with_ap:
            row.append(_cell(None if n['segm_mAP'] is None else
                             100 * n['segm_mAP'], '.1f'))
        rows.append(row)
    return markdown_table(headers, rows)


def environment(args: argparse.Namespace, device: torch.device) -> str:
    """Versions, device, threads, sizes and load of this run."""
    return (f'torch {torch.__version__}, mmcv {mmcv.__version__}, mmdet '
            f'{mmdet.__version__}, python {platform.python_version()}; '
            f'device {device}, {torch.get_num_threads()} thread(s), '
            f'{platform.machine()} x{os.cpu_count()} CPUs; inference '
            f'{args.size[0]}x{args.size[1]} (batch 1, median of '
            f'{args.repeats} after {args.warmup} warm-up), training '
            f'{args.train_size[0]}x{args.train_size[1]} with {args.num_gt} '
            f'synthetic GT objects (median of {args.train_repeats}); '
            f'{args.candidates} forced candidates; variant {args.variant}')


def report_markdown(numbers: List[dict], args: argparse.Namespace,
                    device: torch.device, loads: Tuple[str, str],
                    notes: List[str]) -> str:
    """The Markdown report: command, environment, table, notes."""
    command = 'python tools/analysis_tools/compare_models.py ' + ' '.join(
        shlex.quote(a) for a in args.argv)
    lines = [
        '# Model comparison', '', '```bash', command.strip(), '```', '',
        environment(args, device) + '.', '',
        f'Load average at the start: {loads[0]}; at the end: {loads[1]}.',
        '', table_markdown(numbers), ''
    ]
    lines += [f'- {note}' for note in notes]
    return '\n'.join(lines).rstrip() + '\n'


def ratio_chart(numbers: List[dict], path: str) -> None:
    """Horizontal grouped bars of the ratios to the reference model."""
    ref = next(n['label'] for n in numbers if n['reference'])
    series = (('inference_ratio', 'inference time'),
              ('train_ratio', 'training step time'),
              ('memory_ratio', 'training peak memory'))
    labels = [n['label'] for n in numbers]
    y = np.arange(len(numbers))
    height = 0.8 / len(series)
    fig, ax = plt.subplots(figsize=(8, 0.6 * len(numbers) + 1.5))
    for i, (key, name) in enumerate(series):
        values = [n[key] if n[key] is not None else 0.0 for n in numbers]
        bars = ax.barh(y + (i - 1) * height, values, height, label=name)
        for bar, value, n in zip(bars, values, numbers):
            if n[key] is not None:
                ax.text(bar.get_width(), bar.get_y() + bar.get_height() / 2,
                        f' {value:.2f}', va='center', fontsize=7)
    ax.axvline(1.0, color='k', linewidth=0.8)
    ax.set_yticks(y)
    ax.set_yticklabels(labels)
    ax.invert_yaxis()
    ax.set_xlabel(f'ratio to {ref} (lower is better)')
    ax.legend(loc='upper center', bbox_to_anchor=(0.5, -0.1), ncol=3,
              fontsize=8)
    ax.set_title('Speed and memory relative to ' + ref)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def speed_accuracy_plot(numbers: List[dict], path: str,
                        xlabel: str) -> int:
    """AP against FPS; polar models also show their polygons-only FPS
    (hollow marker, dashed link). Returns the number of models drawn."""
    fig, ax = plt.subplots(figsize=(7, 5))
    drawn = 0
    for n in numbers:
        if n['segm_mAP'] is None:
            continue
        ap = 100 * n['segm_mAP']
        color = f'C{drawn}'
        ax.scatter(n['fps'], ap, s=60, color=color, zorder=3)
        ax.annotate(n['label'], (n['fps'], ap), textcoords='offset points',
                    xytext=(6, 4), fontsize=8)
        fast = next((m for m in numbers if m['model'] == n['model']
                     and m['mask_output'] is False), None)
        if fast is not None:
            ax.scatter(fast['fps'], ap, s=60, facecolors='none',
                       edgecolors=color, zorder=3)
            ax.plot([n['fps'], fast['fps']], [ap, ap], '--', color=color,
                    linewidth=0.8)
        drawn += 1
    ax.set_xlabel(xlabel)
    ax.set_ylabel('mask AP')
    ax.set_title('Speed / accuracy (hollow: polygons only, no mask '
                 'generation)')
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return drawn


# ------------------------------------------------------------------- main
def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Compare PolarNeXt, PolarMask, SOLOv2, SparseInst, Mask '
        'R-CNN and Mask R-CNN + PAFPN in one run: inference and training-step '
        'time, training memory and (with checkpoints) segm AP')
    parser.add_argument(
        '--models',
        nargs='+',
        choices=list(SPECS),
        default=list(SPECS),
        help='models to compare (default: all)')
    parser.add_argument(
        '--variant',
        choices=['r50', 'toy'],
        default='r50',
        help='r50: the COCO R-50 configs; toy: the tiny R-18 CPU configs')
    parser.add_argument(
        '--config',
        nargs='+',
        metavar='NAME=PATH',
        help='replace the config of a model, e.g. polarnext=my_cfg.py')
    parser.add_argument(
        '--checkpoint',
        nargs='+',
        metavar='NAME=PATH',
        help='weights of a model; its segm AP is evaluated and the speed/'
        'accuracy plot drawn')
    parser.add_argument(
        '--data-root',
        help='dataset root for the evaluation (moves datasets and '
        'evaluator, as --cfg-options data_root=...)')
    parser.add_argument(
        '--eval-max-images',
        type=int,
        default=None,
        help='evaluate on the first N test images only')
    parser.add_argument(
        '--size',
        type=parse_size,
        default=None,
        help='inference size HxW (default 800x1333 for r50, 256x320 for '
        'toy)')
    parser.add_argument(
        '--train-size',
        type=parse_size,
        default=None,
        help='training image size HxW (default: --size)')
    parser.add_argument(
        '--device',
        default='cuda' if torch.cuda.is_available() else 'cpu',
        help='device (default: cuda if available, else cpu)')
    parser.add_argument(
        '--threads', type=int, default=2, help='torch threads on CPU')
    parser.add_argument(
        '--repeats', type=int, default=3, help='timed inference rounds')
    parser.add_argument(
        '--train-repeats', type=int, default=2, help='timed training steps')
    parser.add_argument(
        '--warmup', type=int, default=1, help='untimed rounds')
    parser.add_argument(
        '--candidates',
        type=int,
        default=1000,
        help='locations forced above the score threshold (dense heads)')
    parser.add_argument(
        '--num-gt',
        type=int,
        default=15,
        help='synthetic GT objects of the training image')
    parser.add_argument(
        '--no-train',
        action='store_true',
        help='skip the training step and memory columns')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument(
        '--out-dir',
        default='work_dirs/compare_models',
        help='where the .md, .png and .json files go')
    args = parser.parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)
    if args.size is None:
        args.size = DEFAULT_SIZES[args.variant]
    if args.train_size is None:
        args.train_size = args.size
    if min(args.repeats, args.train_repeats, args.candidates,
           args.num_gt) < 1 or args.warmup < 0 or args.threads < 1:
        parser.error('--repeats, --train-repeats, --candidates, --num-gt, '
                     '--threads must be >= 1 and --warmup >= 0')
    if args.eval_max_images is not None and args.eval_max_images < 1:
        parser.error('--eval-max-images must be >= 1')
    return args


def main(argv: Optional[Sequence[str]] = None, out=print) -> List[dict]:
    """Run the comparison, write the reports; returns the table rows."""
    args = parse_args(argv)
    device = torch.device(args.device)
    if device.type == 'cpu':
        torch.set_num_threads(args.threads)
    # The newest logger is mmengine's "current" one: this silences the
    # per-parameter init_weights report.
    if not MMLogger.check_instance_created('compare_models'):
        MMLogger.get_instance('compare_models', log_level='WARNING')
    torch.manual_seed(args.seed)
    load_start = load_average()
    notes: List[str] = []
    entries = build_entries(args, device, lambda note: (out(note),
                                                        notes.append(note)))
    if not entries:
        raise SystemExit('error: no model to compare')
    out(environment(args, device))
    warning = contention_warning(device)
    if warning:
        out(warning)
        notes.append(warning.strip())
    evaluated = [e for e in entries if e.checkpoint]
    for entry in evaluated:
        start = time.perf_counter()
        entry.metrics = evaluate(entry, args)
        out(f'{entry.spec.name}: segm AP '
            f'{100 * entry.metrics.get("segm_mAP", float("nan")):.1f} '
            f'({time.perf_counter() - start:.0f} s)')
    if not args.no_train:
        start = time.perf_counter()
        run_training(entries, args, device)
        out(f'training steps and memory measured '
            f'({time.perf_counter() - start:.0f} s)')
    rows = inference_rows(entries)
    batch = prepare_inference(entries, args.size, args.seed,
                              args.candidates)
    start = time.perf_counter()
    timer = run_inference(rows, batch, args.repeats, args.warmup, device)
    out(f'inference timed ({time.perf_counter() - start:.0f} s)')
    numbers = results(rows, timer)
    short = [n['label'] for n in numbers if min(n['detections']) < 100]
    if short:
        notes.append('fewer than 100 detections: ' + ', '.join(short))
    os.makedirs(args.out_dir, exist_ok=True)
    report = report_markdown(numbers, args, device,
                             (load_start, load_average()), notes)
    paths = dict(
        md=osp.join(args.out_dir, 'compare_models.md'),
        png=osp.join(args.out_dir, 'compare_models.png'),
        json=osp.join(args.out_dir, 'compare_models.json'))
    with open(paths['md'], 'w') as f:
        f.write(report)
    with open(paths['json'], 'w') as f:
        json.dump(dict(environment=environment(args, device),
                       rows=numbers), f, indent=1)
    if not args.no_train:
        ratio_chart(numbers, paths['png'])
    else:
        ratio_chart([dict(n, train_ratio=None, memory_ratio=None)
                     for n in numbers], paths['png'])
    if evaluated:
        paths['plot'] = osp.join(args.out_dir, 'speed_accuracy.png')
        speed_accuracy_plot(
            numbers, paths['plot'],
            f'FPS at {args.size[0]}x{args.size[1]} ({device}, '
            f'{torch.get_num_threads()} thread(s))')
    out('')
    out(report)
    out('written: ' + ', '.join(paths.values()))
    return numbers


if __name__ == '__main__':
    main()
