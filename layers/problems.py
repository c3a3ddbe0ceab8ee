"""Problems found in user input, each naming file, feature/row, field and reason."""

from __future__ import annotations

from dataclasses import dataclass

from shequ.errors import InvalidFeature


@dataclass(frozen=True)
class Problem:
    """One thing wrong with one feature (or with the file as a whole, ``feature=None``).

    ``feature`` is the 1-based position of the feature in the file; for CSV files ``line`` is the
    line number a spreadsheet or editor shows (the header is line 1); ``reason_zh`` is the reason in
    Chinese, for the pages.
    """

    file: str
    feature: int | None
    field: str | None
    reason: str
    line: int | None = None
    reason_zh: str | None = None

    def where(self) -> str:
        parts = [self.file]
        if self.line is not None:
            parts.append(f"row {self.feature} (line {self.line})")
        elif self.feature is not None:
            parts.append(f"feature {self.feature}")
        if self.field:
            parts.append(f"field '{self.field}'")
        return ", ".join(parts)

    def __str__(self) -> str:
        return f"{self.where()}: {self.reason}"

    def where_zh(self) -> str:
        parts = [{"request body": "请求内容"}.get(self.file, self.file)]
        if self.line is not None:
            parts.append(f"第 {self.feature} 行（文件第 {self.line} 行）")
        elif self.feature is not None:
            parts.append(f"第 {self.feature} 个要素")
        if self.field:
            parts.append(f"字段“{self.field}”")
        return "，".join(parts)

    def as_dict(self) -> dict:
        out = {"file": self.file, "feature": self.feature, "line": self.line, "field": self.field,
               "reason": self.reason}
        if self.reason_zh:
            out["message_zh"] = self.reason_zh
        return out


def problem_at(attrs: dict, feature: int | None, field: str | None, reason: str, zh: str | None = None) -> Problem:
    """A problem located by a GeoDataFrame's ``attrs`` (``source`` file name, ``csv`` flag)."""
    line = feature + 1 if attrs.get("csv") and feature is not None else None
    return Problem(attrs.get("source", "<data>"), feature, field, reason, line, zh)


class LayerValidationError(InvalidFeature):
    """Input that cannot be written; carries every problem found, not only the first."""

    problems: list[Problem]

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__(self.summary(), problems=problems, zh=self.summary_zh())

    def summary(self, limit: int = 20) -> str:
        head = f"{len(self.problems)} problem{'s' if len(self.problems) != 1 else ''}; nothing was written"
        lines = [str(p) for p in self.problems[:limit]]
        if len(self.problems) > limit:
            lines.append(f"… and {len(self.problems) - limit} more")
        return head + ":\n  " + "\n  ".join(lines)

    def summary_zh(self, limit: int = 20) -> str:
        lines = [f"{p.where_zh()}：{p.reason_zh or p.reason}" for p in self.problems[:limit]]
        if len(self.problems) > limit:
            lines.append(f"……另有 {len(self.problems) - limit} 个问题")
        return f"{len(self.problems)} 个问题，未写入任何数据：\n  " + "\n  ".join(lines)
