"""The filtered customer list API page: p95 < 50 ms at 1,000,000 customers.

Goes through the Django test client in-process (``GET /api/v1/customers?...`` with an API key: authentication,
rate limit, filters, keyset pagination, serialisation; no network or server process), for the list's common
filters and the next page by cursor.

    python benchmarks/list_page.py [--sqlite]
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _bench  # noqa: E402


def main() -> None:
    args = _bench.parser(__doc__.splitlines()[0]).parse_args()
    env = _bench.setup(args)
    from django.test import Client

    from guanxi.workspaces.apikeys import apikey_create
    from guanxi.workspaces.models import Membership

    actor = env["owner"]
    _key, raw = apikey_create(actor=actor, name="benchmark", scopes=["read"])
    client = Client()
    headers = {"HTTP_AUTHORIZATION": f"Bearer {raw}"}
    owners = list(Membership.objects.values_list("user_id", flat=True))

    def get(params: dict) -> dict:
        res = client.get("/api/v1/customers", params, **headers)
        assert res.status_code == 200, res.content[:300]
        return res.json()

    cases = {
        "first_page": lambda i: {"limit": 50},
        "kind_company": lambda i: {"kind": "company", "limit": 50},
        "owner": lambda i: {"owner_id": owners[i % len(owners)], "limit": 50},
    }
    runs: dict[str, list[dict]] = {k: [] for k in [*cases, "next_page_by_cursor", "baseline"]}
    ids = _bench.sample_ids(200, seed=3)
    base = _bench.baseline_pk_fetch(ids)
    for run in range(args.runs):
        for _ in range(10):
            get({"limit": 50})
        runs["baseline"].append(_bench.percentiles([base(i) for i in range(len(ids))]))
        for name, params in cases.items():
            runs[name].append(
                _bench.percentiles(
                    [_bench.timed(lambda i=i, p=params: get(p(i))) for i in range(args.queries)]
                )
            )
        cursor = get({"limit": 50})["next_cursor"]
        samples = []
        for _ in range(args.queries):
            page: dict = {}
            samples.append(
                _bench.timed(lambda c=cursor, page=page: page.update(get({"limit": 50, "cursor": c})))
            )
            cursor = page["next_cursor"]
        runs["next_page_by_cursor"].append(_bench.percentiles(samples))
        print(f"run {run + 1}/{args.runs} done", file=sys.stderr)
    results = {k: _bench.median_of_runs(v) for k, v in runs.items()}
    b = results["baseline"]["p95"]
    for k in [*cases, "next_page_by_cursor"]:
        results[k]["p95_vs_baseline_p95"] = round(results[k]["p95"] / b, 1) if b else None
    results["target_p95_ms"] = 50
    results["met"] = all(results[k]["p95"] < 50 for k in [*cases, "next_page_by_cursor"])
    _bench.emit("list_page", env["meta"], results)


if __name__ == "__main__":
    main()
