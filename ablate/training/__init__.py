"""Training: the epoch loop, metrics, knowledge distillation and one trial over folds."""
