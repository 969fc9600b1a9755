"""Speed and memory of the polar geometry against its references, in one run.

Times the case sets of :mod:`mmdet_ext.testing.polar_core_cases` (ray
targets, soft rasteriser, mask generation) round-robin, measures the peak
memory of each case and prints one table per set, with its ratios to ours
and agreement checks, then whether the goals are met.

Example::

    python tools/analysis_tools/benchmark_polar_core.py --threads 1
    python tools/analysis_tools/benchmark_polar_core.py --quick
"""
import argparse
import os.path as osp
import statistics
import sys
from dataclasses import dataclass
from typing import Callable, Dict, List, Optional, Sequence

import torch

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))
import _benchmark  # noqa: E402  (timing, memory, tables)
import _bootstrap  # noqa: E402,F401  (repo on sys.path)

from mmdet_ext.testing.polar_core_cases import (  # noqa: E402
    QUICK_SIZES, CaseSet, Sizes, mask_generation_cases, ray_target_cases,
    soft_raster_cases)

# Goals of the issues: ray targets against the official loop; mask
# generation time and its saving against the official route.
RAY_SPEEDUP_GOAL = 5.0
MASK_TIME_GOAL_MS = 5.0
MASK_SPEEDUP_GOAL = 10.0
CASE_SETS: Dict[str, Callable[[Sizes, torch.device], CaseSet]] = dict(
    rays=ray_target_cases,
    raster=soft_raster_cases,
    # CPU work (pycocotools, cv2) whatever --device, as in CocoMetric.
    masks=lambda sizes, device: mask_generation_cases(sizes))


@dataclass
class Measurement:
    """Time and memory of one case, possibly extrapolated.

    Attributes:
        name (str): Row label.
        times (list[float]): Seconds per run.
        peak (int, optional): Extra bytes at the peak, None if unknown.
        scale (float): Factor applied to time and memory (linear
            extrapolation from a subset); 1 if measured at full size.
        note (str): How the row was obtained.
        check (str): Agreement with the reference (set-specific).
    """
    name: str
    times: List[float]
    peak: Optional[int]
    scale: float = 1.0
    note: str = 'measured'
    check: str = ''

    @property
    def ms(self) -> float:
        """Median time in ms, extrapolated."""
        return 1000 * statistics.median(self.times) * self.scale

    @property
    def mb(self) -> Optional[float]:
        """Peak extra memory in MB, extrapolated (None if unknown)."""
        return None if self.peak is None else self.peak * self.scale / 2**20


def measure(case_set: CaseSet, repeats: int) -> List[Measurement]:
    """Time the cases round-robin after one warm-up round (the single-run
    ones once), measure each one's peak memory alone and check their
    outputs."""
    cases, device = case_set.cases, case_set.device
    slow = {name: cases[name] for name in case_set.single_run}
    timed = {name: fn for name, fn in cases.items() if name not in slow}
    timings = _benchmark.time_round_robin(timed, repeats, 1, device)
    once = _benchmark.time_round_robin(slow, 1, 1, device)
    timings.samples.update(once.samples)
    timings.outputs.update(once.outputs)
    checks = case_set.check(timings.outputs)
    return [
        Measurement(name, timings.samples[name],
                    _benchmark.peak_memory_bytes(fn, device),
                    case_set.scales.get(name, 1.0),
                    case_set.notes.get(name, 'measured'),
                    checks.get(name, '')) for name, fn in cases.items()
    ]


def measurement_table(rows: List[Measurement], title: str) -> str:
    """Rows with their time and memory ratios to the ``(ours)`` row: how
    many times more time and peak memory a row needs (so reference rows
    read as the saving of ours)."""
    mine = next(row for row in rows if row.name.endswith('(ours)'))
    table = [[
        row.name, _benchmark.fmt_ms(row.ms),
        _benchmark.fmt_ratio(row.ms / mine.ms),
        _benchmark.fmt_ms(row.mb),
        _benchmark.fmt_ratio(None if row.mb is None or not mine.mb else
                             row.mb / mine.mb), row.check or '-', row.note
    ] for row in rows]
    return _benchmark.format_table([
        'case', 'median ms', 'time / ours', 'peak MB', 'mem / ours',
        'check', 'note'
    ], table, title)


def goals(results: Dict[str, List[Measurement]]) -> Dict[str, bool]:
    """Whether each goal of the measured sections is met."""
    met = {}
    if 'rays' in results:
        official, ours = results['rays'][:2]
        met[f'ray targets >= {RAY_SPEEDUP_GOAL:g}x faster than the '
            'official loop'] = official.ms >= RAY_SPEEDUP_GOAL * ours.ms
    if 'masks' in results:
        ours, official = results['masks']
        met[f'mask generation < {MASK_TIME_GOAL_MS:g} ms'] = \
            ours.ms < MASK_TIME_GOAL_MS
        met[f'mask generation >= {MASK_SPEEDUP_GOAL:g}x cheaper than the '
            'official route'] = official.ms >= MASK_SPEEDUP_GOAL * ours.ms
    return met


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Benchmark the polar geometry against its references')
    parser.add_argument(
        '--device', default='cuda' if torch.cuda.is_available() else 'cpu')
    parser.add_argument(
        '--threads', type=int, default=1, help='torch CPU threads')
    parser.add_argument(
        '--repeats', type=int, default=None, help='timed runs per case')
    parser.add_argument(
        '--quick', action='store_true', help='small sizes (for tests)')
    parser.add_argument(
        '--skip', choices=list(CASE_SETS), action='append', default=[])
    return parser.parse_args(argv)


def main(argv: Optional[Sequence[str]] = None,
         out: Callable[[str], None] = print) -> dict:
    """Run the benchmarks; returns ``{section: [Measurement]}`` and
    ``goals`` ({description: met})."""
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    sizes = QUICK_SIZES if args.quick else Sizes()
    repeats = args.repeats or (2 if args.quick else 5)
    out(f'{_benchmark.environment(device)}\nrepeats {repeats}, {sizes}')
    results: dict = {}
    for section, build in CASE_SETS.items():
        if section not in args.skip:
            case_set = build(sizes, device)
            results[section] = measure(case_set, repeats)
            out('\n' + measurement_table(results[section], case_set.title))
    results['goals'] = goals(results)
    for goal, met in results['goals'].items():
        out(f'goal {goal}: {"met" if met else "NOT met"}')
    return results


if __name__ == '__main__':
    main()
