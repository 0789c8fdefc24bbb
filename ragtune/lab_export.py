"""A Lab comparison to take away: Markdown (:func:`comparison_markdown`) or a self-contained HTML
one-pager (:func:`comparison_html`): the question, each mode's answer with its badges (verdict,
format), citations, timings and costs, and the latency and cost charts.

Both are pure functions of a :class:`~ragtune.lab_share.LabComparison` (fresh answers or logged
ones) to a string; the Lab's download buttons and ``python -m ragtune lab --html/--markdown``
write what they return. The HTML embeds plotly.js, so it opens offline; everything a user, a
document or the model wrote is escaped (no markup, no script, no image from it), and the page's
Content-Security-Policy lets it load nothing from anywhere.
"""

from __future__ import annotations

import html
from datetime import datetime, timezone

from pydantic import BaseModel, ConfigDict, Field

from ragtune.answer import RouteTaken
from ragtune.charts import ModeMeasure, cost_figure, latency_figure
from ragtune.economics import money
from ragtune.evaluation.scoring import FormatTone, format_outcome
from ragtune.inert import inert_markdown
from ragtune.lab import Failed, Finished
from ragtune.lab_share import LabComparison
from ragtune.runtime.stops import STOPPED_LABELS

VERDICT_WORDS: dict[str, str] = {
    "correct": "correct", "stale": "stale", "wrong": "wrong", "abstained": "abstained",
    "invented": "invented an answer",
}
CITATION_WORDS: dict[str, str] = {
    "retrieved": "in the prompt", "not_retrieved": "a real chunk, but not in the prompt",
    "unknown": "no such chunk: invented", "unverified": "unverified",
}
# Only what the page itself carries may run or draw: plotly's inline script and styles, nothing
# fetched (no image, font, frame or request), so the file reveals nothing when opened.
CSP = ("default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data:; "
       "font-src data:; connect-src 'none'; frame-src 'none'; form-action 'none'; base-uri 'none'")
PLOTLY_CONFIG = {"displaylogo": False, "responsive": True}
_STOPPED_WHY = {"length": "the answer may be incomplete",
                "repetition": "the answer began repeating itself, so it was ended there"}


def stopped_note(finish_reason: str) -> str:
    """The note under an answer that did not end by itself, in the one vocabulary of
    :data:`~ragtune.runtime.stops.STOPPED_LABELS` (the answer card says the same); "" otherwise.

    Examples:
        >>> stopped_note("length"), stopped_note("stop")
        ('Stopped at the answer cap — the answer may be incomplete.', '')
    """
    label = STOPPED_LABELS.get(finish_reason)
    if label is None:
        return ""
    why = _STOPPED_WHY.get(finish_reason)
    return f"{label[:1].upper()}{label[1:]}" + (f" — {why}." if why else ".")


def route_line(route: RouteTaken) -> str:
    """Where a routing mode sent the query and what the routing step cost, in one line (the answer card,
    the exports): ``Routed: billing → billing-handoff (a fixed answer) · router 85 ms, 74 + 3 tokens,
    $0.0000021 local``."""
    t = route.timings
    fallback = " · not a known label: the default route" if route.fallback else ""
    return (f"Routed: {route.describe()} · router {route.cost.compute_seconds * 1000:,.0f} ms, "
            f"{t.prompt_tokens} + {t.completion_tokens} tokens, {money(route.cost.local_compute_usd)} local{fallback}")


