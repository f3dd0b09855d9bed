#!/usr/bin/env python3
"""Helpers for bench/run.sh (Python 3 standard library only).

Subcommands:
  free-ports N                 print N distinct free TCP ports on 127.0.0.1
  check-body URL SIZE [--ca F] [--alpn P] [--tls-version V] [--tls-info OUT] [--encoding E]
                               GET URL once: exit 1 unless 2xx with SIZE body bytes; for
                               https, also that a handshake offering ALPN h2,http/1.1
                               selects P and that the version is V (OUT: what was seen)
  wait-http URL TIMEOUT [PID] [--ca F]
                               wait until GET URL answers 2xx (exit 1 on timeout, or
                               at once when PID is given and that process is gone)
  descendants PID              print PID's descendants (children first level first)
  snap OUT PID [PID ...] [--port P]
                               write a JSON snapshot: CPU ticks and VmHWM of each PID's
                               process tree, per-core busy/total ticks, and the TCP
                               connections to or from 127.0.0.1:P (the backend)
  parse-wrk FILE               print wrk's --latency output as JSON
  parse-h2load FILE [SIZE]     print h2load's output as JSON
  row ...                      combine snapshots and load-generator output into one
                               result row (a JSON line on stdout)
  skip ...                     print a skipped/failed row without measurements
  meta OUT KEY=VALUE ...       write run metadata (machine, versions, knobs) as JSON
  report ROWS META OUT         print the table and ratio lines; write OUT as JSON
  routes-gen PROXY DIR N PORT BACKEND
                               write PROXY's configuration of an N-route table into DIR
                               (and DIR/mix.lua, the wrk script); see routes.py
  routes-check DIR SIZE        every route of the load mix answers 2xx, SIZE bytes and
                               its own x-route; header routes need their header
  routes-timings DIR PID OUT   one-route change, then full reload: ms until served
  reload-series DIR PID COUNT INTERVAL DELAY OUT
                               COUNT config changes INTERVAL s apart (reload_load)
"""

import argparse
import http.client
import json
import os
import re
import ssl
import sys
import time

import routes
from report import meta, report

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


def tls_context(ca=None, alpn=None):
    """Client TLS context: verifies against CA (the bench's self-signed certificate,
    whose SANs include IP 127.0.0.1) when given, else does not verify."""
    if ca:
        ctx = ssl.create_default_context(cafile=ca)
    else:
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    if alpn:
        ctx.set_alpn_protocols(alpn)
    return ctx


def http_get(url, timeout=1.0, ca=None, info=None, host_header=None, extra=None):
    """GET URL over HTTP/1.1 (http:// or https://, no ALPN offered, like wrk). Returns
    (status, body); for https, fills INFO with the negotiated TLS version and cipher;
    INFO also gets the answer's Content-Encoding."""
    m = re.match(r"^(https?)://([^/:]+):(\d+)(/.*)?$", url)
    if not m:
        raise SystemExit(f"unsupported URL {url!r}")
    scheme, host, port, path = m.group(1), m.group(2), int(m.group(3)), m.group(4) or "/"
    if scheme == "https":
        conn = http.client.HTTPSConnection(host, port, timeout=timeout, context=tls_context(ca))
    else:
        conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        headers = {"Connection": "close"}
        if host_header:
            headers["Host"] = host_header
        for h in extra or []:
            name, _, value = h.partition(":")
            headers[name.strip()] = value.strip()
        conn.request("GET", path, headers=headers)
        if info is not None and scheme == "https" and conn.sock is not None:
            info["version"] = conn.sock.version()
            info["cipher"] = (conn.sock.cipher() or [None])[0]
        resp = conn.getresponse()
        if info is not None:
            info["content_encoding"] = resp.getheader("Content-Encoding")
        return resp.status, resp.read()
    finally:
        conn.close()


def alpn_selected(url, offer, timeout=5.0, ca=None):
    """TLS handshake with URL's host offering ALPN OFFER; returns the selected protocol
    (None when the server selected none)."""
    import socket

    m = re.match(r"^https://([^/:]+):(\d+)", url)
    host, port = m.group(1), int(m.group(2))
    with socket.create_connection((host, port), timeout=timeout) as raw:
        with tls_context(ca, offer).wrap_socket(raw, server_hostname=host) as s:
            return s.selected_alpn_protocol()


