"""What the login throttle (django-axes, config/settings.py) counts: which account, from which address."""

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db.models import Q


def client_ip(request) -> str | None:
    """The client's address: the socket peer, or behind STUDIO_TRUSTED_PROXY_COUNT proxies the entry of
    X-Forwarded-For that the outermost trusted proxy appended (entries left of it are the client's to forge)."""
    count = settings.STUDIO_TRUSTED_PROXY_COUNT
    if count > 0:
        forwarded = [part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if part.strip()]
        if len(forwarded) >= count:
            return forwarded[-count]
    return request.META.get("REMOTE_ADDR")


def login_username(request, credentials: dict | None) -> str | None:
    """One key per account, whether the person typed its username or its e-mail (allauth accepts both);
    an unknown name counts as itself, folded to lower case."""
    credentials = credentials or {}
    data = getattr(request, "POST", None) or {}
    typed = credentials.get("username") or credentials.get("email") or data.get("login") or data.get("username")
    if not typed:
        return None
    typed = str(typed).strip()
    user_model = get_user_model()
    field = user_model.USERNAME_FIELD
    user = (
        user_model._default_manager.filter(Q(**{f"{field}__iexact": typed}) | Q(email__iexact=typed))
        .order_by("pk")
        .values_list(field, flat=True)
        .first()
    )
    return user if user is not None else typed.lower()
