"""The fake lives in aiproxy/testing/code_assist.py (shipped, for hosts' tests too); the suite's imports stay."""

from aiproxy.testing.code_assist import *  # noqa: F403
