"""The conversation list (Support's daily page). Built in brief L."""

from django.http import HttpResponse


def urls(model_admin) -> list:
    return []


def conversation_list(model_admin, request):
    return HttpResponse("The conversation list is being built.")
