from django.apps import AppConfig


class DashboardConfig(AppConfig):
    """An app of its own, so that its templates and static files are found beside its code."""

    name = "purchases.dashboard"
    label = "dashboard"
