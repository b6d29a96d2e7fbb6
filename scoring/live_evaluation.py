"""The live evaluation of an org, from its last one where provably unchanged.

A live record evaluates at T = the org's latest time, which moves with nearly every event,
while each event feeds one or two signals. ``state.live_memo`` (not serialised) keeps the
last live evaluation; the next one re-evaluates only

- the signals an accepted event has updated since (``state.touched``), and
- when the org's time has moved, the signals that read the instant
  (:meth:`~scoring.kinds.SignalKind.reads_the_instant`: recency, binary indicators,
  error-free days, growth run rates) whose last result may have changed by then: each
  such result holds until the instant its kind's ``stable_until`` gives (the next day of
  "days since" or of the days considered, the next event to leave a window; a run rate
  moves with every millisecond);

everything else is reused as is: a timeless signal's result depends only on its
accumulators and the month, and applicability only on ownership and the month. A new
month (year windows, the month's own buckets), a new first month or an ownership change
(``state.ownership_seq``) evaluates everything. A re-evaluated result equal to the previous
one keeps the previous object, so callers may key caches on result objects and on the
``results`` list (shared while no result changed).
"""

from __future__ import annotations

from scoring.evaluation import (
    NO_DATA,
    NOT_APPLICABLE,
    OK,
    Evaluation,
    RecordPlan,
    derived_of,
    evaluate,
    signal_result,
)
from scoring.kinds import FOREVER_MS, EvalContext, KindResult
from scoring.state import OrgState
from scoring.timeutil import month_of


class _LiveMemo:
    """The last live evaluation of a state and what it was computed from."""

    __slots__ = (
        "always",
        "end_ms",
        "evaluation",
        "first_time_ms",
        "next_hold",
        "plan",
        "seq",
        "stable_until",
        "timed",
    )

    def __init__(
        self,
        plan: RecordPlan,
        seq: int,
        first_time_ms: int | None,
        end_ms: int,
        evaluation: Evaluation,
    ) -> None:
        self.plan = plan
        self.seq = seq
        self.first_time_ms = first_time_ms
        self.end_ms = end_ms  # first instant after the evaluation's month
        self.evaluation = evaluation
        # The applicable signals that read the instant (applicability changes only with
        # a full evaluation): re-evaluated whenever T moves (``always``), or once T
        # reaches their ``stable_until`` instant (``timed``; the earliest: ``next_hold``).
        statuses = evaluation.statuses
        signals = plan.signals
        instant = [i for i in plan.instant_indexes if statuses[i] != NOT_APPLICABLE]
        self.always = tuple(i for i in instant if signals[i].stable_until is None)
        self.timed = frozenset(i for i in instant if signals[i].stable_until is not None)
        self.stable_until: dict[int, int] = {}
        self.next_hold = FOREVER_MS


def live_evaluation(plan: RecordPlan, state: OrgState, t_ms: int) -> Evaluation:
    """The evaluation at the org's latest time ``t_ms`` (live: events with time <= T),
    from the state's last live evaluation where it is provably unchanged (module
    docstring). ``t_ms`` is ``state.latest_time_ms``, which never decreases."""
    memo: _LiveMemo | None = state.live_memo
    if (
        memo is None
        or memo.plan is not plan
        or memo.first_time_ms != state.first_time_ms
        or state.ownership_seq > memo.seq
    ):
        return _full_live_evaluation(plan, state, t_ms)
    previous = memo.evaluation
    ctx = previous.ctx
    moved = t_ms != ctx.t_ms
    if moved:
        if not ctx.month_start_ms <= t_ms < memo.end_ms:
            return _full_live_evaluation(plan, state, t_ms)  # a new month
        ctx = EvalContext(
            month=ctx.month,
            t_ms=t_ms,
            live=True,
            first_month=ctx.first_month,
            month_start_ms=ctx.month_start_ms,
            month_days=ctx.month_days,
        )
    elif state.seq == memo.seq:
        return previous
    since = memo.seq
    index_of = plan.index_of
    changed = {index_of[signal_id] for signal_id, seq in state.touched.items() if seq > since}
    if moved:
        changed.update(memo.always)
        if t_ms >= memo.next_hold:
            holds = memo.stable_until
            changed.update(i for i in memo.timed if t_ms >= holds[i])
    statuses = previous.statuses
    changed = {index for index in changed if statuses[index] != NOT_APPLICABLE}
    if not changed and not moved:
        memo.seq = state.seq
        return previous
    evaluation = _reevaluate(plan, state, previous, ctx, changed, memo.stable_until)
    if not memo.timed.isdisjoint(changed):
        memo.next_hold = min(memo.stable_until[i] for i in memo.timed)
    memo.seq = state.seq
    memo.evaluation = evaluation
    return evaluation


