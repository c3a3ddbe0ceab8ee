"""Progress towards the targets: the written page (``progress.html``, self-contained and offline) and the
page in the app's frame (``/reports/progress``). Renders a ``ProgressOutcome`` of
``shequ.usecases.progress``; computes nothing but where the points of a trend go.

The markup is in ``web/templates/``: ``progress_report.html`` (the standalone page, with its own
language switch) and ``progress_page.html`` (in the frame) both include ``progress_body.html``;
``progress_svg.html`` draws a target's trend.
"""

from __future__ import annotations

from typing import Any

from markupsafe import Markup

from shequ import __version__
from shequ.web.offline import ATTRIBUTION
from shequ.web.render import macro, render

#: a trend chart's size in pixels
WIDTH, HEIGHT, PAD = 150, 40, 4


def trend_chart(trend: list[Any], now: tuple[str, float | None], target: float | None) -> Markup:
    """A small line of a target's share in the earlier runs and today, the target as a dashed line
    (inline SVG); nothing when there is no earlier run to draw a line from."""
    points = [(p.date, p.share) for p in trend] + [now]
    known = [(d, s) for d, s in points if s is not None]
    if len(known) < 2:
        return Markup("")
    step = (WIDTH - 2 * PAD) / (len(known) - 1)

    def y(share: float) -> float:
        return round(PAD + (1 - min(max(share, 0.0), 1.0)) * (HEIGHT - 2 * PAD), 1)

    dots = [(round(PAD + k * step, 1), y(s), f"{d}: {s:.0%}") for k, (d, s) in enumerate(known)]
    line = " ".join(f"{x},{yy}" for x, yy, _ in dots)
    return macro("progress_svg.html", "trend", WIDTH, HEIGHT, line, dots, None if target is None else y(target))


def progress_context(outcome: Any, *, attribution: str = "") -> dict[str, Any]:
    """What ``progress_body.html`` shows."""
    today = outcome.today.isoformat()
    measured = [(t, trend_chart(t.trend, (today, t.share), t.target)) for t in outcome.measured]
    return {"profile": outcome.profile, "today": today, "n_communities": outcome.communities,
            "version": __version__, "notes": list(outcome.notes), "runs": list(outcome.runs),
            "recorded": outcome.recorded is not None, "measured": measured, "not_measured": outcome.not_measured,
            "attribution": attribution}


def progress_html(outcome: Any, *, attribution: str = "") -> str:
    """The whole progress report as one self-contained page (its own language switch)."""
    return render("progress_report.html", **progress_context(outcome, attribution=attribution))


def progress_page(outcome: Any, *, attribution: str = ATTRIBUTION) -> str:
    """The progress report in the app's frame, with the choice of profile."""
    name = outcome.profile.name
    options = [(p, p, p == name) for p in outcome.profiles]
    if name not in outcome.profiles:
        options.insert(0, (name, name, True))
    return render("progress_page.html", title=f"目标进度 Progress towards the targets — {name}",
                  active="/reports/progress", profile_options=options,
                  **progress_context(outcome, attribution=attribution))
