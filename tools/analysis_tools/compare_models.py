"""Side-by-side speed (and accuracy) of polar, box and mask-based models.

In one process and one run, on the same device, thread count and input
size, for PolarNeXt, PolarMask, FCOS on PolarNeXt's backbone and neck,
SOLOv2, SparseInst, Mask R-CNN (+ PAFPN) and the PANet ladder:

1. **Inference** per batch-1 image, models timed round-robin (median of
   ``--repeats`` after ``--warmup``): ``model.test_step`` (preprocessing,
   forward and post-processing, as ``benchmark.py --task inference``) and,
   for single-stage heads, the forward (backbone + neck + head) and the
   post-processing (``predict_by_feat``) alone; GMACs of the forward from
   mmengine's ``get_model_complexity_info``. Polar models get two rows:
   polygons only (``test_cfg.mask_output=False``, the papers' FPS protocol)
   and with the RLE masks that COCO evaluation needs; SparseInst likewise
   gets a boxes-only row. Randomly initialised models detect nothing, so
   detections are forced (:func:`mmdet_ext.utils.benchmark.force_detections`):
   every model then post-processes about the same number of candidates and
   keeps up to ``max_per_img`` (100) detections.
2. **Training step**: forward, losses and backward of one image with
   synthetic polygon ground truth (``--num-gt`` objects), median time; its
   peak memory (parameters plus the step's extra peak, see
   ``_benchmark.peak_memory_bytes``); and one profiled step whose
   ``torch.profiler.record_function`` scopes (backbone, neck, heads, and
   inside ``PolarTargetBuilder.build`` and ``PolarNeXtHead.loss_by_feat``)
   give the breakdown of the very code that trains.
3. **Accuracy** (with ``--checkpoint NAME=PATH``): segm AP of the loaded
   models on their config's test set through mmengine's ``Runner.test``
   (``--data-root`` moves it), and the speed/accuracy plot.

Writes to ``--out-dir``: ``compare_models.md`` (command, environment,
tables), ``compare_models.png`` (ratio chart), ``compare_models.json`` (all
numbers) and, with checkpoints, ``speed_accuracy.png``.

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
import shlex
import sys
import tempfile
import time
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional, Sequence

import numpy as np
import torch
from torch import nn

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))
import _benchmark  # noqa: E402  (timing, memory, tables)
import _bootstrap  # noqa: E402  (repo on sys.path, project registries)
import matplotlib  # noqa: E402

matplotlib.use('Agg')  # the tool writes files, no display needed
import matplotlib.pyplot as plt  # noqa: E402
from mmengine.config import Config  # noqa: E402
from mmengine.logging import MMLogger  # noqa: E402
from mmengine.registry import init_default_scope  # noqa: E402
from mmengine.runner import load_checkpoint  # noqa: E402

from mmdet_ext.utils import merge_cfg_options  # noqa: E402
from mmdet_ext.utils.benchmark import (build_model,  # noqa: E402
                                       force_detections, forward_gmacs,
                                       has_mask_output, inference_cases,
                                       needs_forced_detections, raw_batch,
                                       with_fcos_head)
from mmdet_ext.utils.train_step_profile import (  # noqa: E402
    scope_rank, synthetic_train_batch, train_step, training_breakdown)

REPO_ROOT = _bootstrap.REPO_ROOT
REFERENCE = 'polarnext'
DEFAULT_SIZES = dict(r50=(800, 1333), toy=(256, 320))
POLARNEXT = 'projects/PolarNeXt/configs/polarnext_'
PANET = 'projects/PANet/configs/'
LADDER = PANET + 'ablations/mask-rcnn_'


@dataclass(frozen=True)
class ModelSpec:
    """One compared method.

    Attributes:
        key (str): Command-line name (``--models``, ``--checkpoint``).
        name (str): Display name.
        r50 (str): Config of ``--variant r50``, relative to the repository.
        toy (str): Config of ``--variant toy`` (tiny R-18 CPU config).
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


