"""voicebot's benchmarks: ``make bench`` runs them all (see benchmarks/run_all.py)."""

import sys

from loguru import logger

logger.remove()
logger.add(sys.stderr, level="ERROR")
