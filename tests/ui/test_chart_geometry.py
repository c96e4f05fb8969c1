"""The charts' geometry, computed from hand-made read models (no database, no browser): the
time axis, the Gantt chart's lines and bars, the grid's run bars, the duration strips."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from pinflow.lifecycle.states import RunState
from pinflow.services.reads import RunView, charts
from pinflow.ui import durations, gantt
from pinflow.ui.chart_axis import TimeScale, fmt_span, span_of, tick_step

T0 = datetime(2030, 1, 1, 9, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def run_view(
    pk: int = 1, state: str = "success", start: float | None = 0, end: float | None = 60
) -> RunView:
    return RunView(
        id=pk,
        dag_id="d",
        run_id=f"r{pk}",
        version_id=None,
        snapshot_digest="0" * 64,
        run_type="manual",
        state=RunState(state),
        logical_date=None,
        data_interval_start=None,
        data_interval_end=None,
        run_after=T0,
        conf={},
        params={},
        note=None,
        triggered_by=None,
        clear_number=0,
        created_at=T0,
        start_date=None if start is None else at(start),
        end_date=None if end is None else at(end),
    )


def a_try(n: int, state: str, start: float, end: float | None) -> charts.TrySpan:
    return charts.TrySpan(n, state, at(start), None if end is None else at(end), False)


def task(
    task_id: str,
    state: str,
    tries: tuple[charts.TrySpan, ...],
    *,
    map_index: int = -1,
    queued: float | None = None,
) -> charts.GanttTask:
    start = tries[-1].start_date if tries else None
    end = tries[-1].end_date if tries else None
    queued_at = None if queued is None else at(queued)
    return charts.GanttTask(task_id, map_index, state, len(tries), queued_at, start, end, tries)


# --- the time axis -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("seconds", "step"),
    [(1, 1), (6, 1), (7, 2), (20, 5), (60, 10), (300, 60), (3600, 600), (86400, 21600)],
)
def test_ticks_are_round_steps_at_most_six_to_a_span(seconds: float, step: int) -> None:
    assert tick_step(seconds) == step


def test_a_span_of_days_ticks_in_whole_days() -> None:
    assert tick_step(30 * 86400) == 5 * 86400


def test_ticks_fall_on_round_clock_times_inside_the_span() -> None:
    scale = TimeScale(at(3), at(23), 200)
    ticks = scale.ticks()
    assert [t.label for t in ticks] == ["09:00:05", "09:00:10", "09:00:15", "09:00:20"]
    assert [t.x for t in ticks] == [20.0, 70.0, 120.0, 170.0]
    minutes = TimeScale(at(0), at(1800), 600).ticks()
    assert [t.label for t in minutes] == [f"09:{m:02d}" for m in range(0, 31, 5)]  # 6 pieces


def test_the_scale_clamps_to_its_track_and_an_instant_lasts_a_second() -> None:
    scale = TimeScale(at(0), at(10), 100)
    assert (scale.x(at(-5)), scale.x(at(5)), scale.x(at(50))) == (0.0, 50.0, 100.0)
    assert span_of([at(4), at(4)]) == (at(4), at(5))
    assert span_of([]) is None


# --- the Gantt chart ---------------------------------------------------------------------------


def test_each_try_is_a_bar_coloured_by_its_state_and_the_wait_a_thin_one() -> None:
    retried = task(
        "load",
        "success",
        (a_try(1, "up_for_retry", 10, 20), a_try(2, "success", 40, 60)),
        queued=30,
    )
    chart = gantt.gantt_chart(charts.Gantt(run_view(end=100), [retried]), now=at(500))
    [line] = chart.entries
    assert isinstance(line, gantt.Line)
    assert [(s.kind, s.state, s.try_number) for s in line.segments] == [
        ("try", "up_for_retry", 1),
        ("queued", "queued", 2),
        ("try", "success", 2),
    ]
    assert [(s.x, s.width) for s in line.segments] == [(60.0, 60.0), (180.0, 60.0), (240.0, 120.0)]
    assert line.segments[1].height < line.segments[0].height
    assert line.segments[2].title == (
        "load, try 2: success\n2030-01-01 09:00:40 UTC → 2030-01-01 09:01:00 UTC\nduration 20.0s"
    )
    assert (chart.start, chart.end, chart.lines) == (at(0), at(100), 1)


def test_a_running_try_and_a_waiting_one_reach_now() -> None:
    running = task("extract", "running", (a_try(1, "running", 0, None),))
    waiting = task("load", "queued", (), queued=5)
    g = charts.Gantt(run_view(state="running", end=None), [running, waiting])
    chart = gantt.gantt_chart(g, now=at(10))
    extract, load = chart.entries
    assert isinstance(extract, gantt.Line)
    assert isinstance(load, gantt.Line)
    assert [(s.x, s.width) for s in extract.segments] == [(0.0, 600.0)]
    assert "still running" in extract.segments[0].title
    assert [(s.kind, s.x, s.width) for s in load.segments] == [("queued", 300.0, 300.0)]
    assert load.segments[0].title.endswith("waiting for 5.0s")
    assert chart.end == at(10)


def test_an_instant_try_stays_visible() -> None:
    quick = task("ping", "success", (a_try(1, "success", 50, 50),))
    chart = gantt.gantt_chart(charts.Gantt(run_view(end=100), [quick]), now=at(100))
    [line] = chart.entries
    assert isinstance(line, gantt.Line)
    assert line.segments[0].width == gantt.MIN_BAR_W


def test_a_mapped_task_is_a_group_under_a_summary_in_its_most_telling_state() -> None:
    elements = [
        task("square", "success", (a_try(1, "success", 10, 20),), map_index=0),
        task("square", "failed", (a_try(1, "failed", 30, 50),), map_index=1),
    ]
    after = task("total", "upstream_failed", ())
    chart = gantt.gantt_chart(charts.Gantt(run_view(end=60), [*elements, after]), now=at(60))
    group, total = chart.entries
    assert isinstance(group, gantt.Group)
    assert isinstance(total, gantt.Line)
    assert [e.label for e in group.elements] == ["square[0]", "square[1]"]
    assert [e.anchor for e in group.elements] == ["task-square-0", "task-square-1"]
    summary = group.summary
    assert (summary.label, summary.state, summary.map_index) == ("square [2]", "failed", -1)
    [span] = summary.segments
    assert (span.kind, span.x, span.width) == ("span", 100.0, 400.0)
    assert total.segments == []  # never ran: a line without bars
    assert chart.lines == 4


def test_a_run_that_has_not_started_has_lines_and_no_axis() -> None:
    waiting = task("extract", "none", ())
    chart = gantt.gantt_chart(
        charts.Gantt(run_view(state="queued", start=None, end=None), [waiting]), now=at(0)
    )
    assert (chart.ticks, chart.start, chart.end) == ([], None, None)
    assert [e.label for e in chart.entries if isinstance(e, gantt.Line)] == ["extract"]


# --- the grid's run bars -----------------------------------------------------------------------


def test_run_bars_are_as_tall_as_the_runs_took_and_a_live_one_counts_until_now() -> None:
    runs = [
        run_view(1, end=30),
        run_view(2, end=60),
        run_view(3, "running", start=100, end=None),
        run_view(4, "queued", start=None, end=None),
    ]
    bars = durations.run_bars(runs, now=at(115))
    assert [bars[pk].height for pk in (1, 2, 3, 4)] == [24.0, 48.0, 12.0, durations.MIN_BAR_H]
    assert [bars[pk].y for pk in (1, 2)] == [24.0, 0.0]
    assert bars[3].title == "r3: running, 15.0s so far"
    assert (bars[4].seconds, bars[4].title) == (None, "r4: queued, —")


# --- the duration strips -----------------------------------------------------------------------


def test_each_strip_has_its_own_scale_its_p50_and_no_bar_where_unknown() -> None:
    runs = [run_view(1, end=10), run_view(2, end=30), run_view(3, "running", end=None)]
    points = [
        charts.TaskPoint("r1", "success", 2.0),
        charts.TaskPoint("r2", "failed", 8.0),
        charts.TaskPoint("r3", None, None),
    ]
    d = charts.Durations(
        runs=runs,
        run_seconds=[10.0, 30.0, None],
        run_p50_seconds=20.0,
        tasks=[charts.TaskDurations("load", points, 5.0)],
        total=7,
    )
    chart = durations.duration_chart(d)
    assert (chart.runs, chart.width) == (3, 3 * durations.BAR_W + 2 * durations.GAP)
    whole, load = chart.strips
    assert (whole.label, whole.task_id, load.task_id) == ("whole run", None, "load")
    assert [(b.run_id, b.seconds, b.height) for b in whole.bars] == [
        ("r1", 10.0, 12.0),
        ("r2", 30.0, 36.0),
    ]
    assert [(b.state, b.x, b.height) for b in load.bars] == [
        ("success", 0, 9.0),
        ("failed", 18, 36.0),
    ]
    assert load.p50_y == durations.STRIP_PAD + 36 - 22.5
    assert load.figures == "p50 5.0s · max 8.0s"
    assert whole.bars[1].y == durations.STRIP_PAD  # the longest reaches the top


def test_a_strip_without_any_finished_point_has_no_bars_and_no_p50() -> None:
    d = charts.Durations([run_view(1, "running", end=None)], [None], None, [], 1)
    [whole] = durations.duration_chart(d).strips
    assert (whole.bars, whole.p50_y, whole.figures) == ([], None, "p50 — · max —")


def test_a_zero_length_point_is_still_a_visible_bar() -> None:
    runs = [run_view(1, end=0), run_view(2, end=10)]
    d = charts.Durations(runs, [0.0, 10.0], 5.0, [], 2)
    [whole] = durations.duration_chart(d).strips
    assert [b.height for b in whole.bars] == [durations.MIN_BAR_H, 36.0]


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0.031, "31ms"), (0.4, "400ms"), (1.0, "1.0s"), (125, "2m 05s"), (None, "—")],
)
def test_short_durations_are_written_in_milliseconds(seconds: float | None, text: str) -> None:
    assert fmt_span(seconds) == text


def test_a_large_mapped_task_draws_its_first_elements_and_spans_them_all() -> None:
    many = gantt.MAX_ELEMENTS + 5
    elements = [
        task("square", "success", (a_try(1, "success", m, m + 1),), map_index=m)
        for m in range(many)
    ]
    chart = gantt.gantt_chart(charts.Gantt(run_view(end=many + 1), elements), now=at(0))
    [group] = chart.entries
    assert isinstance(group, gantt.Group)
    assert (len(group.elements), group.more) == (gantt.MAX_ELEMENTS, 5)
    assert group.summary.label == f"square [{many}]"
    [span] = group.summary.segments
    assert span.x + span.width == pytest.approx(600 * many / (many + 1), abs=0.02)
