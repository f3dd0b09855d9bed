#!/usr/bin/env python3
"""Helpers for bench/run.sh (Python 3 standard library only).

Subcommands:
  free-ports N                 print N distinct free TCP ports on 127.0.0.1
  check-body URL SIZE          GET URL once: exit 1 unless 2xx with SIZE body bytes
  wait-http URL TIMEOUT [PID]  wait until GET URL answers 2xx (exit 1 on timeout, or
                               at once when PID is given and that process is gone)
  descendants PID              print PID's descendants (children first level first)
  snap OUT PID [PID ...]       write a JSON snapshot: CPU ticks and VmHWM of each PID's
                               process tree, plus per-core busy/total ticks
  parse-wrk FILE               print wrk's --latency output as JSON
  row ...                      combine snapshots and load-generator output into one
                               result row (a JSON line on stdout)
  skip ...                     print a skipped/failed row without measurements
  meta OUT KEY=VALUE ...       write run metadata (machine, versions, knobs) as JSON
  report ROWS META OUT         print the table and ratio lines; write OUT as JSON
"""

import argparse
import http.client
import json
import os
import re
import sys
import time

CLK_TCK = os.sysconf("SC_CLK_TCK")


# --------------------------------------------------------------------------- ports


def free_ports(n):
    import socket

    socks = []
    try:
        for _ in range(n):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


# --------------------------------------------------------------------------- http


def pid_alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
        return state not in ("Z", "X")
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False


def http_get(url, timeout=1.0):
    m = re.match(r"^http://([^/:]+):(\d+)(/.*)?$", url)
    if not m:
        raise SystemExit(f"wait-http: unsupported URL {url!r}")
    host, port, path = m.group(1), int(m.group(2)), m.group(3) or "/"
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        conn.request("GET", path, headers={"Connection": "close"})
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def check_body(url, size):
    """One GET through the proxy: it must answer 2xx with exactly SIZE body bytes (so
    the 2xx wrk counts really come from the backend)."""
    try:
        status, body = http_get(url, timeout=5.0)
    except (OSError, http.client.HTTPException) as e:
        print(f"GET {url}: {e}", file=sys.stderr)
        return 1
    if not 200 <= status < 300 or len(body) != size:
        print(f"GET {url}: HTTP {status} with {len(body)} body bytes, expected 2xx with {size}",
              file=sys.stderr)
        return 1
    return 0


def wait_http(url, timeout, pid=None):
    deadline = time.monotonic() + timeout
    last = "no attempt"
    while time.monotonic() < deadline:
        if pid is not None and not pid_alive(pid):
            print(f"process {pid} exited while waiting for {url}", file=sys.stderr)
            return 1
        try:
            status = http_get(url)[0]
            if 200 <= status < 300:
                return 0
            last = f"HTTP {status}"
        except OSError as e:
            last = str(e) or type(e).__name__
        except http.client.HTTPException as e:
            last = f"{type(e).__name__}: {e}"
        time.sleep(0.1)
    print(f"{url} not ready within {timeout}s (last: {last})", file=sys.stderr)
    return 1


# --------------------------------------------------------------------------- /proc


def read_stat(pid):
    """(ppid, utime+stime ticks, starttime) of one process (all its threads)."""
    with open(f"/proc/{pid}/stat") as f:
        data = f.read()
    # comm may contain spaces and parentheses: split after the last ')'.
    fields = data.rsplit(")", 1)[1].split()
    # fields[0] is field 3 (state); utime=14, stime=15, starttime=22 (1-based).
    ppid = int(fields[1])
    ticks = int(fields[11]) + int(fields[12])
    start = int(fields[19])
    return ppid, ticks, start


def all_ppids():
    out = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                out[int(name)] = read_stat(name)[0]
            except (FileNotFoundError, ProcessLookupError, IndexError, ValueError):
                pass
    return out


def descendants(pid):
    ppids = all_ppids()
    children = {}
    for p, pp in ppids.items():
        children.setdefault(pp, []).append(p)
    out, queue = [], [pid]
    for _ in range(10000):  # bounded walk
        if not queue:
            break
        cur = queue.pop(0)
        for c in sorted(children.get(cur, [])):
            out.append(c)
            queue.append(c)
    return out