class ExportRow(BaseModel):
    """One mode's outcome, in words, as both documents write it."""

    model_config = ConfigDict(frozen=True)

    label: str
    summary: str = ""
    error: str = ""
    answer: str = ""
    verdict: str | None = None
    verdict_note: str = ""
    not_judged: str = ""
    format_label: str = ""
    format_tone: FormatTone = "none"
    confidence: str | None = None
    stopped: str = Field(default="", description="Why it did not end by itself (stopped_note); empty: it did.")
    route: str = Field(default="", description="A routing mode's route and its cost (route_line).")
    citations: list[str] = Field(default_factory=list)
    model_id: str = ""
    measure: ModeMeasure | None = None

    def badges(self) -> list[str]:
        """The badges in the card's order: the verdict (or "not judged"), the format, the confidence."""
        first = [VERDICT_WORDS.get(self.verdict, self.verdict)] if self.verdict else (
            ["not judged"] if self.not_judged else [])
        return [*first, *([self.format_label] if self.format_label else []),
                *([f"confidence {self.confidence}"] if self.confidence else [])]

    def measures(self) -> str:
        """``total 1.20 s · first token 0.31 s · 251 prompt tokens (0 cached) · 30 answer tokens``
        (``· routing 0.08 s`` after the total for a routing mode)."""
        if self.measure is None:
            return ""
        t = self.measure.timings
        routing = f" · routing {t.routing_ms / 1000:.2f} s" if t.routing_ms else ""
        return (f"total {t.total_ms / 1000:.2f} s{routing} · first token {t.ttft_ms / 1000:.2f} s · "
                f"{t.prompt_tokens:,} prompt tokens ({t.cached_prompt_tokens:,} cached) · "
                f"{t.completion_tokens:,} answer tokens")

    def costs(self) -> str:
        """``local $0.000012 · as gpt-4o-mini $0.00003`` (+ amortised training, where an adapter has one)."""
        if self.measure is None:
            return ""
        m = self.measure
        training = f" · training {money(m.amortized_usd)} amortised" if m.amortized_usd else ""
        return f"local {money(m.local_usd)} · as {m.api_model} {money(m.api_usd)}{training}"


def export_rows(comparison: LabComparison) -> list[ExportRow]:
    """Each mode's outcome in words, fresh or logged, in the comparison's order."""
    rows = []
    for result in comparison.results:
        if isinstance(result, Failed):
            rows.append(ExportRow(label=result.mode.label, summary=result.mode.summary(), error=result.error))
        elif isinstance(result, Finished):
            answer, outcome = result.answer, format_outcome(result.answer.parse.status, result.answer.text)
            parsed = answer.parse.parsed
            rows.append(ExportRow(
                label=answer.mode.label, summary=answer.mode.summary(), answer=answer.display_text,
                verdict=result.verdict.verdict if result.verdict else None,
                verdict_note=result.verdict.note if result.verdict else "", not_judged=result.not_judged or "",
                format_label=outcome.label, format_tone=outcome.tone,
                confidence=parsed.confidence if parsed is not None else None,
                stopped=stopped_note(answer.finish_reason), model_id=answer.model_id,
                route=route_line(answer.route) if answer.route is not None else "",
                citations=[f"{c.chunk_id} ({CITATION_WORDS.get(c.status, c.status)})" for c in answer.citations],
                measure=ModeMeasure.of(answer)))
        else:
            outcome = format_outcome(result.parse_status, result.answer)
            rows.append(ExportRow(
                label=result.mode_label, answer=result.display_answer, verdict=result.verdict,
                verdict_note=(result.verdict_note or "") if result.verdict else "",
                not_judged=(result.verdict_note or "") if result.verdict is None else "",
                format_label=outcome.label, format_tone=outcome.tone, stopped=stopped_note(result.finish_reason),
                route=route_line(result.route) if result.route is not None else "",
                model_id=result.model_id, measure=ModeMeasure.of(result),
                citations=[f"{c.get('chunk_id')} ({CITATION_WORDS.get(str(c.get('status')), c.get('status'))})"
                           for c in result.citations]))
    return rows


def _about(comparison: LabComparison, rows: list[ExportRow]) -> str:
    models = sorted({r.model_id for r in rows if r.model_id})
    return " · ".join([
        f"workspace {comparison.workspace or 'none'}", f"model {', '.join(models) or 'none'}",
        f"run {comparison.run_id}" + (" (stored answers)" if comparison.stored else ""),
    ])


