"""Bodies of the bulk import API."""

from __future__ import annotations

from pydantic import BaseModel, Field

from zhengyin.registry.imports.rows import RowProblem
from zhengyin.registry.imports.run import ImportSummary

__all__ = ["ImportRead", "RowErrorRead"]


class RowErrorRead(BaseModel):
    """One problem with one row of the uploaded file."""

    row: int = Field(description="line number in the file, from 1")
    field: str = Field(description="the row's field, e.g. holder_code or fields.address")
    message: str

    @classmethod
    def of(cls, problem: RowProblem) -> RowErrorRead:
        """From the registry's row problem."""
        return cls(row=problem.row, field=problem.field, message=problem.message)


class ImportRead(BaseModel):
    """A bulk import batch: how far it got, and its first row errors."""

    batch_id: str
    type_code: str
    issuer_code: str
    seal_now: bool
    rows_done: int = Field(description="lines of the file processed (imported or refused)")
    imported: int
    failed: int = Field(description="rows refused; see errors and errors_url")
    finished: bool
    resumed_after: int = Field(description="lines already done before this request")
    errors: list[RowErrorRead] = Field(description="the first row errors (at most 100)")
    errors_url: str = Field(description="every row error as JSON Lines (?format=csv: CSV)")

    @classmethod
    def of(cls, summary: ImportSummary, errors: list[RowProblem]) -> ImportRead:
        """From the registry's summary and the first errors."""
        return cls(
            batch_id=summary.batch_id, type_code=summary.type_code,
            issuer_code=summary.issuer_code, seal_now=summary.seal_now,
            rows_done=summary.rows_done, imported=summary.imported, failed=summary.failed,
            finished=summary.finished, resumed_after=summary.resumed_after,
            errors=[RowErrorRead.of(problem) for problem in errors],
            errors_url=f"/licence-imports/{summary.batch_id}/errors",
        )