def check_body(url, size, ca=None, alpn=None, tls_version=None, info_out=None, extra=None,
               encoding=None):
    """One GET through the proxy: it must answer 2xx with exactly SIZE body bytes (so
    the 2xx the load generator counts really come from the backend). For https: the TLS
    version must be TLS_VERSION, and a handshake offering h2,http/1.1 must select ALPN.
    With ENCODING (gzip): the answer must be gzip-encoded, and SIZE bytes once decoded."""
    info = {}
    try:
        status, body = http_get(url, timeout=5.0, ca=ca, info=info, extra=extra)
        if url.startswith("https:"):
            info["alpn_h2_offered"] = alpn_selected(url, ["h2", "http/1.1"], ca=ca)
    except (OSError, http.client.HTTPException) as e:
        print(f"GET {url}: {e}", file=sys.stderr)
        return 1
    if encoding:
        got = info.get("content_encoding")
        if got != encoding:
            print(f"GET {url}: Content-Encoding {got!r}, expected {encoding!r}", file=sys.stderr)
            return 1
        import gzip
        try:
            body = gzip.decompress(body)
        except (OSError, EOFError) as e:
            print(f"GET {url}: the {encoding} body does not decode: {e}", file=sys.stderr)
            return 1
    if info_out:
        with open(info_out, "w") as f:
            json.dump(info, f)
    if not 200 <= status < 300 or len(body) != size:
        print(f"GET {url}: HTTP {status} with {len(body)} body bytes, expected 2xx with {size}",
              file=sys.stderr)
        return 1
    if tls_version and info.get("version") != tls_version:
        print(f"GET {url}: negotiated {info.get('version')}, expected {tls_version}",
              file=sys.stderr)
        return 1
    if alpn and info.get("alpn_h2_offered") != alpn:
        print(f"{url}: offered ALPN h2,http/1.1, server selected "
              f"{info.get('alpn_h2_offered')}, expected {alpn}", file=sys.stderr)
        return 1
    return 0


def wait_http(url, timeout, pid=None, ca=None, host=None, extra=None):
    deadline = time.monotonic() + timeout
    last = "no attempt"
    while time.monotonic() < deadline:
        if pid is not None and not pid_alive(pid):
            print(f"process {pid} exited while waiting for {url}", file=sys.stderr)
            return 1
        try:
            status = http_get(url, ca=ca, host_header=host, extra=extra)[0]
            if 200 <= status < 300:
                return 0
            last = f"HTTP {status}"
        except OSError as e:  # includes ssl.SSLError
            last = str(e) or type(e).__name__
        except http.client.HTTPException as e:
            last = f"{type(e).__name__}: {e}"
        time.sleep(0.1)
    print(f"{url} not ready within {timeout}s (last: {last})", file=sys.stderr)
    return 1


# --------------------------------------------------------------------------- /proc


def read_stat(pid, children=False):
    """(ppid, utime+stime ticks, starttime) of one process (all its threads); with
    CHILDREN, also cutime+cstime: the ticks of its children that it has reaped."""
    with open(f"/proc/{pid}/stat") as f:
        data = f.read()
    # comm may contain spaces and parentheses: split after the last ')'.
    fields = data.rsplit(")", 1)[1].split()
    # fields[0] is field 3 (state); utime=14, stime=15, starttime=22 (1-based).
    ppid = int(fields[1])
    ticks = int(fields[11]) + int(fields[12])
    start = int(fields[19])
    if children:
        return ppid, ticks, start, int(fields[13]) + int(fields[14])
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


