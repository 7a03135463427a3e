"""Read-only admin for staff to inspect purchases, kept fast at millions of rows."""
from __future__ import annotations

import uuid

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from purchases.admin_tools import CappedCountPaginator, ExactValueFilter
from purchases.models import AnalyticsBacklog, Purchase, PurchaseItem


class StoreFilter(ExactValueFilter):
    title = "store ID"
    parameter_name = "store"
    field = "store_id"


class DateFilter(ExactValueFilter):
    title = "date (YYYY-MM-DD)"
    parameter_name = "day"
    field = "date"


class ReadOnlyMixin:
    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


class PurchaseItemInline(ReadOnlyMixin, admin.TabularInline):
    model = PurchaseItem
    fields = ("item_id", "quantity")
    readonly_fields = fields
    extra = 0
    can_delete = False


@admin.register(Purchase)
class PurchaseAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = ("purchase_id", "store_id", "customer_id", "date", "created_at")
    list_filter = (StoreFilter, DateFilter)
    # Exact matches only: both columns are indexed, a LIKE '%...%' would scan the table.
    search_fields = ("customer_id", "purchase_id")
    search_help_text = "A customer ID or a purchase ID (exact)."
    readonly_fields = ("purchase_id", "store_id", "customer_id", "date", "created_at")
    inlines = (PurchaseItemInline,)
    ordering = ("-id",)
    list_select_related = ()
    show_full_result_count = False
    # Facet counts would run a COUNT per filter choice on every page.
    show_facets = admin.ShowFacets.NEVER
    paginator = CappedCountPaginator
    list_per_page = 100

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet, search_term: str
    ) -> tuple[QuerySet, bool]:
        term = search_term.strip()
        if not term:
            return queryset, False
        if term.isdigit():
            return queryset.filter(customer_id=int(term)), False
        try:
            return queryset.filter(purchase_id=uuid.UUID(term)), False
        except ValueError:
            return queryset.none(), False


@admin.register(AnalyticsBacklog)
class AnalyticsBacklogAdmin(ReadOnlyMixin, admin.ModelAdmin):
    """Sync mode: written purchases the analytics stream has not confirmed yet (the broker
    away, or a web process stopped before its confirm; each waits a few seconds at most
    otherwise)."""

    list_display = ("purchase_id", "created_at")
    readonly_fields = ("purchase_id", "event", "created_at")
    ordering = ("created_at",)
