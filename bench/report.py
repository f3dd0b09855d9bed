"""The result table of bench/run.sh: rows in, table and ratio lines out, latest.json
written (stdlib only; used by bench.py)."""

import json
import os
import time


def load_json(path):
    with open(path) as f:
        return json.load(f)


def meta(pairs):
    import platform

    out = {"date_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
           "kernel": platform.release(), "cores": os.cpu_count()}
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    out["cpu_model"] = line.split(":", 1)[1].strip()
                    break
        with open("/proc/meminfo") as f:
            out["mem_total_kb"] = int(f.readline().split()[1])
    except (OSError, ValueError, IndexError):
        pass
    for pair in pairs:
        k, _, v = pair.partition("=")
        out[k] = v
    return out


def fmt(v, spec):
    return "-" if v is None else format(v, spec)


def columns(header, table):
    """Lines of a table with padded columns; the last column is free text (no padding)."""
    widths = [max(len(str(x)) for x in col) for col in zip(header, *table)] if table else \
        [len(h) for h in header]
    return ["  ".join(str(c).ljust(w) for c, w in zip(cells[:-1], widths[:-1]))
            + "  " + str(cells[-1]) for cells in [header] + table]


def change_table(rows):
    """The route-table rows again, with what only they have: the match cost against the
    smallest table of the same proxy in this run (CPU-us/req ratio), the config-change
    times and, for reload_load, what was lost during the reloads. Returns (lines,
    {scenario: {proxy: ratio}})."""
    rrows = [r for r in rows if r.get("routes")]
    if not rrows:
        return [], {}
    scale = [r for r in rrows if r["scenario"].startswith("routes_") and r["status"] == "ok"
             and r.get("cpu_us_per_req")]
    base = {}
    for r in scale:
        if r["proxy"] not in base or r["routes"] < base[r["proxy"]]["routes"]:
            base[r["proxy"]] = r
    costs, table = {}, []
    for r in rrows:
        b = base.get(r["proxy"])
        ratio = None
        if r in scale and b:
            ratio = r["cpu_us_per_req"] / b["cpu_us_per_req"]
            costs.setdefault(r["scenario"], {})[r["proxy"]] = round(ratio, 3)
        ratio_s = "-" if ratio is None else f"{ratio:.2f}x vs {b['routes']}"
        served = "-" if r.get("changes_total") is None else \
            f"{r.get('changes_served')}/{r['changes_total']}"
        table.append([r["scenario"], r["proxy"], str(r["routes"]), ratio_s,
                      fmt(r.get("add_route_ms"), ".0f"), fmt(r.get("full_reload_ms"), ".0f"),
                      served, fmt(r.get("change_ms_median"), ".0f"),
                      fmt(r.get("change_ms_max"), ".0f"), fmt(r.get("failed"), "d"),
                      fmt(r.get("refused"), "d"), fmt(r.get("probe_failed"), "d")])
    header = ["scenario", "proxy", "routes", "cpu_per_req_vs_smallest", "add_route_ms",
              "full_reload_ms", "changes", "change_ms_p50", "change_ms_max", "failed",
              "refused", "probe_failed"]
    return columns(header, table), costs


def log_delta(rows):
    """Tollgate's access log on (http1_6b_log) against off (http1_6b, same run)."""
    on = next((r for r in rows if r["scenario"] == "http1_6b_log" and r["proxy"] == "tollgate"),
              None)
    if not on:
        return None, None
    off = next((r for r in rows if r["scenario"] == "http1_6b" and r["proxy"] == "tollgate"),
               None)
    if not off or off["status"] != "ok" or on["status"] != "ok" or \
            not off.get("cpu_us_per_req") or not on.get("cpu_us_per_req"):
        return "http1_6b_log: access log on vs off = n/a (needs ok tollgate rows of both " \
               "http1_6b and http1_6b_log)", None
    d = on["cpu_us_per_req"] - off["cpu_us_per_req"]
    pct = 100.0 * d / off["cpu_us_per_req"]
    return (f"http1_6b_log: tollgate access log on vs off = {d:+.2f} CPU-us/req ({pct:+.1f} %), "
            f"rps {on.get('rps') or 0:.0f} vs {off.get('rps') or 0:.0f}"), \
        {"cpu_us_per_req_delta": round(d, 2), "pct": round(pct, 1)}


