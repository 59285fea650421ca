"""The fake lives in aiproxy/testing/openai.py (shipped, for hosts' tests too); the suite's imports stay."""

from aiproxy.testing.openai import *  # noqa: F403
