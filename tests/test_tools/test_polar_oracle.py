"""tools/analysis_tools/polar_oracle.py: the command line around
:func:`mmdet_ext.evaluation.run_oracle` (tested in
tests/test_mmdet_ext/test_evaluation_polar_oracle.py)."""
import json

from conftest import load_tool

oracle = load_tool('tools/analysis_tools/polar_oracle.py')


def _squares_file(path):
    """Two 40 x 40 squares of one class on a 160 x 200 image."""
    squares = [[10, 10, 50, 10, 50, 50, 10, 50],
               [100, 60, 140, 60, 140, 100, 100, 100]]
    path.write_text(json.dumps(dict(
        images=[dict(id=1, width=200, height=160, file_name='0.jpg')],
        categories=[dict(id=1, name='a')],
        annotations=[
            dict(id=i + 1, image_id=1, category_id=1, iscrowd=0,
                 segmentation=[square], area=1600.0, bbox=[0, 0, 1, 1])
            for i, square in enumerate(squares)
        ])))
    return str(path)


def test_cli_prints_and_writes_strict_json(tmp_path, capsys):
    out = tmp_path / 'sub' / 'oracle.json'
    result = oracle.main([
        _squares_file(tmp_path / 'squares.json'), '--num-rays', '18',
        '--center', 'inside', '--out-json', str(out)
    ])
    printed = capsys.readouterr().out
    assert 'AP50=100.0' in printed and 'mean IoU' in printed

    def reject(constant):
        raise ValueError(f'non-standard JSON constant {constant}')

    saved = json.loads(out.read_text(), parse_constant=reject)
    assert saved['num_rays'] == 18 and saved['center'] == 'inside'
    assert saved['mean_iou_large'] is None  # NaN in the returned dict
    assert saved['AP50'] == result['AP50'] == 1.0
