from django.core.management.base import BaseCommand

from home.seeding import reference_seed


class Command(BaseCommand):
    help = "Load categories, topics, typologies, criteria, pre-prompts and red-team templates (idempotent)."

    def handle(self, *args, **options):
        report = reference_seed()
        self.stdout.write(
            f"seeded: {report.categories} categories, {report.topics} topics, {report.criteria} criteria, "
            f"{report.preprompts} pre-prompts (new rows; existing rows were kept)"
        )
