"""cgbench labeling (see the project's issues for what lands here)."""
