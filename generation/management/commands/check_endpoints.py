from django.core.management.base import BaseCommand, CommandError

from generation.models import Endpoint
from generation.services.endpoints import endpoint_check_health


class Command(BaseCommand):
    help = ("Check every active endpoint (GET /v1/models) and store the result and the served context length; "
            "exit 1 if any is down.")

    def add_arguments(self, parser):
        parser.add_argument("names", nargs="*", help="endpoint names (default: all active with a URL)")
        parser.add_argument("--timeout", type=float, default=5.0)

    def handle(self, *args, **options):
        endpoints = Endpoint.objects.exclude(base_url="")
        endpoints = endpoints.filter(name__in=options["names"]) if options["names"] else endpoints.filter(is_active=True)
        down = 0
        for endpoint in endpoints.order_by("name"):
            health = endpoint_check_health(endpoint=endpoint, timeout=options["timeout"])
            state = "ok  " if health.ok else "DOWN"
            context = f", context {endpoint.context_length} tokens" if endpoint.context_length else ""
            self.stdout.write(f"{state} {endpoint.name} {endpoint.base_url} {endpoint.model}: {health.detail} "
                              f"({health.latency_ms} ms{context})")
            down += not health.ok
        if down:
            raise CommandError(f"{down} endpoint(s) down")