def backend_conns(port):
    """Connections to 127.0.0.1:PORT (the backend) in any state but LISTEN, from
    /proc/net/tcp, each named by its other end ("ip:port" of the proxy's socket; both
    ends are on this host, so each connection is listed twice and counted once). A
    connection opened and closed between two snapshots still shows in TIME_WAIT."""
    out = {}
    try:
        with open("/proc/net/tcp") as f:
            next(f)
            for line in f:
                parts = line.split()
                if len(parts) < 4 or parts[3] == "0A":  # 0A = LISTEN
                    continue
                (lip, lport), (rip, rport) = (x.split(":") for x in parts[1:3])
                lport, rport = int(lport, 16), int(rport, 16)
                if rport == port:
                    out[f"{lip}:{lport}"] = parts[3]
                elif lport == port:
                    out.setdefault(f"{rip}:{rport}", parts[3])
    except OSError:
        pass
    return out


def snap(pids, port=None):
    procs = {}
    for root in pids:
        tree = []
        for p in [root] + descendants(root):
            try:
                _, ticks, start, cticks = read_stat(p, children=True)
                tree.append({"pid": p, "ticks": ticks, "start": start, "cticks": cticks,
                             "hwm_kb": vm_hwm_kb(p)})
            except (FileNotFoundError, ProcessLookupError, IndexError, ValueError):
                pass
        procs[str(root)] = tree
    out = {"time": time.monotonic(), "procs": procs, "cores": core_ticks(), "clk_tck": CLK_TCK}
    if port:
        out["backend_conns"] = backend_conns(port)
    return out


def tree_delta(before, after, root, reloads=False):
    """CPU seconds used by ROOT's process tree between two snapshots, peak RSS in MiB,
    and a problem string when the tree changed (a process died or was replaced).
    With RELOADS, workers replaced by a reload are expected: the ticks of workers that
    exited come from ROOT's reaped-children ticks (nginx's and HAProxy's masters reap
    their old workers), so the CPU of the whole window is still counted."""
    b = {(p["pid"], p["start"]): p for p in before["procs"].get(str(root), [])}
    a = {(p["pid"], p["start"]): p for p in after["procs"].get(str(root), [])}
    problem = None
    if not a:
        problem = "process exited during the run"
    elif set(b) != set(a) and not reloads:
        problem = "process tree changed during the run (a worker died or was respawned)"
    if reloads and a:
        ra = after["procs"][str(root)][0]
        rb = (before["procs"].get(str(root)) or [ra])[0]
        ticks = (sum(p["ticks"] for p in a.values())
                 - sum(p["ticks"] for p in b.values())
                 + ra.get("cticks", 0) - rb.get("cticks", 0))
        rss_mb = sum(p["hwm_kb"] for p in a.values()) / 1024.0
        return ticks / float(after["clk_tck"]), rss_mb, problem
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
           "mean_ms": None, "max_ms": None, "non2xx": 0, "socket_errors": {}, "errors": []}
    in_dist = False
    for line in text.splitlines():
        s = line.strip()
        if s.startswith("Latency Distribution"):
            in_dist = True
            continue
        # Thread Stats: "Latency   619.40us  309.95us  12.42ms   92.57%" (avg, stdev, max)
        m = re.match(r"^Latency\s+(\S+)\s+(\S+)\s+(\S+)\s+\S+%$", s)
        if m:
            try:
                res["mean_ms"], res["max_ms"] = to_ms(m.group(1)), to_ms(m.group(3))
            except ValueError as e:
                res["errors"].append(str(e))
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


# --------------------------------------------------------------------------- h2load


def request_log_percentiles(path):
    """p50/p99 in ms from h2load's --log-file (start_us, status, duration_us per line;
    status -1 for failed streams, which are left out)."""
    durs = []
    with open(path, errors="replace") as f:
        for line in f:
            parts = line.split("\t")
            if len(parts) >= 3 and parts[1].strip() != "-1":
                try:
                    durs.append(int(parts[2]))
                except ValueError:
                    pass
    if not durs:
        return None, None
    durs.sort()
    pick = lambda q: durs[min(len(durs) - 1, int(q * len(durs)))] / 1000.0  # noqa: E731
    return pick(0.50), pick(0.99)


