"""`manage.py train_dpo`: DPO training on an export with the paper's defaults.

Runs as is on one device, or on many GPUs and nodes with `accelerate launch manage.py train_dpo ...`.
See exports/training.py for the settings precedence and configs/README.md for clusters.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from exports import training

METHOD = "dpo"


class Command(BaseCommand):
    help = "Train a model with DPO (TRL) on an export directory; paper hyperparameters by default."

    def add_arguments(self, parser: CommandParser) -> None:
        training.add_cli_arguments(parser, method=METHOD)

    def handle(self, *args: Any, **options: Any) -> None:
        from exports.writers import describe_code_version

        try:
            request = training.request_from_options(METHOD, options, code_version=describe_code_version())
        except (ValueError, FileNotFoundError) as exc:
            raise CommandError(str(exc)) from exc
        record = training.run_training(request)
        results = record["results"]
        self.stdout.write(
            f"{METHOD}: {results['global_step']} steps, training loss {results['training_loss']:.4f}; "
            f"model and {training.RUN_RECORD} in {request.output_dir}"
        )
