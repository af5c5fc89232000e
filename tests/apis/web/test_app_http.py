"""The web app's HTTP layer without a browser: sessions, uploads, prompts, jobs, downloads, confinement.

A tiny stand-in for ``seg.apis.VideoSession`` (same interface, trivial masks) drives the web layer
alone here; tests/apis/web/test_app_browser.py drives the real session.
"""
import asyncio
import io
import json
import os
import subprocess
import sys
import threading
import time
import zipfile
from fractions import Fraction
from pathlib import Path
from typing import Dict, Optional

import cv2
import numpy as np
import pytest
from starlette.testclient import TestClient

from seg.apis.web import PathNotAllowedError, allowed_video_path, confined_file, create_app, video_session_factory
from seg.apis.web.server import COOKIE
from seg.fileio.errors import InputError
from seg.fileio.frames import VideoWriter, open_frames
from seg.fileio.palette import davis_palette, read_palette_png, write_palette_png

REPO = Path(__file__).resolve().parents[3]
NUM_FRAMES, HEIGHT, WIDTH = 6, 48, 64


class FakeSessionBusyError(InputError):
    pass


class FakeVideoSession:
    """Masks are discs of radius 6 around the first positive click (or the box), copied forward by ``propagate``.

    ``gate``: when set to an unset Event, ``propagate`` waits on it before its first frame (a long run).
    """

    gate: Optional[threading.Event] = None

    def __init__(self, video: Path, work_dir: Path):
        self.source = open_frames(video)  # raises FrameSourceError for a file that is not a video
        self.num_frames = self.source.num_frames
        self.size = self.source.size
        self.fps = self.source.fps
        self.backends = {'segmenter': ('FakeSegmenter', 'test'), 'tracker': ('FakeTracker', 'test')}
        self.work_dir = work_dir
        self._masks: Dict[int, Dict[int, np.ndarray]] = {}
        self.busy = False

    @property
    def objects(self):
        return sorted({i for masks in self._masks.values() for i in masks})

    def frame(self, index: int) -> np.ndarray:
        self._check_frame(index)
        return self.source.read([index])[0]

    def _check_frame(self, index: int) -> None:
        if not 0 <= index < self.num_frames:
            raise InputError(f'frame {index} is past the end ({self.num_frames} frames)')

    def add_prompt(self, frame, obj_id, points=None, labels=None, box=None, mask=None, text=None):
        self._check_frame(frame)
        height, width = self.size
        mask = np.zeros(self.size, bool)
        if points is not None:
            for x, y in points:
                if not (0 <= x < width and 0 <= y < height):
                    raise InputError(f'click ({x:g}, {y:g}) is outside the {width}x{height} frame')
            x, y = points[list(labels).index(1)] if 1 in list(labels) else points[0]
            yy, xx = np.mgrid[:height, :width]
            mask |= (xx - x) ** 2 + (yy - y) ** 2 <= 36
        if box is not None:
            x1, y1, x2, y2 = np.round(box).astype(int)
            mask[y1:y2, x1:x2] = True
        self._masks.setdefault(frame, {})[obj_id] = mask
        return mask

    correct = add_prompt

    def propagate(self, start=None, reverse=False, progress=None):
        if self.busy:
            raise FakeSessionBusyError('busy')
        self.busy = True
        try:
            if self.gate is not None:
                self.gate.wait(10)
            first = start or 0
            order = range(first, -1, -1) if reverse else range(first, self.num_frames)
            latest = dict(self._masks.get(first, {}))
            for done, index in enumerate(order, start=1):
                latest.update(self._masks.get(index, {}))
                self._masks[index] = dict(latest)
                progress(done, len(order))
                yield index, dict(latest)
        finally:
            self.busy = False

    def masks(self, index):
        self._check_frame(index)
        return dict(self._masks.get(index, {}))

    def remove_object(self, obj_id):
        if obj_id not in self.objects:
            raise InputError(f'unknown object id {obj_id}')
        for masks in self._masks.values():
            masks.pop(obj_id, None)

    def reset(self):
        self._masks.clear()

    def export(self, out_dir, formats=('png',), progress=None):
        out = Path(out_dir) / 'masks'
        out.mkdir(parents=True)
        (Path(out_dir) / 'masks_coco_rle.json').write_text('{}')
        for index in range(self.num_frames):
            ids = np.zeros(self.size, np.uint8)
            for obj_id, mask in self._masks.get(index, {}).items():
                ids[mask] = obj_id
            write_palette_png(out / f'{index:05d}.png', ids, davis_palette())
        return {'png': out, 'coco_rle': Path(out_dir) / 'masks_coco_rle.json'}

    def inpaint(self, obj_ids, out):
        writer = VideoWriter(Path(out), 'mp4', self.size, Fraction(self.fps or 10))
        for index, frame in enumerate(self.source):
            for obj_id in obj_ids:
                frame[self._masks.get(index, {}).get(obj_id, np.zeros(self.size, bool))] = 0
            writer.write(frame)
        writer.close()
        return out


