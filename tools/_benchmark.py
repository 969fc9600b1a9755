"""What every benchmark tool shares: the timing loop, peak memory, tables,
the environment header and the size argument.

Imported like ``_bootstrap`` (``tools/`` on ``sys.path``) by
``analysis_tools/compare_models.py``, ``analysis_tools/benchmark_polar_core.py``
and the ``deployment`` tools. The library side stays in ``mmdet_ext.utils``:
``DeviceInferenceBenchmark`` (:mod:`~mmdet_ext.utils.benchmark`), forced
detections on random weights (:mod:`~mmdet_ext.utils.forced_detections`) and
what the model comparison times (:mod:`~mmdet_ext.utils.model_comparison`).
"""
import argparse
import ctypes
import gc
import os
import platform
import statistics
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import mmcv
import mmdet
import torch
from terminaltables import AsciiTable, GithubFlavoredMarkdownTable


def synchronize(device: torch.device) -> None:
    """Wait for queued kernels so wall-clock times are complete."""
    if device.type == 'cuda':
        torch.cuda.synchronize(device)


# ------------------------------------------------------------------ timing
@dataclass
class Timings:
    """Wall-clock samples (seconds) and the last output of named cases.

    Attributes:
        samples (dict[str, list[float]]): Seconds of every timed run.
        outputs (dict[str, Any]): What each case returned last.
    """
    samples: Dict[str, List[float]] = field(default_factory=dict)
    outputs: Dict[str, Any] = field(default_factory=dict)

    def ms(self, name: str) -> float:
        """Median of ``name`` in milliseconds (nan if never timed)."""
        values = self.samples.get(name)
        return 1000 * statistics.median(values) if values else float('nan')

    def spread(self, name: str) -> Tuple[float, float]:
        """(min, max) of ``name`` in milliseconds."""
        values = self.samples.get(name) or [float('nan')]
        return 1000 * min(values), 1000 * max(values)


def time_round_robin(cases: Dict[str, Callable[[], Any]],
                     repeats: int,
                     warmup: int,
                     device: torch.device,
                     log: Optional[Callable[[str], None]] = None) -> Timings:
    """Run every case once per round; time the rounds after ``warmup``.

    Round-robin rather than case after case, so that background load hits
    every case alike.

    Args:
        cases (dict[str, Callable]): Name to a no-argument callable.
        repeats (int): Timed rounds.
        warmup (int): Untimed rounds first.
        device (torch.device): Device to synchronise around each run.
        log (Callable[[str], None], optional): Receives a line per round
            (progress of long runs).

    Returns:
        Timings: Samples and last outputs of every case.
    """
    timings = Timings({name: [] for name in cases})
    for round_index in range(warmup + repeats):
        for name, fn in cases.items():
            synchronize(device)
            start = time.perf_counter()
            timings.outputs[name] = fn()
            synchronize(device)
            if round_index >= warmup:
                timings.samples[name].append(time.perf_counter() - start)
        if log is not None:
            log(f'round {round_index + 1}/{warmup + repeats} done')
    return timings


# ------------------------------------------------------------ peak memory
def peak_memory_bytes(fn: Callable[[], Any],
                      device: torch.device) -> Optional[int]:
    """Extra memory (bytes) that one run of ``fn`` needs at its peak, on
    top of what exists before it.

    CUDA: ``max_memory_allocated`` above the memory allocated before. CPU
    (Linux): the rise of the peak resident set (``VmHWM``) of a forked
    child that runs ``fn`` alone, so no other case's freed memory is reused
    or counted (see :func:`_child_peak`). None where neither exists.

    Args:
        fn (Callable): The case; may change state only in the child.
        device (torch.device): Its device.

    Returns:
        int | None: Bytes.
    """
    if device.type == 'cuda':
        synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
        base = torch.cuda.memory_allocated(device)
        fn()
        synchronize(device)
        return torch.cuda.max_memory_allocated(device) - base
    if device.type != 'cpu' or not hasattr(os, 'fork') \
            or not os.path.exists('/proc/self/status'):
        return None
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: measure, report through the pipe, exit at once
        os.close(read_end)
        # OpenMP thread pools do not survive a fork: run single-threaded
        # (memory does not depend on the thread count).
        torch.set_num_threads(1)
        try:
            message = str(_child_peak(fn))
        except BaseException:  # noqa: B902  (any failure -> unknown)
            message = ''
        os.write(write_end, message.encode())
        os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end) as pipe:
        message = pipe.read()
    os.waitpid(pid, 0)
    return int(message) if message else None


def _child_peak(fn: Callable[[], Any]) -> int:
    """In a fresh fork: extra resident bytes at the peak of ``fn()``.

    A forked child faults in the pages of shared code it runs (resident
    memory that is not the case's), so ``fn`` first runs once unmeasured;
    then free heap memory goes back to the system, the peak is reset and
    the second run is measured. Without a resettable peak the single run
    is measured (the kernel starts a child's peak at its size at fork).
    """
    if _reset_peak_rss():
        fn()
        gc.collect()
        try:
            ctypes.CDLL(None).malloc_trim(0)
        except (OSError, AttributeError):  # not glibc
            pass
        _reset_peak_rss()
    base = _status_bytes('VmRSS')
    fn()
    return _status_bytes('VmHWM') - base


