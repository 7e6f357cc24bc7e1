from django.urls import path

from messaging.webhooks import views

urlpatterns = [path("", views.whatsapp_webhook, name="whatsapp_webhook")]