def write_clip(path: Path, num_frames: int = NUM_FRAMES, height: int = HEIGHT, width: int = WIDTH) -> Path:
    """A small mp4: a bright square moving right over a gradient."""
    writer = VideoWriter(path, 'mp4', (height, width), Fraction(10))
    for t in range(num_frames):
        frame = np.zeros((height, width, 3), np.uint8)
        frame[..., 2] = np.linspace(0, 120, width, dtype=np.uint8)
        frame[16:32, 10 + 4 * t:26 + 4 * t] = (240, 220, 30)
        writer.write(frame)
    writer.close()
    return path


@pytest.fixture
def clip(tmp_path) -> Path:
    return write_clip(tmp_path / 'clip.mp4')


def make_client(tmp_path, **kwargs):
    app = create_app(tmp_path / 'work', session_factory=FakeVideoSession, **kwargs)
    client = TestClient(app)
    assert client.get('/').status_code == 200
    return client


def upload(client, clip, name='clip.mp4'):
    return client.post('/api/upload', params={'name': name}, content=clip.read_bytes())


def uploads_of(tmp_path):
    return sorted((tmp_path / 'work' / 'sessions').glob('*/uploads/*'))


def wait_job(client, timeout=20):
    deadline = time.time() + timeout
    while time.time() < deadline:
        job = client.get('/api/job').json()
        if not job['running']:
            return job
        time.sleep(0.05)
    raise AssertionError('job did not finish')


def test_page_sets_a_session_cookie_and_api_needs_it(tmp_path):
    client = make_client(tmp_path)
    assert COOKIE in client.cookies
    assert client.get('/api/state').json()['video'] is None
    assert 'canvas' in client.get('/').text and client.get('/static/app.js').status_code == 200
    stranger = TestClient(client.app)
    response = stranger.get('/api/state')
    assert response.status_code == 400 and 'load the page' in response.json()['error']
    stranger.cookies.set(COOKIE, 'forged-session-id')
    assert stranger.get('/api/state').status_code == 400


def test_upload_is_stored_under_a_generated_name(tmp_path, clip):
    client = make_client(tmp_path)
    response = upload(client, clip, name='../../../escape.mp4')
    assert response.status_code == 200, response.text
    state = response.json()
    assert state['num_frames'] == NUM_FRAMES and state['size'] == [48, 64] and state['video'] == 'escape.mp4'
    files = uploads_of(tmp_path)
    assert len(files) == 1 and files[0].suffix == '.mp4' and 'escape' not in files[0].name
    assert not (tmp_path / 'escape.mp4').exists()
    assert upload(client, clip).status_code == 200
    assert len(uploads_of(tmp_path)) == 1, 'the previous upload of the session is replaced'


