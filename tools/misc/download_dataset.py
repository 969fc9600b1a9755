"""Download COCO 2017 or the coco128 segmentation sample into ``data/``
(README "Train on your own data").

Examples::

    python tools/misc/download_dataset.py coco128     # data/coco128_seg/, 7 MB
    python tools/misc/download_dataset.py coco2017 --parts annotations val
    python tools/misc/download_dataset.py coco2017    # data/coco/, + train2017 (18 GB)

* Archives are kept in ``data/downloads/`` (``--cache-dir``). An interrupted
  download goes on from its ``.part`` file when the server supports HTTP
  ranges (it starts over otherwise); a progress bar shows on a terminal.
* Checksums: COCO's zips are checked against their published MD5. The
  coco128-seg zip has no published checksum: its zip CRCs are tested, and
  its SHA-256 is printed and recorded beside it (``<archive>.sha256``) to
  be checked against on later runs. A corrupt download is deleted, with
  an error.
* ``--mirror URL`` fetches ``URL/<archive name>`` first (a mirror, a local
  copy; the tests use a local HTTP server).
* coco128: Ultralytics' coco128-seg holds YOLO segmentation labels; they are
  converted with ``tools/dataset_converters/yolo2coco.py`` into the layout
  of the configs (``configs/_base_/datasets/coco128_instance.py``):
  ``train/``, ``val/`` (every 5th image by name), ``annotations/
  instances_{train,val}.json`` with COCO's category ids and names and the
  COCO image ids.
* COCO 2017 unpacks to ``data/coco/{train2017,val2017,annotations}``, the
  layout of ``configs/_base_/datasets/coco_instance.py``.

A part already unpacked (or converted) is not fetched again; ``--force``
does it anyway.
"""
import argparse
import hashlib
import http.client
import os
import os.path as osp
import shutil
import socket
import sys
import urllib.error
import urllib.request
import zipfile
from typing import NamedTuple, Optional, Sequence, Tuple

from tqdm import tqdm

REPO_ROOT = osp.abspath(osp.join(osp.dirname(__file__), '..', '..'))
sys.path.insert(0, osp.join(REPO_ROOT, 'tools', 'dataset_converters'))
from coco_writer import ConversionError  # noqa: E402
from yolo2coco import convert_yolo  # noqa: E402

_CHUNK = 1 << 20
_USER_AGENT = 'polar-instance-seg/download_dataset'


class Archive(NamedTuple):
    """A downloadable zip: its file name, where to get it, its checksum."""
    name: str
    urls: Tuple[str, ...]
    md5: Optional[str] = None


class DownloadError(RuntimeError):
    """A download or an archive failed (the message says what to do)."""


# Published MD5s (cocodataset.org's zips, as listed e.g. in the MLPerf and
# Intel Neural Compressor download scripts).
COCO2017 = {
    'annotations': Archive(
        'annotations_trainval2017.zip',
        ('http://images.cocodataset.org/annotations/'
         'annotations_trainval2017.zip', ),
        md5='f4bbac642086de4f52a3fdda2de5fa2c'),
    'val': Archive(
        'val2017.zip', ('http://images.cocodataset.org/zips/val2017.zip', ),
        md5='442b8da7639aecaf257c1dceb8ba8c80'),
    'train': Archive(
        'train2017.zip',
        ('http://images.cocodataset.org/zips/train2017.zip', ),
        md5='cced6f7f71b7629ddf16f17bbcfab6b2'),
}
COCO128 = Archive(
    'coco128-seg.zip',
    ('https://github.com/ultralytics/assets/releases/download/v0.0.0/'
     'coco128-seg.zip', 'https://ultralytics.com/assets/coco128-seg.zip'))
