from django.conf import settings
from django.core.management.base import BaseCommand

from generation.services.endpoints import endpoint_check_health, endpoint_register_local


class Command(BaseCommand):
    help = "Register (or update) the local model server as an endpoint. Idempotent."

    def add_arguments(self, parser):
        parser.add_argument("--url", default=settings.STUDIO_LOCAL_MODEL_URL, help="e.g. http://127.0.0.1:8100/v1")
        parser.add_argument("--model", required=True, help="served model name")
        parser.add_argument("--name", help="endpoint name (default: local-<model>)")
        parser.add_argument("--max-concurrency", type=int, default=8)
        parser.add_argument("--no-system-role", action="store_true",
                            help="the chat template has no system role: pre-prompts are prepended")
        parser.add_argument("--check", action="store_true", help="also run the health check now")

    def handle(self, *args, **options):
        endpoint, created = endpoint_register_local(
            url=options["url"], model=options["model"], name=options["name"],
            max_concurrency=options["max_concurrency"], supports_system_role=not options["no_system_role"],
        )
        self.stdout.write(f"{'registered' if created else 'updated'} endpoint {endpoint.name} → {endpoint.base_url}")
        if options["check"]:
            health = endpoint_check_health(endpoint=endpoint)
            self.stdout.write(f"health: {'ok' if health.ok else 'DOWN'} {health.detail}")
