"""Per-browser state of the web app: one folder, one video session and at most one long job each.

A browser is known by a random session id (a cookie); :class:`SessionStore`
maps ids to :class:`AppSession` objects.  Long work (propagation, removal,
export) runs as a :class:`Job` in a thread of its own, so the page can poll its
progress and keep scrubbing frames meanwhile; a session runs one job at a time.
"""
import logging
import secrets
import shutil
import threading
import time
import traceback
from pathlib import Path
from typing import Any, Callable, Dict, Optional

from mmengine.logging import print_log

from seg.fileio.errors import InputError


class SessionBusyAppError(InputError):
    """A long job (propagation, removal, export) still runs in this session."""


class Job:
    """A long call run in a thread, with the progress the page polls.

    Args:
        kind: what runs ('propagate', 'inpaint', 'export').
        work: called with a ``progress(done, total)`` callback; its return value becomes ``result``.

    Attributes:
        done, total: frames (or steps) finished and expected; ``total`` is None when unknown.
        result: what ``work`` returned, once it finished.
        error: the one-line message of a user's error (``InputError``), or of an unexpected failure.
    """

    def __init__(self, kind: str, work: Callable[[Callable[[int, Optional[int]], None]], Any]):
        self.kind = kind
        self.done = 0
        self.total: Optional[int] = None
        self.result: Any = None
        self.error: Optional[str] = None
        self._work = work
        self._thread = threading.Thread(target=self._run, name=f'app-{kind}', daemon=True)

    def start(self) -> 'Job':
        self._thread.start()
        return self

    def _progress(self, done: int, total: Optional[int]) -> None:
        self.done, self.total = done, total

    def _run(self) -> None:
        try:
            self.result = self._work(self._progress)
        except InputError as err:
            self.error = str(err)
        except Exception as err:  # a bug: reported to the page and logged with its traceback
            self.error = f'{type(err).__name__}: {err}'
            print_log(f'the {self.kind} job failed:\n{traceback.format_exc()}', logger='current', level=logging.ERROR)

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def wait(self, timeout: Optional[float] = None) -> None:
        self._thread.join(timeout)

    def to_json(self) -> Dict[str, Any]:
        return dict(kind=self.kind, running=self.running, done=self.done, total=self.total, error=self.error,
                    result=self.result if isinstance(self.result, (str, int, float, type(None))) else None)


class AppSession:
    """One browser's state.

    Attributes:
        sid: the session id (cookie value).
        folder: this session's folder under the app's work dir; uploads and outputs go there only.
        video: the ``VideoSession`` of the open video, or None.
        video_name: the name shown for the open video.
        lock: serialises the calls that change ``video`` (prompts, propagation steps, removal); a request
            checks :meth:`check_idle` before taking it, so it gets a 409 rather than waiting for a job.
        job: the latest long job, running or finished, or None.
        last_used: ``time.monotonic()`` of the latest request.
    """

    def __init__(self, sid: str, folder: Path):
        self.sid = sid
        self.folder = folder
        self.video: Any = None
        self.video_name = ''
        self.lock = threading.RLock()
        self._job_lock = threading.Lock()
        self.job: Optional[Job] = None
        self.last_used = time.monotonic()

    @property
    def uploads(self) -> Path:
        return self.folder / 'uploads'

    @property
    def outputs(self) -> Path:
        return self.folder / 'outputs'

    @property
    def busy(self) -> bool:
        return self.job is not None and self.job.running

    def check_idle(self) -> None:
        """Raise :class:`SessionBusyAppError` while a job runs."""
        if self.busy:
            raise SessionBusyAppError(f'a {self.job.kind} is still running in this session: wait for it to finish '
                                      '(the progress bar), then try again')

    def start_job(self, kind: str, work: Callable) -> Job:
        """Run ``work`` as this session's job unless one runs already (:class:`SessionBusyAppError`)."""
        with self._job_lock:
            self.check_idle()
            self.job = Job(kind, work).start()
            return self.job


class SessionStore:
    """The sessions of one app, each with a folder under ``root / 'sessions'``.

    Args:
        root: the app's work dir.
        max_sessions: how many sessions are kept; beyond it, the least recently used idle one is dropped
            (its folder deleted).
    """

    def __init__(self, root: Path, max_sessions: int = 16):
        self.root = Path(root)
        self.max_sessions = max_sessions
        self._sessions: Dict[str, AppSession] = {}
        self._lock = threading.Lock()

    def get(self, sid: Optional[str]) -> Optional[AppSession]:
        session = self._sessions.get(sid) if sid else None
        if session is not None:
            session.last_used = time.monotonic()
        return session

    def create(self) -> AppSession:
        with self._lock:
            idle = sorted((s for s in self._sessions.values() if not s.busy), key=lambda s: s.last_used)
            while len(self._sessions) >= self.max_sessions and idle:
                self._drop(idle.pop(0))
            if len(self._sessions) >= self.max_sessions:
                raise SessionBusyAppError(f'all {self.max_sessions} sessions are running jobs; try again later')
            sid = secrets.token_urlsafe(24)
            folder = self.root / 'sessions' / sid
            folder.mkdir(parents=True)
            session = AppSession(sid, folder)
            self._sessions[sid] = session
            return session

    def _drop(self, session: AppSession) -> None:
        del self._sessions[session.sid]
        shutil.rmtree(session.folder, ignore_errors=True)

    def __len__(self) -> int:
        return len(self._sessions)
