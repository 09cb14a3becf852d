"""Training with Accelerate: arguments, run preparation, and the one loop every method shares."""

from .arguments import HashTrainingArguments
from .setup import PreparedRun, prepare_run
from .trainer import HashTrainer, latest_checkpoint, train

__all__ = ["HashTrainer", "HashTrainingArguments", "PreparedRun", "latest_checkpoint", "prepare_run", "train"]
