"""The dashboard page (staff only, through the admin's login) and the JSON sample it polls."""
from __future__ import annotations

from django.contrib.admin.views.decorators import staff_member_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from purchases.dashboard.access import (
    TOKEN_HEADER,
    LoginUncheckable,
    staff_logged_in,
    token_issue,
    token_valid,
)
from purchases.dashboard.sample import dashboard_sample
from purchases.events import MAX_ITEM_ID, MAX_STORE_ID
from purchases.validation import plain_digits

# How often the page asks for a sample; after an answer slower than this, at once.
POLL_MILLISECONDS = 500
# Rates are taken over this many seconds of samples: one poll apart they would jump.
RATE_SECONDS = 2
TILES = [
    ("accepted", "Accepted", "/s", "purchases answered 201 on this host"),
    ("written", "Written", "/s", "rows in the database"),
    ("counted", "Counted", "/s", "purchases in analytics"),
    ("backlog", "Backlog", "messages", "waiting in purchases.db"),
    ("lag", "Analytics lag", "messages", "in the stream, not yet counted"),
]
PARTS = ["web", "database", "broker", "worker", "analytics"]


@require_GET
@never_cache
@staff_member_required
def dashboard_page(request: HttpRequest) -> HttpResponse:
    return render(request, "dashboard/index.html", {
        "poll_ms": POLL_MILLISECONDS, "rate_seconds": RATE_SECONDS, "tiles": TILES,
        "parts": PARTS, "token": token_issue(request), "token_header": TOKEN_HEADER})


def _chosen(request: HttpRequest, name: str, high: int) -> int | None:
    value = request.GET.get(name, "")
    return int(value) if plain_digits(value) and 1 <= int(value) <= high else None


@require_GET
@never_cache
def dashboard_data(request: HttpRequest) -> JsonResponse:
    token = None
    if not token_valid(request):
        try:
            if not staff_logged_in(request):
                # A 403, not the login page's redirect: the page's script links to the login.
                return JsonResponse({"message": "staff login required"}, status=403)
        except LoginUncheckable as exc:
            return JsonResponse({"message": f"login not checkable, the database is not "
                                            f"answering: {exc}"}, status=503)
        token = token_issue(request)
    sample = dashboard_sample(store_id=_chosen(request, "store", MAX_STORE_ID),
                              item_id=_chosen(request, "item", MAX_ITEM_ID))
    return JsonResponse({**sample, "token": token})
