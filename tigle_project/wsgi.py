"""The web process's WSGI application (gunicorn: tigle_project.wsgi)."""
import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tigle_project.settings")
application = get_wsgi_application()
