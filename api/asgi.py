"""ASGI entry point for uvicorn workers: ``zhengyin.api.asgi:app``."""

from __future__ import annotations

from .app import create_app
from .logs import configure_logging
from .settings import Settings

_settings = Settings.load()
configure_logging(_settings.log_level, json_output=_settings.log_json)
app = create_app(_settings)
