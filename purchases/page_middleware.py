"""Django's session, CSRF, login, messages and framing middleware, for pages only.

The pages people open (admin, dashboard, API docs) need them; the JSON API has no sessions,
no logins and no forms (its views are CSRF-exempt and never read request.user), and each
purchase paid for all five. Each class here is Django's own, skipped on the API's paths:
subclasses, so the admin's checks that its middleware is installed still hold.
"""
from __future__ import annotations

from django.contrib.auth.middleware import AuthenticationMiddleware
from django.contrib.messages.middleware import MessageMiddleware
from django.contrib.sessions.middleware import SessionMiddleware
from django.middleware.clickjacking import XFrameOptionsMiddleware
from django.middleware.csrf import CsrfViewMiddleware

# The JSON API's own paths (purchases/urls.py): ingest, reads and health.
API_PREFIXES = ("/purchase/", "/items/", "/healthz")


def is_api(path: str) -> bool:
    return path.startswith(API_PREFIXES)


class _PagesOnly:
    get_response: object

    def __call__(self, request):
        if is_api(request.path_info):
            return self.get_response(request)
        return super().__call__(request)


class PageSessionMiddleware(_PagesOnly, SessionMiddleware):
    pass


class PageCsrfViewMiddleware(_PagesOnly, CsrfViewMiddleware):
    pass


class PageAuthenticationMiddleware(_PagesOnly, AuthenticationMiddleware):
    pass


class PageMessageMiddleware(_PagesOnly, MessageMiddleware):
    pass


class PageXFrameOptionsMiddleware(_PagesOnly, XFrameOptionsMiddleware):
    pass

