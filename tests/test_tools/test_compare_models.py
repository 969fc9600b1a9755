"""tools/analysis_tools/compare_models.py on the tiny R-18 configs: the
Markdown table has every model's rows with positive numbers, the ratio
chart and (with a checkpoint) the speed/accuracy plot are real images."""
import json

import cv2
import numpy as np
import pytest
import torch

from conftest import REPO_ROOT, load_tool

SCRIPT = 'tools/analysis_tools/compare_models.py'
QUICK = [
    '--variant', 'toy', '--size', '96x128', '--repeats', '1', '--warmup',
    '0', '--train-repeats', '1', '--threads', '1', '--num-gt', '4',
    '--candidates', '200'
]
POLARMASK_CONFIG = (REPO_ROOT / 'projects' / 'PolarMask' / 'configs' /
                    'polarmask_r18_fpn_toy-cpu.py')
SPARSEINST_CONFIG = (REPO_ROOT / 'projects' / 'SparseInst' / 'configs' /
                     'sparseinst_r18_iam_toy-cpu.py')
PANET_CONFIG = (REPO_ROOT / 'projects' / 'PANet' / 'configs' /
                'panet_r18_pafpn-gn_toy-cpu.py')
PANET_LABELS = ['Mask R-CNN + PAFPN + AFP', 'Mask R-CNN + PAFPN + AFP + FF',
                'Mask R-CNN + PAFPN + AFP + FF + 4conv1fc', 'PANet']


@pytest.fixture(scope='module')
def tool():
    return load_tool(SCRIPT)


@pytest.fixture(scope='module')
def full_run(tool, tmp_path_factory):
    out_dir = tmp_path_factory.mktemp('compare')
    lines = []
    numbers = tool.main(QUICK + ['--out-dir', str(out_dir)], lines.append)
    return out_dir, numbers, '\n'.join(lines)


def _table_rows(markdown):
    """{label: cells} of the Markdown table."""
    rows = {}
    for line in markdown.splitlines():
        if line.startswith('| ') and not line.startswith('| :---'):
            cells = [c.strip() for c in line.strip('|').split('|')]
            rows[cells[0]] = cells[1:]
    return rows


def _non_blank_png(path, min_size, min_coloured):
    """A chart of at least ``min_size`` with ``min_coloured`` saturated
    pixels (bars, markers) on its white and grey background."""
    image = cv2.imread(str(path))
    assert image is not None, path
    assert image.shape[0] >= min_size[0] and image.shape[1] >= min_size[1]
    coloured = (image.max(-1).astype(int) - image.min(-1)) > 60
    assert coloured.sum() >= min_coloured, coloured.sum()
    return image


def test_table_has_every_model(full_run):
    out_dir, numbers, _ = full_run
    rows = _table_rows((out_dir / 'compare_models.md').read_text())
    expected = ['PolarNeXt (polygons only)', 'PolarNeXt', 'SOLOv2',
                'Mask R-CNN', 'Mask R-CNN + PAFPN']
    if POLARMASK_CONFIG.is_file():
        expected += ['PolarMask (polygons only)', 'PolarMask']
    if SPARSEINST_CONFIG.is_file():
        expected += ['SparseInst (boxes only)', 'SparseInst']
    if PANET_CONFIG.is_file():
        expected += PANET_LABELS
    assert set(expected) <= set(rows) and len(rows) == len(expected) + 1
    header = rows['model']
    assert header[:4] == ['params (M)', 'inference (ms)', 'FPS',
                          'time / PolarNeXt']
    for label in expected:
        cells = dict(zip(header, rows[label]))
        assert float(cells['inference (ms)']) > 0
        assert float(cells['params (M)']) > 1  # an R-18 detector
        if label.endswith(('(polygons only)', '(boxes only)')):
            assert cells['train step (ms)'] == '—'
            assert cells['detections'].endswith('(no masks)')
        else:
            assert float(cells['train step (ms)']) > 0
            assert float(cells['train peak memory (MB)']) > \
                float(cells['params (M)']) * 4  # fp32 weights + more
            assert '(no masks)' not in cells['detections']
    assert rows['PolarNeXt'][3] == '1.00x'
    by_label = {n['label']: n for n in numbers}
    assert by_label['PolarNeXt']['reference']
    ratio = by_label['SOLOv2']['inference_ms'] / \
        by_label['PolarNeXt']['inference_ms']
    assert by_label['SOLOv2']['inference_ratio'] == pytest.approx(ratio)
    # forced detections: every model post-processes candidates
    assert all(min(n['detections']) > 0 for n in numbers)
    # SparseInst is not forced: all its 100 queries pass at random init
    if SPARSEINST_CONFIG.is_file():
        assert by_label['SparseInst']['detections'] == [100]
        assert by_label['SparseInst (boxes only)']['detections'] == [100]
    # every RPN proposal is a class-0 detection; NMS keeps many
    assert by_label['Mask R-CNN']['detections'][0] > 50