def vm_hwm_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


def core_ticks():
    """{cpuN: [busy, total]} from /proc/stat."""
    out = {}
    with open("/proc/stat") as f:
        for line in f:
            if re.match(r"^cpu\d+ ", line):
                parts = line.split()
                vals = [int(v) for v in parts[1:]]
                idle = vals[3] + (vals[4] if len(vals) > 4 else 0)  # idle + iowait
                total = sum(vals[:8])  # guest time is already in user/nice
                out[parts[0]] = [total - idle, total]
    return out


def snap(pids):
    procs = {}
    for root in pids:
        tree = []
        for p in [root] + descendants(root):
            try:
                _, ticks, start = read_stat(p)
                tree.append({"pid": p, "ticks": ticks, "start": start, "hwm_kb": vm_hwm_kb(p)})
            except (FileNotFoundError, ProcessLookupError, IndexError, ValueError):
                pass
        procs[str(root)] = tree
    return {"time": time.monotonic(), "procs": procs, "cores": core_ticks(), "clk_tck": CLK_TCK}


def tree_delta(before, after, root):
    """CPU seconds used by ROOT's process tree between two snapshots, peak RSS in MiB,
    and a problem string when the tree changed (a process died or was replaced)."""
    b = {(p["pid"], p["start"]): p for p in before["procs"].get(str(root), [])}
    a = {(p["pid"], p["start"]): p for p in after["procs"].get(str(root), [])}
    problem = None
    if not a:
        problem = "process exited during the run"
    elif set(b) != set(a):
        problem = "process tree changed during the run (a worker died or was respawned)"
    ticks = sum(a[k]["ticks"] - b[k]["ticks"] for k in a if k in b)
    rss_mb = sum(p["hwm_kb"] for p in a.values()) / 1024.0
    return ticks / float(after["clk_tck"]), rss_mb, problem


def core_util(before, after):
    out = {}
    for core, (busy_a, total_a) in after["cores"].items():
        busy_b, total_b = before["cores"].get(core, [busy_a, total_a])
        dt = total_a - total_b
        out[core] = round(100.0 * (busy_a - busy_b) / dt, 1) if dt > 0 else None
    return out


# --------------------------------------------------------------------------- wrk

_UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0, "h": 3600000.0}


def to_ms(text):
    m = re.match(r"^\s*([0-9]*\.?[0-9]+)\s*(us|ms|s|m|h)\s*$", text)
    if not m:
        raise ValueError(f"unrecognised duration {text!r}")
    return float(m.group(1)) * _UNITS_MS[m.group(2)]


def parse_wrk(text):
    res = {"rps": None, "requests": None, "p50_ms": None, "p99_ms": None,
           "non2xx": 0, "socket_errors": {}, "errors": []}
    in_dist = False
    for line in text.splitlines():
        s = line.strip()
        if s.startswith("Latency Distribution"):
            in_dist = True
            continue
        if in_dist:
            m = re.match(r"^(\d+(?:\.\d+)?)%\s+(\S+)$", s)
            if m:
                pct = float(m.group(1))
                try:
                    val = to_ms(m.group(2))
                except ValueError as e:
                    res["errors"].append(str(e))
                    continue
                if pct == 50:
                    res["p50_ms"] = val
                elif pct == 99:
                    res["p99_ms"] = val
                continue
            in_dist = False
        m = re.match(r"^Requests/sec:\s*([0-9.]+)", s)
        if m:
            res["rps"] = float(m.group(1))
            continue
        m = re.match(r"^(\d+) requests in ([0-9.]+\w+),", s)
        if m:
            res["requests"] = int(m.group(1))
            try:
                res["duration_s"] = to_ms(m.group(2)) / 1000.0
            except ValueError:
                pass
            continue
        m = re.match(r"^Non-2xx or 3xx responses:\s*(\d+)", s)
        if m:
            res["non2xx"] = int(m.group(1))
            continue
        m = re.match(r"^Socket errors:\s*(.*)$", s)
        if m:
            for part in m.group(1).split(","):
                kv = part.split()
                if len(kv) == 2 and kv[1].isdigit():
                    res["socket_errors"][kv[0]] = int(kv[1])
            continue
    for key in ("rps", "requests", "p50_ms", "p99_ms"):
        if res[key] is None:
            res["errors"].append(f"wrk output has no {key}")
    return res


