"""ASGI entry point for multi-process serving (`smsgate-server serve --workers N`) and other ASGI servers."""

from .app import create_app
from .cli import freeze_startup_objects, tune_interpreter
from .config import load_settings

tune_interpreter()
app = create_app(load_settings(), migrate_on_start=False)
freeze_startup_objects()
