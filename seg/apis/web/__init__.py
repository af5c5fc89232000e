"""The browser app of ``tools/app.py``: open a video, click the object, propagate, correct, remove, download.

It drives :class:`seg.apis.VideoSession` only; see :mod:`seg.apis.web.server` for the routes.
"""
from .paths import PathNotAllowedError, allowed_video_path, confined_file
from .server import App, create_app, render_frame, serve, video_session_factory
from .sessions import AppSession, Job, SessionBusyAppError, SessionStore

__all__ = ['App', 'AppSession', 'Job', 'PathNotAllowedError', 'SessionBusyAppError', 'SessionStore',
           'allowed_video_path', 'confined_file', 'create_app', 'render_frame', 'serve', 'video_session_factory']
