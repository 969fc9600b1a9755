"""benchmark.py --task inference on CPU, browse_dataset.py and analyze_logs.py."""
import json
import re
import subprocess
import sys

CONFIG = 'projects/PolarNeXt/configs/polarnext_r18_fpn_toy-cpu.py'


def _run(args, repo_root, timeout=600):
    proc = subprocess.run(
        args, cwd=repo_root, capture_output=True, text=True, timeout=timeout)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output[-3000:]
    return output


def _loader_options(toy_root, split='test'):
    return [
        f'data_root={toy_root}/', f'{split}_dataloader.num_workers=0',
        f'{split}_dataloader.persistent_workers=False'
    ]


def test_inference_benchmark_runs_on_cpu(repo_root, toy_root):
    output = _run([
        sys.executable, 'tools/analysis_tools/benchmark.py', CONFIG,
        '--task', 'inference', '--max-iter', '4', '--num-warmup', '1',
        '--log-interval', '2', '--num-threads', '1', '--cfg-options',
        *_loader_options(toy_root)
    ], repo_root)
    fps = re.search(r'Overall fps: \[([0-9.]+)\]', output)
    assert fps and float(fps.group(1)) > 0, output[-2000:]
    assert 'on cpu' in output


def test_browse_dataset_writes_png(repo_root, toy_root, tmp_path):
    _run([
        sys.executable, 'tools/analysis_tools/browse_dataset.py', CONFIG,
        '--output-dir',
        str(tmp_path), '--not-show', '--max-images', '3', '--cfg-options',
        *_loader_options(toy_root, 'train')
    ], repo_root)
    assert len(list(tmp_path.glob('*.png'))) == 3


def test_analyze_logs_plots_and_times(repo_root, tmp_path):
    log = tmp_path / 'scalars.json'
    lines = [{'lr': 0.01, 'loss': 2.0 - i * 0.1, 'time': 0.5, 'step': i}
             for i in range(1, 6)]
    lines.append({'coco/segm_mAP': 0.25, 'step': 1})
    log.write_text('\n'.join(json.dumps(x) for x in lines))
    out = tmp_path / 'curve.png'
    _run([
        sys.executable, 'tools/analysis_tools/analyze_logs.py', 'plot_curve',
        str(log), '--keys', 'loss', '--out',
        str(out)
    ], repo_root)
    assert out.stat().st_size > 1000
    output = _run([
        sys.executable, 'tools/analysis_tools/analyze_logs.py',
        'cal_train_time',
        str(log)
    ], repo_root)
    assert 'average iter time: 0.5000 s/iter' in output
    bad = subprocess.run([
        sys.executable, 'tools/analysis_tools/analyze_logs.py', 'plot_curve',
        str(log), '--keys', 'nope'
    ],
                         cwd=repo_root,
                         capture_output=True,
                         text=True)
    assert bad.returncode != 0 and "no key 'nope'" in bad.stderr
