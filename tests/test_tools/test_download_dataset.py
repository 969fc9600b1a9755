"""tools/misc/download_dataset.py against a local HTTP server (the machine
has no internet): resume, checksums, unpacking, coco128 conversion."""
import hashlib
import http.server
import json
import threading
import zipfile
from functools import partial
from pathlib import Path

import numpy as np
import pytest
from mmengine.config import ConfigDict
from PIL import Image

from conftest import load_tool
from mmdet_ext.utils import check_dataset

tool = load_tool('tools/misc/download_dataset.py')


class _Handler(http.server.SimpleHTTPRequestHandler):
    """Serves a folder. Python's handler ignores ``Range``; this one
    answers ``bytes=N-`` with 206 when the server's ``ranges`` is set, and
    ends the first response after ``cut_after`` bytes when that is set (a
    dropped connection)."""

    def do_GET(self):  # noqa: N802 (http.server's name)
        path = Path(self.translate_path(self.path))
        self.server.requests.append((self.path, self.headers.get('Range')))
        if not path.is_file():
            self.send_error(404)
            return
        data, start = path.read_bytes(), 0
        wanted = self.headers.get('Range')
        if wanted and self.server.ranges:
            start = int(wanted.split('=')[1].rstrip('-'))
            if start >= len(data):
                self.send_response(416)
                self.send_header('Content-Length', '0')
                self.end_headers()
                return
            self.send_response(206)
            self.send_header('Content-Range',
                             f'bytes {start}-{len(data) - 1}/{len(data)}')
        else:
            self.send_response(200)
        body = data[start:]
        self.send_header('Content-Length', str(len(body)))
        self.end_headers()
        if self.server.cut_after is not None:
            body, self.server.cut_after = body[:self.server.cut_after], None
            self.close_connection = True
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture()
def server(tmp_path):
    """A local HTTP server of ``tmp_path / 'www'``."""
    root = tmp_path / 'www'
    root.mkdir()
    httpd = http.server.ThreadingHTTPServer(
        ('127.0.0.1', 0), partial(_Handler, directory=str(root)))
    httpd.root, httpd.requests = root, []
    httpd.ranges, httpd.cut_after = True, None
    httpd.url = f'http://127.0.0.1:{httpd.server_address[1]}'
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()


def _archive(server, name, content, md5=True):
    """Serve ``content`` as ``name``; the Archive pointing at it."""
    (server.root / name).write_bytes(content)
    digest = hashlib.md5(content).hexdigest() if md5 else None
    return tool.Archive(name, (f'{server.url}/{name}', ), md5=digest)


def _fake_coco128(path, num_images=6):
    """A small coco128-seg.zip: YOLO layout, COCO-named images, one object
    in two merged parts, one image without labels."""
    with zipfile.ZipFile(path, 'w') as zf:
        for i in range(num_images):
            name = f'{(i + 1) * 9:012d}'
            img = Image.fromarray(np.full((48, 64, 3), 40 * i, np.uint8))
            buffer = path.parent / f'{name}.jpg'
            img.save(buffer)
            zf.write(buffer, f'coco128-seg/images/train2017/{name}.jpg')
            if i == 1:
                continue  # an image without objects
            lines = ['0 0.1 0.1 0.4 0.1 0.4 0.5 0.1 0.5']
            if i == 0:  # parts joined by a bridge, as Ultralytics writes
                lines.append('79 0.1 0.6 0.3 0.6 0.3 0.9 0.1 0.6 '
                             '0.6 0.6 0.9 0.6 0.9 0.9 0.6 0.6')
            zf.writestr(f'coco128-seg/labels/train2017/{name}.txt',
                        '\n'.join(lines) + '\n')
        zf.writestr('coco128-seg/LICENSE', 'GPL-3.0\n')
        zf.writestr('coco128-seg/README.txt', 'coco128-seg\n')
    return path


