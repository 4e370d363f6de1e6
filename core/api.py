"""DRF plumbing shared by every app's api.py: the one exception handler, and one URL for several operations.

* `exception_handler` (settings: REST_FRAMEWORK["EXCEPTION_HANDLER"]): a `StudioError` a service raised is
  `{"detail": message}` with the error's status; Django's `ValidationError` (field-keyed input errors) is a
  400 shaped like a serializer's errors; everything else is DRF's own handling. API views therefore call
  services without try/except.
* `operations(get=ThingListApi, post=ThingCreateApi)`: one APIView per operation while a collection keeps
  its one URL (GET lists, POST creates). Each request goes to the view of its method, with that view's
  permissions, parsers and schema; `schema_operations` shows drf-spectacular the same views.
* `StudioAutoSchema` (settings: REST_FRAMEWORK["DEFAULT_SCHEMA_CLASS"]): every operation also documents the
  errors the plumbing above answers with (400 field errors, 401, 403, 404 when the path names an object), so
  the schema lists every status a client can get; statuses a service chooses (409, 422…) are declared per
  operation with `extend_schema(responses={409: ErrorOutput})`. Checked by scripts/fuzz_api.py (schemathesis).
"""

from __future__ import annotations

from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.plumbing import ResolvedComponent
from rest_framework import exceptions, serializers
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.serializers import as_serializer_error
from rest_framework.views import APIView, set_rollback
from rest_framework.views import exception_handler as drf_exception_handler

from core.converters import MAX_ID
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


class IdField(serializers.IntegerField):
    """An object's id in a request: 1 to MAX_ID. A larger number is a 400 here instead of reaching the database,
    which fails on it (a 500) wherever the ORM does not range-check the lookup (foreign keys, raw SQL)."""

    def __init__(self, **kwargs):
        super().__init__(min_value=1, max_value=MAX_ID, **kwargs)


class ErrorOutput(serializers.Serializer):
    """Every refusal but field errors: DRF's 401/403/404/405 and a `StudioError`'s message."""

    detail = serializers.CharField()


# A 400 is a serializer's field errors ({field: [message, …]}, nested fields as objects: {"scores": {"x":
# [...]}}, list items by index), {"non_field_errors": [...]}, or a StudioError's {"detail": message}.
VALIDATION_ERROR_SCHEMA = {
    "type": "object",
    "description": "Field errors: {field: [message, …]} (nested fields and list items as objects keyed by name "
                   "or index), or {\"detail\": message} when the request as a whole is refused.",
    "additionalProperties": {
        "anyOf": [
            {"type": "string"},
            {"type": "array", "items": {"type": "string"}},
            {"type": "object"},
        ],
    },
}


class StudioAutoSchema(AutoSchema):
    """drf-spectacular's AutoSchema, plus the error responses the shared plumbing can give on every operation."""

    def _get_response_bodies(self, direction="response"):
        responses = super()._get_response_bodies(direction)
        validation = self._validation_error_ref()
        if "400" in responses:  # a view's own 400 body (an import report): field errors can come instead
            for media in responses["400"].get("content", {}).values():
                media["schema"] = {"anyOf": [media["schema"], validation]}
        else:
            responses["400"] = self._error(validation, "Invalid input (field errors) or a refusal")
        documented = {}
        if not any(issubclass(p, AllowAny) for p in getattr(self.view, "permission_classes", [])):
            documented |= {"401": "Missing or invalid credentials", "403": "The caller's role may not do this"}
        if "{" in self.path:
            documented["404"] = "No such object"
        for code, description in documented.items():
            responses.setdefault(code, self._error(ErrorOutput, description))
        return responses

    def _error(self, schema, description: str) -> dict:
        return {**self._get_response_for_code(schema, "400"), "description": description}

    def _validation_error_ref(self) -> dict:
        component = ResolvedComponent(
            name="ValidationError", type=ResolvedComponent.SCHEMA, schema=VALIDATION_ERROR_SCHEMA,
            object="ValidationError",
        )
        self.registry.register_on_missing(component)
        return component.ref
