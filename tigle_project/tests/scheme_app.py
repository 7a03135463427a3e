"""A WSGI application that answers how a request's scheme looks to gunicorn and to Django
(test_web_scheme.py)."""
import django

django.setup()

from django.core.handlers.wsgi import WSGIRequest  # noqa: E402  (after setup, as Django needs)


def application(environ, start_response):
    secure = WSGIRequest(environ).is_secure()
    body = f"{environ['wsgi.url_scheme']} {'https' if secure else 'http'}".encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]
