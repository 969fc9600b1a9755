# Plot loss / metric curves of mmengine training logs to PNG, and compute training time
# (the MMDetection tool, reading mmengine's vis_data/*.json scalar logs).
import argparse
import json
import os.path as osp
from collections import defaultdict
from typing import Dict, List

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


def plot_curve(args) -> None:
    """Plot the requested keys of every log into one PNG."""
    logs = [load_json_log(path) for path in args.json_logs]
    legends = args.legend or [
        f'{osp.basename(path)}_{key}' for path in args.json_logs
        for key in args.keys
    ]
    if len(legends) != len(logs) * len(args.keys):
        raise SystemExit('error: --legend needs one entry per log and key')
    plt.figure(figsize=(8, 5))
    index = 0
    for path, log in zip(args.json_logs, logs):
        for key in args.keys:
            mode = 'train' if key in log['train'] else 'val'
            if key not in log[mode]:
                raise SystemExit(
                    f'error: {path} has no key {key!r}; train keys: '
                    f'{sorted(log["train"])}, val keys: {sorted(log["val"])}')
            values = log[mode][key]
            steps = log[mode].get('step', list(range(len(values))))
            steps = steps[-len(values):]
            plt.plot(steps, values, label=legends[index], linewidth=0.8)
            index += 1
    plt.xlabel('iter' if all(k in logs[0]['train'] for k in args.keys)
               else 'step')
    plt.legend()
    if args.title:
        plt.title(args.title)
    plt.savefig(args.out, dpi=120, bbox_inches='tight')
    print(f'saved curve to {args.out}')
    plt.close()


def cal_train_time(args) -> None:
    """Print the average iteration time of every log."""
    for path in args.json_logs:
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
    plot.add_argument('json_logs', nargs='+', help='path of json logs')
    plot.add_argument(
        '--keys', nargs='+', default=['loss'], help='keys to plot')
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
    {'plot_curve': plot_curve, 'cal_train_time': cal_train_time}[args.task](args)


if __name__ == '__main__':
    main()
