"""ASGI entry point for multi-process serving (`smsgate-server serve --workers N`) and other ASGI servers."""

from .app import create_app
from .cli import freeze_startup_objects, tune_interpreter
from .config import load_settings
from .transport import use_guarded_connections

tune_interpreter()
use_guarded_connections()  # Hypercorn's worker processes (`serve --workers N`) import this module
app = create_app(load_settings(), migrate_on_start=False)
freeze_startup_objects()
