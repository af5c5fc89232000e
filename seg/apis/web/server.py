"""The web app's HTTP layer: a Starlette application over :class:`seg.apis.VideoSession`.

Routes (JSON in and out unless said; errors are ``{"error": message}`` with
400 for bad input, 403 for a path outside the allowed folders, 404 for a missing
file, 409 while a job runs in the same session, 413 for an upload over the
limit):

* ``GET /`` the page (sets the session cookie); ``/static/...`` its script and style.
* ``POST /api/upload?name=clip.mp4`` the raw video bytes as the body; ``POST /api/open``
  ``{"path": ...}`` a video under one of the ``video_dirs``.
* ``GET /api/state`` the open video, its objects, backends, the job and the files to download.
* ``GET /api/frame/{i}?overlay=1&view=video|result`` frame ``i`` as JPEG, masks blended in.
* ``POST /api/prompt`` ``{"frame", "obj_id", "points": [[x, y], ...], "labels": [1|0, ...],
  "box": [x1, y1, x2, y2] | null}`` the object's mask on that frame (a correction when the
  object is known already).
* ``POST /api/objects/{id}/delete``, ``POST /api/reset``.
* ``POST /api/propagate`` ``{"start", "reverse"}``, ``POST /api/inpaint`` ``{"obj_ids"}``,
  ``POST /api/export`` ``{"what": "masks"|"overlay"}``: jobs; ``GET /api/job`` their progress.
* ``GET /api/files/{name}`` a file the jobs wrote (``masks.zip``: ``masks/00000.png, ...`` and
  ``masks_coco_rle.json``; ``overlay.mp4``; ``result.mp4``).
"""
import functools
import json
import os
import secrets
import shutil
import zipfile
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence

import cv2
import numpy as np
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from seg.fileio.atomic import atomic_path
from seg.fileio.errors import InputError
from seg.fileio.frames import open_frames
from seg.fileio.palette import davis_palette
from seg.visualization.overlay import overlay_masks
from ..video_session import SessionBusyError, VideoSession
from .paths import PathNotAllowedError, allowed_video_path, confined_file
from .sessions import AppSession, SessionBusyAppError, SessionStore

#: Folder of the page, its script and style (package data).
STATIC = Path(__file__).with_name('static')
#: Name of the cookie holding the session id.
COOKIE = 'fastsam2_session'
#: Suffixes an upload keeps; anything else is stored as ``.video`` (PyAV probes the content, not the name).
VIDEO_SUFFIXES = ('.mp4', '.mov', '.mkv', '.avi', '.webm', '.m4v', '.mpg', '.mpeg', '.ogv')
#: JPEG quality of the frames sent to the page.
JPEG_QUALITY = 90
#: Opacity of a mask over its frame in the page and the overlay.
MASK_ALPHA = 0.5
#: The files jobs write into a session's outputs, by what the page asks for, and the VideoSession formats in them:
#: ``masks.zip`` holds ``masks/00000.png, ...`` (palette PNGs, DAVIS layout) and ``masks_coco_rle.json``.
EXPORTS = {'masks': 'masks.zip', 'overlay': 'overlay.mp4'}
EXPORT_FORMATS = {'masks': ('png', 'coco_rle'), 'overlay': ('overlay_mp4',)}
RESULT = 'result.mp4'
#: Host names of this machine only; a server bound to one of them answers requests naming these only.
LOOPBACK_HOSTS = ('127.0.0.1', 'localhost')

SessionFactory = Callable[[Path, Path], Any]


class RequestError(InputError):
    """A request's body or arguments are malformed."""


class NoSessionError(InputError):
    """The request carries no known session id (the page was not loaded, or the server restarted)."""


class UploadTooLargeError(InputError):
    """An upload is bigger than ``--max-upload-mb``."""


def video_session_factory(checkpoints: str = 'checkpoints', device: str = 'cpu') -> SessionFactory:
    """``factory(video, work_dir)`` → a :class:`VideoSession` with the backends the checkpoints allow."""
    def factory(video: Path, work_dir: Path) -> VideoSession:
        return VideoSession(str(video), device=device, checkpoints=checkpoints, work_dir=str(work_dir))
    return factory


