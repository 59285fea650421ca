"""The fake lives in aiproxy/testing/bedrock.py (shipped, for hosts' tests too); the suite's imports stay."""

from aiproxy.testing.bedrock import *  # noqa: F403
