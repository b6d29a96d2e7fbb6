"""The Customer Success Score model as a pure library (spec: shared/scoring-model.md).

Nothing here does I/O, reads the environment or the wall clock: time comes in as integer
epoch milliseconds (names ending in ``_ms``), state goes in and out as plain data.
"""
