"""The Customer Success Score model as a pure library.

Nothing here does I/O, reads the environment or the wall clock: time comes in as integer
epoch milliseconds (names ending in ``_ms``), state goes in and out as plain data.

Section numbers in docstrings and comments ("section 9") refer to
``docs/scoring-rules.md``, the scoring rules this package implements.

A caller compiles its catalog once and passes the result to every call::

    compiled = compile_catalog(catalog_from_dict(data))   # scoring.compiled
    state = OrgState(org_id)                               # scoring.state
    apply_event(compiled, state, event, dedup_horizon_ms=h)  # scoring.fold
    monthly_record(compiled, state, month); live_record(compiled, state)  # scoring.record
"""