def test_coco128_is_downloaded_and_converted(server, tmp_path, capsys):
    _fake_coco128(server.root / 'coco128-seg.zip')
    data_dir = tmp_path / 'data'
    argv = ['coco128', '--data-dir', str(data_dir), '--mirror', server.url]
    assert tool.main(argv) == 0
    root = data_dir / 'coco128_seg'
    train = json.loads((root / 'annotations' /
                        'instances_train.json').read_text())
    val = json.loads((root / 'annotations' / 'instances_val.json').read_text())
    # every 5th image by name is val; COCO image ids and categories
    assert [img['id'] for img in train['images']] == [9, 18, 27, 36, 54]
    assert [img['id'] for img in val['images']] == [45]
    assert len(train['categories']) == 80
    assert train['categories'][-1] == dict(
        id=90, name='toothbrush', supercategory='indoor')
    toothbrush, = [a for a in train['annotations'] if a['category_id'] == 90]
    assert len(toothbrush['segmentation']) == 2  # the merged parts
    assert toothbrush['segmentation'][0] == [6.4, 28.8, 19.2, 28.8, 19.2,
                                             43.2]
    assert (root / 'val' / '000000000045.jpg').is_file()
    assert (root / 'SOURCE_LICENSE_GPL-3.0.txt').is_file()
    for split in ('train', 'val'):
        check_dataset(ConfigDict(
            data_root=f'{root}/', data_prefix=dict(img=f'{split}/'),
            ann_file=f'annotations/instances_{split}.json'), evaluated=True)
    record = data_dir / 'downloads' / 'coco128-seg.zip.sha256'
    sha256 = hashlib.sha256(
        (server.root / 'coco128-seg.zip').read_bytes()).hexdigest()
    assert record.read_text().split()[0] == sha256
    assert f'SHA-256 {sha256} recorded' in capsys.readouterr().out
    # a second run finds it done: no request
    server.requests.clear()
    assert tool.main(argv) == 0
    assert server.requests == []
    assert 'coco128: already in' in capsys.readouterr().out


def test_an_archive_that_changed_since_its_record_is_refused(
        server, tmp_path, capsys):
    _fake_coco128(server.root / 'coco128-seg.zip')
    argv = ['coco128', '--data-dir', str(tmp_path / 'data'), '--mirror',
            server.url, '--force']
    assert tool.main(argv) == 0
    (tmp_path / 'data' / 'downloads' / 'coco128-seg.zip').unlink()
    _fake_coco128(server.root / 'coco128-seg.zip', num_images=7)
    assert tool.main(argv) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert err.startswith('error: coco128-seg.zip: SHA-256 ')
    assert 'the download was deleted, run again' in err


def test_interrupted_download_resumes_with_a_range(server, tmp_path):
    content = np.random.default_rng(0).bytes(300_000)
    archive = _archive(server, 'a.zip', content)
    server.cut_after = 100_000
    with pytest.raises(tool.DownloadError, match='connection closed after '
                       '100000 of 300000 bytes .*run again to resume'):
        tool.download(archive, str(tmp_path / 'cache'))
    path = tool.download(archive, str(tmp_path / 'cache'))
    assert Path(path).read_bytes() == content
    assert server.requests[-1] == ('/a.zip', 'bytes=100000-')
    assert not (tmp_path / 'cache' / 'a.zip.part').exists()


def test_server_without_ranges_starts_over(server, tmp_path):
    content = np.random.default_rng(1).bytes(50_000)
    archive = _archive(server, 'a.zip', content)
    server.ranges = False
    cache = tmp_path / 'cache'
    cache.mkdir()
    (cache / 'a.zip.part').write_bytes(b'stale bytes of another file')
    path = tool.download(archive, str(cache))
    assert Path(path).read_bytes() == content


def test_checksum_mismatch_deletes_the_download(server, tmp_path):
    archive = _archive(server, 'a.zip', b'not what was published')
    archive = archive._replace(md5='0' * 32)
    with pytest.raises(tool.DownloadError, match='a.zip: MD5 .*, expected '
                       '0{32}: the download was deleted, run again'):
        tool.download(archive, str(tmp_path / 'cache'))
    assert list((tmp_path / 'cache').iterdir()) == []


def test_missing_file_is_one_error_line(server, tmp_path):
    archive = tool.Archive('nope.zip', (f'{server.url}/nope.zip', ))
    with pytest.raises(tool.DownloadError, match='cannot download nope.zip: '
                       'http://.*/nope.zip: Not Found'):
        tool.download(archive, str(tmp_path))


def test_coco2017_parts_unpack_to_the_config_layout(server, tmp_path,
                                                    monkeypatch):
    buffer = tmp_path / 'ann.zip'
    with zipfile.ZipFile(buffer, 'w') as zf:
        zf.writestr('annotations/instances_val2017.json', '{}')
    parts = dict(tool.COCO2017, annotations=_archive(
        server, 'annotations_trainval2017.zip', buffer.read_bytes()))
    monkeypatch.setattr(tool, 'COCO2017', parts)
    argv = ['coco2017', '--parts', 'annotations', '--data-dir',
            str(tmp_path / 'data')]
    assert tool.main(argv) == 0
    assert (tmp_path / 'data' / 'coco' / 'annotations' /
            'instances_val2017.json').is_file()
    server.requests.clear()
    assert tool.main(argv) == 0  # unpacked already: nothing fetched
    assert server.requests == []


def test_zip_members_may_not_leave_the_folder(tmp_path):
    evil = tmp_path / 'evil.zip'
    with zipfile.ZipFile(evil, 'w') as zf:
        zf.writestr('../outside.txt', 'x')
    with pytest.raises(tool.DownloadError, match='leaves'):
        tool.extract(str(evil), str(tmp_path / 'out'))
    assert not (tmp_path / 'outside.txt').exists()
