"""A COCO-format dataset whose classes come from its annotation file."""
import os.path as osp
from typing import List, Optional, Sequence, Tuple

from mmengine.fileio import get_local_path

from mmdet.datasets import CocoDataset
from mmdet.datasets.api_wrappers import COCO
from mmdet.registry import DATASETS
from mmdet_ext.utils.data_check import DataCheckError
from mmdet_ext.utils.dataset_classes import read_class_names


class _OrderedCOCO(COCO):
    """MMDetection's COCO API that refuses class names the labels would not
    match.

    ``CocoDataset`` numbers the labels in the order of the file's
    ``categories`` whatever the order of ``metainfo.classes``, and drops
    names the file does not have; both would silently give a label another
    class's name.
    """

    def __init__(self, annotation_file: Optional[str] = None) -> None:
        self.annotation_file = annotation_file
        super().__init__(annotation_file)

    def get_cat_ids(self, cat_names: Sequence[str] = (), *args,
                    **kwargs) -> List[int]:
        cat_ids = super().get_cat_ids(cat_names, *args, **kwargs)
        if cat_names:
            found = [self.cats[cat_id]['name'] for cat_id in cat_ids]
            if found != list(cat_names):
                raise DataCheckError(
                    f'metainfo.classes {tuple(cat_names)} do not match the '
                    f'categories of {self.annotation_file}: give names of '
                    'its categories in the order of the file (or no classes '
                    f'to use all of them: {tuple(found)})')
        return cat_ids


@DATASETS.register_module()
class CocoFormatDataset(CocoDataset):
    """MMDetection's ``CocoDataset`` with the classes of its annotation file.

    Without ``metainfo.classes`` the classes are the names of the file's
    ``categories``, in the file's order (the order in which ``CocoDataset``
    and ``CocoMetric`` number the labels), so any COCO-format folder needs
    no class list. ``metainfo.classes`` may still select some of them (in
    the file's order; other names are an error). The palette is COCO's,
    repeated as needed, unless ``metainfo.palette`` has enough colours.

    The model's ``num_classes`` is set from the same file by
    :func:`mmdet_ext.utils.sync_classes` (the tools call it).

    Args:
        ann_file (str): Annotation file, relative to ``data_root`` or
            absolute.
        metainfo (dict, optional): As ``CocoDataset``; ``classes`` is
            optional.
        data_root (str): Dataset root.
        backend_args (dict, optional): File backend arguments.
        **kwargs: As :class:`mmdet.datasets.CocoDataset`.
    """

    COCOAPI = _OrderedCOCO

    def __init__(self,
                 ann_file: str = '',
                 metainfo: Optional[dict] = None,
                 data_root: str = '',
                 backend_args: Optional[dict] = None,
                 **kwargs) -> None:
        metainfo = dict(metainfo or {})
        if not metainfo.get('classes'):
            metainfo['classes'] = self._file_classes(ann_file, data_root,
                                                     backend_args)
        metainfo['palette'] = repeat_palette(
            metainfo.get('palette') or self.METAINFO['palette'],
            len(metainfo['classes']))
        super().__init__(
            ann_file=ann_file,
            metainfo=metainfo,
            data_root=data_root,
            backend_args=backend_args,
            **kwargs)

    @staticmethod
    def _file_classes(ann_file: str, data_root: str,
                      backend_args: Optional[dict]) -> Tuple[str, ...]:
        """Category names of the annotation file (see the class docstring)."""
        if data_root and not osp.isabs(ann_file):
            ann_file = osp.join(data_root, ann_file)
        with get_local_path(ann_file, backend_args=backend_args) as path:
            return read_class_names(path)


def repeat_palette(palette: Sequence[tuple],
                   num_classes: int) -> List[tuple]:
    """``num_classes`` colours: ``palette`` cut or repeated to that length
    (MMDetection's visualiser needs one colour per label)."""
    palette = list(palette)
    return [palette[i % len(palette)] for i in range(num_classes)]
