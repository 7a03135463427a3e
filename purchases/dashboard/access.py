"""Who may read the dashboard's samples, checked without the database while it can be.

The page is served only after the admin's login (session and user from the database). It
carries a signed token, bound to the browser's session, that lets its polls through for a
few minutes without a database read: a database that is down then shows as down on the page
instead of failing every poll's login check. Once the token is old, a poll checks the login
against the database again, so a staff member removed or logged out loses access within
TOKEN_SECONDS.
"""
from __future__ import annotations

from concurrent.futures import TimeoutError as FutureTimeout

from django.conf import settings
from django.core import signing
from django.db import DatabaseError
from django.http import HttpRequest
from django.utils.crypto import constant_time_compare, salted_hmac

from purchases.greenlets import on_native_thread

SALT = "tigle.dashboard.access"
TOKEN_HEADER = "X-Dashboard-Token"
TOKEN_SECONDS = 300
# A poll answers within about a second (sample.py's deadline); so does its login check.
LOGIN_CHECK_SECONDS = 1.0


class LoginUncheckable(Exception):
    """The login could not be checked: the database did not answer."""


def _session_mark(request: HttpRequest) -> str:
    # A digest, not the key: the token sits in the page, where scripts can read it, and the
    # session cookie is kept from them.
    key = request.COOKIES.get(settings.SESSION_COOKIE_NAME, "")
    return salted_hmac(SALT, key).hexdigest() if key else ""


def token_issue(request: HttpRequest) -> str:
    return signing.dumps({"session": _session_mark(request)}, salt=SALT)


def token_valid(request: HttpRequest) -> bool:
    mark = _session_mark(request)
    try:
        claims = signing.loads(request.headers.get(TOKEN_HEADER, ""), salt=SALT,
                               max_age=TOKEN_SECONDS)
    except signing.BadSignature:  # expired ones too
        return False
    return bool(mark) and constant_time_compare(claims.get("session", ""), mark)


def _staff(request: HttpRequest) -> bool:
    return request.user.is_active and request.user.is_staff


def staff_logged_in(request: HttpRequest) -> bool:
    """The admin's own check, against the database (from a native thread under gevent);
    LoginUncheckable when it is down or does not answer in time."""
    try:
        # Threads of its own: admin pages stuck on the database do not hold the polls.
        return on_native_thread(_staff, request, pool="dashboard-login",
                                timeout=LOGIN_CHECK_SECONDS)
    except DatabaseError as exc:
        raise LoginUncheckable(str(exc)) from None
    except FutureTimeout:
        raise LoginUncheckable(f"no answer within {LOGIN_CHECK_SECONDS}s") from None