# --------------------------------------------------------------------------- rows


def load_json(path):
    with open(path) as f:
        return json.load(f)


def make_row(a):
    row = {"scenario": a.scenario, "proxy": a.proxy, "status": "ok", "problems": [],
           "load": a.load}
    text = open(a.load_output, errors="replace").read() if os.path.exists(a.load_output) else ""
    if a.load == "wrk":
        lg = parse_wrk(text)
    else:
        lg = {"errors": [f"no parser for load generator {a.load!r}"]}
    row.update({k: lg.get(k) for k in ("rps", "requests", "p50_ms", "p99_ms", "non2xx",
                                      "socket_errors")})
    row["problems"] += lg.get("errors", [])
    if a.load_rc != 0:
        row["problems"].append(f"{a.load} exited with status {a.load_rc}")
    if lg.get("non2xx"):
        row["problems"].append(f"Non-2xx or 3xx responses: {lg['non2xx']}")
    errs = {k: v for k, v in (lg.get("socket_errors") or {}).items() if v}
    if errs:
        row["problems"].append("socket errors: " + ", ".join(f"{k} {v}" for k, v in errs.items()))
    if lg.get("requests") == 0:
        row["problems"].append("no requests completed")

    before, after = load_json(a.before), load_json(a.after)
    cpu_s, rss_mb, problem = tree_delta(before, after, a.proxy_pid)
    if problem:
        row["problems"].append(f"{a.proxy}: {problem}")
    row["proxy_cpu_s"] = round(cpu_s, 3)
    row["peak_rss_mb"] = round(rss_mb, 1)
    reqs = lg.get("requests") or 0
    row["cpu_us_per_req"] = round(cpu_s * 1e6 / reqs, 2) if reqs else None
    if a.backend_pid:
        bcpu, brss, bproblem = tree_delta(before, after, a.backend_pid)
        row["backend_cpu_us_per_req"] = round(bcpu * 1e6 / reqs, 2) if reqs else None
        if bproblem:
            row["problems"].append(f"backend: {bproblem}")
    row["wall_s"] = wall = round(after["time"] - before["time"], 3)
    row["core_util_pct"] = util = core_util(before, after)
    row["warnings"] = []
    # Busy time on the proxy's core that the proxy did not use: other work on the
    # machine (a build, another benchmark) that competed with it.
    core = util.get(f"cpu{a.proxy_cpu}") if a.proxy_cpu is not None else None
    if core is not None and wall > 0:
        other = round(core - 100.0 * cpu_s / wall, 1)
        row["other_load_on_proxy_core_pct"] = other
        if other > a.noise_pct:
            row["warnings"].append(f"noisy: other processes used {other:.0f}% of core "
                                   f"{a.proxy_cpu} during the run")
    if row["problems"]:
        row["status"] = "fail"
    return row


def skip_row(a):
    return {"scenario": a.scenario, "proxy": a.proxy, "status": a.status,
            "problems": [a.reason], "rps": None, "requests": None, "p50_ms": None,
            "p99_ms": None, "cpu_us_per_req": None, "peak_rss_mb": None}


# --------------------------------------------------------------------------- report


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


