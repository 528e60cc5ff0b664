"""Launching with Hydra: run-directory checks before a run (callbacks) and sweep handling
(what a job returns to a sweeper, failed jobs, the sweep summary)."""
