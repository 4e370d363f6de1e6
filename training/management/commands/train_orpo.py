"""`manage.py train_orpo`: ORPO training on an export with the paper's defaults (see training/command.py)."""

from training.command import TrainCommand


class Command(TrainCommand):
    method = "orpo"
