"""tools/analysis_tools/diagnose_polar.py: the command line around
:func:`mmdet_ext.evaluation.diagnose_checkpoint` (tested in
tests/test_mmdet_ext/test_evaluation_polar_diagnosis.py and, on a trained
model, in tests/test_projects/test_learnability.py)."""
import json

from conftest import load_tool

tool = load_tool('tools/analysis_tools/diagnose_polar.py')

RESULT = dict(
    variants={name: dict(AP=0.5, AP50=0.75, AP75=0.25)
              for name in ('official', 'no_nms')},
    num_objects=3, detections_per_image=12.0, best_iou_mean=0.8,
    best_iou_at_0_5=1.0, best_iou_at_0_75=0.5, recall_at_0_5=0.9,
    recall_at_0_75=0.4, duplicates_at_0_5=2, false_positives_at_0_5=7,
    oracle=dict(num_rays=36, center='centroid', AP=0.8, AP50=0.9, AP75=0.7,
                mean_iou=0.85))


def test_cli_passes_options_prints_table_and_writes_json(
        tmp_path, capsys, monkeypatch):
    calls = []

    def fake_diagnosis(config, checkpoint, cfg_options, oracle):
        calls.append((config, checkpoint, cfg_options, oracle))
        return RESULT

    monkeypatch.setattr(tool, 'diagnose_checkpoint', fake_diagnosis)
    out = tmp_path / 'factors.json'
    result = tool.main(['cfg.py', 'ckpt.pth', '--cfg-options',
                        'model.test_cfg.max_per_img=5', '--oracle',
                        '--out-json', str(out)])
    assert calls == [('cfg.py', 'ckpt.pth',
                      {'model.test_cfg.max_per_img': 5}, True)]
    assert result is RESULT and json.loads(out.read_text()) == RESULT
    printed = capsys.readouterr().out.splitlines()
    assert '| official | 0.500 | 0.750 | 0.250 |' in printed
    assert '| oracle (36 rays, centroid) | 0.800 | 0.900 | 0.700 |' in printed
    assert any('duplicates@0.5 2, false positives@0.5 7' in line
               for line in printed)