POLICY_SCENARIOS = ("auth_key", "auth_jwt", "auth_oidc", "rl_local", "rl_redis", "cache_hit")


def policy_lines(rows):
    """What each policy adds per request over the same proxy's policy-free http1_6b row of
    the same run (CPU-us/req), Tollgate beside NGINX where NGINX has the policy."""
    base = {r["proxy"]: r for r in rows
            if r["scenario"] == "http1_6b" and r["status"] == "ok" and r.get("cpu_us_per_req")}
    out, doc = [], {}
    for r in rows:
        if r["scenario"] not in POLICY_SCENARIOS or r["status"] != "ok":
            continue
        b = base.get(r["proxy"])
        if not b or not r.get("cpu_us_per_req"):
            continue
        d = r["cpu_us_per_req"] - b["cpu_us_per_req"]
        doc.setdefault(r["scenario"], {})[r["proxy"]] = round(d, 2)
        out.append(f"{r['scenario']}: {r['proxy']} {r['cpu_us_per_req']:.2f} CPU-us/req, "
                   f"{d:+.2f} over its http1_6b")
    return out, doc


def compression_lines(rows):
    """compression: what gzip adds per request over the same proxy's http1_16k row of the
    same run (same body size, uncompressed), Tollgate beside NGINX and HAProxy."""
    base = {r["proxy"]: r for r in rows
            if r["scenario"] == "http1_16k" and r["status"] == "ok" and r.get("cpu_us_per_req")}
    out, doc = [], {}
    for r in rows:
        if r["scenario"] != "compression" or r["status"] != "ok" or not r.get("cpu_us_per_req"):
            continue
        b = base.get(r["proxy"])
        if not b:
            out.append(f"compression: {r['proxy']} {r['cpu_us_per_req']:.2f} CPU-us/req "
                       f"(no http1_16k row to compare with)")
            continue
        d = r["cpu_us_per_req"] - b["cpu_us_per_req"]
        doc[r["proxy"]] = round(d, 2)
        out.append(f"compression: {r['proxy']} {r['cpu_us_per_req']:.2f} CPU-us/req, "
                   f"{d:+.2f} over its http1_16k")
    return out, doc


def rss_lines(rows):
    """reload_rss: RSS before and after the add/remove cycles."""
    out = []
    for r in rows:
        if r.get("rss_cycles") is None:
            continue
        out.append(f"{r['scenario']}: {r['proxy']} RSS {r['rss_base_kib'] / 1024:.1f} MiB -> "
                   f"{r['rss_after_kib'] / 1024:.1f} MiB after {r['rss_cycles']} cycles of "
                   f"+/-{r['rss_batch']} routes ({r['rss_growth_pct']:+.1f} %; max "
                   f"{r['rss_max_kib'] / 1024:.1f} MiB; cycle p50 {fmt(r.get('rss_cycle_ms_median'), '.0f')} ms; "
                   f"{r['rss_cycles_unserved']} cycles not served in time)")
    return out


