"""Image loading that refuses unusable files with a message naming them.

MMCV's ``LoadImageFromFile`` decodes with OpenCV, which returns a partly grey
image for a truncated JPEG or PNG (a warning on stderr, no error), so a
damaged file silently trains on garbage; a missing file or a file that is
not an image surfaces as a bare ``FileNotFoundError`` / ``AssertionError``
from a DataLoader worker. :class:`CheckedLoadImageFromFile` checks the end
marker of JPEG and PNG files (free: the bytes are read anyway) and raises
:class:`~mmdet_ext.utils.ImageLoadError` naming the file, or, with
``skip_bad=True``, skips the sample with a warning (training only: the
dataset then draws another index).
"""
import io
from typing import Optional

import mmcv
import numpy as np
from mmcv.transforms import LoadImageFromFile
from mmengine import fileio
from mmengine.logging import print_log
from PIL import Image

from mmdet.registry import TRANSFORMS
from mmdet_ext.utils.data_check import ImageLoadError

_JPEG_SOI = b'\xff\xd8'
_JPEG_EOI = b'\xff\xd9'
_PNG_MAGIC = b'\x89PNG\r\n\x1a\n'
_PNG_IEND = b'IEND\xaeB`\x82'
#: The end marker is looked for in this many last bytes (some writers pad);
#: beyond, Pillow decides (see :func:`image_defect`).
_TAIL_SLACK = 64


def image_defect(img_bytes: bytes) -> Optional[str]:
    """Why encoded image bytes are unusable, or None if they look complete.

    JPEG and PNG files end with a marker; when it is not among the last
    bytes the file is either cut short or carries trailing data after a
    complete image (some cameras append a thumbnail or a video), which
    Pillow's full decode tells apart. Other formats are judged by the
    decoder alone.

    Args:
        img_bytes (bytes): Content of the file.

    Returns:
        str | None: ``'empty file'``, ``'truncated JPEG (no end marker)'``
        or ``'truncated PNG (no IEND chunk)'``; None otherwise.
    """
    if not img_bytes:
        return 'empty file'
    tail = img_bytes[-_TAIL_SLACK:]
    if img_bytes.startswith(_JPEG_SOI) and _JPEG_EOI not in tail:
        if _pillow_says_truncated(img_bytes):
            return 'truncated JPEG (no end marker)'
    if img_bytes.startswith(_PNG_MAGIC) and _PNG_IEND not in tail:
        if _pillow_says_truncated(img_bytes):
            return 'truncated PNG (no IEND chunk)'
    return None


def _pillow_says_truncated(img_bytes: bytes) -> bool:
    """Decode fully with Pillow, which (unlike OpenCV) raises on a file
    that ends before the image data does."""
    try:
        with Image.open(io.BytesIO(img_bytes)) as img:
            img.load()
    except OSError:
        return True
    return False


@TRANSFORMS.register_module()
class CheckedLoadImageFromFile(LoadImageFromFile):
    """``LoadImageFromFile`` with a defined behaviour on unusable files.

    Grayscale and 4-channel images load as 3-channel BGR (``color_type``
    ``'color'``, as upstream). A missing file, an empty or truncated
    JPEG/PNG and bytes OpenCV cannot decode raise
    :class:`~mmdet_ext.utils.ImageLoadError` with the file name.

    Args:
        skip_bad (bool): Instead of raising, log a warning naming the file
            and return None, so that a training dataset draws another
            sample (``BaseDataset`` refuses None in test mode). Defaults to
            False.
        **kwargs: As :class:`mmcv.transforms.LoadImageFromFile`
            (``ignore_empty`` is not used: ``skip_bad`` replaces it).
    """

    def __init__(self, skip_bad: bool = False, **kwargs) -> None:
        super().__init__(**kwargs)
        self.skip_bad = skip_bad

    def _read(self, filename: str) -> bytes:
        try:
            return fileio.get(filename, backend_args=self.backend_args)
        except (FileNotFoundError, IsADirectoryError) as err:
            raise ImageLoadError(
                f'image file not found: {filename} ({err.strerror})') from None

    def _decode(self, filename: str) -> np.ndarray:
        img_bytes = self._read(filename)
        defect = image_defect(img_bytes)
        if defect is not None:
            raise ImageLoadError(f'unusable image {filename}: {defect}')
        try:
            img = mmcv.imfrombytes(
                img_bytes, flag=self.color_type, backend=self.imdecode_backend)
        except Exception as err:  # decoders raise many types
            raise ImageLoadError(
                f'unusable image {filename}: cannot decode ({err})') from None
        if img is None or img.size == 0:
            raise ImageLoadError(
                f'unusable image {filename}: cannot decode (not an image?)')
        return img

    def transform(self, results: dict) -> Optional[dict]:
        """Load ``results['img_path']`` (see the class docstring).

        Args:
            results (dict): Result dict with ``img_path``.

        Returns:
            dict | None: With ``img`` (H, W, 3) uint8 (float32 with
            ``to_float32``), ``img_shape`` and ``ori_shape``; None for a
            skipped file.
        """
        filename = results['img_path']
        try:
            img = self._decode(filename)
        except ImageLoadError as err:
            if not self.skip_bad:
                raise
            print_log(f'skipped: {err}', logger='current', level=30)
            return None
        if self.to_float32:
            img = img.astype(np.float32)
        results['img'] = img
        results['img_shape'] = img.shape[:2]
        results['ori_shape'] = img.shape[:2]
        return results

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(skip_bad={self.skip_bad}, '
                f'to_float32={self.to_float32}, '
                f"color_type='{self.color_type}', "
                f"imdecode_backend='{self.imdecode_backend}')")
