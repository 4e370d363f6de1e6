"""Access helpers: one decorator per role, one getter per object type (healthchecks style)."""

from functools import wraps

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from rest_framework.permissions import BasePermission

from core import roles


def role_required(*allowed: str):
    def decorator(view):
        @login_required
        @wraps(view)
        def wrapped(request, *args, **kwargs):
            if not roles.has_role(request.user, *allowed):
                raise PermissionDenied
            return view(request, *args, **kwargs)

        return wrapped

    return decorator


annotator_required = role_required(roles.ANNOTATOR)
qa_required = role_required(roles.QA_LEAD)
admin_required = role_required(roles.ADMIN)


class _RolePermission(BasePermission):
    roles: tuple[str, ...] = ()

    def has_permission(self, request, view):
        return bool(request.user and request.user.is_authenticated and roles.has_role(request.user, *self.roles))


class IsAnnotator(_RolePermission):
    roles = (roles.ANNOTATOR,)


class IsQALead(_RolePermission):
    roles = (roles.QA_LEAD,)


class IsStudioAdmin(_RolePermission):
    roles = (roles.ADMIN,)
