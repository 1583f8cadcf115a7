"""The capability-area taxonomy: area names and curated exemplar prompts per area."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from targeting.errors import TaxonomyError
from targeting.jsonlimits import loads_bounded

DEFAULT_TAXONOMY = Path(__file__).resolve().parents[2] / "data" / "taxonomy.json"
MAX_SYSTEM_CHARS = 1500
MAX_TOOLS = 24


@dataclass(frozen=True)
class Exemplar:
    area: str
    prompt: str
    context: str | None  # system prompt + tool definitions as text, when the exemplar has them


@dataclass(frozen=True)
class Taxonomy:
    areas: tuple[str, ...]
    fallback_area: str
    exemplars: tuple[Exemplar, ...]
    source: str
    # the area that requests of the fallback area count toward in an account's dominant area
    # when they elicit articulated reasoning: their output is a reasoning trace, whatever the topic
    elicited_area: str | None = None

    def area_index(self, area: str) -> int:
        return self.areas.index(area)


def _tool_line(tool: Any) -> str:
    fn = tool.get("function", tool) if isinstance(tool, dict) else {}
    if not isinstance(fn, dict):
        return ""
    name = str(fn.get("name", ""))
    desc = str(fn.get("description", ""))[:200]
    params = fn.get("parameters", {})
    props = params.get("properties", {}) if isinstance(params, dict) else {}
    args = ", ".join(list(props)[:12]) if isinstance(props, dict) else ""
    return f"{name}({args}): {desc}".strip()


def tool_lines(tools: str | list | None) -> list[str]:
    """One line per tool definition (name, arguments, description); [] when unparsable.

    Text is parsed with a nesting limit (``jsonlimits.loads_bounded``): tools nested deeper
    than that count as unparsable, so no request's tools can make the parser recurse out of
    the stack. Each tool is read only a few levels deep (``_tool_line``).
    """
    if tools is None:
        return []
    if isinstance(tools, str):
        try:
            tools = loads_bounded(tools)
        except (ValueError, TypeError):
            return []
    if isinstance(tools, dict):
        tools = [tools]
    if not isinstance(tools, list):
        return []
    return [line for line in (_tool_line(t) for t in tools[:MAX_TOOLS]) if line]


def context_text(system: str | None, tools: str | list | None) -> str | None:
    """The text that represents a request's context (system prompt and tools) for embedding."""
    parts = []
    if isinstance(system, str) and system.strip():
        parts.append("System: " + system.strip()[:MAX_SYSTEM_CHARS])
    lines = tool_lines(tools)
    if lines:
        parts.append("Tools available: " + "; ".join(lines))
    return "\n".join(parts) if parts else None


def load_taxonomy(path: str | Path | None = None) -> Taxonomy:
    path = Path(path) if path else DEFAULT_TAXONOMY
    if not path.exists():
        raise TaxonomyError(f"taxonomy file {path} not found")
    try:
        spec = json.loads(path.read_text())
        areas = tuple(str(a["name"]) for a in spec["areas"])
        exemplar_files = [str(a["exemplars"]) for a in spec["areas"]]
    except (ValueError, KeyError, TypeError) as exc:
        raise TaxonomyError(f"{path}: not a valid taxonomy (missing or malformed {exc})") from exc
    if not areas:
        raise TaxonomyError(f"{path}: the taxonomy has no areas")
    fallback = spec.get("fallback_area", areas[-1])
    if fallback not in areas:
        raise TaxonomyError(f"{path}: fallback_area {fallback!r} is not one of the areas")
    elicited = spec.get("elicited_area")
    if elicited is not None and elicited not in areas:
        raise TaxonomyError(f"{path}: elicited_area {elicited!r} is not one of the areas")
    exemplars: list[Exemplar] = []
    for area_name, ex_file in zip(areas, exemplar_files):
        ex_path = path.parent / ex_file
        if not ex_path.exists():
            raise TaxonomyError(f"{path}: exemplar file {ex_path} not found")
        for lineno, line in enumerate(ex_path.read_text().splitlines(), start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                prompt = str(row["prompt"])
            except (ValueError, KeyError, TypeError) as exc:
                raise TaxonomyError(f"{ex_path}, line {lineno}: {exc}") from exc
            exemplars.append(
                Exemplar(area_name, prompt, context_text(row.get("system"), row.get("tools")))
            )
    counts = {a: sum(e.area == a for e in exemplars) for a in areas}
    empty = [a for a, n in counts.items() if n == 0]
    if empty:
        raise TaxonomyError(f"{path}: areas without exemplars: {', '.join(empty)}")
    return Taxonomy(areas=areas, fallback_area=fallback, exemplars=tuple(exemplars), source=str(path),
                    elicited_area=elicited)