def comparison_markdown(comparison: LabComparison, *, now: datetime | None = None) -> str:
    """The comparison as Markdown: the question, each mode's answer with its badges, citations,
    timings and costs, and a table of the measures (charts: see the HTML one-pager). Every text
    a user, a document or the model wrote is inert (:func:`ragtune.inert.inert_markdown`)."""
    rows = export_rows(comparison)
    when = (now or datetime.now(timezone.utc)).strftime("%Y-%m-%d %H:%M UTC")
    lines = ["# ragtune Lab comparison", "", _quote(comparison.question), "",
             inert_markdown(_about(comparison, rows)) + f" · exported {when}", ""]
    if comparison.note:
        lines += [f"_{inert_markdown(comparison.note)}_", ""]
    for row in rows:
        lines += [f"## {inert_markdown(row.label)}", ""]
        if row.summary:
            lines += [f"_{inert_markdown(row.summary)}_", ""]
        if row.error:
            lines += [f"**Could not answer:** {inert_markdown(row.error)}", ""]
            continue
        lines += [" · ".join(f"**{inert_markdown(b)}**" if i == 0 and (row.verdict or row.not_judged) else
                             inert_markdown(b) for i, b in enumerate(row.badges())), ""]
        if row.verdict_note:
            lines += [f"Verdict: {inert_markdown(row.verdict_note)}", ""]
        if row.not_judged:
            lines += [f"{inert_markdown(row.not_judged[:1].upper() + row.not_judged[1:])}.", ""]
        if row.route:
            lines += [inert_markdown(row.route), ""]
        lines += [_quote(row.answer or "(empty answer)"), ""]
        if row.stopped:
            lines += [inert_markdown(row.stopped), ""]
        lines += ["Citations: " + (inert_markdown(", ".join(row.citations)) or "none"), "",
                  inert_markdown(row.measures()), "", inert_markdown(row.costs()), ""]
    answered = [r for r in rows if r.measure is not None]
    if answered:
        lines += ["## Latency and cost", "", "| mode | total s | first token s | prompt tokens | answer tokens | "
                  "local | API-equivalent |", "|---|---|---|---|---|---|---|"]
        for r in answered:
            assert r.measure is not None
            t = r.measure.timings
            label = inert_markdown(r.label).replace("|", "\\|")
            lines.append(f"| {label} | {t.total_ms / 1000:.2f} | {t.ttft_ms / 1000:.2f} | {t.prompt_tokens:,} | "
                         f"{t.completion_tokens:,} | {money(r.measure.local_usd)} | "
                         f"{money(r.measure.api_usd)} ({inert_markdown(r.measure.api_model)}) |")
        lines.append("")
    return "\n".join(lines)


def _quote(text: str) -> str:
    """Untrusted text as an inert Markdown block quote (every line quoted, so none escapes it)."""
    return "\n".join(f"> {line}" if line else ">" for line in inert_markdown(text).splitlines() or [""])


_STYLE = """
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:2rem auto;max-width:1200px;
color:#1f2328;padding:0 1rem;line-height:1.45}
h1{font-size:1.5rem;margin-bottom:.25rem}.question{font-size:1.2rem;font-weight:600;white-space:pre-wrap}
.about,.summary,.measures,footer{color:#59636e;font-size:.85rem}.note{background:#eef4ff;padding:.5rem .75rem}
.grid{display:grid;grid-template-columns:repeat(auto-fit,minmax(260px,1fr));gap:1rem;margin:1rem 0}
.card{border:1px solid #d1d9e0;border-radius:8px;padding:.75rem 1rem}.card h2{font-size:1.1rem;margin:0}
.answer{white-space:pre-wrap;overflow-wrap:anywhere;margin:.5rem 0}.error{color:#b42318}
.badge{display:inline-block;border-radius:999px;padding:.1rem .55rem;margin:.15rem .25rem .15rem 0;
font-size:.8rem;font-weight:600}.v-correct,.f-met{background:#dafbe1;color:#116329}
.v-wrong,.v-invented{background:#ffebe9;color:#a40e26}.v-stale,.f-missed{background:#fff1e5;color:#953800}
.v-abstained,.v-not-judged,.f-none,.b-plain{background:#eaeef2;color:#424a53}
ul{padding-left:1.1rem;margin:.25rem 0}.charts{display:grid;grid-template-columns:1fr 1fr;gap:1rem}
@media (max-width:800px){.charts{grid-template-columns:1fr}}
"""


