from django.urls import path

from purchases.apis import HealthApi, PurchaseCreateApi

urlpatterns = [
    path(
        "purchase/<str:store_id>/customer/<str:customer_id>/date/<str:date>",
        PurchaseCreateApi.as_view(),
        name="purchase-create",
    ),
    path("healthz", HealthApi.as_view(), name="healthz"),
]
