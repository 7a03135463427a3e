from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from purchases.metrics import metrics_view

urlpatterns = [
    path("", include("purchases.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="docs"),
    path("admin/", admin.site.urls),
    path("metrics", metrics_view, name="metrics"),
]

handler400 = "purchases.apis.bad_request"
handler404 = "purchases.apis.not_found"
handler500 = "purchases.apis.server_error"
