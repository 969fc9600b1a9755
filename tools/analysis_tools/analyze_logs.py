# Plot loss / metric curves of mmengine training logs to PNG (losses against
# iterations, mAP against epochs), and compute training time (the MMDetection
# tool, reading mmengine's vis_data/*.json scalar logs or a work dir).
import argparse
import glob
import json
import os.path as osp
from collections import defaultdict
from typing import Dict, List, Tuple

import matplotlib

matplotlib.use('Agg')  # no display needed; the tool writes files
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def load_json_log(path: str) -> Dict[str, Dict[str, List[float]]]:
    """Read an mmengine scalar log (one JSON object per line).

    Args:
        path (str): ``work_dir/<time>/vis_data/<time>.json`` or a work dir's
            ``scalars.json``.

    Returns:
        dict: ``{'train': {key: [...], 'step': [...]}, 'val': {...}}``.
        Train records are indexed by ``step`` (iteration), val records by
        ``step`` (epoch, or iteration for iter-based loops).
    """
    if not osp.isfile(path):
        raise SystemExit(f'error: log file not found: {path}')
    logs = {'train': defaultdict(list), 'val': defaultdict(list)}
    with open(path) as f:
        for line_no, line in enumerate(f, 1):
            line = line.strip()
            if not line:
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                raise SystemExit(
                    f'error: {path}:{line_no} is not a JSON line') from None
            mode = 'train' if 'lr' in record or 'loss' in record else 'val'
            for key, value in record.items():
                if isinstance(value, (int, float)):
                    logs[mode][key].append(float(value))
    return logs


def resolve_log(path: str) -> str:
    """A json log, or the newest ``<time>/vis_data/scalars.json`` of a
    work dir (what ``tools/train.py --work-dir`` writes)."""
    if not osp.isdir(path):
        return path
    found = sorted(glob.glob(osp.join(path, '*', 'vis_data', 'scalars.json')))
    if not found:
        raise SystemExit(f'error: no */vis_data/scalars.json under {path}')
    return found[-1]


def default_keys(log: Dict[str, Dict[str, List[float]]]) -> List[str]:
    """``loss`` and the main mask (else box) mAP when the log has them."""
    keys = [k for k in ('loss', ) if k in log['train']]
    for metric in ('segm_mAP', 'bbox_mAP'):
        found = sorted(k for k in log['val'] if k.split('/')[-1] == metric)
        if found:
            keys.append(found[0])
            break
    return keys


def curve(log: Dict[str, Dict[str, List[float]]], key: str,
          path: str) -> Tuple[str, List[float], List[float]]:
    """(mode, steps, values) of one key; train steps are iterations, val
    steps epochs (iterations for iter-based training)."""
    mode = 'train' if key in log['train'] else 'val'
    if key not in log[mode]:
        raise SystemExit(
            f'error: {path} has no key {key!r}; train keys: '
            f'{sorted(log["train"])}, val keys: {sorted(log["val"])}')
    values = log[mode][key]
    steps = log[mode].get('step', list(range(1, len(values) + 1)))
    return mode, steps[-len(values):], values


def plot_curve(args) -> None:
    """Plot the requested keys of every log into one PNG: training keys
    (losses) against iterations on the left, validation keys (mAP)
    against epochs on the right."""
    paths = [resolve_log(path) for path in args.json_logs]
    logs = [load_json_log(path) for path in paths]
    keys = args.keys or default_keys(logs[0])
    if not keys:
        raise SystemExit(f'error: {paths[0]} has no loss or mAP; pass --keys')
    legends = args.legend or [
        key if len(paths) == 1 else f'{osp.basename(path)}_{key}'
        for path in paths for key in keys
    ]
    if len(legends) != len(logs) * len(keys):
        raise SystemExit('error: --legend needs one entry per log and key')
    curves = {'train': [], 'val': []}
    index = 0
    for path, log in zip(paths, logs):
        for key in keys:
            mode, steps, values = curve(log, key, path)
            curves[mode].append((steps, values, legends[index]))
            index += 1
    modes = [mode for mode in ('train', 'val') if curves[mode]]
    fig, axes = plt.subplots(
        1, len(modes), figsize=(6 * len(modes), 4.5), squeeze=False)
    by_epoch = 'epoch' in logs[0]['train']
    for ax, mode in zip(axes[0], modes):
        for steps, values, label in curves[mode]:
            ax.plot(steps, values, label=label, linewidth=1.0,
                    marker='o' if mode == 'val' else None, markersize=3)
        ax.set_xlabel('iter' if mode == 'train' or not by_epoch else
                      'epoch')
        ax.set_ylabel('training' if mode == 'train' else 'validation')
        ax.grid(alpha=0.3)
        ax.legend()
    if args.title:
        fig.suptitle(args.title)
    fig.tight_layout()
    fig.savefig(args.out, dpi=120)
    print(f'saved curve to {args.out}')
    plt.close(fig)


def cal_train_time(args) -> None:
    """Print the average iteration time of every log."""
    for path in map(resolve_log, args.json_logs):
        times = np.array(load_json_log(path)['train'].get('time', []))
        if times.size == 0:
            print(f'{path}: no "time" entries')
            continue
        print(f'-----Analyze train time of {path}-----')
        print(f'average iter time: {times.mean():.4f} s/iter, '
              f'slowest {times.max():.4f}, fastest {times.min():.4f}, '
              f'std {times.std():.4f}')


def parse_args():
    parser = argparse.ArgumentParser(description='Analyze Json Log')
    subparsers = parser.add_subparsers(dest='task', help='task parser')
    plot = subparsers.add_parser('plot_curve', help='plot curves to a PNG')
    plot.add_argument(
        'json_logs',
        nargs='+',
        help='json logs (vis_data/*.json) or work dirs (newest '
        '*/vis_data/scalars.json)')
    plot.add_argument(
        '--keys',
        nargs='+',
        default=None,
        help='keys to plot (default: loss and the segm (else bbox) mAP)')
    plot.add_argument('--title', type=str, help='title of figure')
    plot.add_argument('--legend', nargs='+', default=None)
    plot.add_argument('--out', type=str, default='curve.png')
    timing = subparsers.add_parser(
        'cal_train_time', help='compute the average time per iteration')
    timing.add_argument('json_logs', nargs='+', help='path of json logs')
    args = parser.parse_args()
    if args.task is None:
        parser.error('choose a task: plot_curve or cal_train_time')
    return args


def main():
    args = parse_args()
    tasks = {'plot_curve': plot_curve, 'cal_train_time': cal_train_time}
    tasks[args.task](args)


if __name__ == '__main__':
    main()