def parse_h2load(text, body_size=None, request_log=None):
    """h2load's summary. It reports no latency percentiles, only min/max/mean/sd of
    "time for request": mean_ms/max_ms are filled, and p50_ms/p99_ms only when
    REQUEST_LOG (h2load --log-file output, opt-in: H2LOAD_LOG=1) exists. Problems
    (failed, errored or timed-out requests, non-2xx statuses, no request, a protocol
    other than h2, a body size other than BODY_SIZE) go to "errors"."""
    res = {"rps": None, "requests": None, "p50_ms": None, "p99_ms": None,
           "mean_ms": None, "max_ms": None, "non2xx": 0, "socket_errors": {},
           "errors": [], "problems": [], "tls": {}}
    counts = status = None
    data_bytes = None
    for line in text.splitlines():
        s = line.strip()
        m = re.match(r"^finished in ([0-9.]+)(us|ms|s|m|h), ([0-9.]+) req/s", s)
        if m:
            res["duration_s"] = to_ms(m.group(1) + m.group(2)) / 1000.0
            res["rps"] = float(m.group(3))
            continue
        m = re.match(r"^requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, "
                     r"(\d+) failed, (\d+) errored, (\d+) timeout", s)
        if m:
            counts = dict(zip(("total", "started", "done", "succeeded", "failed", "errored",
                               "timeout"), (int(x) for x in m.groups())))
            continue
        m = re.match(r"^status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx", s)
        if m:
            status = [int(x) for x in m.groups()]
            continue
        m = re.match(r"^traffic: .*\((\d+)\) data$", s)
        if m:
            data_bytes = int(m.group(1))
            continue
        m = re.match(r"^time for request:\s+(\S+)\s+(\S+)\s+(\S+)\s+(\S+)", s)
        if m:
            try:
                res["max_ms"], res["mean_ms"] = to_ms(m.group(2)), to_ms(m.group(3))
            except ValueError as e:
                res["errors"].append(str(e))
            continue
        for key, label in (("version", "TLS Protocol"), ("cipher", "Cipher"),
                           ("kx", "Server Temp Key"), ("alpn", "Application protocol")):
            if s.startswith(label + ":"):
                res["tls"][key] = s.split(":", 1)[1].strip()
    if counts is None:
        res["errors"].append("h2load output has no requests line")
    else:
        # Requests answered (any status), like wrk's count; failures are problems below.
        res["requests"] = counts["done"]
        res["h2load_counts"] = counts
        if counts["done"] and not counts["succeeded"]:
            res["problems"].append("h2load: no request succeeded")
        for k in ("failed", "errored", "timeout"):
            if counts[k]:
                res["problems"].append(f"h2load: {counts[k]} requests {k}")
    if status is None:
        res["errors"].append("h2load output has no status codes line")
    else:
        res["non2xx"] = sum(status[1:])
    if request_log and os.path.exists(request_log):
        res["p50_ms"], res["p99_ms"] = request_log_percentiles(request_log)
    if res["rps"] is None:
        res["errors"].append("h2load output has no req/s")
    if res["mean_ms"] is None:
        res["errors"].append("h2load output has no time for request")
    if res["tls"].get("alpn") != "h2":
        res["problems"].append(f"h2load negotiated {res['tls'].get('alpn') or 'no protocol'}, "
                               "not h2")
    if body_size is not None and data_bytes is not None and res["requests"]:
        # Every response must carry the backend's body: data bytes / responses == body
        # size (in-flight responses at the end of a timed run can add a few bytes).
        per = data_bytes / res["requests"]
        res["data_bytes_per_response"] = round(per, 3)
        if abs(per - body_size) > max(0.01 * body_size, 0.5):
            res["problems"].append(f"h2load got {per:.1f} body bytes per response, "
                                   f"expected {body_size}")
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
    elif a.load == "h2load":
        lg = parse_h2load(text, a.body_size, a.load_output + ".requests.tsv")
    else:
        lg = {"errors": [f"no parser for load generator {a.load!r}"]}
    row.update({k: lg.get(k) for k in ("rps", "requests", "p50_ms", "p99_ms", "mean_ms",
                                      "max_ms", "non2xx", "socket_errors")})
    for k in ("h2load_counts", "data_bytes_per_response"):
        if k in lg:
            row[k] = lg[k]
    # TLS as negotiated by the load generator itself (h2load prints it), else by the
    # pre-run check's handshake (wrk prints nothing about TLS).
    tls = {}
    if a.tls_info and os.path.exists(a.tls_info):
        tls = load_json(a.tls_info)
        tls["seen_by"] = "check"
    if lg.get("tls"):
        tls = dict(lg["tls"], seen_by=a.load)
    if tls:
        row["tls"] = tls
        if a.tls_version and tls.get("version") != a.tls_version:
            row["problems"].append(f"TLS version {tls.get('version')}, expected {a.tls_version}")
    row["problems"] += lg.get("errors", []) + lg.get("problems", [])
    if a.load_rc != 0:
        row["problems"].append(f"{a.load} exited with status {a.load_rc}")
    # Lost requests: a problem, except during reloads for proxies not in --strict,
    # where they are the measurement (reported in the reload columns, warned about).
    row["warnings"] = []
    lost = row["problems"] if a.reloads is None or a.proxy in a.strict else row["warnings"]
    if a.routes:
        row["routes"] = a.routes
    if lg.get("non2xx"):
        lost.append(f"Non-2xx or 3xx responses: {lg['non2xx']}" if a.load == "wrk"
                    else f"non-2xx responses: {lg['non2xx']}")
    errs = {k: v for k, v in (lg.get("socket_errors") or {}).items() if v}
    if errs:
        lost.append("socket errors: " + ", ".join(f"{k} {v}" for k, v in errs.items()))
    if lg.get("requests") == 0:
        row["problems"].append("no requests completed")
    if a.reloads is not None:
        reload_columns(row, lg, load_json(a.reloads), lost)
    if a.extra:
        for path in a.extra:
            extra = load_json(path)
            row.update(extra)
            for c in extra.get("changes", []):
                if c.get("ms") is None:
                    row["problems"].append(f"not served within the timeout: {c['change']}")
    if a.access_log:
        # The access log must really be on: about one line per request (warm-up and
        # check requests add lines; lines still queued at the end are missing).
        with open(a.access_log, "rb") as f:
            row["access_log_lines"] = lines = sum(1 for _ in f)
        if lines < 0.9 * (lg.get("requests") or 0):
            row["problems"].append(f"access log has {lines} lines for {lg.get('requests')} "
                                   "requests")

    before, after = load_json(a.before), load_json(a.after)
    cpu_s, rss_mb, problem = tree_delta(before, after, a.proxy_pid, a.reloads is not None)
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
    # Upstream keep-alive: connections to the backend opened during the measured run
    # (the pool is filled during the warm-up). More than the requests in flight means
    # the proxy opens and closes backend connections instead of reusing them.
    if "backend_conns" in before and "backend_conns" in after:
        b, c = before["backend_conns"], after["backend_conns"]
        row["backend_conns_new"] = new = len(set(c) - set(b))
        row["backend_conns_open_at_end"] = sum(1 for st in c.values() if st == "01")
        # (A reload replaces nginx's and HAProxy's worker and its pool: not churn.)
        if a.inflight and new > a.inflight and a.reloads is None:
            row["warnings"].append(f"upstream churn: {new} new backend connections during "
                                   f"the run")
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


