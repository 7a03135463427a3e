"""The web process's WSGI application: the JSON API on a short middleware chain, the rest
(admin, API docs, static files) on the full one; without Django's request receivers that
have nothing to do under these settings (idle_receivers.py)."""
import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tigle_project.settings")
_full = get_wsgi_application()

from django.conf import settings  # noqa: E402 (after Django is set up)

from tigle_project.idle_receivers import idle_receivers_disconnect  # noqa: E402
from tigle_project.lean import ApiHandler, by_path  # noqa: E402

idle_receivers_disconnect()

application = by_path(prefixes=settings.API_PATH_PREFIXES, api=ApiHandler(), rest=_full)
