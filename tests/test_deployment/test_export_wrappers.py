"""The tensor-only export wrappers (no ONNX needed, seconds): run eagerly and
post-processed outside, they give the PyTorch model's instances, for both
polar heads, with and without NMS in the wrapper, top-k active or not,
rescaled, on images of any size and on an image without detections."""
import pytest
import torch
import torch.nn as nn

from deploy_cases import (assert_same_instances, forced_model, image_batch,
                          pytorch_instances, refining_model)
from mmdet_ext.deployment import (EXPORT_WRAPPERS, build_export_wrapper,
                                  postprocess, register_export_wrapper)
from mmdet_ext.deployment.export_wrappers import (PolarExportWrapper,
                                                  class_aware_nms)

# Sizes after the test pipeline's resize: the calibration size, one that is
# no multiple of 32 (padding in the graph) and a portrait one.
SIZES = [(192, 256), (200, 300), (320, 224)]


@pytest.fixture(scope='module')
def polarnext():
    return forced_model('polarnext')


@pytest.fixture(scope='module')
def polarmask():
    return forced_model('polarmask')


def wrapper_instances(model, data, with_nms, rescale=True):
    """The wrapper's outputs post-processed as ONNX Runtime's would be."""
    wrapper = build_export_wrapper(model, with_nms=with_nms)
    image = data['inputs'][0][None].float()
    with torch.no_grad():
        outputs = wrapper(image)
    arrays = {
        name: value.numpy()
        for name, value in zip(wrapper.output_names, outputs)
    }
    return postprocess(arrays, data['data_samples'][0].metainfo,
                       wrapper.metadata(), rescale)


@pytest.mark.parametrize('with_nms', [False, True])
@pytest.mark.parametrize('size', SIZES)
def test_polarnext_wrapper_matches_predict(polarnext, size, with_nms):
    data = image_batch(size, seed=1, scale=(0.8, 0.75))
    expected = pytorch_instances(polarnext, data)
    got = wrapper_instances(polarnext, data, with_nms)
    assert len(expected) > 10
    assert_same_instances(expected, got, f'PolarNeXt {size}', 1e-6, 1e-4)


@pytest.mark.parametrize('refine_score', ['refined', 'product'])
@pytest.mark.parametrize('size', SIZES[1:])
def test_polarnext_refine_wrapper_matches_predict(size, refine_score):
    model = refining_model()
    model.bbox_head.test_cfg['refine_score'] = refine_score
    data = image_batch(size, seed=1, scale=(0.8, 0.75))
    expected = pytorch_instances(model, data)
    got = wrapper_instances(model, data, with_nms=True)
    assert len(expected) > 10
    assert type(build_export_wrapper(model)).__name__ == (
        'PolarNeXtRefineExportWrapper')
    assert_same_instances(expected, got, f'PolarNeXt refine {size}', 1e-6,
                          1e-4)


@pytest.mark.parametrize('with_nms', [False, True])
@pytest.mark.parametrize('size', SIZES)
def test_polarmask_wrapper_matches_predict(polarmask, size, with_nms):
    data = image_batch(size, seed=1, scale=(1.25, 1.25))
    expected = pytorch_instances(polarmask, data)
    got = wrapper_instances(polarmask, data, with_nms)
    assert len(expected) > 10
    assert_same_instances(expected, got, f'PolarMask {size}', 1e-6, 1e-4)


@pytest.mark.parametrize('name', ['polarnext', 'polarmask'])
@pytest.mark.parametrize('test_cfg', [
    dict(nms_pre=20),
    dict(nms_pre=20, max_per_img=5),
    dict(mask_nms=True, quality_offset=0.2),
])
def test_wrapper_follows_test_cfg(name, test_cfg, request):
    """Top-k smaller than every level, fewer detections kept, PolarMask's
    NMS on polygon boxes and its quality offset: the wrapper reads the
    head's test_cfg as predict does."""
    model = request.getfixturevalue(name)
    saved = dict(model.bbox_head.test_cfg)
    model.bbox_head.test_cfg.update(test_cfg)
    try:
        data = image_batch((192, 256), seed=1)
        expected = pytorch_instances(model, data)
        for with_nms in (False, True):
            got = wrapper_instances(model, data, with_nms)
            assert_same_instances(expected, got, f'{name} {test_cfg}', 1e-6,
                                  1e-4)
    finally:
        model.bbox_head.test_cfg.clear()
        model.bbox_head.test_cfg.update(saved)
    if 'max_per_img' in test_cfg:
        assert len(expected) == test_cfg['max_per_img']