def _status_of(err: Exception) -> int:
    if isinstance(err, (SessionBusyError, SessionBusyAppError)):
        return 409
    if isinstance(err, UploadTooLargeError):
        return 413
    if isinstance(err, PathNotAllowedError):
        return 403
    if isinstance(err, FileNotFoundError):
        return 404
    return 400


def _api(handler: Callable) -> Callable:
    """Turn the user errors a handler raises into ``{"error": message}`` responses."""
    @functools.wraps(handler)
    async def endpoint(request: Request) -> Response:
        try:
            return await handler(request)
        except (InputError, FileNotFoundError) as err:
            return JSONResponse({'error': str(err)}, status_code=_status_of(err))
    return endpoint


async def _json(request: Request) -> Dict[str, Any]:
    try:
        body = json.loads(await request.body() or b'{}')
    except ValueError:
        raise RequestError('the request body is not valid JSON') from None
    if not isinstance(body, dict):
        raise RequestError('the request body must be a JSON object')
    return body


def _int(value: Any, name: str, minimum: Optional[int] = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise RequestError(f'{name} must be an integer, got {value!r}')
    if minimum is not None and value < minimum:
        raise RequestError(f'{name} must be >= {minimum}, got {value}')
    return value


def _numbers(value: Any, length: int, name: str) -> List[float]:
    if not isinstance(value, (list, tuple)) or len(value) != length or \
            not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value):
        raise RequestError(f'{name} must be {length} numbers, got {value!r}')
    return [float(v) for v in value]


def parse_prompt(body: Dict[str, Any]) -> Dict[str, Any]:
    """The keyword arguments of ``VideoSession.add_prompt`` from a ``/api/prompt`` body (types checked here;
    whether points lie inside the frame is the session's check)."""
    points = body.get('points') or []
    labels = body.get('labels') or []
    if not isinstance(points, list) or not isinstance(labels, list):
        raise RequestError('points and labels must be lists')
    if len(points) != len(labels):
        raise RequestError(f'{len(points)} points but {len(labels)} labels: give one label (1 or 0) per point')
    if any(label not in (0, 1) or isinstance(label, bool) for label in labels):
        raise RequestError(f'labels must be 1 (positive) or 0 (negative), got {labels}')
    box = body.get('box')
    if not points and box is None:
        raise RequestError('give at least one point or a box')
    return dict(frame=_int(body.get('frame'), 'frame', 0), obj_id=_int(body.get('obj_id'), 'obj_id', 1),
                points=np.array([_numbers(p, 2, 'a point') for p in points], np.float32) if points else None,
                labels=np.array(labels, np.int64) if points else None,
                box=np.array(_numbers(box, 4, 'box'), np.float32) if box is not None else None)


def render_frame(frame: np.ndarray, masks: Dict[int, np.ndarray]) -> np.ndarray:
    """(H, W, 3) uint8 RGB ``frame`` with each object's mask blended in its DAVIS palette colour and outlined."""
    ids = sorted(masks)
    if not ids:
        return frame
    colours = davis_palette()[[i % 256 for i in ids]]
    return overlay_masks(frame, np.stack([masks[i].astype(bool) for i in ids]), MASK_ALPHA, colours=colours)