def report(rows_path, meta_path, out_path):
    rows = []
    if os.path.exists(rows_path):
        with open(rows_path) as f:
            rows = [json.loads(line) for line in f if line.strip()]
    meta = load_json(meta_path) if os.path.exists(meta_path) else {}

    header = ["scenario", "proxy", "rps", "p50_ms", "p99_ms", "mean_ms", "max_ms",
              "cpu_us_per_req", "peak_rss_mb", "status"]
    table = []
    for r in rows:
        status = r["status"]
        if status != "ok":
            status = status.upper() + ": " + "; ".join(r.get("problems") or [])
        elif r.get("warnings"):
            status = "ok (" + "; ".join(r["warnings"]) + ")"
        table.append([r["scenario"], r["proxy"], fmt(r.get("rps"), ".0f"),
                      fmt(r.get("p50_ms"), ".3f"), fmt(r.get("p99_ms"), ".3f"),
                      fmt(r.get("mean_ms"), ".3f"), fmt(r.get("max_ms"), ".2f"),
                      fmt(r.get("cpu_us_per_req"), ".2f"), fmt(r.get("peak_rss_mb"), ".1f"),
                      status])
    lines = columns(header, table)

    ratios = {}
    scenarios = []
    for r in rows:
        if r["scenario"] not in scenarios:
            scenarios.append(r["scenario"])
    ratio_lines = []
    for sc in scenarios:
        by = {r["proxy"]: r for r in rows if r["scenario"] == sc}
        tg = by.get("tollgate")
        parts, entry = [], {}
        for other in ("nginx", "haproxy"):
            o = by.get(other)
            key = f"tollgate_over_{other}"
            if not tg or not o:
                continue
            if tg["status"] == "ok" and o["status"] == "ok" and tg.get("cpu_us_per_req") \
                    and o.get("cpu_us_per_req"):
                v = tg["cpu_us_per_req"] / o["cpu_us_per_req"]
                entry[key] = round(v, 3)
                parts.append(f"tollgate/{other} = {v:.2f}x")
            else:
                entry[key] = None
                why = "tollgate " + tg["status"] if tg["status"] != "ok" else other + " " + o["status"]
                parts.append(f"tollgate/{other} = n/a ({why})")
        if parts:
            ratios[sc] = entry
            ratio_lines.append(f"{sc}: CPU-us/req " + ", ".join(parts))

    print("\n".join(lines))
    if any(r.get("load") == "h2load" for r in rows):
        print("(h2load rows: mean/max are h2load's 'time for request' with every stream in"
              " flight, not comparable with wrk rows; p50/p99 only with H2LOAD_LOG=1)")
    # The TLS suite changes the cost per byte: say so when the proxies of one scenario
    # did not all negotiate the same one.
    for sc in scenarios:
        suites = {r["proxy"]: (r.get("tls") or {}).get("cipher") for r in rows
                  if r["scenario"] == sc and r.get("tls")}
        if len(set(suites.values())) > 1:
            print(f"({sc}: proxies negotiated different TLS suites: "
                  + ", ".join(f"{p} {c}" for p, c in suites.items()) + ")")
    ch_lines, match_costs = change_table(rows)
    if ch_lines:
        print()
        print("\n".join(ch_lines))
    if ratio_lines:
        print()
        print("\n".join(ratio_lines))
    log_line, log_entry = log_delta(rows)
    if log_line:
        print(log_line)
    for line in rss_lines(rows):
        print(line)
    pol_lines, pol_doc = policy_lines(rows)
    for line in pol_lines:
        print(line)
    comp_lines, comp_doc = compression_lines(rows)
    for line in comp_lines:
        print(line)

    doc = {"meta": meta, "results": rows, "cpu_ratios": ratios}
    if match_costs:
        doc["match_cost_vs_smallest_table"] = match_costs
    if log_entry:
        doc["access_log_delta"] = log_entry
    if pol_doc:
        doc["policy_cpu_us_delta"] = pol_doc
    if comp_doc:
        doc["compression_cpu_us_delta"] = comp_doc
    os.makedirs(os.path.dirname(os.path.abspath(out_path)), exist_ok=True)
    tmp = out_path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(doc, f, indent=2, sort_keys=False)
        f.write("\n")
    os.replace(tmp, out_path)
    return 0 if all(r["status"] == "ok" for r in rows) and rows else 1


