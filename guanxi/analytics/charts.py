"""The dashboard's charts: each is its data (rows, also served as CSV) plus a plotly figure built from them, and the
run the data came from (every figure links to its run)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import plotly.graph_objects as go
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from guanxi.analytics import selectors
from guanxi.analytics.models import RfmSegment, Stage, Tier

CHARTS = {
    "funnel": gettext_lazy("Sales funnel and pipeline"),
    "revenue": gettext_lazy("Revenue trend and forecast"),
    "tiers": gettext_lazy("Value tiers"),
    "stages": gettext_lazy("Lifecycle stages"),
    "flows": gettext_lazy("Flows between lifecycle stages"),
    "rfm": gettext_lazy("RFM segments"),
    "churn": gettext_lazy("Churn risk"),
    "rules": gettext_lazy("Basket rules"),
    "clusters": gettext_lazy("Customer clusters"),
    "service": gettext_lazy("Complaints and satisfaction"),
}


@dataclass
class Chart:
    name: str
    title: str
    rows: list[dict[str, Any]]
    run_id: int | None
    figure: Any = None
    empty: str = ""


def _layout(fig: go.Figure, title: str) -> go.Figure:
    fig.update_layout(
        title=None,
        margin={"l": 48, "r": 16, "t": 16, "b": 40},
        height=320,
        template="plotly_white",
        legend={"orientation": "h", "y": -0.2},
    )
    return fig


def chart_rows(
    name: str, *, actor: Any, filters: selectors.Filters
) -> tuple[list[dict[str, Any]], int | None]:
    runs = selectors.current_runs()
    if name == "funnel":
        return selectors.pipeline_funnel(actor=actor, filters=filters), None
    if name == "revenue":
        rows = [
            {"period": r["period"], "revenue": r["revenue"], "forecast": None, "lower": None, "upper": None}
            for r in selectors.revenue_by_month(actor=actor, filters=filters)
        ]
        for p in selectors.forecast_list(actor=actor).filter(forecast__isnull=False):
            rows.append(
                {
                    "period": p.period,
                    "revenue": None,
                    "forecast": p.forecast,
                    "lower": p.lower,
                    "upper": p.upper,
                }
            )
        return rows, runs.get("forecast")
    if name in ("tiers", "stages", "rfm"):
        field = {"tiers": "tier", "stages": "stage", "rfm": "rfm_segment"}[name]
        labels = dict({"tiers": Tier.choices, "stages": Stage.choices, "rfm": RfmSegment.choices}[name])
        rows = selectors.distribution(actor=actor, field=field, filters=filters)
        order = list(labels)
        rows.sort(key=lambda r: order.index(r["key"]) if r["key"] in order else 99)
        return [
            {
                "segment": r["key"],
                "label": str(labels.get(r["key"], r["key"])),
                "customers": r["customers"],
                "value": r["value"],
            }
            for r in rows
        ], runs.get("tiers")
    if name == "flows":
        return selectors.stage_flows(actor=actor, filters=filters), runs.get("tiers")
    if name == "churn":
        return selectors.churn_histogram(actor=actor, filters=filters), runs.get("churn")
    if name == "rules":
        rows = [
            {
                "antecedent": r.antecedent,
                "consequent": r.consequent,
                "support": r.support,
                "confidence": r.confidence,
                "lift": r.lift,
                "count": r.count,
            }
            for r in selectors.rule_list(actor=actor).order_by("-lift", "-id")[:50]
        ]
        return rows, runs.get("baskets")
    if name == "clusters":
        zh = selectors._lang_zh()
        rows = [
            {
                "cluster": c.cluster,
                "size": c.size,
                "share": c.share,
                "description": c.text_zh if zh else c.text_en,
            }
            for c in selectors.cluster_list(actor=actor).order_by("cluster")
        ]
        return rows, runs.get("clusters")
    if name == "service":
        return selectors.service_trend(actor=actor, filters=filters), None
    raise KeyError(name)


def build_chart(name: str, *, actor: Any, filters: selectors.Filters) -> Chart:
    rows, run_id = chart_rows(name, actor=actor, filters=filters)
    chart = Chart(name=name, title=str(CHARTS[name]), rows=rows, run_id=run_id)
    if not rows:
        chart.empty = _("Nothing to show yet: run the analyses, or widen the filters.")
        return chart
    fig = go.Figure()
    if name == "funnel":
        fig.add_trace(
            go.Funnel(
                y=[r["stage"] for r in rows], x=[r["opportunities"] for r in rows], name=_("Opportunities")
            )
        )
    elif name == "revenue":
        past = [r for r in rows if r["revenue"] is not None]
        fut = [r for r in rows if r["forecast"] is not None]
        fig.add_trace(
            go.Scatter(
                x=[r["period"] for r in past],
                y=[float(r["revenue"]) for r in past],
                mode="lines+markers",
                name=_("Revenue"),
            )
        )
        if fut:
            xs = [r["period"] for r in fut]
            fig.add_trace(
                go.Scatter(
                    x=xs + xs[::-1],
                    y=[float(r["upper"]) for r in fut] + [float(r["lower"]) for r in fut][::-1],
                    fill="toself",
                    line={"width": 0},
                    opacity=0.25,
                    name=_("95% interval"),
                )
            )
            fig.add_trace(
                go.Scatter(
                    x=xs,
                    y=[float(r["forecast"]) for r in fut],
                    mode="lines+markers",
                    line={"dash": "dash"},
                    name=_("Forecast"),
                )
            )
    elif name in ("tiers", "stages", "rfm"):
        fig.add_trace(
            go.Bar(x=[r["label"] for r in rows], y=[r["customers"] for r in rows], name=_("Customers"))
        )
        fig.add_trace(
            go.Bar(
                x=[r["label"] for r in rows],
                y=[float(r["value"]) for r in rows],
                name=_("Value"),
                yaxis="y2",
                opacity=0.6,
            )
        )
        fig.update_layout(yaxis2={"overlaying": "y", "side": "right"}, barmode="group")
    elif name == "flows":
        stages = [s for s, _l in Stage.choices]
        labels = dict(Stage.choices)
        nodes = [f"{labels[s]} ←" for s in stages] + [f"→ {labels[s]}" for s in stages]
        fig.add_trace(
            go.Sankey(
                node={"label": nodes},
                link={
                    "source": [
                        stages.index(r["from"]) for r in rows if r["from"] in stages and r["to"] in stages
                    ],
                    "target": [
                        len(stages) + stages.index(r["to"])
                        for r in rows
                        if r["from"] in stages and r["to"] in stages
                    ],
                    "value": [r["customers"] for r in rows if r["from"] in stages and r["to"] in stages],
                },
            )
        )
    elif name == "churn":
        fig.add_trace(
            go.Bar(x=[r["band"] for r in rows], y=[r["customers"] for r in rows], name=_("Customers"))
        )
    elif name == "rules":
        fig.add_trace(
            go.Scatter(
                x=[r["support"] for r in rows],
                y=[r["confidence"] for r in rows],
                mode="markers",
                marker={
                    "size": [min(40, 6 + 4 * r["lift"]) for r in rows],
                    "color": [r["lift"] for r in rows],
                    "showscale": True,
                    "colorbar": {"title": "lift"},
                },
                text=[f"{r['antecedent']} → {r['consequent']} (lift {r['lift']:.2f})" for r in rows],
                name=_("Rules"),
            )
        )
        fig.update_xaxes(title=_("support"))
        fig.update_yaxes(title=_("confidence"))
    elif name == "clusters":
        fig.add_trace(
            go.Bar(
                x=[f"#{r['cluster']}" for r in rows],
                y=[r["share"] for r in rows],
                text=[r["description"] for r in rows],
                name=_("Share of customers"),
            )
        )
    elif name == "service":
        xs = [r["period"] for r in rows]
        fig.add_trace(go.Bar(x=xs, y=[r["complaints"] for r in rows], name=_("Complaints")))
        fig.add_trace(
            go.Scatter(
                x=xs,
                y=[r["avg_rating"] for r in rows],
                mode="lines+markers",
                name=_("Average rating (1-5)"),
                yaxis="y2",
                connectgaps=True,
            )
        )
        fig.update_layout(yaxis2={"overlaying": "y", "side": "right", "range": [0, 5.2]})
    chart.figure = _layout(fig, chart.title)
    return chart
