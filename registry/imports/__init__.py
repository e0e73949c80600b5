"""Bulk import (migration) of licences from JSON Lines, as one flow.

    source ─▶ rows ─▶ check ─▶ (bulkseal) ─▶ write ─▶ report

1. :mod:`.source`: the file, hashed once (the digest names the batch), streamed line by
   line with a length cap.
2. :mod:`.rows`: what a row may hold, checked as issuance checks it.
3. :mod:`.check`: rows checked in worker processes, a few chunks ahead of the writer.
4. :mod:`.bulkseal`: with ``--seal-now``, the pages certified (in worker processes) and
   stored before their rows are written.
5. :mod:`.write`: one chunk, one transaction, bulk inserts (row by row on a refusal).
6. :mod:`.report`: the row errors, rebuilt from the database as JSONL or CSV.

:mod:`.run` drives the flow (batch, serials, chunks, resumption): ``zhengyin licence
import`` and ``POST /imports`` call its :class:`~zhengyin.registry.imports.run.ImportService`.
"""
