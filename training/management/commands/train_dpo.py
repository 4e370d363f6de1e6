"""`manage.py train_dpo`: DPO training on an export with the paper's defaults (see training/command.py)."""

from training.command import TrainCommand


class Command(TrainCommand):
    method = "dpo"
