import json

from django.core.management.base import BaseCommand, CommandError

from annotation.services.assembly import RoutingRule, tasks_assemble
from generation import selectors


class Command(BaseCommand):
    help = ("Build ranking items (4 distinct responses) and rating pairs (2 models) for prompts that have "
            "responses and no tasks yet. Reproducible from --seed.")

    def add_arguments(self, parser):
        parser.add_argument("--seed", type=int, required=True)
        parser.add_argument("--filter", default="{}", help='prompt filter as JSON, e.g. {"categories": ["qa_polish"]}')
        parser.add_argument("--rating-min-chars", type=int, default=RoutingRule().rating_min_chars)
        parser.add_argument("--rating-min-parts", type=int, default=RoutingRule().rating_min_parts)
        parser.add_argument("--overlap", type=int, default=2)

    def handle(self, *args, **options):
        try:
            prompt_filter = json.loads(options["filter"])
            prompts = list(selectors.prompts_without_tasks(prompt_filter))
        except (ValueError, selectors.FilterError) as exc:
            raise CommandError(f"bad --filter: {exc}") from exc
        report = tasks_assemble(
            prompts=prompts, seed=options["seed"], overlap=options["overlap"],
            rule=RoutingRule(rating_min_chars=options["rating_min_chars"],
                             rating_min_parts=options["rating_min_parts"]),
        )
        for prompt_id, why in report.skipped:
            self.stderr.write(f"prompt {prompt_id}: {why}")
        self.stdout.write(f"{report.ranking_items} ranking items, {report.rating_pairs} rating pairs "
                          f"(seed {options['seed']}); {len(report.skipped)} prompts skipped")