def report(rows_path, meta_path, out_path):
    rows = []
    if os.path.exists(rows_path):
        with open(rows_path) as f:
            rows = [json.loads(line) for line in f if line.strip()]
    meta = load_json(meta_path) if os.path.exists(meta_path) else {}

    header = ["scenario", "proxy", "rps", "p50_ms", "p99_ms", "cpu_us_per_req",
              "peak_rss_mb", "status"]
    table = []
    for r in rows:
        status = r["status"]
        if status != "ok":
            status = status.upper() + ": " + "; ".join(r.get("problems") or [])
        elif r.get("warnings"):
            status = "ok (" + "; ".join(r["warnings"]) + ")"
        table.append([r["scenario"], r["proxy"], fmt(r.get("rps"), ".0f"),
                      fmt(r.get("p50_ms"), ".3f"), fmt(r.get("p99_ms"), ".3f"),
                      fmt(r.get("cpu_us_per_req"), ".2f"), fmt(r.get("peak_rss_mb"), ".1f"),
                      status])
    widths = [max(len(str(x)) for x in col) for col in zip(header, *table)] if table else \
        [len(h) for h in header]
    lines = []
    for cells in [header] + table:
        # the last column (status) is free text: no padding
        lines.append("  ".join(str(c).ljust(w) for c, w in zip(cells[:-1], widths[:-1]))
                     + "  " + str(cells[-1]))

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
    if ratio_lines:
        print()
        print("\n".join(ratio_lines))

    doc = {"meta": meta, "results": rows, "cpu_ratios": ratios}
    os.makedirs(os.path.dirname(os.path.abspath(out_path)), exist_ok=True)
    tmp = out_path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(doc, f, indent=2, sort_keys=False)
        f.write("\n")
    os.replace(tmp, out_path)
    return 0 if all(r["status"] == "ok" for r in rows) and rows else 1


# --------------------------------------------------------------------------- main


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("free-ports")
    p.add_argument("n", type=int)
    p = sub.add_parser("wait-http")
    p.add_argument("url")
    p.add_argument("timeout", type=float)
    p.add_argument("pid", type=int, nargs="?")
    p = sub.add_parser("check-body")
    p.add_argument("url")
    p.add_argument("size", type=int)
    p = sub.add_parser("descendants")
    p.add_argument("pid", type=int)
    p = sub.add_parser("snap")
    p.add_argument("out")
    p.add_argument("pids", type=int, nargs="+")
    p = sub.add_parser("parse-wrk")
    p.add_argument("file")
    p = sub.add_parser("row")
    for opt in ("scenario", "proxy", "load", "load-output", "before", "after"):
        p.add_argument("--" + opt, required=True)
    p.add_argument("--load-rc", type=int, default=0)
    p.add_argument("--proxy-pid", type=int, required=True)
    p.add_argument("--backend-pid", type=int)
    p.add_argument("--proxy-cpu", type=int)
    p.add_argument("--noise-pct", type=float, default=10.0)
    p = sub.add_parser("skip")
    p.add_argument("--scenario", required=True)
    p.add_argument("--proxy", required=True)
    p.add_argument("--status", default="skipped", choices=["skipped", "fail"])
    p.add_argument("--reason", required=True)
    p = sub.add_parser("meta")
    p.add_argument("out")
    p.add_argument("pairs", nargs="*")
    p = sub.add_parser("report")
    p.add_argument("rows")
    p.add_argument("meta")
    p.add_argument("out")
    a = ap.parse_args(argv)

    if a.cmd == "free-ports":
        print(" ".join(str(p) for p in free_ports(a.n)))
    elif a.cmd == "wait-http":
        return wait_http(a.url, a.timeout, a.pid)
    elif a.cmd == "check-body":
        return check_body(a.url, a.size)
    elif a.cmd == "descendants":
        print(" ".join(str(p) for p in descendants(a.pid)))
    elif a.cmd == "snap":
        with open(a.out, "w") as f:
            json.dump(snap(a.pids), f)
    elif a.cmd == "parse-wrk":
        with open(a.file, errors="replace") as f:
            print(json.dumps(parse_wrk(f.read()), indent=2))
    elif a.cmd == "row":
        print(json.dumps(make_row(a)))
    elif a.cmd == "skip":
        print(json.dumps(skip_row(a)))
    elif a.cmd == "meta":
        with open(a.out, "w") as f:
            json.dump(meta(a.pairs), f)
    elif a.cmd == "report":
        return report(a.rows, a.meta, a.out)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
