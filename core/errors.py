"""The one base of the errors services raise on purpose, and how pages show them.

A service that refuses (bad input, wrong state, someone else's claim) raises a `StudioError` subclass with
a message written for the person who asked; `status` hints the HTTP status an API answers with:
400 invalid (the default), 404 not found, 409 conflict (the state of things refuses it), 422 refused.
API views let it propagate: `core.api.exception_handler` turns it into `{"detail": message}` with that
status. HTML views catch it where they re-render a page and call `form_add_error` or `message_error`; the
status of a page is the page's business (a form shown again with its errors is 400 or 422 as it always was).

Field-keyed input errors stay Django's `ValidationError` (forms understand them); both helpers and the API
handler accept either.
"""

from __future__ import annotations

from http import HTTPStatus

from django.contrib import messages
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError


class StudioError(Exception):
    """A refusal with a message for humans. Subclass per app; `status` is a class default or given per raise."""

    status: int = HTTPStatus.BAD_REQUEST

    def __init__(self, message: str = "", *, status: int | None = None):
        super().__init__(message)
        if status is not None:
            self.status = status

    @property
    def message(self) -> str:
        return str(self.args[0]) if self.args else ""

    def __str__(self) -> str:
        return self.message


class Conflict(StudioError):
    """The request is well formed but the current state refuses it (a claim not held, a reviewed row…)."""

    status = HTTPStatus.CONFLICT


def error_messages(exc: StudioError | ValidationError) -> dict[str, list[str]]:
    """{field: [message, …]}; messages that belong to no field are under NON_FIELD_ERRORS ("__all__")."""
    if isinstance(exc, ValidationError):
        return exc.message_dict if hasattr(exc, "error_dict") else {NON_FIELD_ERRORS: exc.messages}
    return {NON_FIELD_ERRORS: [exc.message]}


def form_add_error(form, exc: StudioError | ValidationError) -> None:
    """Show a refusal on a form: a field's messages next to that field when the form has it, the rest on top."""
    for field, field_messages in error_messages(exc).items():
        form.add_error(field if field in form.fields else None, field_messages)


def message_error(request, exc: StudioError | ValidationError) -> None:
    """Show a refusal as a flash message on the page the view redirects to."""
    for field_messages in error_messages(exc).values():
        for message in field_messages:
            messages.error(request, message)
