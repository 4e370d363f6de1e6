"""Model endpoints: health checks and the local server's registration."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from .. import client
from ..models import Endpoint


def endpoint_check_health(*, endpoint: Endpoint, timeout: float = 5.0) -> client.Health:
    """GET {base_url}/models; the outcome is stored on the endpoint (shown in the admin and campaigns page).

    The served model's context length (vLLM's `max_model_len`) replaces `context_length` when the server
    reports it: the server knows what it was started with; an admin's value stays for servers that don't say.
    """
    if not endpoint.base_url:
        result = client.Health(False, "no base URL (imported responses only)", [], 0)
    else:
        result = client.health(endpoint, timeout=timeout)
    endpoint.last_health = {
        "ok": result.ok,
        "at": timezone.now().isoformat(),
        "detail": result.detail[:500],
        "latency_ms": result.latency_ms,
    }
    fields = ["last_health"]
    if result.context_length and result.context_length != endpoint.context_length:
        endpoint.context_length = result.context_length
        fields.append("context_length")
    endpoint.save(update_fields=fields)
    return result


@transaction.atomic
def endpoint_register_local(*, url: str, model: str, name: str | None = None, max_concurrency: int = 8,
                            supports_system_role: bool = True,
                            max_tokens: int | None = None, in_dialog_pool: bool | None = None,
                            temperature: float | None = None) -> tuple[Endpoint, bool]:
    """Create or update the endpoint for a local server (idempotent: same name, same row).

    `max_tokens` (the per-answer cap) is set when given; otherwise a new endpoint gets the model default and an
    existing one keeps its own.
    """
    name = name or f"local-{model}"
    defaults = {"base_url": url.rstrip("/"), "model": model, "max_concurrency": max_concurrency,
                "supports_system_role": supports_system_role, "is_active": True}
    optional = {"max_tokens": max_tokens, "in_dialog_pool": in_dialog_pool, "temperature": temperature}
    defaults.update({k: v for k, v in optional.items() if v is not None})
    endpoint, created = Endpoint.objects.select_for_update().get_or_create(name=name, defaults=defaults)
    if not created:
        changed = []
        wanted = [("base_url", url.rstrip("/")), ("model", model), ("is_active", True)]
        wanted += [(k, v) for k, v in optional.items() if v is not None]
        for field, value in wanted:
            if getattr(endpoint, field) != value:
                setattr(endpoint, field, value)
                changed.append(field)
        if changed:
            endpoint.save(update_fields=changed)
    return endpoint, created
