"""tools/_benchmark.py: the timing loop, peak memory, tables and sizes that
every benchmark tool shares."""
import argparse

import pytest
import torch

from conftest import load_tool

helpers = load_tool('tools/_benchmark.py')
CPU = torch.device('cpu')


def test_round_robin_times_every_case_after_warmup():
    calls = []
    cases = {name: (lambda n=name: calls.append(n) or len(calls))
             for name in ('a', 'b')}
    progress = []
    timings = helpers.time_round_robin(cases, repeats=3, warmup=2,
                                       device=CPU, log=progress.append)
    # round-robin: a, b, a, b ... ; warm-up rounds run but are not timed
    assert calls == ['a', 'b'] * 5
    assert {k: len(v) for k, v in timings.samples.items()} == dict(a=3, b=3)
    assert timings.outputs == dict(a=9, b=10)
    assert len(progress) == 5 and progress[-1] == 'round 5/5 done'


def test_timings_median_and_spread():
    timings = helpers.Timings(dict(x=[0.003, 0.001, 0.002]))
    assert timings.ms('x') == pytest.approx(2.0)
    assert timings.spread('x') == pytest.approx((1.0, 3.0))
    assert timings.ms('missing') != timings.ms('missing')  # nan


def test_cpu_peak_memory_sees_a_known_allocation():
    size = 48 * 2**20

    def allocate():
        return torch.ones(size // 4).sum()

    peak = helpers.peak_memory_bytes(allocate, CPU)
    if peak is None:
        pytest.skip('peak RSS is not measurable on this platform')
    assert 0.9 * size < peak < 1.3 * size
    assert helpers.peak_memory_bytes(lambda: None, CPU) < 4 * 2**20


def test_peak_memory_runs_in_a_child():
    """State changed by the measured case stays in the forked child."""
    state = []
    helpers.peak_memory_bytes(lambda: state.append(1), CPU)
    assert state == []


def test_plain_table_aligns_columns():
    table = helpers.format_table(['name', 'ms'], [['a', '1.0'], ['bbb', 22]],
                                 'title')
    lines = table.splitlines()
    assert lines[0] == 'title'
    assert lines[2] == '| name |  ms |'
    assert lines[4] == '| a    | 1.0 |'
    assert lines[5] == '| bbb  |  22 |'


def test_markdown_table_alignment_row():
    lines = helpers.format_table(['model', 'ms', 'x'], [['a', '1', '2']],
                                 markdown=True).splitlines()
    assert lines[1] == '|:------|---:|--:|'
    assert lines[2] == '| a     |  1 | 2 |'


def test_formats_and_sizes():
    assert helpers.fmt_ms(123.456) == '123.5'
    assert helpers.fmt_ms(1.234) == '1.23'
    assert helpers.fmt_ms(None) == helpers.fmt_ms(float('nan')) == '—'
    assert helpers.fmt_ratio(1.234) == '1.23x'
    assert helpers.parse_size('800x1333') == (800, 1333)
    for bad in ('800', '8x8', 'axb'):
        with pytest.raises(argparse.ArgumentTypeError):
            helpers.parse_size(bad)


def test_environment_names_versions_device_and_threads():
    line = helpers.environment(CPU)
    assert f'torch {torch.__version__}' in line
    assert 'device cpu' in line
    assert f'threads {torch.get_num_threads()}' in line
