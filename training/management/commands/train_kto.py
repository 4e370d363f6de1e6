"""`manage.py train_kto`: KTO training on an export with the paper's defaults (see training/command.py)."""

from training.command import TrainCommand


class Command(TrainCommand):
    method = "kto"