def test_upload_over_the_limit_is_refused_before_it_is_written(tmp_path, clip):
    client = make_client(tmp_path, max_upload_mb=1000 / 2**20)
    response = upload(client, clip)
    assert response.status_code == 413 and '--max-upload-mb' in response.json()['error']
    assert uploads_of(tmp_path) == []
    received = []

    async def receive():  # no Content-Length: the limit is checked while streaming
        received.append(1)
        return {'type': 'http.request', 'body': b'x' * 400, 'more_body': len(received) < 100}

    sent = []

    async def send(message):
        sent.append(message)

    scope = dict(type='http', method='POST', path='/api/upload', raw_path=b'/api/upload', query_string=b'',
                 root_path='', scheme='http', http_version='1.1', server=('testserver', 80), client=('test', 1),
                 headers=[(b'cookie', f'{COOKIE}={client.cookies[COOKIE]}'.encode())])
    asyncio.run(client.app(scope, receive, send))
    assert sent[0]['status'] == 413 and len(received) == 3, 'stops reading at the limit'
    assert list((tmp_path / 'work' / 'sessions').rglob('*.part*')) == [] and uploads_of(tmp_path) == []


def test_upload_that_is_not_a_video_is_refused(tmp_path):
    client = make_client(tmp_path)
    response = client.post('/api/upload', params={'name': 'x.mp4'}, content=os.urandom(5000))
    assert response.status_code == 400 and 'video' in response.json()['error']
    assert uploads_of(tmp_path) == []
    assert client.post('/api/upload', content=b'').status_code == 400
    assert client.get('/api/state').json()['video'] is None


def test_prompt_shows_the_mask_and_bad_clicks_get_400(tmp_path, clip):
    client = make_client(tmp_path)
    upload(client, clip)
    plain = cv2.imdecode(np.frombuffer(client.get('/api/frame/0?overlay=0').content, np.uint8), cv2.IMREAD_COLOR)
    response = client.post('/api/prompt', json=dict(frame=0, obj_id=1, points=[[18, 24]], labels=[1]))
    assert response.status_code == 200, response.text
    assert response.json()['area'] > 50 and response.json()['objects'] == [1]
    overlay = cv2.imdecode(np.frombuffer(client.get('/api/frame/0').content, np.uint8), cv2.IMREAD_COLOR)
    assert overlay.shape == plain.shape == (48, 64, 3)
    assert np.abs(overlay[24, 18].astype(int) - plain[24, 18]).sum() > 40, 'mask blended at the click'
    assert np.abs(overlay[2, 60].astype(int) - plain[2, 60]).sum() < 20, 'nothing blended far from it'
    cases = [(dict(frame=0, obj_id=1, points=[[500, 10]], labels=[1]), 'outside'),
             (dict(frame=99, obj_id=1, points=[[5, 5]], labels=[1]), 'past the end'),
             (dict(frame=0, obj_id=0, points=[[5, 5]], labels=[1]), 'obj_id'),
             (dict(frame=0, obj_id=1, points=[[5, 5]], labels=[]), 'label'),
             (dict(frame=0, obj_id=1, points=[[5, 5]], labels=[3]), 'labels'),
             (dict(frame=0, obj_id=1), 'point or a box'),
             (dict(frame='0', obj_id=1, box=[1, 2, 3, 4]), 'frame')]
    for body, words in cases:
        response = client.post('/api/prompt', json=body)
        assert response.status_code == 400 and words in response.json()['error'], (body, response.text)
    response = client.post('/api/prompt', content=b'{not json')
    assert response.status_code == 400 and 'JSON' in response.json()['error']
    assert client.get('/api/frame/6').status_code == 400
    assert client.post('/api/objects/7/delete').status_code == 400


