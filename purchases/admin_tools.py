"""Admin pieces that avoid full-table work: exact-value filters, a capped count, and a
changelist that never shows a capped or estimated count as exact."""
from __future__ import annotations

from django.contrib import admin
from django.contrib.admin.views.main import ChangeList
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db import connections
from django.db.models import Model, QuerySet
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
    def counted(self) -> int:
        """Rows counted up to one past the cap: that one tells "exactly CAP" from "more"."""
        if not isinstance(self.object_list, QuerySet):
            return len(self.object_list)
        return self.object_list.order_by()[: self.CAP + 1].count()

    @cached_property
    def count(self) -> int:
        return min(self.counted, self.CAP)

    @property
    def capped(self) -> bool:
        return self.counted > self.CAP


def table_rows_estimate(model: type[Model], using: str) -> int | None:
    """The database's own estimate of a table's rows, read from its statistics without a
    scan; None where there is none (SQLite)."""
    connection = connections[using]
    if connection.vendor != "mysql":
        return None
    with connection.cursor() as cursor:
        cursor.execute("SELECT TABLE_ROWS FROM information_schema.TABLES "
                       "WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = %s",
                       [model._meta.db_table])
        row = cursor.fetchone()
    return int(row[0]) if row and row[0] is not None else None


def about(n: int) -> str:
    """n to three significant figures: an estimate shown with every digit would pass for exact."""
    digits = max(0, len(str(n)) - 3)
    return f"{round(n, -digits):,}"


class CountLabelChangeList(ChangeList):
    """A changelist whose count says "more than" or "about" whenever it is not exact."""

    @cached_property
    def count_label(self) -> str:
        """"9,870 purchases", "more than 10,000 purchases" or "about 10,800,000 purchases"."""
        opts, count = self.opts, self.result_count
        if not getattr(self.paginator, "capped", False):
            return f"{count:,} {opts.verbose_name if count == 1 else opts.verbose_name_plural}"
        if not self.has_active_filters and not self.query:
            # The whole table: its statistics give a better figure than the cap, for free.
            estimate = table_rows_estimate(self.model, self.root_queryset.db)
            if estimate is not None and estimate > count:
                return f"about {about(estimate)} {opts.verbose_name_plural}"
        return f"more than {count:,} {opts.verbose_name_plural}"

    @cached_property
    def pages_note(self) -> str:
        """Why the last page link stops short of the count: the paginator counted no further."""
        if not getattr(self.paginator, "capped", False):
            return ""
        return f"the pages reach the first {self.result_count:,}, a filter or a search finds the others"
