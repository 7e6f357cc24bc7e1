"""A conversation's thread and its composer. Built in brief C."""

from django.http import HttpResponse


def urls(model_admin) -> list:
    return []


def conversation_thread(model_admin, request, object_id):
    return HttpResponse("The conversation thread is being built.")
