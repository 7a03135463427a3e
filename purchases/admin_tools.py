"""Admin pieces that avoid full-table work: exact-value filters and a capped count."""
from __future__ import annotations

from django.contrib import admin
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.functional import cached_property


class ExactValueFilter(admin.SimpleListFilter):
    """A text box filter on one indexed column; no DISTINCT scan to list choices."""

    template = "admin/purchases/exact_value_filter.html"
    field = ""

    def __init__(self, request: HttpRequest, params: dict, model: type, model_admin: object) -> None:
        super().__init__(request, params, model, model_admin)
        # The filter's form must carry the page's other filters and search along.
        self.other_params = {
            name: value for name, value in request.GET.items()
            if name not in (self.parameter_name, "p")
        }

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list:
        # SimpleListFilter shows nothing without at least one choice; the template ignores it.
        return [("", "")]

    def has_output(self) -> bool:
        return True

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        if not self.value():
            return queryset
        try:
            return queryset.filter(**{self.field: self.value()})
        except (ValueError, ValidationError):
            return queryset.none()


class CappedCountPaginator(Paginator):
    """Counts at most CAP rows, so a page never costs a full COUNT(*) of a huge table."""

    CAP = 10_000

    @cached_property
    def count(self) -> int:
        if not isinstance(self.object_list, QuerySet):
            return len(self.object_list)
        return self.object_list.order_by()[: self.CAP].count()