#: The 80 COCO categories: (id, name, supercategory), in COCO's order (the
#: order of the YOLO class indices).
COCO_CATEGORIES = (
    (1, 'person', 'person'), (2, 'bicycle', 'vehicle'),
    (3, 'car', 'vehicle'), (4, 'motorcycle', 'vehicle'),
    (5, 'airplane', 'vehicle'), (6, 'bus', 'vehicle'),
    (7, 'train', 'vehicle'), (8, 'truck', 'vehicle'), (9, 'boat', 'vehicle'),
    (10, 'traffic light', 'outdoor'), (11, 'fire hydrant', 'outdoor'),
    (13, 'stop sign', 'outdoor'), (14, 'parking meter', 'outdoor'),
    (15, 'bench', 'outdoor'), (16, 'bird', 'animal'), (17, 'cat', 'animal'),
    (18, 'dog', 'animal'), (19, 'horse', 'animal'), (20, 'sheep', 'animal'),
    (21, 'cow', 'animal'), (22, 'elephant', 'animal'), (23, 'bear', 'animal'),
    (24, 'zebra', 'animal'), (25, 'giraffe', 'animal'),
    (27, 'backpack', 'accessory'), (28, 'umbrella', 'accessory'),
    (31, 'handbag', 'accessory'), (32, 'tie', 'accessory'),
    (33, 'suitcase', 'accessory'), (34, 'frisbee', 'sports'),
    (35, 'skis', 'sports'), (36, 'snowboard', 'sports'),
    (37, 'sports ball', 'sports'), (38, 'kite', 'sports'),
    (39, 'baseball bat', 'sports'), (40, 'baseball glove', 'sports'),
    (41, 'skateboard', 'sports'), (42, 'surfboard', 'sports'),
    (43, 'tennis racket', 'sports'), (44, 'bottle', 'kitchen'),
    (46, 'wine glass', 'kitchen'), (47, 'cup', 'kitchen'),
    (48, 'fork', 'kitchen'), (49, 'knife', 'kitchen'),
    (50, 'spoon', 'kitchen'), (51, 'bowl', 'kitchen'),
    (52, 'banana', 'food'), (53, 'apple', 'food'), (54, 'sandwich', 'food'),
    (55, 'orange', 'food'), (56, 'broccoli', 'food'), (57, 'carrot', 'food'),
    (58, 'hot dog', 'food'), (59, 'pizza', 'food'), (60, 'donut', 'food'),
    (61, 'cake', 'food'), (62, 'chair', 'furniture'),
    (63, 'couch', 'furniture'), (64, 'potted plant', 'furniture'),
    (65, 'bed', 'furniture'), (67, 'dining table', 'furniture'),
    (70, 'toilet', 'furniture'), (72, 'tv', 'electronic'),
    (73, 'laptop', 'electronic'), (74, 'mouse', 'electronic'),
    (75, 'remote', 'electronic'), (76, 'keyboard', 'electronic'),
    (77, 'cell phone', 'electronic'), (78, 'microwave', 'appliance'),
    (79, 'oven', 'appliance'), (80, 'toaster', 'appliance'),
    (81, 'sink', 'appliance'), (82, 'refrigerator', 'appliance'),
    (84, 'book', 'indoor'), (85, 'clock', 'indoor'), (86, 'vase', 'indoor'),
    (87, 'scissors', 'indoor'), (88, 'teddy bear', 'indoor'),
    (89, 'hair drier', 'indoor'), (90, 'toothbrush', 'indoor'))
#: Share of coco128 held out as val (every 5th image by name).
COCO128_VAL_RATIO = 0.2


# ------------------------------------------------------------- download
def _fetch(url: str, part: str, label: str, timeout: float) -> None:
    """Append ``url`` to ``part`` from its current size (HTTP range);
    start over when the server ignores the range.

    Raises:
        DownloadError: If the connection ends before the announced size.
        urllib.error.URLError, OSError: On network errors.
    """
    start = osp.getsize(part) if osp.isfile(part) else 0
    headers = {'User-Agent': _USER_AGENT}
    if start:
        headers['Range'] = f'bytes={start}-'
    request = urllib.request.Request(url, headers=headers)
    try:
        response = urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as err:
        if err.code == 416 and start:
            return  # nothing after `start`: the part is complete
        raise
    with response:
        if start and response.status != 206:
            start = 0  # the server sends the whole file
        length = response.headers.get('Content-Length')
        total = start + int(length) if length else None
        with open(part, 'ab' if start else 'wb') as f, tqdm(
                total=total, initial=start, unit='B', unit_scale=True,
                unit_divisor=1024, desc=label, disable=None,
                leave=False) as bar:
            try:
                while True:
                    chunk = response.read(_CHUNK)
                    if not chunk:
                        break
                    f.write(chunk)
                    bar.update(len(chunk))
            except (http.client.IncompleteRead, ConnectionError,
                    socket.timeout):
                pass  # the size check below reports it
    size = osp.getsize(part)
    if total is not None and size < total:
        raise DownloadError(
            f'{url}: connection closed after {size} of {total} bytes '
            f'(kept in {part}: run again to resume)')


