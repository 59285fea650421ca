"""The fake lives in aiproxy/testing/gemini.py (shipped, for hosts' tests too); the suite's imports stay."""

from aiproxy.testing.gemini import *  # noqa: F403
