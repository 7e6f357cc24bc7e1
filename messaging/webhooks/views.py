"""/webhooks/whatsapp/: the verify handshake (GET) and signed events (POST) — see DESIGN.md, Webhook."""

from django.http import HttpResponse


def whatsapp_webhook(request):
    return HttpResponse(status=501)