def file_digests(path: str) -> Tuple[str, str]:
    """``(md5, sha256)`` hex digests of a file, read once."""
    md5, sha256 = hashlib.md5(), hashlib.sha256()
    with open(path, 'rb') as f, tqdm(
            total=osp.getsize(path), unit='B', unit_scale=True,
            unit_divisor=1024, desc='checksum', disable=None,
            leave=False) as bar:
        for chunk in iter(lambda: f.read(_CHUNK), b''):
            md5.update(chunk)
            sha256.update(chunk)
            bar.update(len(chunk))
    return md5.hexdigest(), sha256.hexdigest()


def verify(path: str, archive: Archive) -> str:
    """Check a downloaded archive against its MD5, or without one test its
    zip CRCs; returns its SHA-256.

    Raises:
        DownloadError: On a checksum mismatch or a corrupt zip.
    """
    md5, sha256 = file_digests(path)
    if archive.md5:
        if md5 != archive.md5:
            raise DownloadError(f'{archive.name}: MD5 {md5}, expected '
                                f'{archive.md5}')
        return sha256
    try:
        with zipfile.ZipFile(path) as zf:
            bad = zf.testzip()
    except zipfile.BadZipFile as err:
        raise DownloadError(f'{archive.name}: not a zip ({err})') from None
    if bad is not None:
        raise DownloadError(f'{archive.name}: corrupt member {bad}')
    return sha256


def check_recorded_sha256(sha256: str, record: str, name: str) -> None:
    """Compare with the SHA-256 recorded by an earlier download, if any.

    Raises:
        DownloadError: If they differ.
    """
    if not osp.isfile(record):
        return
    with open(record) as f:
        expected = f.read().split()[0]
    if sha256 != expected:
        raise DownloadError(
            f'{name}: SHA-256 {sha256}, recorded {expected} in {record} '
            '(delete the record if the archive was updated)')


def download(archive: Archive,
             cache_dir: str,
             mirror: Optional[str] = None,
             timeout: float = 60.) -> str:
    """Download ``archive`` into ``cache_dir`` (resumed, verified).

    Args:
        archive (Archive): What to fetch.
        cache_dir (str): Folder of the archives.
        mirror (str, optional): URL prefix tried first.
        timeout (float): Socket timeout in seconds.

    Returns:
        str: Path of the verified archive.

    Raises:
        DownloadError: If no URL works or the checksum does not match (the
            corrupt file is deleted then).
    """
    os.makedirs(cache_dir, exist_ok=True)
    dest = osp.join(cache_dir, archive.name)
    record = dest + '.sha256'
    if osp.isfile(dest):
        check_recorded_sha256(verify(dest, archive), record, archive.name)
        return dest
    part = dest + '.part'
    urls = list(archive.urls)
    if mirror:
        urls.insert(0, mirror.rstrip('/') + '/' + archive.name)
    errors = []
    for url in urls:
        try:
            _fetch(url, part, archive.name, timeout)
            break
        except (urllib.error.URLError, OSError, DownloadError) as err:
            errors.append(f'{url}: {getattr(err, "reason", err)}')
    else:
        raise DownloadError(f'cannot download {archive.name}: '
                            f'{"; ".join(errors)}')
    try:
        sha256 = verify(part, archive)
        check_recorded_sha256(sha256, record, archive.name)
    except DownloadError as err:
        os.remove(part)
        raise DownloadError(f'{err}: the download was deleted, run again') \
            from None
    os.replace(part, dest)
    if not archive.md5 and not osp.isfile(record):
        with open(record, 'w') as f:
            f.write(f'{sha256}  {archive.name}\n')
        print(f'{archive.name}: no published checksum; SHA-256 {sha256} '
              f'recorded in {record}')
    return dest


# -------------------------------------------------------------- unpack
def extract(archive_path: str, dest_dir: str) -> None:
    """Unpack a zip into ``dest_dir`` (members may not leave it).

    Raises:
        DownloadError: For a member path outside ``dest_dir``.
    """
    root = osp.realpath(dest_dir)
    with zipfile.ZipFile(archive_path) as zf:
        members = zf.infolist()
        for member in members:
            target = osp.realpath(osp.join(root, member.filename))
            if target != root and not target.startswith(root + os.sep):
                raise DownloadError(f'{archive_path}: member '
                                    f'{member.filename} leaves {dest_dir}')
        label = f'unpack {osp.basename(archive_path)}'
        for member in tqdm(members, desc=label, unit='file', disable=None,
                           leave=False):
            zf.extract(member, root)


def _done_marker(dest_dir: str, archive: Archive) -> str:
    return osp.join(dest_dir, f'.{archive.name}.done')


