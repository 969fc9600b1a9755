"""Results of the tools: errors, training scalars, test metrics.

:func:`tool_error` runs the command line (conftest's runner) for the tests
of the command line itself: exit code and last line. :func:`main_exit`
calls a tool's ``main()`` in-process for everything else: the message it
exits with is the line the command line prints. :func:`train_scalars` and
:func:`metrics_of_test_run` read what ``tools/train.py`` / ``tools/test.py`` wrote
in their work directory (mmengine's ``LocalVisBackend`` and
``LoggerHook`` files), instead of matching their logs.
"""
import json
import sys
from pathlib import Path
from typing import Dict, List, Tuple

import pytest

from conftest import REPO_ROOT, _run, load_tool


def tool_error(args, timeout=300, env=None) -> Tuple[int, str]:
    """Exit code and last output line of a command run from the repository
    root (the ``error:`` line of a tool that stops)."""
    returncode, output = _run(args, timeout, env)
    lines = output.strip().splitlines()
    return returncode, lines[-1] if lines else ''


def main_exit(monkeypatch, tool: str, *argv) -> str:
    """Call ``tools/<tool>.py``'s ``main()`` with ``argv`` and return the
    message of the ``SystemExit`` it must raise (what ``sys.exit(message)``
    prints on stderr with exit code 1)."""
    monkeypatch.syspath_prepend(str(REPO_ROOT / 'tools'))
    monkeypatch.setattr(sys, 'argv', [f'{tool}.py', *map(str, argv)])
    monkeypatch.setenv('LOCAL_RANK', '0')
    module = load_tool(f'tools/{tool}.py')
    with pytest.raises(SystemExit) as info:
        module.main()
    assert isinstance(info.value.code, str), info.value.code
    return info.value.code


def _runs(work_dir) -> List[Path]:
    """The timestamped run folders of a work directory, oldest first."""
    return sorted(p for p in Path(work_dir).iterdir()
                  if p.is_dir() and p.name[:8].isdigit())


def train_scalars(work_dir) -> List[Dict]:
    """The logged training iterations (``vis_data/scalars.json``) of the
    latest training run in ``work_dir``: loss terms, ``epoch``, ``iter``
    (lines without a ``loss``, such as timings at the end of an epoch,
    are left out)."""
    runs = [r for r in _runs(work_dir)
            if (r / 'vis_data' / 'scalars.json').is_file()]
    assert runs, f'no training scalars in {work_dir}'
    lines = (runs[-1] / 'vis_data' / 'scalars.json').read_text().splitlines()
    scalars = [json.loads(line) for line in lines if line.strip()]
    return [s for s in scalars if 'loss' in s]


def metrics_of_test_run(work_dir) -> Dict:
    """The metrics of the latest ``tools/test.py`` run in ``work_dir``
    (``<timestamp>/<timestamp>.json``)."""
    runs = [r for r in _runs(work_dir) if (r / f'{r.name}.json').is_file()]
    assert runs, f'no test metrics in {work_dir}'
    return json.loads((runs[-1] / f'{runs[-1].name}.json').read_text())
