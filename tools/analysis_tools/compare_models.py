"""Side-by-side speed (and accuracy) of polar, box and mask-based models.

In one process, on one device and input size: inference per image (whole
``test_step``; forward and post-processing apart for single-stage heads;
GMACs; polar models with and without masks), the training step (time, peak
memory, ``record_function`` breakdown) and, with ``--checkpoint``, segm AP
through ``Runner.test``. Writes ``compare_models.md``/``.json``/``.png``
(and ``speed_accuracy.png``) to ``--out-dir``. The models, their cases and
the forced detections are in :mod:`mmdet_ext.utils.model_comparison`; see
the README's "Model comparison".

Example::

    python tools/analysis_tools/compare_models.py --threads 2
    python tools/analysis_tools/compare_models.py --variant toy \\
        --checkpoint polarnext=work_dirs/quickstart/epoch_36.pth \\
        --data-root data/toy/
"""
import argparse
import json
import os
import os.path as osp
import shlex
import sys
import time
from typing import Callable, Dict, List, Optional, Sequence

import torch

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))
import _benchmark  # noqa: E402  (timing, memory, tables)
import _bootstrap  # noqa: E402  (repo on sys.path, project registries)
import matplotlib  # noqa: E402

matplotlib.use('Agg')  # the tool writes files, no display needed
from mmengine.logging import MMLogger  # noqa: E402

from mmdet_ext.utils.forced_detections import raw_batch  # noqa: E402
from mmdet_ext.utils.model_comparison import (  # noqa: E402
    SPECS, Entry, build_entry, evaluate, inference_rows,
    prepare_inference, results, timed_cases)
from mmdet_ext.utils.train_step_profile import (  # noqa: E402
    scope_rank, synthetic_train_batch, train_step, training_breakdown)
from mmdet_ext.visualization.comparison_charts import (  # noqa: E402
    ratio_chart, speed_accuracy_plot)

REPO_ROOT = _bootstrap.REPO_ROOT
DEFAULT_SIZES = dict(r50=(800, 1333), toy=(256, 320))


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
        entries.append(build_entry(spec, path, checkpoint, device, REPO_ROOT))
    unused = set(checkpoints) - {e.spec.key for e in entries}
    if unused:
        raise SystemExit('error: --checkpoint for a model that is not '
                         f'compared: {", ".join(sorted(unused))}')
    return entries


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
    numbers = results(rows, timings.ms, timings.outputs)
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