def test_second_propagate_while_one_runs_is_409(tmp_path, clip):
    client = make_client(tmp_path)
    upload(client, clip)
    assert client.post('/api/propagate', json={}).status_code == 400, 'nothing to propagate yet'
    client.post('/api/prompt', json=dict(frame=0, obj_id=1, box=[10, 16, 26, 32]))
    FakeVideoSession.gate = gate = threading.Event()
    try:
        assert client.post('/api/propagate', json=dict(start=0)).status_code == 202
        for request in (lambda: client.post('/api/propagate', json=dict(start=0)),
                        lambda: client.post('/api/inpaint', json={}),
                        lambda: client.post('/api/prompt', json=dict(frame=1, obj_id=1, points=[[5, 5]], labels=[1])),
                        lambda: upload(client, tmp_path / 'clip.mp4')):
            response = request()
            assert response.status_code == 409 and 'propagate is still running' in response.json()['error']
        assert client.get('/api/frame/0').status_code == 200, 'frames are still served during a job'
    finally:
        gate.set()
        FakeVideoSession.gate = None
    job = wait_job(client)
    assert job['error'] is None and job['done'] == job['total'] == NUM_FRAMES
    overlay = cv2.imdecode(np.frombuffer(client.get('/api/frame/5').content, np.uint8), cv2.IMREAD_COLOR)
    plain = cv2.imdecode(np.frombuffer(client.get('/api/frame/5?overlay=0').content, np.uint8), cv2.IMREAD_COLOR)
    assert np.abs(overlay[24, 18].astype(int) - plain[24, 18]).sum() > 40, 'the mask reached the last frame'


def test_export_and_remove_give_downloads(tmp_path, clip):
    client = make_client(tmp_path)
    upload(client, clip)
    client.post('/api/prompt', json=dict(frame=0, obj_id=2, points=[[18, 24]], labels=[1]))
    client.post('/api/propagate', json={})
    wait_job(client)
    assert client.post('/api/export', json=dict(what='everything')).status_code == 400
    assert client.post('/api/export', json=dict(what='masks')).status_code == 202
    assert wait_job(client)['result'] == 'masks.zip'
    response = client.get('/api/files/masks.zip', params={'download': '1'})
    assert response.status_code == 200 and 'attachment' in response.headers['content-disposition']
    with zipfile.ZipFile(io.BytesIO(response.content)) as archive:
        names = sorted(archive.namelist())
        assert names == [f'masks/{t:05d}.png' for t in range(NUM_FRAMES)] + ['masks_coco_rle.json']
        archive.extractall(tmp_path)
    ids, _ = read_palette_png(tmp_path / 'masks' / '00003.png')
    assert ids[24, 18] == 2 and ids[2, 60] == 0
    assert client.get('/api/frame/0?view=result').status_code == 404, 'no result before removal'
    assert client.post('/api/inpaint', json={}).status_code == 202
    job = wait_job(client)
    assert job['error'] is None and job['result'] == 'result.mp4'
    assert client.get('/api/state').json()['files'] == ['masks.zip', 'result.mp4']
    result = cv2.imdecode(np.frombuffer(client.get('/api/frame/0?view=result').content, np.uint8),
                          cv2.IMREAD_COLOR)
    assert result[24, 18].max() < 40, 'the fake removal blacks the object out'
    assert sorted(p.name for p in (tmp_path / 'work' / 'sessions').glob('*/outputs/*')) == ['masks.zip', 'result.mp4']


def test_files_outside_the_session_folder_are_never_served(tmp_path, clip):
    client = make_client(tmp_path)
    upload(client, clip)
    client.post('/api/prompt', json=dict(frame=0, obj_id=1, points=[[18, 24]], labels=[1]))
    client.post('/api/export', json=dict(what='masks'))
    wait_job(client)
    secret = tmp_path / 'secret.txt'
    secret.write_text('top-secret-content')
    outputs = next((tmp_path / 'work' / 'sessions').glob('*/outputs'))
    (outputs / 'link.txt').symlink_to(secret)
    (outputs / 'dir-link').symlink_to(tmp_path, target_is_directory=True)
    for url in ('/api/files/../../../../secret.txt', '/api/files/..%2F..%2F..%2F..%2Fsecret.txt',
                f'/api/files/{secret}', '/api/files/%2Fetc%2Fpasswd', '/api/files/link.txt',
                '/api/files/dir-link/secret.txt', '/static/../server.py', '/static/%2e%2e/server.py',
                '/api/files/..\\..\\secret.txt'):
        response = client.get(url)
        assert response.status_code in (403, 404), url
        assert b'top-secret-content' not in response.content and b'import' not in response.content, url
    assert client.get('/api/files/masks.zip').status_code == 200
    assert client.get('/api/files/nothing.zip').status_code == 404


