"""Read-only admin for staff to inspect purchases, kept fast at millions of rows."""
from __future__ import annotations

import uuid

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from purchases.admin_tools import CappedCountPaginator, CountLabelChangeList, ExactValueFilter
from purchases.models import AnalyticsBacklog, Purchase, PurchaseItem
from purchases.validation import plain_digits

# "View site" leads to the live dashboard: the site root is the API, which has no page.
admin.site.site_url = "/dashboard/"
admin.site.site_header = admin.site.site_title = "Tigle administration"


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


class SuperuserOnlyMixin:
    """Internal tables: what the system keeps for itself, not for staff to browse."""

    def has_module_permission(self, request: HttpRequest) -> bool:
        return request.user.is_active and request.user.is_superuser

    def has_view_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return request.user.is_active and request.user.is_superuser


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

    def get_changelist(self, request: HttpRequest, **kwargs) -> type:
        return CountLabelChangeList

    def get_ordering(self, request: HttpRequest) -> tuple[str, ...]:
        # The store filter's index holds a store's rows by date: newest day first, a page
        # reads its 100 entries instead of sorting every purchase the store ever made.
        if request.GET.get(StoreFilter.parameter_name):
            return ("-date", "-id")
        return self.ordering

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet, search_term: str
    ) -> tuple[QuerySet, bool]:
        term = search_term.strip()
        if not term:
            return queryset, False
        if plain_digits(term):
            return queryset.filter(customer_id=int(term)), False
        try:
            return queryset.filter(purchase_id=uuid.UUID(term)), False
        except ValueError:
            return queryset.none(), False


@admin.register(AnalyticsBacklog)
class AnalyticsBacklogAdmin(SuperuserOnlyMixin, ReadOnlyMixin, admin.ModelAdmin):
    """Sync mode: written purchases the analytics stream has not confirmed yet (the broker
    away, or a web process stopped before its confirm; each waits a few seconds at most
    otherwise)."""

    list_display = ("purchase_id", "created_at")
    readonly_fields = ("purchase_id", "event", "created_at")
    ordering = ("created_at",)