def _e(text: str) -> str:
    return html.escape(text, quote=True)


def _card(row: ExportRow) -> str:
    parts = [f"<article class=\"card\"><h2>{_e(row.label)}</h2>"]
    if row.summary:
        parts.append(f"<p class=\"summary\">{_e(row.summary)}</p>")
    if row.error:
        parts.append(f"<p class=\"error\">Could not answer: {_e(row.error)}</p></article>")
        return "".join(parts)
    classes = []
    if row.verdict:
        classes.append(f"v-{row.verdict}")
    elif row.not_judged:
        classes.append("v-not-judged")
    if row.format_label:
        classes.append(f"f-{row.format_tone}")
    classes += ["b-plain"] * (len(row.badges()) - len(classes))
    titles = [row.verdict_note or row.not_judged] + [""] * len(classes)
    parts.append("<div class=\"badges\">" + "".join(
        f"<span class=\"badge {_e(cls)}\" title=\"{_e(title)}\">{_e(text)}</span>"
        for cls, text, title in zip(classes, row.badges(), titles)) + "</div>")
    if row.not_judged:
        parts.append(f"<p class=\"summary\">{_e(row.not_judged[:1].upper() + row.not_judged[1:])}.</p>")
    if row.route:
        parts.append(f"<p class=\"summary\">{_e(row.route)}</p>")
    parts.append(f"<div class=\"answer\">{_e(row.answer) or '<em>(empty answer)</em>'}</div>")
    if row.stopped:
        parts.append(f"<p class=\"summary\">{_e(row.stopped)}</p>")
    cites = "".join(f"<li>{_e(c)}</li>" for c in row.citations) or "<li>none</li>"
    parts.append(f"<p class=\"measures\">Citations:</p><ul class=\"measures\">{cites}</ul>")
    parts.append(f"<p class=\"measures\">{_e(row.measures())}<br>{_e(row.costs())}</p></article>")
    return "".join(parts)


def comparison_html(comparison: LabComparison, *, now: datetime | None = None) -> str:
    """The comparison as one self-contained HTML page: cards with badges, citations, timings and
    costs, and the plotly latency and cost charts with plotly.js inline (it opens offline).

    Everything from a user, a document or the model is HTML-escaped (plotly escapes its own
    data), and the page's Content-Security-Policy (:data:`CSP`) forbids loading anything.
    """
    rows = export_rows(comparison)
    when = (now or datetime.now(timezone.utc)).strftime("%Y-%m-%d %H:%M UTC")
    measures = [r.measure for r in rows if r.measure is not None]
    charts = ""
    if measures:
        latency = latency_figure(measures).update_layout(template="plotly_white").to_html(
            full_html=False, include_plotlyjs=True, config=PLOTLY_CONFIG, div_id="ragtune-latency")
        cost = cost_figure(measures).update_layout(template="plotly_white").to_html(
            full_html=False, include_plotlyjs=False, config=PLOTLY_CONFIG, div_id="ragtune-cost")
        charts = f"<section class=\"charts\"><div>{latency}</div><div>{cost}</div></section>"
    note = f"<p class=\"note\">{_e(comparison.note)}</p>" if comparison.note else ""
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        f"<meta http-equiv=\"Content-Security-Policy\" content=\"{CSP}\">"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
        f"<title>ragtune Lab: {_e(comparison.question[:80])}</title><style>{_STYLE}</style></head><body>"
        f"<h1>ragtune Lab comparison</h1><p class=\"question\">{_e(comparison.question)}</p>"
        f"<p class=\"about\">{_e(_about(comparison, rows))} · exported {when}</p>{note}"
        f"<section class=\"grid\">{''.join(_card(r) for r in rows)}</section>{charts}"
        "<footer>Made with ragtune. The charts are drawn by plotly.js, included in this file: it needs no "
        "network.</footer></body></html>\n"
    )
