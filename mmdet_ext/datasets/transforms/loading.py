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

It also makes the image agree with the annotation file. OpenCV applies the
EXIF orientation of a photo, which swaps its width and height for
orientations 5 to 8; most annotation tools show (and annotate) the photo
that way, but COCO-style files may describe the stored pixels. When the
dataset gives the image's ``height`` and ``width`` (``CocoDataset`` does),
the loaded image must have them: if only the stored pixels do, they are
used (the annotations were made on them); any other size is an error (the
file was resized or replaced after annotating). Mirrored or 180-degree
orientations (2 to 4) keep the size and are applied, as viewers do.
"""
import io
from typing import Optional, Tuple

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
#: ``color_type`` values under which OpenCV applies the EXIF orientation,
#: and their variants that keep the stored pixels.
_IGNORE_ORIENTATION = {
    'color': 'color_ignore_orientation',
    'grayscale': 'grayscale_ignore_orientation',
}


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
    :class:`~mmdet_ext.utils.ImageLoadError` with the file name, and so
    does an image whose size is not the ``height`` x ``width`` of the
    annotation file, unless its stored pixels (before the EXIF orientation)
    have it, in which case they are used (module docstring).

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

    def _decode(self,
                filename: str,
                expected: Optional[Tuple[int, int]] = None) -> np.ndarray:
        """Decode ``filename``; with ``expected`` ``(height, width)``, as
        an image of that size (see the class docstring)."""
        img_bytes = self._read(filename)
        defect = image_defect(img_bytes)
        if defect is not None:
            raise ImageLoadError(f'unusable image {filename}: {defect}')
        img = self._imfrombytes(filename, img_bytes, self.color_type)
        if expected is None or img.shape[:2] == expected:
            return img
        stored_flag = _IGNORE_ORIENTATION.get(self.color_type)
        if stored_flag is not None:
            stored = self._imfrombytes(filename, img_bytes, stored_flag)
            if stored.shape[:2] == expected:
                return stored
        raise ImageLoadError(
            f'unusable image {filename}: {img.shape[1]}x{img.shape[0]} '
            f'pixels, the annotation file says {expected[1]}x{expected[0]}'
            ' (resized or replaced after annotating?)')

    def _imfrombytes(self, filename: str, img_bytes: bytes,
                     flag: str) -> np.ndarray:
        try:
            img = mmcv.imfrombytes(
                img_bytes, flag=flag, backend=self.imdecode_backend)
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
            results (dict): Result dict with ``img_path`` and, from a
                dataset, the annotation file's ``height`` and ``width``.

        Returns:
            dict | None: With ``img`` (H, W, 3) uint8 (float32 with
            ``to_float32``), ``img_shape`` and ``ori_shape``; None for a
            skipped file.
        """
        filename = results['img_path']
        expected = None
        if results.get('height') and results.get('width'):
            expected = (int(results['height']), int(results['width']))
        try:
            img = self._decode(filename, expected)
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
