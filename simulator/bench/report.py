"""The bench's table (plain text, Markdown-ready) from its results."""

from __future__ import annotations

from typing import Any

Row = tuple[str, str, str, str, str, str]
HEADER: Row = ("figure", "measured", "ceiling, same run", "ratio", "target", "met")
E2E_TARGET = 0.55  # of the end-to-end ceiling (the minimal route's rate / requests per message)
SCALING_TARGET = 1.6  # two workers on two cores against one
SIMULATOR_TARGET = 2.0  # an idle phone against a bare httpx SSE stream, memory
IDLE_SCALE = 10_000  # idle phones in one simulator process ...
IDLE_RSS_MB = 2048  # ... under this RSS
ACTIVE_CORE = 1.0  # 1,000 active phones with steady traffic: under one core


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
    rows += _scaling_rows(accept)
    return rows


def _scaling_rows(accept: dict[str, Any]) -> list[Row]:
    """Two worker processes against one, each backend: the accept rate's ratio (target 1.6x on 2 cores)."""
    rows: list[Row] = []
    ceilings = accept.get("ceilings", {})
    minimal = (ceilings["w2"]["rate"] / ceilings["w1"]["rate"]) if ceilings.get("w1", {}).get("rate") and \
        ceilings.get("w2", {}).get("rate") else None
    for backend, name in (("sqlite", "SQLite"), ("mariadb", "MariaDB")):
        one, two = accept["servers"].get(f"{backend}-w1"), accept["servers"].get(f"{backend}-w2")
        if not one or not two or not one["rate"]:
            continue
        ratio = two["rate"] / one["rate"]
        rows.append((f"Accept, {name}: 2 processes / 1 process", f"{two['rate']:,.0f} / {one['rate']:,.0f} req/s",
                     f"minimal route {minimal:.2f}x" if minimal else "–", f"{ratio:.2f}x", ">= 1.6x",
                     _met(ratio >= SCALING_TARGET)))
    return rows


def _e2e_rows(e2e: dict[str, Any], ceiling_rate: float | None) -> list[Row]:
    best = e2e.get("best")
    phones: int = e2e.get("phones") or 0
    if not best:
        steps = e2e.get("steps") or []
        detail = "no rate kept p99 send->Sent < 1 s with nothing lost" + (
            f" (lowest tried {steps[0]['rate']:.0f}/s)" if steps else f": {e2e.get('error', 'no step ran')[:60]}")
        target = f">= {E2E_TARGET:.0%}, p99 < 1 s, 0 lost"
        failed: list[Row] = [(f"End to end, {phones} phones", detail, "–", "–", target, "no")]
        return failed + ([_active_row(phones, steps[0], passed=False)] if steps else [])
    latency = best["latency_ms"]
    per_message = best.get("server_requests_per_message")
    ceiling = ceiling_rate / per_message if ceiling_rate and per_message else None
    rate = best["delivered_per_second"]
    rows: list[Row] = [
        (f"End to end, {phones} phones: highest rate with p99 send->Sent < 1 s",
         f"{best['rate']:.0f} msg/s sent, {rate:.0f}/s delivered, lost {best['lost']}, stuck {best['stuck']}",
         f"{ceiling:,.0f} msg/s (minimal route / {per_message} requests per message)" if ceiling else "–",
         _pct(rate / ceiling if ceiling else None), f">= {E2E_TARGET:.0%}, 0 lost",
         _met(rate / ceiling >= E2E_TARGET and best["lost"] == 0) if ceiling else "–"),
        ("  send->Processed p50 / p95 / p99",
         " / ".join(f"{latency['Processed'][p]} ms" for p in ("p50", "p95", "p99")), "–", "–", "–", "–"),
        ("  send->Sent p50 / p95 / p99", " / ".join(f"{latency['Sent'][p]} ms" for p in ("p50", "p95", "p99")),
         "–", "–", "p99 < 1 s", _met((latency["Sent"]["p99"] or 1e9) < 1000)),
        ("  CPU at that rate: server / simulator", f"{best.get('server_cpu_share', 0):.0%} / "
         f"{best['simulator_cpu_share']:.0%} of a core", "–", "–", "–", "–"),
        _active_row(phones, best, passed=True),
    ]
    return rows


def _active_row(phones: int, step: dict[str, Any], passed: bool) -> Row:
    """#18's scale figure: the simulator process's CPU with `phones` active phones at a step's message rate."""
    at = f"at {step['rate']:.0f} msg/s" + ("" if passed else ", a step that missed its latency target")
    return (f"{phones:,} active phones, steady traffic, one simulator process",
            f"{step['simulator_cpu_share']:.0%} of a core {at} (sender included)", "–", "–",
            "under one core" + ("" if phones >= 1000 else " (at 1,000 phones)"),
            _met(step["simulator_cpu_share"] < ACTIVE_CORE) if phones >= 1000 else "–")


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
                     f"{phones['ratio_to_bare_stream']}x memory", f"<= {SIMULATOR_TARGET:.0f}x",
                     _met(phones["ratio_to_bare_stream"] <= SIMULATOR_TARGET)))
        scaled = phones["phones"] >= IDLE_SCALE
        projected = phones["kb_per_phone"] * IDLE_SCALE / 1024 + phones.get("base_rss_bytes", 0) / 1048576
        rows.append((f"  {IDLE_SCALE:,} idle phones, one simulator process", f"RSS {phones['rss_mb']:,.0f} MB with "
                     f"{phones['online']:,} online" + ("" if scaled else f"; {IDLE_SCALE:,} at this cost: "
                                                                         f"~{projected:,.0f} MB"),
                     "–", "–", f"{IDLE_SCALE:,} online, RSS < {IDLE_RSS_MB / 1024:.0f} GB",
                     _met(phones["online"] >= IDLE_SCALE and phones["rss_mb"] < IDLE_RSS_MB) if scaled else "–"))
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
