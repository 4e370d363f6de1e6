"""DRF plumbing shared by every app's api.py: the one exception handler, and one URL for several operations.

* `exception_handler` (settings: REST_FRAMEWORK["EXCEPTION_HANDLER"]): a `StudioError` a service raised is
  `{"detail": message}` with the error's status; Django's `ValidationError` (field-keyed input errors) is a
  400 shaped like a serializer's errors; everything else is DRF's own handling. API views therefore call
  services without try/except.
* `operations(get=ThingListApi, post=ThingCreateApi)`: one APIView per operation while a collection keeps
  its one URL (GET lists, POST creates). Each request goes to the view of its method, with that view's
  permissions, parsers and schema; `schema_operations` shows drf-spectacular the same views.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import exceptions
from rest_framework.response import Response
from rest_framework.serializers import as_serializer_error
from rest_framework.views import APIView, set_rollback
from rest_framework.views import exception_handler as drf_exception_handler

from core.errors import StudioError


def exception_handler(exc, context):
    if isinstance(exc, StudioError):
        set_rollback()
        return Response({"detail": exc.message}, status=exc.status)
    if isinstance(exc, DjangoValidationError):
        exc = exceptions.ValidationError(as_serializer_error(exc))
    return drf_exception_handler(exc, context)


def operations(**views: type[APIView]):
    """The URL view serving each HTTP method (`get=`, `post=`…) with its own APIView.

    Other methods (405, OPTIONS) are answered as DRF does, with the permissions of the first operation, so a
    caller without access still gets 403 rather than 405.
    """
    callbacks = {method.lower(): view.as_view() for method, view in views.items()}
    if "get" in callbacks:
        callbacks.setdefault("head", callbacks["get"])
    first = next(iter(views.values()))

    def delegated(self, request, *args, **kwargs):  # never runs: dispatch hands these methods over first
        raise AssertionError("dispatched to the operation's own view")

    def dispatch(self, request, *args, **kwargs):
        callback = callbacks.get(request.method.lower())
        if callback is not None:
            return callback(request, *args, **kwargs)
        return APIView.dispatch(self, request, *args, **kwargs)

    attrs = {
        "__doc__": " / ".join(view.__name__ for view in views.values()),
        "__module__": first.__module__,
        "permission_classes": first.permission_classes,
        "operations": dict(views),
        "dispatch": dispatch,
        **{method: delegated for method in callbacks},
    }
    route = type("Operations", (APIView,), attrs)
    return route.as_view()


def schema_operations(endpoints):
    """drf-spectacular pre-processing hook: document each operation of an `operations()` URL by its own view."""
    result = []
    for path, path_regex, method, callback in endpoints:
        views = getattr(getattr(callback, "cls", None), "operations", None)
        if views and method.lower() in views:
            callback = views[method.lower()].as_view()
        result.append((path, path_regex, method, callback))
    return result
