from django.urls import path

from purchases.apis import (
    HealthApi,
    PurchaseCreateApi,
    index,
    ReadsHealthApi,
    TopItemsApi,
    TopStoresApi,
)
from purchases.dashboard.views import dashboard_data, dashboard_page

urlpatterns = [
    path("", index, name="index"),
    path(
        "purchase/<str:storeID>/customer/<str:custID>/date/<str:date>",
        PurchaseCreateApi.as_view(),
        name="purchase-create",
    ),
    path("items/store/<str:storeID>", TopItemsApi.as_view(), name="top-items"),
    path("items/top5/<str:itemID>", TopStoresApi.as_view(), name="top-stores"),
    path("healthz", HealthApi.as_view(), name="healthz"),
    path("healthz/reads", ReadsHealthApi.as_view(), name="healthz-reads"),
    path("dashboard/", dashboard_page, name="dashboard"),
    path("dashboard/data", dashboard_data, name="dashboard-data"),
]
