from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from generation.services.imports import responses_import


class Command(BaseCommand):
    help = ("Import existing responses from JSONL (prompt_id or prompt [+ category], model, response, optional "
            "preprompt, sample_index). All or nothing, errors with line numbers.")

    def add_arguments(self, parser):
        parser.add_argument("file")

    def handle(self, *args, **options):
        path = Path(options["file"])
        if not path.is_file():
            raise CommandError(f"{path}: no such file")
        report = responses_import(data=path.read_bytes())
        if not report.ok:
            for line, reason in report.errors:
                self.stderr.write(f"{path}:{line}: {reason}")
            raise CommandError(f"nothing imported: {len(report.errors)} bad line(s)")
        self.stdout.write(f"imported {report.created} responses from {path} "
                          f"({report.prompts_created} new prompts, {report.endpoints_created} new models; "
                          f"{report.echoes_preprompt} repeat their pre-prompt and are held out)")