def reload_columns(row, lg, rs, lost):
    """reload_load's columns from wrk's counts and the change driver's summary: failed =
    non-2xx answers + wrk read/write/timeout errors; refused = wrk connect errors +
    refused fresh connections of the prober; probe_failed = the prober's other failures
    (reset, timeout, non-2xx). Changes not served in time are problems."""
    se = lg.get("socket_errors") or {}
    probe = rs.get("probe", {})
    row["failed"] = (lg.get("non2xx") or 0) + sum(se.get(k, 0) for k in ("read", "write",
                                                                           "timeout"))
    row["refused"] = se.get("connect", 0) + probe.get("refused", 0)
    row["probe_failed"] = probe.get("non2xx", 0) + probe.get("error", 0)
    row["probe_ok"] = probe.get("ok", 0)
    for k in ("changes", "changes_served", "changes_total", "change_ms_median",
              "change_ms_max", "probe_examples"):
        row[k] = rs.get(k)
    if probe.get("refused"):
        lost.append(f"prober: {probe['refused']} fresh connections refused")
    if row["probe_failed"]:
        lost.append(f"prober: {row['probe_failed']} fresh-connection requests failed "
                    f"({'; '.join(rs.get('probe_examples') or [])})")
    if rs.get("changes_served") != rs.get("changes_total"):
        row["problems"].append(f"only {rs.get('changes_served')} of {rs.get('changes_total')} "
                               "config changes were served")