def _same_result(new: KindResult, old: KindResult) -> bool:
    """Equal results of the same types (``False == 0`` in Python, not in a record)."""
    if new[0] != old[0] or new[2] != old[2] or new[1] != old[1]:
        return False
    return list(map(type, new[1].values())) == list(map(type, old[1].values()))


def _reevaluate(
    plan: RecordPlan,
    state: OrgState,
    previous: Evaluation,
    ctx: EvalContext,
    changed: set[int],
    holds: dict[int, int],
) -> Evaluation:
    """``previous`` with the signals ``changed`` evaluated again at ``ctx``. A result
    equal to the previous one keeps the previous object, and lists with no change are
    shared, so callers can key caches on ``results`` and its items. ``holds`` gets the
    new ``stable_until`` instant of each re-evaluated signal that has one."""
    scores = previous.scores
    statuses = previous.statuses
    inputs_list = previous.inputs
    projected_list = previous.projected
    results = previous.results
    copied = False
    same_scores = True
    pruned_month = state.pruned_month
    memo_ok = pruned_month is None or ctx.month >= pruned_month
    signals = plan.signals
    for index in changed:
        signal = signals[index]
        result = signal_result(plan, state, signal, ctx, memo_ok)
        stable_until = signal.stable_until
        if stable_until is not None:
            holds[index] = stable_until(state.signals.get(signal.id), ctx, result)
        old = results[index]
        if result is old or (old is not None and _same_result(result, old)):
            continue
        if not copied:
            copied = True
            scores = scores.copy()
            statuses = statuses.copy()
            inputs_list = inputs_list.copy()
            projected_list = projected_list.copy()
            results = results.copy()
        score, inputs, projected = result
        if score is None:
            status = NO_DATA
            score = 0 if signal.zero_policy else None
            projected = False
        else:
            status = OK
        if score != scores[index] or status != statuses[index]:
            same_scores = False
            scores[index] = score
            statuses[index] = status
        inputs_list[index] = inputs
        projected_list[index] = projected
        results[index] = result
    derived = previous.derived if same_scores else derived_of(plan, scores, statuses)
    return Evaluation(ctx, scores, statuses, inputs_list, projected_list, results, derived)


def _full_live_evaluation(plan: RecordPlan, state: OrgState, t_ms: int) -> Evaluation:
    month = month_of(t_ms)
    first_month = state.first_month
    start_ms, end_ms, days = plan.month_facts(month)
    ctx = EvalContext(
        month=month,
        t_ms=t_ms,
        live=True,
        first_month=month if first_month is None else first_month,
        month_start_ms=start_ms,
        month_days=days,
    )
    evaluation = evaluate(plan, state, ctx)
    memo = _LiveMemo(plan, state.seq, state.first_time_ms, end_ms, evaluation)
    holds = memo.stable_until
    signals = plan.signals
    results = evaluation.results
    for index in memo.timed:
        stable_until = signals[index].stable_until
        result = results[index]
        if stable_until is not None and result is not None:
            holds[index] = stable_until(state.signals.get(signals[index].id), ctx, result)
    memo.next_hold = min(holds.values(), default=FOREVER_MS)
    state.live_memo = memo
    return evaluation