def build_entries(args: argparse.Namespace, device: torch.device,
                  out: Callable[[str], None]) -> List[Entry]:
    """Build the requested models; a missing config (a method still being
    written) skips its row with a note."""
    configs = parse_pairs(args.config, '--config')
    checkpoints = parse_pairs(args.checkpoint, '--checkpoint')
    entries = []
    for key in args.models:
        spec = SPECS[key]
        path = configs.get(
            key, osp.join(REPO_ROOT, getattr(spec, args.variant)))
        if not osp.isfile(path):
            out(f'note: {spec.name} skipped: config {osp.relpath(path)} '
                'not found')
            continue
        checkpoint = checkpoints.get(key)
        if checkpoint is not None and not osp.isfile(checkpoint):
            raise SystemExit(f'error: checkpoint not found: {checkpoint}')
        cfg = Config.fromfile(path)  # imports the config's custom_imports
        if spec.fcos_head:
            cfg = with_fcos_head(cfg)
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
    with tempfile.TemporaryDirectory() as work_dir:
        cfg.work_dir = work_dir
        metrics = _bootstrap.build_runner(cfg).test()
    # CocoMetric returns nothing when no image has a detection: AP 0.
    metrics.setdefault('coco/segm_mAP', 0.0)
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
    ``<row>/post`` (see :func:`mmdet_ext.utils.benchmark.inference_cases`)."""
    cases = {}
    for row in rows:
        parts = inference_cases(row.entry.model, row.mask_mode, batch)
        for part, case in parts.items():
            name = row.entry.spec.key if part == 'forward' else row.key
            cases[f'{name}/{part}'] = case
    return cases


# --------------------------------------------------------------- training
def run_training(entries: List[Entry], args: argparse.Namespace,
                 device: torch.device) -> None:
    """Time the training step of every model round-robin, then measure its
    peak memory and its profiled breakdown (separate steps)."""
    batches, cases = {}, {}
    for entry in entries:
        entry.model.train()
        batch = synthetic_train_batch(entry.model, args.train_size,
                                      args.num_gt, args.seed)
        batches[entry.spec.key] = batch
        cases[entry.spec.key] = (
            lambda m=entry.model, b=batch: train_step(m, b))
    timings = _benchmark.time_round_robin(cases, args.train_repeats,
                                          args.warmup, device)
    for entry in entries:
        key, model = entry.spec.key, entry.model
        resident = sum(t.numel() * t.element_size()
                       for t in [*model.parameters(), *model.buffers()])
        extra = _benchmark.peak_memory_bytes(cases[key], device)
        entry.train = dict(
            ms=timings.ms(key),
            memory_mb=None if extra is None else (resident + extra) / 2**20,
            breakdown=training_breakdown(model, batches[key], device))
        model.zero_grad(set_to_none=True)
        model.eval()


# ---------------------------------------------------------------- reports
def reference_row(rows: List[InferenceRow]) -> InferenceRow:
    """PolarNeXt with masks (the full pipeline), else the first row."""
    for row in rows:
        if row.entry.spec.key == REFERENCE and row.mask_mode is not False:
            return row
    return rows[0]


def _ratio(value: Optional[float], ref: Optional[float]) -> Optional[float]:
    return None if value is None or not ref else value / ref


def results(rows: List[InferenceRow],
            timings: _benchmark.Timings) -> List[dict]:
    """Numbers of every row (ratios to the reference row)."""
    ref = reference_row(rows)
    ref_ms = timings.ms(f'{ref.key}/full')
    ref_train = ref.entry.train
    out = []
    for row in rows:
        entry = row.entry
        ms = timings.ms(f'{row.key}/full')
        detections, has_masks = timings.outputs[f'{row.key}/full']
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
                inference_ms=ms,
                forward_ms=_or_none(
                    timings.ms(f'{entry.spec.key}/forward')),
                post_ms=_or_none(timings.ms(f'{row.key}/post')),
                fps=1000 / ms,
                inference_ratio=ms / ref_ms,
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


def _or_none(value: float) -> Optional[float]:
    return None if value != value else value


def table_markdown(numbers: List[dict]) -> str:
    """The comparison table (Markdown)."""
    ref = next(n['label'] for n in numbers if n['reference'])
    with_ap = any(n['segm_mAP'] is not None for n in numbers)
    headers = [
        'model', 'params (M)', 'GMACs', 'inference (ms)', 'forward (ms)',
        'post (ms)', 'FPS', f'time / {ref}', 'detections',
        'train step (ms)', f'/ {ref}', 'train peak memory (MB)', f'/ {ref}'
    ] + (['segm AP'] if with_ap else [])
    rows = []
    for n in numbers:
        row = [
            n['label'],
            f'{n["params_m"]:.1f}', _benchmark.fmt_value(n['gmacs'], '.1f'),
            f'{n["inference_ms"]:.1f}',
            _benchmark.fmt_ms(n['forward_ms']),
            _benchmark.fmt_ms(n['post_ms']), f'{n["fps"]:.2f}',
            _benchmark.fmt_ratio(n['inference_ratio']),
            f'{n["detections"]}' + ('' if n['has_masks'] else ' (no masks)'),
            _benchmark.fmt_value(n['train_ms'], '.0f'),
            _benchmark.fmt_ratio(n['train_ratio']),
            _benchmark.fmt_value(n['train_memory_mb'], '.0f'),
            _benchmark.fmt_ratio(n['memory_ratio'])
        ]
        if with_ap:
            row.append(_benchmark.fmt_value(None if n['segm_mAP'] is None else
                             100 * n['segm_mAP'], '.1f'))
        rows.append(row)
    return _benchmark.format_table(headers, rows, markdown=True)


def breakdown_markdown(numbers: List[dict]) -> str:
    """Training step breakdown (ms per profiler scope, one column per
    model); ``—`` where a model has no such scope."""
    columns = [n for n in numbers if n['train_breakdown']]
    scopes: List[str] = []
    for n in columns:
        scopes += [k for k in n['train_breakdown'] if k not in scopes]
    scopes.sort(key=scope_rank)  # stable: module forwards in model order
    rows = [[scope] + [
        _benchmark.fmt_ms(n['train_breakdown'].get(scope)) for n in columns
    ] for scope in scopes]
    return _benchmark.format_table(['scope (ms)'] +
                                   [n['label'] for n in columns],
                                   rows,
                                   markdown=True)


def settings(args: argparse.Namespace) -> str:
    """Sizes, repeats and candidates of this run."""
    return (f'inference {args.size[0]}x{args.size[1]} (batch 1, median of '
            f'{args.repeats} after {args.warmup} warm-up), training '
            f'{args.train_size[0]}x{args.train_size[1]} with {args.num_gt} '
            f'synthetic GT objects (median of {args.train_repeats}); '
            f'{args.candidates} forced candidates; variant {args.variant}')


def report_markdown(numbers: List[dict], args: argparse.Namespace,
                    header: str, load_end: str, notes: List[str]) -> str:
    """The Markdown report: command, environment, tables, notes."""
    command = 'python tools/analysis_tools/compare_models.py ' + ' '.join(
        shlex.quote(a) for a in args.argv)
    lines = [
        '# Model comparison', '', '```bash', command.strip(), '```', '',
        header + '.', '', settings(args) + '.', '',
        f'Load average at the end: {load_end}.', '',
        table_markdown(numbers), ''
    ]
    if any(n['train_breakdown'] for n in numbers):
        lines += [
            'Training step breakdown (one profiled step, '
            '`record_function` scopes):', '',
            breakdown_markdown(numbers), ''
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
        description='Compare polar, box and mask-based instance '
        'segmentation models in one run: inference (forward / post-'
        'processing) and training-step time, GMACs, training memory and '
        'breakdown and (with checkpoints) segm AP')
    add = parser.add_argument
    add('--models', nargs='+', choices=list(SPECS), default=list(SPECS),
        help='models to compare (default: all)')
    add('--variant', choices=['r50', 'toy'], default='r50',
        help='r50: the COCO R-50 configs; toy: the tiny R-18 CPU configs')
    add('--config', nargs='+', metavar='NAME=PATH',
        help='replace the config of a model, e.g. polarnext=my_cfg.py')
    add('--checkpoint', nargs='+', metavar='NAME=PATH',
        help='weights of a model; its segm AP is evaluated (Runner.test) '
        'and the speed/accuracy plot drawn')
    add('--data-root', help='dataset root of the evaluation (moves datasets '
        'and evaluator, as --cfg-options data_root=...)')
    add('--eval-max-images', type=int,
        help='evaluate on the first N test images only')
    add('--size', type=_benchmark.parse_size,
        help='inference size HxW (default 800x1333 for r50, 256x320 toy)')
    add('--train-size', type=_benchmark.parse_size,
        help='training image size HxW (default: --size)')
    add('--device', default='cuda' if torch.cuda.is_available() else 'cpu',
        help='device (default: cuda if available, else cpu)')
    add('--threads', type=int, default=2, help='torch threads on CPU')
    add('--repeats', type=int, default=3, help='timed inference rounds')
    add('--train-repeats', type=int, default=2, help='timed training steps')
    add('--warmup', type=int, default=1, help='untimed rounds')
    add('--candidates', type=int, default=1000,
        help='locations forced above the score threshold (dense heads)')
    add('--num-gt', type=int, default=15,
        help='synthetic GT objects of the training image')
    add('--no-train', action='store_true',
        help='skip the training step, memory and breakdown')
    add('--seed', type=int, default=0)
    add('--out-dir', default='work_dirs/compare_models',
        help='where the .md, .png and .json files go')
    args = parser.parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)
    args.size = args.size or DEFAULT_SIZES[args.variant]
    args.train_size = args.train_size or args.size
    if min(args.repeats, args.train_repeats, args.candidates,
           args.num_gt) < 1 or args.warmup < 0 or args.threads < 1:
        parser.error('--repeats, --train-repeats, --candidates, --num-gt, '
                     '--threads must be >= 1 and --warmup >= 0')
    if args.eval_max_images is not None and args.eval_max_images < 1:
        parser.error('--eval-max-images must be >= 1')
    return args


def write_reports(numbers: List[dict], args: argparse.Namespace,
                  header: str, notes: List[str]) -> Dict[str, str]:
    """The .md, .json and .png files in ``--out-dir``; {kind: path}."""
    os.makedirs(args.out_dir, exist_ok=True)
    paths = dict(
        md=osp.join(args.out_dir, 'compare_models.md'),
        png=osp.join(args.out_dir, 'compare_models.png'),
        json=osp.join(args.out_dir, 'compare_models.json'))
    with open(paths['md'], 'w') as f:
        f.write(
            report_markdown(numbers, args, header, _benchmark.load_average(),
                            notes))
    with open(paths['json'], 'w') as f:
        json.dump(dict(environment=header, settings=settings(args),
                       rows=numbers), f, indent=1)
    ratio_chart(numbers, paths['png'])
    if any(n['segm_mAP'] is not None for n in numbers):
        paths['plot'] = osp.join(args.out_dir, 'speed_accuracy.png')
        speed_accuracy_plot(
            numbers, paths['plot'],
            f'FPS at {args.size[0]}x{args.size[1]} ({args.device}, '
            f'{torch.get_num_threads()} thread(s))')
    return paths


def main(argv: Optional[Sequence[str]] = None,
         out: Callable[[str], None] = print) -> List[dict]:
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
    header = _benchmark.environment(device)
    notes: List[str] = []
    entries = build_entries(args, device, lambda note: (out(note),
                                                        notes.append(note)))
    if not entries:
        raise SystemExit('error: no model to compare')
    out(header)
    warning = _benchmark.contention_warning(device)
    if warning:
        out(warning)
        notes.append(warning)
    for entry in entries:
        if entry.checkpoint:
            start = time.perf_counter()
            entry.metrics = evaluate(entry, args.data_root,
                                     args.eval_max_images)
            out(f'{entry.spec.name}: segm AP '
                f'{100 * entry.metrics["coco/segm_mAP"]:.1f} '
                f'({time.perf_counter() - start:.0f} s)')
    if not args.no_train:
        start = time.perf_counter()
        run_training(entries, args, device)
        out(f'training steps, memory and breakdown measured '
            f'({time.perf_counter() - start:.0f} s)')
    rows = inference_rows(entries)
    batch = raw_batch(args.size, args.seed)
    prepare_inference(entries, batch, args.candidates, notes.append)
    start = time.perf_counter()
    timings = _benchmark.time_round_robin(
        timed_cases(rows, batch), args.repeats, args.warmup, device)
    out(f'inference timed ({time.perf_counter() - start:.0f} s)')
    numbers = results(rows, timings)
    short = [n['label'] for n in numbers if n['detections'] < 100]
    if short:
        notes.append('fewer than 100 detections: ' + ', '.join(short))
    paths = write_reports(numbers, args, header, notes)
    out('')
    with open(paths['md']) as f:
        out(f.read())
    out('written: ' + ', '.join(paths.values()))
    return numbers


if __name__ == '__main__':
    main()
