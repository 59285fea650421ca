"""Turn requests dumped by `run_gateway.py --dump-bodies` into fixtures fit to commit (tests/fixtures).

Not a pytest test. What it changes, and why:

- the CLIs' own prose (developer / system instructions, tool and parameter
  descriptions) becomes filler of the same length, as in
  claude_code_messages_request.json: the fixtures keep a request's shape and
  size, not the CLIs' words, which change from release to release anyway;
- the scratch directories the CLIs ran in become /tmp/work and /tmp/home;
- every UUID (session, thread, turn, installation ids, also inside message ids
  and the x-codex-turn-metadata header) becomes a fixed one, the same for the
  same id across the files of one run, so that a first request and its tool
  result turn still share their session;
- secret headers keep only their prefix (`Bearer ap-…`), the Host header's
  port becomes 8080.

The users' own texts, tool calls and outputs, and the JSON schemas stay as sent.

    .venv/bin/python -m tests.cli.sanitize_capture --scratch /tmp/clis/scratch DUMP.json=OUT.json ...
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path
from typing import Any

from tests.cli.run_gateway import SECRET_HEADERS

FILLER = "lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod tempor "
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-([0-9a-f])[0-9a-f]{3}-[0-9a-f]{4}-[0-9a-f]{12}")
# Where the CLIs' instructions sit: OpenAI's developer / system messages, Gemini's systemInstruction.
INSTRUCTION_ROLES = {"developer", "system"}


def filler(text: str) -> str:
    return (FILLER * (len(text) // len(FILLER) + 1))[:len(text)]


def fill_descriptions(node: Any) -> Any:
    """Every string under a "description" key (tools, their parameters, nested schemas) becomes filler."""
    if isinstance(node, dict):
        return {key: filler(value) if key == "description" and isinstance(value, str) else fill_descriptions(value)
                for key, value in node.items()}
    if isinstance(node, list):
        return [fill_descriptions(item) for item in node]
    return node


def fill_texts(parts: Any) -> Any:
    if isinstance(parts, str):
        return filler(parts)
    if isinstance(parts, list):
        return [{**part, "text": filler(part["text"])} if isinstance(part, dict) and isinstance(part.get("text"), str)
                else part for part in parts]
    return parts


def sanitize_body(body: dict[str, Any]) -> dict[str, Any]:
    body = dict(body)
    if "tools" in body:
        body["tools"] = fill_descriptions(body["tools"])
    if isinstance(body.get("instructions"), str):
        body["instructions"] = filler(body["instructions"])
    if isinstance(body.get("input"), list):
        body["input"] = [{**item, "content": fill_texts(item.get("content"))}
                         if isinstance(item, dict) and item.get("role") in INSTRUCTION_ROLES else item
                         for item in body["input"]]
    instruction = body.get("systemInstruction")
    if isinstance(instruction, dict):
        body["systemInstruction"] = {**instruction, "parts": fill_texts(instruction.get("parts"))}
    return body


def sanitize_headers(headers: dict[str, str]) -> dict[str, str]:
    out = {}
    for name, value in headers.items():
        if name in SECRET_HEADERS:
            # The scheme and the key's kind only: run_gateway's log keeps 10 characters, a few of them the key's.
            scheme = "Bearer " if value.lower().startswith("bearer ") else ""
            value = scheme + value[len(scheme):].split("-", 1)[0] + "-…"
        elif name == "host":
            value = re.sub(r":\d+$", ":8080", value)
        out[name] = value
    return out


class Renamer:
    """The same fixed UUID for the same captured one, keeping its version digit."""

    def __init__(self) -> None:
        self.seen: dict[str, str] = {}

    def __call__(self, match: re.Match[str]) -> str:
        found = match.group(0)
        if found not in self.seen:
            self.seen[found] = f"00000000-0000-{match.group(1)}000-8000-{len(self.seen) + 1:012d}"
        return self.seen[found]


def sanitize(record: dict[str, Any], scratch: str, rename: Renamer) -> str:
    record = {**record, "headers": sanitize_headers(record["headers"])}
    if isinstance(record.get("body"), dict):
        record["body"] = sanitize_body(record["body"])
    record.pop("status", None)
    text = json.dumps(record, indent=2, ensure_ascii=False) + "\n"
    return UUID.sub(rename, scrub_paths(text, scratch))


def scrub_paths(text: str, scratch: str) -> str:
    """The scratch tree, laid out as <scratch>/<run>/{work,home} or as try_clis.sh's <scratch>/{work,<cli-home>}."""
    root = re.escape(scratch.rstrip("/"))
    segment = r"[^/\"\\\s<>:]+"
    text = re.sub(root + "/" + segment + r"/(work|home)\b", r"/tmp/\1", text)
    text = re.sub(root + r"/work\b", "/tmp/work", text)
    text = re.sub(root + "/" + segment, "/tmp/home", text)
    return re.sub(root, "/tmp", text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scratch", required=True, help="the directory holding the CLIs' scratch HOME and workdir")
    parser.add_argument("pairs", nargs="+", metavar="DUMP=OUT")
    args = parser.parse_args()
    rename = Renamer()
    for pair in args.pairs:
        source, _, target = pair.partition("=")
        record = json.loads(Path(source).read_text(encoding="utf-8"))
        Path(target).write_text(sanitize(record, args.scratch, rename), encoding="utf-8")


if __name__ == "__main__":
    main()
