"""Per-endpoint circuit breaker: campaigns stop sending requests to a model server that does not answer.

    closed    --STUDIO_CIRCUIT_FAILURE_THRESHOLD requests in a row without an answer-->  open
    open      --probe due, GET /v1/models answers-->  half_open (one request at a time on the endpoint)
    open      --probe fails-->  open, next probe after min(PROBE_MAX, PROBE_MIN * 2**failed probes)
    half_open --an answer (even an error answer)-->  closed
    half_open --no answer-->  open, the probe backoff continues
    any       --an answer-->  closed, failure count reset

"No answer" is ``client.UnreachableError`` (refused, reset, timed out); an HTTP error is an answer from a live
server. While the circuit is open the endpoint's generations are not claimed, so they spend no attempts; the
campaign page and API say "waiting for endpoint". The state lives on the Endpoint row, shared by every runner
of every campaign and every worker process; each transition locks that row (claims lock it too).
"""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from .. import client
from ..models import Endpoint
from .endpoints import endpoint_check_health

C = Endpoint.Circuit


def probe_delay(failed_probes: int) -> float:
    """Seconds before the next probe: PROBE_MIN doubling per failed probe, capped at PROBE_MAX."""
    low, high = settings.STUDIO_CIRCUIT_PROBE_MIN_SECONDS, settings.STUDIO_CIRCUIT_PROBE_MAX_SECONDS
    return float(min(high, low * 2 ** min(failed_probes, 30)))


def _open(endpoint: Endpoint, *, now: dt.datetime, failed_probes: int) -> None:
    endpoint.circuit_state = C.OPEN
    endpoint.circuit_opened_at = endpoint.circuit_opened_at or now
    endpoint.circuit_probes = failed_probes
    endpoint.next_probe_at = now + dt.timedelta(seconds=probe_delay(failed_probes))


_FIELDS = ["circuit_state", "consecutive_failures", "circuit_opened_at", "circuit_probes", "next_probe_at"]


@transaction.atomic
def circuit_record_failure(*, endpoint_id: int, now: dt.datetime | None = None) -> str:
    """A request got no answer. Returns the circuit state after it."""
    now = now or timezone.now()
    endpoint = Endpoint.objects.select_for_update().only("pk", *_FIELDS).get(pk=endpoint_id)
    endpoint.consecutive_failures += 1
    if endpoint.circuit_state == C.HALF_OPEN:  # the one trial request failed: back to waiting, longer
        _open(endpoint, now=now, failed_probes=endpoint.circuit_probes + 1)
    elif endpoint.circuit_state == C.CLOSED and (
        endpoint.consecutive_failures >= settings.STUDIO_CIRCUIT_FAILURE_THRESHOLD
    ):
        endpoint.circuit_opened_at = None
        _open(endpoint, now=now, failed_probes=0)
    endpoint.save(update_fields=_FIELDS)
    return endpoint.circuit_state


def circuit_record_answer(*, endpoint_id: int) -> bool:
    """The server answered (a result or an HTTP error): it is alive. True if this closed or reset anything.

    Conditional, so the usual case (closed, no failures) writes nothing.
    """
    return bool(
        Endpoint.objects.filter(pk=endpoint_id)
        .exclude(circuit_state=C.CLOSED, consecutive_failures=0)
        .update(circuit_state=C.CLOSED, consecutive_failures=0, circuit_opened_at=None, circuit_probes=0,
                next_probe_at=None)
    )


@transaction.atomic
def circuit_take_probe(*, endpoint_id: int, now: dt.datetime | None = None) -> bool:
    """Reserve the due probe of an open circuit (one runner probes; the others see the next probe time)."""
    now = now or timezone.now()
    endpoint = Endpoint.objects.select_for_update().only("pk", *_FIELDS).get(pk=endpoint_id)
    if endpoint.circuit_state != C.OPEN or (endpoint.next_probe_at and endpoint.next_probe_at > now):
        return False
    # If the prober dies, the next probe happens anyway after this delay.
    endpoint.next_probe_at = now + dt.timedelta(seconds=probe_delay(endpoint.circuit_probes))
    endpoint.save(update_fields=["next_probe_at"])
    return True


@transaction.atomic
def circuit_record_probe(*, endpoint_id: int, ok: bool, now: dt.datetime | None = None) -> str:
    """The outcome of a probe: an answering server half-opens the circuit, a silent one backs off further."""
    now = now or timezone.now()
    endpoint = Endpoint.objects.select_for_update().only("pk", *_FIELDS).get(pk=endpoint_id)
    if endpoint.circuit_state != C.OPEN:
        return endpoint.circuit_state  # someone else's answer closed it meanwhile
    if ok:
        endpoint.circuit_state = C.HALF_OPEN
        endpoint.next_probe_at = None
    else:
        _open(endpoint, now=now, failed_probes=endpoint.circuit_probes + 1)
    endpoint.save(update_fields=_FIELDS)
    return endpoint.circuit_state


def endpoint_probe(*, endpoint: Endpoint, timeout: float = 5.0) -> str | None:
    """Probe an open endpoint if its probe is due (GET /v1/models). Returns the new state, None if not probed."""
    if not circuit_take_probe(endpoint_id=endpoint.pk):
        return None
    health: client.Health = endpoint_check_health(endpoint=endpoint, timeout=timeout)
    return circuit_record_probe(endpoint_id=endpoint.pk, ok=health.ok)