def _reset_peak_rss() -> bool:
    """Reset this process's peak RSS (``VmHWM``) to its current RSS."""
    try:
        with open('/proc/self/clear_refs', 'w') as refs:
            refs.write('5')
        return True
    except OSError:
        return False


def _status_bytes(key: str) -> int:
    """A ``/proc/self/status`` memory field (kB) in bytes."""
    with open('/proc/self/status') as status:
        for line in status:
            if line.startswith(key + ':'):
                return int(line.split()[1]) * 1024
    raise KeyError(key)


# ------------------------------------------------------------------ tables
def format_table(headers: Sequence[str],
                 rows: Sequence[Sequence[Any]],
                 title: Optional[str] = None,
                 markdown: bool = False) -> str:
    """Plain-text (or GitHub Markdown) table, first column left-aligned,
    the others right-aligned, with terminaltables (as mmdet's CocoMetric).

    Args:
        headers (Sequence[str]): Column titles.
        rows (Sequence[Sequence]): Cells, already formatted.
        title (str, optional): Line above the table.
        markdown (bool): A GitHub Markdown table instead of plain text.

    Returns:
        str: The table.
    """
    data = [list(map(str, headers))] + [list(map(str, row)) for row in rows]
    table = (GithubFlavoredMarkdownTable if markdown else AsciiTable)(data)
    table.justify_columns = {
        i: 'left' if i == 0 else 'right'
        for i in range(len(headers))
    }
    # A title in AsciiTable's border is dropped when wider than the table.
    return table.table if title is None else f'{title}\n{table.table}'


def fmt_value(value: Optional[float], spec: str, suffix: str = '') -> str:
    """``value`` in the format ``spec`` (``—`` for None or nan)."""
    if value is None or value != value:
        return '—'
    return format(value, spec) + suffix


def fmt_ms(value: Optional[float]) -> str:
    """Milliseconds with a precision that suits their magnitude (``—`` for
    None or nan)."""
    return fmt_value(value, '.1f' if value is not None and value >= 10
                     else '.2f')


def fmt_ratio(value: Optional[float]) -> str:
    """A ratio as ``'1.03x'`` (``—`` for None or nan)."""
    return fmt_value(value, '.2f', 'x')


# ------------------------------------------------------------- environment
def parse_size(text: str) -> Tuple[int, int]:
    """``'800x1333'`` -> (800, 1333) as (height, width)."""
    try:
        height, width = (int(v) for v in text.lower().split('x'))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f'size must look like HEIGHTxWIDTH, got {text!r}')
    if height < 32 or width < 32:
        raise argparse.ArgumentTypeError(f'size too small: {text!r}')
    return height, width


def load_average() -> str:
    """The 1, 5 and 15 minute load averages, comma separated."""
    return ', '.join(f'{v:.2f}' for v in os.getloadavg())


def environment(device: torch.device) -> str:
    """Versions, device, threads, CPU and load of this run (one line)."""
    name = torch.cuda.get_device_name(device) if device.type == 'cuda' \
        else _cpu_name()
    return (f'torch {torch.__version__} | mmcv {mmcv.__version__} | mmdet '
            f'{mmdet.__version__} | python {platform.python_version()} | '
            f'device {device} ({name}) | threads {torch.get_num_threads()} '
            f'| {os.cpu_count()} CPUs | load average {load_average()}')


def _cpu_name() -> str:
    """The CPU model from ``/proc/cpuinfo``, else the machine type."""
    try:
        with open('/proc/cpuinfo') as info:
            return next(line.split(':', 1)[1].strip() for line in info
                        if line.startswith('model name'))
    except (OSError, StopIteration):
        return platform.machine()


def contention_warning(device: torch.device,
                       own_load: float = 0.0) -> Optional[str]:
    """A warning when other processes compete for the cores that the torch
    threads need.

    Multi-threaded CPU ops wait at a barrier for all their threads; when a
    core is busy elsewhere, a descheduled thread stalls every op (on a
    2-core machine running another job, 2 threads made small ops ~15x and
    the whole forward ~2x slower than 1 thread).

    Args:
        device (torch.device): Benchmark device (only CPU is checked).
        own_load (float): Part of the 1-minute load average that is this
            process (its thread count after a busy minute, else 0).
    """
    threads = torch.get_num_threads()
    load, cpus = os.getloadavg()[0], os.cpu_count() or 1
    # About one core busy elsewhere (the 1-minute average lags behind).
    others = max(load - own_load, 0.0)
    if device.type != 'cpu' or threads < 2 or others + threads <= cpus + 1:
        return None
    return (f'warning: load average {load:.2f} on {cpus} CPUs with '
            f'{threads} threads: other processes compete for the cores, '
            'times are inflated (use an idle machine or --threads 1)')
