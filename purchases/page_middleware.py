"""Django's session, login and messages middleware, for pages only.

The pages people open (admin, dashboard) need them; the JSON API has no sessions, no logins
and no messages (its views never read request.user), and each purchase paid for all three.
Each class here is Django's own, skipped on the API's paths: subclasses, so the admin's
checks that its middleware is installed still hold.
"""
from __future__ import annotations

from django.contrib.auth.middleware import AuthenticationMiddleware
from django.contrib.messages.middleware import MessageMiddleware
from django.contrib.sessions.middleware import SessionMiddleware

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


class PageAuthenticationMiddleware(_PagesOnly, AuthenticationMiddleware):
    pass


class PageMessageMiddleware(_PagesOnly, MessageMiddleware):
    pass
