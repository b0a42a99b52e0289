"""The results: rows with a figure, its target and whether it is met; printed, and saved as JSON."""

from __future__ import annotations

import json
import platform
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any


@dataclass(frozen=True, slots=True)
class Row:
    section: str
    name: str
    value: float | None
    """None: not measured (pending, skipped); the note says why."""

    unit: str = ""
    target: str = ""
    met: bool | None = None
    """None: informational, no target."""

    note: str = ""


@dataclass
class Report:
    rows: list[Row] = field(default_factory=list)
    tables: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    """Extra tables (e.g. the prices the cost section assumed), printed after the rows."""

    def add(self, row: Row) -> None:
        self.rows.append(row)


def _value(row: Row) -> str:
    if row.value is None:
        return "pending"
    if row.value == int(row.value) and abs(row.value) >= 1:
        text = f"{int(row.value)}"
    elif abs(row.value) >= 100:
        text = f"{row.value:.0f}"
    else:
        text = f"{row.value:.3g}"
    return f"{text} {row.unit}".strip()


def _verdict(row: Row) -> str:
    if row.met is None:
        return "" if row.target == "" else "n/a"
    return "met" if row.met else "NOT met"


def render(report: Report) -> str:
    headers = ("section", "figure", "value", "target", "verdict", "note")
    lines = [(r.section, r.name, _value(r), r.target, _verdict(r), r.note) for r in report.rows]
    widths = [
        max(len(h), *(len(line[i]) for line in lines)) if lines else len(h) for i, h in enumerate(headers)
    ]
    widths[-1] = len(headers[-1])  # notes run free at the end of the line
    out = [" | ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True))]
    out.append("-+-".join("-" * w for w in widths))
    out += [" | ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip() for line in lines]
    for title, table in report.tables.items():
        out += ["", title]
        if table:
            keys = list(table[0])
            cols = [max(len(k), *(len(str(t[k])) for t in table)) for k in keys]
            out.append(" | ".join(k.ljust(c) for k, c in zip(keys, cols, strict=True)))
            out.append("-+-".join("-" * c for c in cols))
            out += [" | ".join(str(t[k]).ljust(c) for k, c in zip(keys, cols, strict=True)) for t in table]
    return "\n".join(out)


def machine() -> dict[str, Any]:
    cpu = ""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        names = [
            line.split(":", 1)[1].strip() for line in cpuinfo.read_text().splitlines() if "model name" in line
        ]
        cpu = f"{names[0]} x{len(names)}" if names else ""
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpu": cpu or platform.processor(),
    }


def write_json(
    report: Report, path: Path, *, started: datetime, seconds: float, options: dict[str, Any]
) -> None:
    document = {
        "date": started.astimezone(UTC).isoformat(timespec="seconds"),
        "durationSeconds": round(seconds, 1),
        "machine": machine(),
        "options": options,
        "rows": [asdict(r) for r in report.rows],
        "tables": report.tables,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".json.tmp")
    temporary.write_text(json.dumps(document, indent=1) + "\n")
    temporary.replace(path)
