"""Shared fixtures: repository paths, the shared COCO sample and the toy dataset.

The coco128 sample (``COCO128_ROOT``): ``$COCO128_ROOT`` if set; else the copy beside the
checkout that CI provides, ``../shared/data/coco128_seg``, if it exists; else
``data/coco128_seg`` (``python tools/misc/download_dataset.py coco128``). Tests that need it
skip when none of these exists.

End-to-end runs of a few minutes may be marked ``@pytest.mark.slow``: they run in ``make
test`` and can be deselected with ``make test PYTEST_ARGS='-m "not slow"'``. Runs too long
or too noisy to gate CI are marked ``@pytest.mark.long`` and only run with ``--run-long``
(``make test-long``).
"""
import importlib.util
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import settings

# Property tests draw the same examples on every run (CI included), so a result is
# reproducible; HYPOTHESIS_PROFILE=explore draws fresh random examples.
settings.register_profile('repo', derandomize=True, database=None)
settings.register_profile('explore', derandomize=False)
settings.load_profile(os.environ.get('HYPOTHESIS_PROFILE', 'repo'))

REPO_ROOT = Path(__file__).resolve().parents[1]


def _coco128_root() -> Path:
    """Where the tests find coco128 (module docstring): one switch for all."""
    if os.environ.get('COCO128_ROOT'):
        return Path(os.environ['COCO128_ROOT'])
    shared = REPO_ROOT.parent / 'shared' / 'data' / 'coco128_seg'
    return shared if shared.is_dir() else REPO_ROOT / 'data' / 'coco128_seg'


COCO128_ROOT = _coco128_root()
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))
# Tests run single-threaded per process; two cores are shared with subprocesses.
os.environ.setdefault('OMP_NUM_THREADS', '1')


def pytest_addoption(parser):
    parser.addoption(
        '--run-long',
        action='store_true',
        default=False,
        help='run the long end-to-end tests marked @pytest.mark.long')


def pytest_configure(config):
    config.addinivalue_line(
        'markers', 'long: long end-to-end run, needs --run-long')
    config.addinivalue_line(
        'markers', 'slow: end-to-end training run of a few minutes')


def pytest_collection_modifyitems(config, items):
    if config.getoption('--run-long'):
        return
    skip_long = pytest.mark.skip(reason='long end-to-end run: use --run-long')
    for item in items:
        if 'long' in item.keywords:
            item.add_marker(skip_long)


def load_tool(relative_path: str):
    """Import a script under ``tools/`` (not a package) as a module."""
    path = REPO_ROOT / relative_path
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope='session')
def repo_root() -> Path:
    return REPO_ROOT


@pytest.fixture(scope='session')
def coco128_root() -> Path:
    """The real COCO sample (:data:`COCO128_ROOT`)."""
    if not (COCO128_ROOT / 'annotations' / 'instances_val.json').is_file():
        pytest.skip(f'{COCO128_ROOT} not found: run python '
                    'tools/misc/download_dataset.py coco128, or set '
                    'COCO128_ROOT')
    return COCO128_ROOT


@pytest.fixture(scope='session')
def toy_root(tmp_path_factory) -> Path:
    """A small toy dataset generated once per session."""
    out = tmp_path_factory.mktemp('toy')
    module = load_tool('tools/misc/make_toy_dataset.py')
    module.make_toy_dataset(str(out), seed=0, num_train=8, num_val=4)
    return out


def _run(args, timeout, env):
    proc = subprocess.run(
        [str(a) for a in args],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=dict(os.environ, **(env or {})))
    return proc.returncode, proc.stdout + proc.stderr


def run_tool(args, timeout=600, env=None) -> str:
    """Run a command from the repository root; assert success; return its
    stdout + stderr."""
    returncode, output = _run(args, timeout, env)
    assert returncode == 0, output[-4000:]
    return output


def run_distributed(args, timeout=600, env=None) -> str:
    """:func:`run_tool` for ``tools/dist_*.sh`` on a free rendezvous port,
    retried once on a new port if it was taken between choosing it and
    torchrun binding it."""
    env = dict(env or {}, PORT=str(free_port()))
    returncode, output = _run(args, timeout, env)
    if returncode and 'address already in use' in output.lower():
        env['PORT'] = str(free_port())
        returncode, output = _run(args, timeout, env)
    assert returncode == 0, output[-4000:]
    return output


def tiny_toy_options(data_root, max_epochs=1, num_images=4):
    """``--cfg-options`` that train a toy config for seconds: a few images,
    batch 2, no workers, no validation."""
    return [
        f'data_root={data_root}/',
        f'train_cfg.max_epochs={max_epochs}',
        'train_cfg.val_interval=100',
        'train_dataloader.batch_size=2',
        'train_dataloader.num_workers=0',
        'train_dataloader.persistent_workers=False',
        f'train_dataloader.dataset.indices={num_images}',
        'test_dataloader.num_workers=0',
        'test_dataloader.persistent_workers=False',
        'val_dataloader.num_workers=0',
        'val_dataloader.persistent_workers=False',
        'default_hooks.logger.interval=1',
    ]


def free_port() -> int:
    """A TCP port free at the time of the call (for torchrun rendezvous)."""
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]