def skip_row(a):
    return {"scenario": a.scenario, "proxy": a.proxy, "status": a.status,
            "problems": [a.reason], "rps": None, "requests": None, "p50_ms": None,
            "p99_ms": None, "mean_ms": None, "max_ms": None, "cpu_us_per_req": None,
            "peak_rss_mb": None}


def hs256_token(secret):
    """An HS256 JWT with `sub` and an `exp` a day away (for the auth_jwt rows)."""
    import base64
    import hashlib
    import hmac

    def b64(b):
        return base64.urlsafe_b64encode(b).rstrip(b"=").decode()

    header = b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    claims = b64(json.dumps({"sub": "bench", "exp": int(time.time()) + 86400}).encode())
    msg = f"{header}.{claims}".encode()
    sig = hmac.new(secret.encode(), msg, hashlib.sha256).digest()
    return f"{header}.{claims}.{b64(sig)}"


def oidc_session(url, user="bench"):
    """Logs in through the gateway at `url` (an OIDC route) and the test provider's login
    form, as a browser would, and returns the gateway's session cookie value."""
    import http.cookiejar
    import re
    import urllib.parse
    import urllib.request

    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    html = {"Accept": "text/html"}
    with opener.open(urllib.request.Request(url, headers=html), timeout=30) as r:
        page, at = r.read().decode(errors="replace"), r.geturl()
    m = re.search(r'<form[^>]*action="([^"]+)"', page)
    if not m:
        raise SystemExit(f"no login form at {at}: {page[:300]}")
    action = urllib.parse.urljoin(at, m.group(1))
    data = urllib.parse.urlencode({"login": user}).encode()
    with opener.open(urllib.request.Request(action, data=data, headers=html), timeout=30) as r:
        r.read()
    for c in jar:
        if c.name == "tollgate_session":
            return c.value
    raise SystemExit("no tollgate_session cookie after the login")


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
    p.add_argument("--ca")
    p.add_argument("--host")
    p.add_argument("--header", action="append", help="NAME: VALUE sent with the GET")
    p = sub.add_parser("check-body")
    p.add_argument("url")
    p.add_argument("size", type=int)
    p.add_argument("--header", action="append", help="NAME: VALUE sent with the GET")
    p.add_argument("--ca")
    p.add_argument("--alpn")
    p.add_argument("--tls-version")
    p.add_argument("--tls-info")
    p.add_argument("--encoding", help="the Content-Encoding the answer must have (gzip)")
    p = sub.add_parser("descendants")
    p.add_argument("pid", type=int)
    p = sub.add_parser("snap")
    p.add_argument("out")
    p.add_argument("pids", type=int, nargs="+")
    p.add_argument("--port", type=int)
    p = sub.add_parser("parse-wrk")
    p.add_argument("file")
    p = sub.add_parser("parse-h2load")
    p.add_argument("file")
    p.add_argument("size", type=int, nargs="?")
    p = sub.add_parser("row")
    for opt in ("scenario", "proxy", "load", "load-output", "before", "after"):
        p.add_argument("--" + opt, required=True)
    p.add_argument("--load-rc", type=int, default=0)
    p.add_argument("--proxy-pid", type=int, required=True)
    p.add_argument("--backend-pid", type=int)
    p.add_argument("--proxy-cpu", type=int)
    p.add_argument("--noise-pct", type=float, default=10.0)
    p.add_argument("--body-size", type=int)
    p.add_argument("--inflight", type=int)
    p.add_argument("--tls-info")
    p.add_argument("--tls-version")
    p.add_argument("--routes", type=int)
    p.add_argument("--extra", action="append")
    p.add_argument("--reloads")
    p.add_argument("--strict", nargs="*", default=[])
    p.add_argument("--access-log")
    p = sub.add_parser("skip")
    p.add_argument("--scenario", required=True)
    p.add_argument("--proxy", required=True)
    p.add_argument("--status", default="skipped", choices=["skipped", "fail"])
    p.add_argument("--reason", required=True)
    p = sub.add_parser("meta")
    p.add_argument("out")
    p.add_argument("pairs", nargs="*")
    p = sub.add_parser("hs256-token", help="an HS256 JWT valid for a day, for auth_jwt")
    p.add_argument("secret")
    p = sub.add_parser("oidc-session", help="log in through an OIDC route; print the cookie")
    p.add_argument("url")
    p = sub.add_parser("report")
    p.add_argument("rows")
    p.add_argument("meta")
    p.add_argument("out")
    p = sub.add_parser("routes-gen")
    p.add_argument("proxy", choices=sorted(routes.GENERATORS))
    p.add_argument("dir")
    p.add_argument("n", type=int)
    p.add_argument("port", type=int)
    p.add_argument("backend")
    p = sub.add_parser("routes-check")
    p.add_argument("dir")
    p.add_argument("size", type=int)
    p = sub.add_parser("routes-timings")
    p.add_argument("dir")
    p.add_argument("pid", type=int)
    p.add_argument("out")
    p = sub.add_parser("reload-series")
    p.add_argument("dir")
    p.add_argument("pid", type=int)
    p.add_argument("count", type=int)
    p.add_argument("interval", type=float)
    p.add_argument("delay", type=float)
    p.add_argument("out")
    p = sub.add_parser("rss-cycles")
    p.add_argument("dir")
    p.add_argument("pid", type=int)
    p.add_argument("cycles", type=int)
    p.add_argument("batch", type=int)
    p.add_argument("out")
    a = ap.parse_args(argv)

    if a.cmd == "free-ports":
        print(" ".join(str(p) for p in free_ports(a.n)))
    elif a.cmd == "wait-http":
        return wait_http(a.url, a.timeout, a.pid, a.ca, a.host, a.header)
    elif a.cmd == "check-body":
        return check_body(a.url, a.size, a.ca, a.alpn, a.tls_version, a.tls_info, a.header,
                          a.encoding)
    elif a.cmd == "hs256-token":
        print(hs256_token(a.secret))
    elif a.cmd == "oidc-session":
        print(oidc_session(a.url))
    elif a.cmd == "descendants":
        print(" ".join(str(p) for p in descendants(a.pid)))
    elif a.cmd == "snap":
        with open(a.out, "w") as f:
            json.dump(snap(a.pids, a.port), f)
    elif a.cmd == "parse-wrk":
        with open(a.file, errors="replace") as f:
            print(json.dumps(parse_wrk(f.read()), indent=2))
    elif a.cmd == "parse-h2load":
        with open(a.file, errors="replace") as f:
            print(json.dumps(parse_h2load(f.read(), a.size), indent=2))
    elif a.cmd == "row":
        print(json.dumps(make_row(a)))
    elif a.cmd == "skip":
        print(json.dumps(skip_row(a)))
    elif a.cmd == "meta":
        with open(a.out, "w") as f:
            json.dump(meta(a.pairs), f)
    elif a.cmd == "report":
        return report(a.rows, a.meta, a.out)
    elif a.cmd == "routes-gen":
        routes.generate(a.proxy, a.dir, a.n, a.port, a.backend)
    elif a.cmd == "routes-check":
        problems = routes.check(a.dir, a.size)
        for p in problems[:5]:
            print(p, file=sys.stderr)
        return 1 if problems else 0
    elif a.cmd == "routes-timings":
        print(json.dumps(routes.scale_timings(a.dir, a.pid, a.out)))
    elif a.cmd == "reload-series":
        print(json.dumps(routes.reload_series(a.dir, a.pid, a.count, a.interval, a.delay,
                                              a.out)))
    elif a.cmd == "rss-cycles":
        print(json.dumps(routes.rss_cycles(a.dir, a.pid, a.cycles, a.batch, a.out)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
