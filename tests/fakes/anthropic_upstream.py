"""The fake lives in aiproxy/testing/anthropic.py (shipped, for hosts' tests too); the suite's imports stay."""

from aiproxy.testing.anthropic import *  # noqa: F403
