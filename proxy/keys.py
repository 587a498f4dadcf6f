"""The typed keys of the gateway's `web.Application` state (aiohttp's `AppKey`)."""

from __future__ import annotations

from aiohttp import web

from proxy.modes import Opened
from proxy.pipeline import Pipeline
from proxy.redact import Redactor
from proxy.settings import Settings
from proxy.sinks import Sinks
from proxy.spec import Spec

SETTINGS = web.AppKey("settings", Settings)
SPEC = web.AppKey("spec", Spec)
SINKS = web.AppKey("sinks", Sinks)
#: What the mode opened at start-up; present while the application runs.
OPENED = web.AppKey("opened", Opened)
PIPELINE = web.AppKey("pipeline", Pipeline)
#: True only in the `portal-proxy` process: it may tune the garbage collector.
OWNS_PROCESS = web.AppKey("owns_process", bool)
#: The one redactor of cassettes and of the violations page's kept exchanges.
REDACTOR = web.AppKey("redactor", Redactor)