def test_reports_written(full_run):
    out_dir, numbers, printed = full_run
    text = (out_dir / 'compare_models.md').read_text()
    assert text.startswith('# Model comparison')
    assert '--variant toy' in text and 'Load average at the start' in text
    assert f'torch {torch.__version__}' in text
    saved = json.loads((out_dir / 'compare_models.json').read_text())
    assert [r['label'] for r in saved['rows']] == \
        [n['label'] for n in numbers]
    _non_blank_png(out_dir / 'compare_models.png', (300, 500), 5000)
    assert not (out_dir / 'speed_accuracy.png').exists()
    assert 'written:' in printed


def test_checkpoint_evaluates_and_plots(tool, toy_root, tmp_path):
    # a randomly initialised tiny PolarNeXt that detects, as a checkpoint
    model = tool.build_model(
        tool.load_model_config(
            str(REPO_ROOT / tool.SPECS['polarnext'].configs['toy'])).model,
        torch.device('cpu')).eval()
    inputs = model.data_preprocessor(tool.raw_batch((192, 256), 0),
                                     False)['inputs']
    tool.force_detections(model, inputs, 300)
    ckpt = tmp_path / 'polarnext.pth'
    torch.save(dict(state_dict=model.state_dict(), meta=dict()), str(ckpt))
    numbers = tool.main(QUICK + [
        '--models', 'polarnext', 'solov2', '--checkpoint',
        f'polarnext={ckpt}', '--data-root', f'{toy_root}/',
        '--eval-max-images', '2', '--no-train', '--out-dir',
        str(tmp_path)
    ], lambda line: None)
    by_label = {n['label']: n for n in numbers}
    ap = by_label['PolarNeXt']['segm_mAP']
    # random shapes overlap the toy objects a little, never well
    assert ap is not None and 0 <= ap < 0.2
    assert by_label['SOLOv2']['segm_mAP'] is None
    assert by_label['PolarNeXt']['train_ms'] is None  # --no-train
    rows = _table_rows((tmp_path / 'compare_models.md').read_text())
    assert rows['model'][-1] == 'segm AP'
    assert float(rows['PolarNeXt'][-1]) == pytest.approx(100 * ap, abs=0.05)
    # two filled and one hollow marker
    _non_blank_png(tmp_path / 'speed_accuracy.png', (400, 500), 150)


def test_missing_config_is_skipped_with_a_note(tool, tmp_path):
    lines = []
    numbers = tool.main(QUICK + [
        '--models', 'polarnext', 'polarmask', '--no-train', '--config',
        f'polarmask={tmp_path}/missing.py', '--out-dir',
        str(tmp_path)
    ], lines.append)
    assert [n['label'] for n in numbers] == ['PolarNeXt (polygons only)',
                                             'PolarNeXt']
    assert any('PolarMask skipped' in line for line in lines)
    assert 'PolarMask skipped' in (tmp_path / 'compare_models.md').read_text()


def test_bad_arguments(tool):
    with pytest.raises(SystemExit, match='NAME=PATH'):
        tool.parse_pairs(['polarnext'], '--checkpoint')
    with pytest.raises(SystemExit, match='unknown model'):
        tool.parse_pairs(['yolo=x.pth'], '--checkpoint')
    with pytest.raises(SystemExit, match='checkpoint not found'):
        tool.main(QUICK + ['--models', 'solov2', '--checkpoint',
                           'solov2=/nonexistent.pth'], lambda line: None)


def test_peak_memory_counts_activations(tool):
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3, padding=1))

    class Wrapper(torch.nn.Module):
        """Minimal detector interface: preprocessor, loss, parse_losses."""

        def __init__(self):
            super().__init__()
            self.net = net

        def data_preprocessor(self, data, training):
            return dict(inputs=data['inputs'])

        def forward(self, inputs, mode):
            return dict(loss=self.net(inputs).square().mean())

        def parse_losses(self, losses):
            return losses['loss'], {}

    small = tool.peak_memory_mb(Wrapper(), dict(inputs=torch.randn(
        1, 3, 32, 32)), torch.device('cpu'))
    large = tool.peak_memory_mb(Wrapper(), dict(inputs=torch.randn(
        1, 3, 256, 256)), torch.device('cpu'))
    # (1, 8, 256, 256) float32 output alone is 2 MB
    assert small < 1 and large > 2
    assert np.isfinite(small)
