"""Reporting: a run's results files, its loggers (W&B), and the tables and figures made
from many runs' ``results.json``."""