def fetch_and_extract(archive: Archive, cache_dir: str, dest_dir: str,
                      mirror: Optional[str], force: bool) -> bool:
    """Download and unpack ``archive`` unless already done; returns whether
    anything was done."""
    marker = _done_marker(dest_dir, archive)
    if osp.isfile(marker) and not force:
        return False
    path = download(archive, cache_dir, mirror)
    os.makedirs(dest_dir, exist_ok=True)
    extract(path, dest_dir)
    open(marker, 'w').close()
    return True


# ------------------------------------------------------------- datasets
def get_coco2017(data_dir: str, cache_dir: str, parts: Sequence[str],
                 mirror: Optional[str] = None, force: bool = False) -> str:
    """``data_dir/coco/{annotations,val2017,train2017}``."""
    dest = osp.join(data_dir, 'coco')
    for part in parts:
        if not fetch_and_extract(COCO2017[part], cache_dir, dest, mirror,
                                 force):
            print(f'coco2017 {part}: already in {dest}')
    return dest


def get_coco128(data_dir: str, cache_dir: str,
                mirror: Optional[str] = None, force: bool = False) -> str:
    """``data_dir/coco128_seg`` converted from Ultralytics' coco128-seg."""
    dest = osp.join(data_dir, 'coco128_seg')
    done = osp.join(dest, 'annotations', 'instances_val.json')
    if osp.isfile(done) and not force:
        print(f'coco128: already in {dest}')
        return dest
    raw = osp.join(cache_dir, 'coco128-seg-extracted')
    shutil.rmtree(raw, ignore_errors=True)
    extract(download(COCO128, cache_dir, mirror), raw)
    source = _yolo_root(raw)
    shutil.rmtree(dest, ignore_errors=True)
    convert_yolo(
        osp.join(source, 'images', 'train2017'),
        osp.join(source, 'labels', 'train2017'),
        dest,
        categories=[
            dict(id=cat_id, name=name, supercategory=supercategory)
            for cat_id, name, supercategory in COCO_CATEGORIES
        ],
        val_ratio=COCO128_VAL_RATIO,
        image_ids_from_names=True,
        info=dict(description='coco128-seg (Ultralytics) converted from '
                  'YOLO-seg polygons to COCO instances by '
                  'tools/misc/download_dataset.py'))
    for name, copy_as in (('LICENSE', 'SOURCE_LICENSE_GPL-3.0.txt'),
                          ('README.txt', 'SOURCE_README.txt')):
        if osp.isfile(osp.join(source, name)):
            shutil.copy(osp.join(source, name), osp.join(dest, copy_as))
    shutil.rmtree(raw, ignore_errors=True)
    return dest


def _yolo_root(raw: str) -> str:
    """The folder of the unpacked archive holding ``images/train2017``."""
    for folder, dirs, _ in os.walk(raw):
        if osp.isdir(osp.join(folder, 'images', 'train2017')):
            return folder
    raise DownloadError(f'no images/train2017 folder in the archive '
                        f'(unpacked in {raw})')


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Download COCO 2017 or the coco128 sample into data/')
    parser.add_argument('dataset', choices=['coco128', 'coco2017'])
    parser.add_argument(
        '--data-dir',
        default=osp.join(REPO_ROOT, 'data'),
        help='where the datasets go (default: <repo>/data)')
    parser.add_argument(
        '--cache-dir',
        help='where the archives are kept (default: DATA_DIR/downloads)')
    parser.add_argument(
        '--parts',
        nargs='+',
        choices=list(COCO2017),
        default=list(COCO2017),
        help='coco2017 parts (default: all; train2017 is 18 GB)')
    parser.add_argument(
        '--mirror', help='URL prefix tried first: URL/<archive name>')
    parser.add_argument(
        '--force',
        action='store_true',
        help='unpack (and convert) again what is already there')
    return parser.parse_args(argv)


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = parse_args(argv)
    cache_dir = args.cache_dir or osp.join(args.data_dir, 'downloads')
    try:
        if args.dataset == 'coco128':
            dest = get_coco128(args.data_dir, cache_dir, args.mirror,
                               args.force)
        else:
            dest = get_coco2017(args.data_dir, cache_dir, args.parts,
                                args.mirror, args.force)
    except (DownloadError, ConversionError, OSError,
            zipfile.BadZipFile) as err:
        print(f'error: {err}', file=sys.stderr)
        return 1
    print(f'{args.dataset}: ready in {dest}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
