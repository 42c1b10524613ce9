"""The bench's table (plain text, Markdown-ready) from its results."""

from __future__ import annotations

from typing import Any

Row = tuple[str, str, str, str, str, str]
HEADER: Row = ("figure", "measured", "ceiling, same run", "ratio", "target", "met")


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{value:.0%}"


def _met(ok: bool | None) -> str:
    return "–" if ok is None else ("yes" if ok else "no")


def _accept_rows(accept: dict[str, Any]) -> list[Row]:
    rows: list[Row] = []
    targets = {"sqlite-w1": 0.70, "mariadb-w1": 0.60}
    for key in ("sqlite-w1", "mariadb-w1", "sqlite-w2", "mariadb-w2"):
        backend, workers = key.split("-w")
        name = "SQLite" if backend == "sqlite" else "MariaDB"
        label = f"Accept, {name}, {workers} process{'es' if workers != '1' else ''}"
        ceiling = accept["ceilings"].get(f"w{workers}", {})
        if key in accept.get("skipped", {}):
            rows.append((label, "skipped", accept["skipped"][key][:60], "–", "–", "–"))
            continue
        figures = accept["servers"].get(key)
        if not figures:
            continue
        target = targets.get(key)
        rows.append((label, f"{figures['rate']:,.0f} req/s (p99 {figures['latency_ms'].get('p99')} ms)",
                     f"{ceiling.get('rate', 0):,.0f} req/s minimal route", f"{_pct(figures['ratio'])} "
                     f"({_pct(figures.get('cpu_ratio'))} per CPU s)", f">= {target:.0%}" if target else "–",
                     _met(figures["ratio"] >= target if target else None)))
    return rows


def _e2e_rows(e2e: dict[str, Any], ceiling_rate: float | None) -> list[Row]:
    best = e2e.get("best")
    phones = e2e.get("phones")
    if not best:
        steps = e2e.get("steps") or []
        detail = "no rate kept p99 send->Sent < 1 s with nothing lost" + (
            f" (lowest tried {steps[0]['rate']:.0f}/s)" if steps else f": {e2e.get('error', 'no step ran')[:60]}")
        return [(f"End to end, {phones} phones", detail, "–", "–", ">= 150 msg/s", "no")]
    latency = best["latency_ms"]
    per_message = best.get("server_requests_per_message")
    ceiling = ceiling_rate / per_message if ceiling_rate and per_message else None
    rate = best["delivered_per_second"]
    rows: list[Row] = [
        (f"End to end, {phones} phones: highest rate with p99 send->Sent < 1 s",
         f"{best['rate']:.0f} msg/s sent, {rate:.0f}/s delivered, lost {best['lost']}, stuck {best['stuck']}",
         f"{ceiling:,.0f} msg/s (minimal route / {per_message} requests per message)" if ceiling else "–",
         _pct(rate / ceiling if ceiling else None), ">= 150 msg/s, 0 lost",
         _met(rate >= 150 and best["lost"] == 0 and best["rate"] >= 150)),
        ("  send->Processed p50 / p95 / p99",
         " / ".join(f"{latency['Processed'][p]} ms" for p in ("p50", "p95", "p99")), "–", "–", "–", "–"),
        ("  send->Sent p50 / p95 / p99", " / ".join(f"{latency['Sent'][p]} ms" for p in ("p50", "p95", "p99")),
         "–", "–", "p99 < 1 s", _met((latency["Sent"]["p99"] or 1e9) < 1000)),
        ("  CPU at that rate: server / simulator", f"{best.get('server_cpu_share', 0):.0%} / "
         f"{best['simulator_cpu_share']:.0%} of a core", "–", "–", "–", "–"),
    ]
    return rows


def _connection_rows(results: dict[str, Any]) -> list[Row]:
    rows: list[Row] = []
    conn = results.get("connections", {})
    server, ceiling = conn.get("server"), conn.get("ceiling")
    if server and ceiling:
        under = server["server_rss_mb"] < 1536 and server["streams"] >= 10_000
        rows.append(("SSE streams held by one server process", f"{server['streams']:,} streams, RSS "
                     f"{server['server_rss_mb']:,.0f} MB, {server['kb_per_stream']} KB each",
                     f"{ceiling['kb_per_stream']} KB each, minimal SSE route", f"{server['memory_ratio']}x memory",
                     "10,000 under 1.5 GB", _met(under)))
        rows.append(("  one SettingsUpdated reaches all", f"{server['broadcast_reached']:,} in "
                     f"{server['broadcast_all_ms']:,.0f} ms", f"{ceiling['broadcast_all_ms']:,.0f} ms",
                     f"{server.get('broadcast_ratio', '–')}x time", "< 5 s",
                     _met(server["broadcast_all_ms"] is not None and server["broadcast_all_ms"] < 5000
                          and server["broadcast_reached"] == server["streams"])))
    sim = results.get("simulator")
    if sim:
        phones, bare = sim["phones"], sim["ceiling"]
        rows.append(("Idle phones (SSE held) in one simulator process", f"{phones['online']:,} of {phones['phones']:,} "
                     f"online, RSS {phones['rss_mb']:,.0f} MB, {phones['kb_per_phone']} KB each",
                     f"{bare['bytes_per_stream'] / 1024:.1f} KB per bare httpx stream",
                     f"{phones['ratio_to_bare_stream']}x memory", "10,000 under 2 GB",
                     _met(phones["online"] >= 10_000 and phones["rss_mb"] < 2048)))
    return rows


def rows(results: dict[str, Any]) -> list[Row]:
    out: list[Row] = []
    accept = results.get("accept")
    if accept:
        out += _accept_rows(accept)
    if results.get("e2e"):
        ceiling = accept["ceilings"]["w1"]["rate"] if accept and "w1" in accept.get("ceilings", {}) else None
        out += _e2e_rows(results["e2e"], ceiling)
    out += _connection_rows(results)
    gen = results.get("load_generator")
    if gen:
        out.append(("Load generator", gen["summary"], gen.get("cross_check", "–"), "–", "not the bottleneck", "–"))
    return out


def table(results: dict[str, Any]) -> str:
    lines = [HEADER, *rows(results)]
    widths = [max(len(row[i]) for row in lines) for i in range(len(HEADER))]
    text = ["| " + " | ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)) + " |" for row in lines]
    text.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(text)
