"""GraphQL next to REST: the same page of assets, over each, in one run.

Starts the service (``asset-service serve``, embedded stores) on a free 127.0.0.1 port, stores
50 small documents with two versions each, then alternates, one request at a time on one
keep-alive connection each:

- REST: ``GET /api/assets/search?limit=50`` (the records, versions included);
- GraphQL: ``search(limit: 50) { items { … versions { … } } nextCursor }`` asking for the fields
  a list view draws.

    python -m bench.graphql_vs_rest            # 400 requests of each
    python -m bench.graphql_vs_rest --quick    # 100 of each

Prints p50/p99 of each and their ratio; writes bench/results/graphql.json. Part of `make bench`.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

from .client import Connection
from .servers import OurServer, new_secret

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "graphql.json"
ASSETS = 50
QUERY = """query Page($limit: Int) {
  search(limit: $limit, sort: "-created_at") {
    items { assetId name type size mimeType createdAt currentVersion
      metadata { title tags folder } versions { version size checksum createdAt } }
    nextCursor
  }
}"""
BOUNDARY = "bench-graphql-boundary"


def multipart(name: str, content: bytes) -> bytes:
    return (
        (
            f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="{name}"\r\n'
            f"Content-Type: text/plain\r\n\r\n"
        ).encode()
        + content
        + f"\r\n--{BOUNDARY}--\r\n".encode()
    )


def seed(connection: Connection, token: str) -> None:
    headers = {
        "Authorization": f"Bearer {token}",
        "Content-Type": f"multipart/form-data; boundary={BOUNDARY}",
    }
    for number in range(ASSETS):
        text = f"note {number}\n".encode() * 40
        created = connection.request(
            "POST", "/api/assets/upload", headers, multipart(f"n{number}.txt", text),
            keep_body=True,
        )  # fmt: skip
        if created.status != 201:
            raise RuntimeError(f"upload answered {created.status}")
        asset_id = json.loads(created.body)["asset_id"]
        again = connection.request(
            "POST", f"/api/assets/{asset_id}/versions", headers,
            multipart(f"n{number}-v2.txt", text + b"v2\n"),
        )  # fmt: skip
        if again.status != 201:
            raise RuntimeError(f"new version answered {again.status}")


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def measure(base_url: str, token: str, requests: int) -> dict[str, dict[str, float]]:
    auth = {"Authorization": f"Bearer {token}"}
    graphql_body = json.dumps({"query": QUERY, "variables": {"limit": ASSETS}}).encode()
    timings: dict[str, list[float]] = {"rest": [], "graphql": []}
    with Connection(base_url) as rest, Connection(base_url) as graphql:
        for round_number in range(requests + 20):
            started = time.perf_counter()
            answer = rest.request("GET", f"/api/assets/search?limit={ASSETS}", auth, keep_body=True)
            rest_seconds = time.perf_counter() - started
            if answer.status != 200 or len(json.loads(answer.body)["items"]) != ASSETS:
                raise RuntimeError(f"REST search answered {answer.status}")
            started = time.perf_counter()
            answer = graphql.request(
                "POST", "/graphql", {**auth, "Content-Type": "application/json"}, graphql_body,
                keep_body=True,
            )  # fmt: skip
            graphql_seconds = time.perf_counter() - started
            page = json.loads(answer.body)
            if answer.status != 200 or len(page["data"]["search"]["items"]) != ASSETS:
                raise RuntimeError(f"GraphQL search answered {answer.status}: {page}")
            if round_number >= 20:  # the first 20 warm up both paths
                timings["rest"].append(rest_seconds * 1000)
                timings["graphql"].append(graphql_seconds * 1000)
    return {
        name: {
            "p50_ms": round(statistics.median(values), 2),
            "p99_ms": round(percentile(values, 0.99), 2),
            "requests": len(values),
        }
        for name, values in timings.items()
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="100 requests of each")
    parser.add_argument("--requests", type=int, help="requests of each (default 400)")
    args = parser.parse_args(argv)
    requests = args.requests or (100 if args.quick else 400)
    with tempfile.TemporaryDirectory(prefix="bench-graphql-") as work:
        server = OurServer(Path(work) / "data", Path(work) / "server.log", secret=new_secret())
        with server.start():
            token = server.token(role="editor")
            with Connection(server.base_url) as connection:
                seed(connection, token)
            figures = measure(server.base_url, token, requests)
    ratio_p50 = figures["graphql"]["p50_ms"] / figures["rest"]["p50_ms"]
    ratio_p99 = figures["graphql"]["p99_ms"] / figures["rest"]["p99_ms"]
    result = {"assets": ASSETS, "versions_each": 2, **figures,
              "graphql_over_rest_p50": round(ratio_p50, 2),
              "graphql_over_rest_p99": round(ratio_p99, 2)}  # fmt: skip
    print(f"search of {ASSETS} assets with their versions, one request at a time:")
    for name in ("rest", "graphql"):
        row = figures[name]
        print(f"  {name:8} p50 {row['p50_ms']:7.2f} ms   p99 {row['p99_ms']:7.2f} ms")
    print(f"  GraphQL / REST: p50 x{ratio_p50:.2f}, p99 x{ratio_p99:.2f}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(f"results: {RESULTS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