def test_open_by_path_is_confined_to_the_video_dirs(tmp_path, clip):
    videos = tmp_path / 'videos'
    videos.mkdir()
    inside = videos / 'a.mp4'
    inside.write_bytes(clip.read_bytes())
    (videos / 'link.mp4').symlink_to(clip)
    client = make_client(tmp_path)
    response = client.post('/api/open', json=dict(path=str(inside)))
    assert response.status_code == 403 and '--video-dir' in response.json()['error']
    client = make_client(tmp_path, video_dirs=[videos])
    assert client.post('/api/open', json=dict(path='a.mp4')).json()['num_frames'] == NUM_FRAMES
    assert client.post('/api/open', json=dict(path=str(inside))).status_code == 200
    for path in (str(clip), '../clip.mp4', f'{videos}/../clip.mp4', 'link.mp4', '/etc/passwd'):
        response = client.post('/api/open', json=dict(path=path))
        assert response.status_code == 403 and 'outside the allowed' in response.json()['error'], path
    assert client.post('/api/open', json=dict(path='missing.mp4')).status_code == 404
    assert client.post('/api/open', json=dict(path=3)).status_code == 400
    assert uploads_of(tmp_path) == [], 'an opened path is read in place, not copied'


def test_sessions_are_isolated(tmp_path, clip):
    alice = make_client(tmp_path)
    bob = TestClient(alice.app)
    assert bob.get('/').status_code == 200 and bob.cookies[COOKIE] != alice.cookies[COOKIE]
    upload(alice, clip)
    alice.post('/api/prompt', json=dict(frame=0, obj_id=1, points=[[18, 24]], labels=[1]))
    alice.post('/api/export', json=dict(what='masks'))
    wait_job(alice)
    assert bob.get('/api/state').json()['video'] is None
    assert bob.get('/api/frame/0').status_code == 400
    assert bob.get('/api/files/masks.zip').status_code == 404
    assert bob.get('/api/job').json() is None
    assert alice.get('/api/files/masks.zip').status_code == 200


def test_least_recently_used_idle_session_is_dropped(tmp_path):
    client = make_client(tmp_path, max_sessions=2)
    first = client.cookies[COOKIE]
    for _ in range(2):
        TestClient(client.app).get('/')
    assert len(client.app.state.app.sessions) == 2
    assert client.get('/api/state').status_code == 400
    assert not (tmp_path / 'work' / 'sessions' / first).exists()


def test_confinement_helpers(tmp_path):
    root = tmp_path / 'root'
    (root / 'sub').mkdir(parents=True)
    (root / 'sub' / 'f.txt').write_text('x')
    assert confined_file(root, 'sub/f.txt') == (root / 'sub' / 'f.txt').resolve()
    for name in ('', '/etc/passwd', '../root/sub/f.txt', 'sub/../sub/f.txt', 'C:\\x', 'sub\\f.txt'):
        with pytest.raises(PathNotAllowedError):
            confined_file(root, name)
    with pytest.raises(FileNotFoundError):
        confined_file(root, 'sub')
    with pytest.raises(PathNotAllowedError, match='outside'):
        allowed_video_path(str(tmp_path), [root])
    target = (root / 'sub' / 'f.txt').resolve()
    assert allowed_video_path('sub/f.txt', [root, tmp_path / 'other']) == target, 'relative to the first folder'
    assert allowed_video_path(str(root / 'sub' / 'f.txt'), [tmp_path / 'other', root]) == target


def test_tool_refuses_a_bad_upload_limit():
    proc = subprocess.run([sys.executable, str(REPO / 'tools' / 'app.py'), '--max-upload-mb', '0'],
                          capture_output=True, text=True, cwd=REPO)
    assert proc.returncode == 2 and '--max-upload-mb must be > 0' in proc.stderr