@pytest.mark.parametrize('name', ['polarnext', 'polarmask'])
def test_image_without_detections(name):
    """Random weights without forcing: every score is below the threshold,
    so all outputs are empty with the right trailing shapes."""
    model = forced_model(name, forced=False)
    data = image_batch((192, 256), seed=1)
    assert len(pytorch_instances(model, data)) == 0
    wrapper = build_export_wrapper(model, with_nms=True)
    with torch.no_grad():
        boxes, scores, labels, polygons, origins = wrapper(
            data['inputs'][0][None].float())
    assert boxes.shape == (0, 4) and scores.shape == (0, )
    assert labels.shape == (0, ) and labels.dtype == torch.int64
    assert polygons.shape == (0, 36, 2) and origins.shape == (0, 2)
    for with_nms in (False, True):
        got = wrapper_instances(model, data, with_nms)
        assert len(got) == 0 and len(got.masks) == 0


def test_preprocess_matches_data_preprocessor(polarnext):
    data = image_batch((200, 300), seed=2)
    expected = polarnext.data_preprocessor(data, False)['inputs']
    wrapper = build_export_wrapper(polarnext)
    got = wrapper.preprocess(data['inputs'][0][None])
    assert got.shape == expected.shape == (1, 3, 224, 320)
    assert torch.allclose(got, expected, atol=1e-6)


def test_class_aware_nms_keeps_overlaps_of_other_classes():
    boxes = torch.tensor([[0., 0., 10., 10.], [1., 1., 10., 10.],
                          [0., 0., 10., 10.], [20., 20., 30., 30.]])
    scores = torch.tensor([0.9, 0.8, 0.7, 0.6])
    labels = torch.tensor([0, 0, 1, 0])
    keep = class_aware_nms(boxes, scores, labels, 0.5)
    assert keep.tolist() == [0, 2, 3]
    empty = class_aware_nms(boxes[:0], scores[:0], labels[:0], 0.5)
    assert empty.shape == (0, )


def test_registry_picks_wrapper_by_head_class(polarnext):
    assert {'PolarNeXtHead', 'PolarMaskHead'} <= set(EXPORT_WRAPPERS)
    wrapper = build_export_wrapper(polarnext)
    assert type(wrapper).__name__ == 'PolarNeXtExportWrapper'
    assert wrapper.output_names == ('boxes', 'scores', 'labels', 'polygons',
                                    'origins')
    with pytest.raises(KeyError, match='already registered'):
        register_export_wrapper('PolarNeXtHead')(PolarExportWrapper)


def test_registry_errors_name_the_exportable_heads(polarnext):
    """A head without a wrapper, a model without a head, an NMS the graph
    does not have: clear errors."""

    class OtherHead(nn.Module):
        pass

    class Detector(nn.Module):

        def __init__(self, head):
            super().__init__()
            self.data_preprocessor = polarnext.data_preprocessor
            if head is not None:
                self.bbox_head = head

    with pytest.raises(ValueError, match='no ONNX export wrapper for '
                       'OtherHead.*PolarMaskHead, PolarNeXtHead'):
        build_export_wrapper(Detector(OtherHead()))
    with pytest.raises(ValueError, match='has no bbox_head'):
        build_export_wrapper(Detector(None))
    saved = dict(polarnext.bbox_head.test_cfg)
    polarnext.bbox_head.test_cfg['nms'] = dict(
        type='soft_nms', iou_threshold=0.5)
    try:
        with pytest.raises(ValueError, match='export without NMS'):
            build_export_wrapper(polarnext, with_nms=True)
        build_export_wrapper(polarnext, with_nms=False)  # NMS outside: fine
    finally:
        polarnext.bbox_head.test_cfg.update(saved)


def test_postprocess_rejects_unknown_graphs():
    with pytest.raises(ValueError, match="no post-processing for graphs of "
                       "'SomeWrapper'"):
        postprocess({}, {}, dict(wrapper='SomeWrapper'))
