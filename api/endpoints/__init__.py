"""The ``/api/v1/`` endpoints, one module per resource; each module lists its own ``urlpatterns``."""