def test_only_allowed_host_names_are_answered(tmp_path):
    app = create_app(tmp_path / 'work', session_factory=FakeVideoSession, allowed_hosts=['127.0.0.1', 'localhost'])
    assert TestClient(app, base_url='http://127.0.0.1:7860').get('/').status_code == 200
    assert TestClient(app, base_url='http://evil.example:7860').get('/').status_code == 400


def test_sessions_of_an_earlier_run_are_removed_at_start(tmp_path):
    stale = tmp_path / 'work' / 'sessions' / 'old-id' / 'uploads'
    stale.mkdir(parents=True)
    (tmp_path / 'work' / 'keep.txt').write_text('not the app\'s')
    make_client(tmp_path)
    assert not stale.parent.exists() and (tmp_path / 'work' / 'keep.txt').exists()


def test_a_failing_job_reports_its_error(tmp_path, clip):
    client = make_client(tmp_path)
    upload(client, clip)
    client.post('/api/prompt', json=dict(frame=0, obj_id=1, points=[[18, 24]], labels=[1]))
    session = next(iter(client.app.state.app.sessions._sessions.values()))
    session.video.export = lambda *args, **kwargs: 1 / 0
    assert client.post('/api/export', json=dict(what='masks')).status_code == 202
    assert wait_job(client)['error'] == 'ZeroDivisionError: division by zero'
    assert client.get('/api/state').json()['files'] == []


def test_real_session_errors_and_correction(tmp_path, clip):
    """The real VideoSession (no-weights backends) behind the HTTP layer: its errors become 400s, corrections work."""
    app = create_app(tmp_path / 'work', session_factory=video_session_factory(str(tmp_path / 'no-checkpoints')))
    client = TestClient(app)
    client.get('/')
    response = client.post('/api/upload', params={'name': 'x.mp4'}, content=os.urandom(5000))
    assert response.status_code == 400 and 'decode' in response.json()['error'] and uploads_of(tmp_path) == []
    assert upload(client, clip).json()['backends']['segmenter'][0] == 'GrabCutSegmenter'
    for body, words in ((dict(frame=0, obj_id=1, points=[[70, 10]], labels=[1]), 'outside'),
                        (dict(frame=0, obj_id=1, box=[5, 5, 80, 40]), 'outside'),
                        (dict(frame=9, obj_id=1, points=[[5, 5]], labels=[1]), 'past the end'),
                        (dict(frame=0, obj_id=255, points=[[5, 5]], labels=[1]), 'object ids')):
        response = client.post('/api/prompt', json=body)
        assert response.status_code == 400 and words in response.json()['error'], (body, response.text)
    response = client.post('/api/objects/3/delete')
    assert response.status_code == 400 and 'unknown object id' in response.json()['error']
    response = client.post('/api/prompt', json=dict(frame=0, obj_id=1, box=[6, 12, 30, 36]))
    assert response.status_code == 200 and response.json()['area'] > 100, response.text
    client.post('/api/propagate', json=dict(start=0))
    assert wait_job(client, 120)['error'] is None
    response = client.post('/api/prompt', json=dict(frame=3, obj_id=1, box=[18, 12, 42, 36]))
    assert response.status_code == 200, 'a prompt on a known object corrects it'
    client.post('/api/propagate', json=dict(start=3))
    job = wait_job(client, 120)
    assert job['error'] is None and job['total'] == NUM_FRAMES - 3
    client.post('/api/export', json=dict(what='masks'))
    assert wait_job(client, 120)['error'] is None
    with zipfile.ZipFile(io.BytesIO(client.get('/api/files/masks.zip').content)) as archive:
        archive.extractall(tmp_path)
    coco = json.loads((tmp_path / 'masks_coco_rle.json').read_text())
    assert len(coco['frames']) == NUM_FRAMES and coco['frames'][5]['objects'][0]['id'] == 1
    for t in range(NUM_FRAMES):
        ids, _ = read_palette_png(tmp_path / 'masks' / f'{t:05d}.png')
        assert ids[24, 18 + 4 * t] == 1, f'frame {t}: the square is object 1'
