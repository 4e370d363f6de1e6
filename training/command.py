"""The one implementation behind `manage.py train_orpo`, `train_dpo` and `train_kto`.

Runs as is on one device, or on many GPUs and nodes with `accelerate launch manage.py train_<method> ...`.
See training/trainer.py for the settings precedence and training/configs/README.md for clusters.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from . import trainer


class TrainCommand(BaseCommand):
    method: str  # "orpo" | "dpo" | "kto", set by each command module

    @property
    def help(self) -> str:  # type: ignore[override]
        return (
            f"Train a model with {self.method.upper()} (TRL) on an export directory; "
            "paper hyperparameters by default."
        )

    def add_arguments(self, parser: CommandParser) -> None:
        trainer.add_cli_arguments(parser, method=self.method)

    def handle(self, *args: Any, **options: Any) -> None:
        from exports.writers import describe_code_version

        try:
            request = trainer.request_from_options(self.method, options, code_version=describe_code_version())
            trainer.check_data(
                request.data_dir, method=self.method, data_format=request.data_format, evaluate=request.evaluate
            )
        except (ValueError, FileNotFoundError) as exc:
            raise CommandError(str(exc)) from exc
        record = trainer.run_training(request)
        results = record["results"]
        self.stdout.write(trainer.summary_table(record))
        self.stdout.write(
            f"{self.method}: {results['global_step']} steps, training loss {results['training_loss']:.4f}; "
            f"model, {trainer.RUN_RECORD} and {trainer.CURVES_PLOT} in {request.output_dir}"
        )