def _jpeg(image: np.ndarray) -> Response:
    ok, data = cv2.imencode('.jpg', cv2.cvtColor(image, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
    return Response(data.tobytes(), media_type='image/jpeg', headers={'Cache-Control': 'no-store'})


def _zip_folder(folder: Path, target: Path) -> None:
    """Zip every file under ``folder`` (names relative to it) into ``target`` atomically."""
    with atomic_path(target) as tmp, zipfile.ZipFile(tmp, 'w', zipfile.ZIP_DEFLATED) as archive:
        for file in sorted(p for p in folder.rglob('*') if p.is_file()):
            archive.write(file, file.relative_to(folder).as_posix())


class App:
    """The state and handlers of one web app; :func:`create_app` wires them to routes.

    Args:
        work_dir: the only folder the app writes to (``sessions/<id>/`` per browser; the ``sessions`` folder
            of an earlier run is removed).
        max_upload_mb: the largest upload accepted, MiB.
        video_dirs: folders whose videos may be opened by server-side path (none: uploads only).
        session_factory: ``factory(video_path, work_dir)`` → a VideoSession (tests pass a small fake).
        max_sessions: browser sessions kept at once (the least recently used idle one is dropped).
    """

    def __init__(self, work_dir: Path, max_upload_mb: float = 500, video_dirs: Sequence[Path] = (),
                 session_factory: Optional[SessionFactory] = None, max_sessions: int = 16):
        self.work_dir = Path(work_dir)
        self.work_dir.mkdir(parents=True, exist_ok=True)
        # Session ids live in memory only, so the folders of an earlier run can no longer be reached.
        shutil.rmtree(self.work_dir / 'sessions', ignore_errors=True)
        self.max_upload_mb = max_upload_mb
        self.max_upload_bytes = int(max_upload_mb * 2**20)
        self.video_dirs = [Path(d) for d in video_dirs]
        self.session_factory = session_factory or video_session_factory()
        self.sessions = SessionStore(self.work_dir, max_sessions)

    # -- sessions -----------------------------------------------------------------------------------------

    def session(self, request: Request) -> AppSession:
        session = self.sessions.get(request.cookies.get(COOKIE))
        if session is None:
            raise NoSessionError('no session: load the page first (or reload it: the server restarted)')
        return session

    def video_of(self, request: Request) -> AppSession:
        session = self.session(request)
        if session.video is None:
            raise RequestError('no video is open: upload one or open one by path first')
        return session

    async def index(self, request: Request) -> Response:
        response = FileResponse(STATIC / 'index.html', headers={'Cache-Control': 'no-store'})
        if self.sessions.get(request.cookies.get(COOKIE)) is None:
            session = self.sessions.create()
            response.set_cookie(COOKIE, session.sid, httponly=True, samesite='strict')
        return response

    # -- opening a video ------------------------------------------------------------------------------------

    def _open(self, session: AppSession, path: Path, name: str, owned: bool) -> Dict[str, Any]:
        """Open ``path`` as the session's video; an owned (uploaded) file is deleted when it does not decode."""
        session.check_idle()
        with session.lock:
            try:
                video = self.session_factory(path, session.folder / 'work')
            except InputError:
                if owned:
                    path.unlink(missing_ok=True)
                raise
            for old in session.uploads.glob('*') if session.uploads.is_dir() else ():
                if old != path:
                    old.unlink()
            shutil.rmtree(session.outputs, ignore_errors=True)
            session.video, session.video_name, session.job = video, name, None
        return self.state_of(session)

    async def upload(self, request: Request) -> Response:
        session = self.session(request)
        session.check_idle()
        limit = self.max_upload_bytes
        too_large = f'the upload is larger than the limit of {self.max_upload_mb:g} MiB; cut the video shorter or ' \
                    'start the app with a larger --max-upload-mb'
        length = request.headers.get('content-length')
        if length is not None and length.isdigit() and int(length) > limit:
            raise UploadTooLargeError(too_large)
        name = Path(request.query_params.get('name', 'upload')).name or 'upload'
        suffix = Path(name).suffix.lower()
        target = session.uploads / f'{secrets.token_hex(8)}{suffix if suffix in VIDEO_SUFFIXES else ".video"}'
        size = 0
        with atomic_path(target) as tmp:
            with open(tmp, 'wb') as file:
                async for chunk in request.stream():
                    size += len(chunk)
                    if size > limit:
                        raise UploadTooLargeError(too_large)
                    file.write(chunk)
            if size == 0:
                raise RequestError('the upload is empty: choose a video file')
        return JSONResponse(await run_in_threadpool(self._open, session, target, name, True))

    async def open_path(self, request: Request) -> Response:
        session = self.session(request)
        body = await _json(request)
        path = body.get('path')
        if not isinstance(path, str):
            raise RequestError('give "path": the path of a video file on the server')
        video = allowed_video_path(path, self.video_dirs)
        return JSONResponse(await run_in_threadpool(self._open, session, video, video.name, False))

    # -- looking -------------------------------------------------------------------------------------------

    def state_of(self, session: AppSession) -> Dict[str, Any]:
        video = session.video
        state: Dict[str, Any] = dict(video=None, job=session.job.to_json() if session.job else None,
                                     max_upload_mb=self.max_upload_mb, can_open_paths=bool(self.video_dirs),
                                     files=sorted(p.name for p in session.outputs.glob('*') if p.is_file()
                                                  and not p.name.startswith('.')) if session.outputs.is_dir() else [])
        if video is not None:
            state.update(video=session.video_name, num_frames=int(video.num_frames), size=list(video.size),
                         fps=float(video.fps) if video.fps else None, objects=sorted(int(i) for i in video.objects),
                         backends={role: list(value) for role, value in video.backends.items()})
        return state

    async def state(self, request: Request) -> Response:
        return JSONResponse(self.state_of(self.session(request)))

    def _frame_image(self, session: AppSession, index: int, overlay: bool, view: str) -> np.ndarray:
        video = session.video
        if index >= video.num_frames:
            raise RequestError(f'frame {index} is past the end: the video has {video.num_frames} frames '
                               f'(0-{video.num_frames - 1})')
        if view == 'result':
            return open_frames(confined_file(session.outputs, RESULT)).read([index])[0]
        if view != 'video':
            raise RequestError(f'view must be video or result, got {view!r}')
        frame = video.frame(index)
        return render_frame(frame, video.masks(index)) if overlay else frame

    async def frame(self, request: Request) -> Response:
        session = self.video_of(request)
        image = await run_in_threadpool(self._frame_image, session, request.path_params['index'],
                                        request.query_params.get('overlay', '1') != '0',
                                        request.query_params.get('view', 'video'))
        return _jpeg(image)

    # -- prompting -----------------------------------------------------------------------------------------

    def _prompt(self, session: AppSession, prompt: Dict[str, Any]) -> Dict[str, Any]:
        session.check_idle()
        with session.lock:
            video = session.video
            call = video.correct if prompt['obj_id'] in video.objects else video.add_prompt
            mask = call(prompt.pop('frame'), prompt.pop('obj_id'), **prompt)
        return dict(area=int(np.count_nonzero(mask)), objects=sorted(int(i) for i in video.objects))

    async def prompt(self, request: Request) -> Response:
        session = self.video_of(request)
        prompt = parse_prompt(await _json(request))
        frame, obj_id = prompt['frame'], prompt['obj_id']
        result = await run_in_threadpool(self._prompt, session, prompt)
        return JSONResponse(dict(frame=frame, obj_id=obj_id, **result))

    def _locked(self, session: AppSession, call: Callable, *args) -> Dict[str, Any]:
        session.check_idle()
        with session.lock:
            call(*args)
        return self.state_of(session)

    async def delete_object(self, request: Request) -> Response:
        session = self.video_of(request)
        return JSONResponse(await run_in_threadpool(self._locked, session, session.video.remove_object,
                                                    request.path_params['obj_id']))

    async def reset(self, request: Request) -> Response:
        session = self.video_of(request)
        return JSONResponse(await run_in_threadpool(self._locked, session, session.video.reset))

    # -- jobs ----------------------------------------------------------------------------------------------

    async def propagate(self, request: Request) -> Response:
        session = self.video_of(request)
        body = await _json(request)
        start = body.get('start')
        start = None if start is None else _int(start, 'start', 0)
        reverse = bool(body.get('reverse', False))
        video = session.video
        if not video.objects:
            raise RequestError('no object to propagate: click on the object first')

        def work(progress: Callable) -> None:
            steps = video.propagate(start=start, reverse=reverse, progress=progress)
            while True:  # the lock is taken per frame, so frames and masks are served meanwhile
                with session.lock:
                    if next(steps, None) is None:
                        break

        return JSONResponse(session.start_job('propagate', work).to_json(), status_code=202)

    async def inpaint(self, request: Request) -> Response:
        session = self.video_of(request)
        body = await _json(request)
        video = session.video
        ids = body.get('obj_ids')
        ids = sorted(int(i) for i in video.objects) if ids is None else \
            [_int(i, 'an object id', 1) for i in (ids if isinstance(ids, list) else [ids])]
        if not ids:
            raise RequestError('no object to remove: click on the object and propagate first')

        def work(progress: Callable) -> str:
            progress(0, None)
            session.outputs.mkdir(parents=True, exist_ok=True)
            part = session.outputs / f'.part-{secrets.token_hex(4)}-{RESULT}'
            try:
                with session.lock:
                    written = Path(video.inpaint(ids, str(part)))
                os.replace(written, session.outputs / RESULT)
            finally:
                part.unlink(missing_ok=True)
            progress(1, 1)
            return RESULT

        return JSONResponse(session.start_job('inpaint', work).to_json(), status_code=202)

    async def export(self, request: Request) -> Response:
        session = self.video_of(request)
        what = (await _json(request)).get('what')
        if what not in EXPORTS:
            raise RequestError(f'what must be one of {sorted(EXPORTS)}, got {what!r}')
        video = session.video

        def work(progress: Callable) -> str:
            progress(0, None)
            session.outputs.mkdir(parents=True, exist_ok=True)
            folder = session.outputs / f'.part-{secrets.token_hex(4)}'
            try:
                with session.lock:
                    paths = video.export(str(folder), formats=EXPORT_FORMATS[what], progress=progress)
                if what == 'masks':
                    _zip_folder(folder, session.outputs / EXPORTS[what])
                else:
                    os.replace(paths['overlay_mp4'], session.outputs / EXPORTS[what])
            finally:
                shutil.rmtree(folder, ignore_errors=True)
            progress(1, 1)
            return EXPORTS[what]

        return JSONResponse(session.start_job('export', work).to_json(), status_code=202)

    async def job(self, request: Request) -> Response:
        session = self.session(request)
        return JSONResponse(session.job.to_json() if session.job else None)

    async def files(self, request: Request) -> Response:
        session = self.session(request)
        path = confined_file(session.outputs, request.path_params['name'])
        attachment = request.query_params.get('download') == '1'
        return FileResponse(path, filename=path.name if attachment else None, headers={'Cache-Control': 'no-store'})


def create_app(work_dir: Path, max_upload_mb: float = 500, video_dirs: Sequence[Path] = (),
               session_factory: Optional[SessionFactory] = None, max_sessions: int = 16,
               allowed_hosts: Optional[Sequence[str]] = None) -> Starlette:
    """The ASGI application (arguments as :class:`App`); ``app.state.app`` is the :class:`App`.

    ``allowed_hosts``: the ``Host`` headers answered (others get 400), so a web page elsewhere cannot reach a
    server on this machine by pointing its own domain at 127.0.0.1 (DNS rebinding); None answers any.
    """
    app = App(work_dir, max_upload_mb, video_dirs, session_factory, max_sessions)
    routes = [
        Route('/', app.index),
        Mount('/static', StaticFiles(directory=STATIC), name='static'),
        Route('/api/upload', _api(app.upload), methods=['POST']),
        Route('/api/open', _api(app.open_path), methods=['POST']),
        Route('/api/state', _api(app.state)),
        Route('/api/frame/{index:int}', _api(app.frame)),
        Route('/api/prompt', _api(app.prompt), methods=['POST']),
        Route('/api/objects/{obj_id:int}/delete', _api(app.delete_object), methods=['POST']),
        Route('/api/reset', _api(app.reset), methods=['POST']),
        Route('/api/propagate', _api(app.propagate), methods=['POST']),
        Route('/api/inpaint', _api(app.inpaint), methods=['POST']),
        Route('/api/export', _api(app.export), methods=['POST']),
        Route('/api/job', _api(app.job)),
        Route('/api/files/{name:path}', _api(app.files)),
    ]
    middleware = [Middleware(TrustedHostMiddleware, allowed_hosts=list(allowed_hosts))] if allowed_hosts else []
    starlette = Starlette(routes=routes, middleware=middleware)
    starlette.state.app = app
    return starlette


def serve(work_dir: Path, port: int = 7860, host: str = '127.0.0.1', max_upload_mb: float = 500,
          video_dirs: Sequence[Path] = (), checkpoints: str = 'checkpoints', device: str = 'cpu') -> None:
    """Run the app with uvicorn until interrupted; bound to a loopback address, it answers loopback names only."""
    import uvicorn
    loopback = host in LOOPBACK_HOSTS
    app = create_app(work_dir, max_upload_mb, video_dirs, video_session_factory(checkpoints, device),
                     allowed_hosts=LOOPBACK_HOSTS if loopback else None)
    uvicorn.run(app, host=host, port=port, log_level='info')
