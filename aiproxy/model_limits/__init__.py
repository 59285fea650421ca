"""Each model's output cap: the most output tokens its API accepts as a request's limit.

A translated request carries the client's own limit, and Claude Code asks for
64000 (sometimes 32000) whatever model serves it; gpt-4o, whose cap is 16384,
answers that with a 400. A limit above the cap changes nothing the model could
write, so the translator pairs clamp their limit field to the serving model's
cap (`formats.bridges.base.RequestOptions.max_output`, computed by `bridging`).

The caps are data: `output_caps.json`, packaged (its `_source` note says where
and when the numbers were taken), optionally extended by an operator file in
the same format (`Settings.output_caps_file`), read once at startup by the
gateway. The file is a JSON object of model name or shell-style pattern
(`gpt-4.1*`) -> a positive integer, or null for "no cap" (an operator's relay
that serves a larger limit under a listed name); keys starting with `_` are
notes. A name is matched as `scheduler.model_match` matches account model
lists: an exact entry first, else the most specific pattern. A model no entry
names has no cap: its limit goes through as the client sent it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

from .. import model_files
from ..scheduler.model_match import best_match

PACKAGED = "output_caps.json"
_CACHE_LIMIT = 4096  # distinct upstream model names remembered; accounts map to few
_GEMINI_RESOURCE = "models/"


class OutputCapsFileError(ValueError):
    """An output caps file that cannot be used; the message names the file and the problem."""

    def __init__(self, source: str, problem: str) -> None:
        super().__init__(f"output caps file {source}: {problem}")
        self.source = source
        self.problem = problem


class OutputCaps:
    """Model name or pattern -> its output cap (None: none), and the lookup of a model's cap."""

    def __init__(self, caps: Mapping[str, int | None]) -> None:
        self._caps: dict[str, int | None] = {k.strip().lower(): v for k, v in caps.items()}
        self._resolved: dict[str, int | None] = {}

    @classmethod
    def load(cls, override: str | Path | None = None) -> OutputCaps:
        """The packaged caps; with `override`, a file whose entries add to them or
        replace theirs of the same name. Raises OutputCapsFileError naming the file."""
        return cls(model_files.load(__package__, PACKAGED, override, parse_caps_file, OutputCapsFileError))

    @property
    def entries(self) -> Mapping[str, int | None]:
        return self._caps

    def max_output(self, model: str) -> int | None:
        """The cap of the model an upstream knows as `model`; None if it has none or no entry names it."""
        try:
            return self._resolved[model]
        except KeyError:
            pass
        cap = self._resolve(model)
        if len(self._resolved) >= _CACHE_LIMIT:
            self._resolved.pop(next(iter(self._resolved)))  # forget the oldest
        self._resolved[model] = cap
        return cap

    def _resolve(self, model: str) -> int | None:
        name = model.strip().lower()
        if name.startswith(_GEMINI_RESOURCE):
            name = name[len(_GEMINI_RESOURCE) :]
        entry = best_match(name, self._caps)
        return self._caps[entry] if entry is not None else None


def parse_caps_file(text: str | bytes, source: str) -> dict[str, int | None]:
    """The entries of one caps file, names lower-cased. Raises OutputCapsFileError."""
    caps = model_files.read_entries(text, source, error=OutputCapsFileError, what="output cap")
    for name, cap in caps.items():
        if cap is not None and (isinstance(cap, bool) or not isinstance(cap, int) or cap < 1):
            raise OutputCapsFileError(source, f"model {name!r}: the cap must be a positive integer or null, "
                                              f"got {json.dumps(cap)}")
    return caps
