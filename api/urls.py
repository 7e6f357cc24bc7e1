"""``/api/v1/`` (the endpoints), ``/api/schema/`` (OpenAPI) and ``/api/docs/`` (Swagger UI, served
from drf-spectacular-sidecar's files: no CDN)."""

from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView
from rest_framework.permissions import AllowAny

app_name = "api"

# The schema and its docs are public: they describe the API, they open nothing.
PUBLIC = {"permission_classes": [AllowAny], "authentication_classes": [], "throttle_classes": []}

urlpatterns = [
    path("v1/", include("api.endpoints.contacts")),
    path("v1/", include("api.endpoints.consents")),
    path("v1/", include("api.endpoints.templates")),
    path("v1/", include("api.endpoints.messages")),
    path("schema/", SpectacularAPIView.as_view(**PUBLIC), name="schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="api:schema", **PUBLIC), name="docs"),
    path("redoc/", SpectacularRedocView.as_view(url_name="api:schema", **PUBLIC), name="redoc"),
]
