from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from prompts.services import detect_format, prompts_import


class Command(BaseCommand):
    help = "Import prompts from CSV or JSONL (fields: text, category, topic, source). All or nothing."

    def add_arguments(self, parser):
        parser.add_argument("file")
        parser.add_argument("--format", choices=["csv", "jsonl"], help="default: from the file name")
        parser.add_argument("--allow-duplicates", action="store_true", help="save duplicates, listing them")

    def handle(self, *args, **options):
        path = Path(options["file"])
        if not path.is_file():
            raise CommandError(f"{path}: no such file")
        data = path.read_bytes()
        report = prompts_import(
            data=data, fmt=options["format"] or detect_format(path.name, data), author=None,
            allow_duplicates=options["allow_duplicates"],
        )
        for line, what in report.duplicates:
            self.stderr.write(f"{path}:{line}: duplicate of {what}")
        if not report.ok:
            for line, reason in report.errors:
                self.stderr.write(f"{path}:{line}: {reason}")
            raise CommandError(f"nothing imported: {len(report.errors)} bad line(s)")
        self.stdout.write(f"imported {report.created} prompts from {path}")
