from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from generation.models import MAX_MAX_TOKENS, MIN_MAX_TOKENS
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
        parser.add_argument("--max-tokens", type=int, default=None,
                            help="new tokens per answer (default: keep the endpoint's; 1024 for a new one)")
        parser.add_argument("--dialog-pool", action="store_true",
                            help="offer this endpoint as a seat of live dialogs (a dialog needs three)")
        parser.add_argument("--temperature", type=float, default=None, help="sampling temperature of this endpoint")
        parser.add_argument("--check", action="store_true",
                            help="also run the health check now (records the server's context length)")

    def handle(self, *args, **options):
        if options["max_tokens"] is not None and not MIN_MAX_TOKENS <= options["max_tokens"] <= MAX_MAX_TOKENS:
            raise CommandError(f"--max-tokens must be {MIN_MAX_TOKENS} to {MAX_MAX_TOKENS}")
        endpoint, created = endpoint_register_local(
            url=options["url"], model=options["model"], name=options["name"],
            max_concurrency=options["max_concurrency"], supports_system_role=not options["no_system_role"],
            max_tokens=options["max_tokens"], in_dialog_pool=True if options["dialog_pool"] else None,
            temperature=options["temperature"],
        )
        self.stdout.write(f"{'registered' if created else 'updated'} endpoint {endpoint.name} → {endpoint.base_url}")
        if options["check"]:
            health = endpoint_check_health(endpoint=endpoint)
            self.stdout.write(f"health: {'ok' if health.ok else 'DOWN'} {health.detail}")
