"""Route tables for bench/run.sh's route-scale and reload scenarios (stdlib only).

One abstract table (hosts x paths, some regex paths, some header matches) is written as
the equivalent configuration of each proxy; the same table drives the wrk Lua mix, the
pre-run checks and the config changes (a one-route change, a full reload, the changes
during reload_load). See bench/README.md, "Route tables".

The table's state lives in DIR/table.json, so that a later command (a reload) can
change it and rewrite the proxy's configuration in place.
"""

import http.client
import json
import math
import os
import re
import signal
import threading
import time

# Route i is on host i // per_host; its kind comes from i % 10: mostly path prefixes,
# one in ten a whole-path regex, one in ten a prefix plus a header match.
REGEX_AT, HEADER_AT = 4, 7
PER_HOST_MAX = 100
TENANT_HEADER = "x-tenant"


def kind_of(i):
    k = i % 10
    return "regex" if k == REGEX_AT else "header" if k == HEADER_AT else "prefix"


def layout(n):
    """(hosts, routes per host) for N routes: at most 100 routes per host, at least two
    hosts (so that host selection is always part of the match)."""
    per_host = max(1, min(PER_HOST_MAX, math.ceil(n / 2)))
    return math.ceil(n / per_host), per_host


def host_name(h):
    return f"h{h}.bench.local"


def routes(state):
    """The table as a list of dicts: name, host, kind, path (the route's own prefix or
    regex), request (a path that it matches), header (value for header routes),
    tag (the x-route value the proxy adds to the response)."""
    n, gen = state["n"], state["gen"]
    _, per_host = layout(n)
    out = []
    for i in range(n):
        h, j = divmod(i, per_host)
        kind = kind_of(i)
        r = {"name": f"r{i}", "host": host_name(h), "kind": kind, "i": i}
        if kind == "regex":
            r["path"], r["request"] = f"/re{j}/[0-9]+", f"/re{j}/12345"
        elif kind == "header":
            r["path"], r["request"] = f"/h{j}", f"/h{j}/x"
            r["header"] = state.get("header_values", {}).get(r["name"], f"t{i}")
        else:
            r["path"], r["request"] = f"/p{j}", f"/p{j}/x"
        r["tag"] = f"r{i}-g{gen}"
        out.append(r)
    # Routes added by config changes: plain prefixes on the first host.
    for k in state.get("added", []):
        out.append({"name": f"new{k}", "host": host_name(0), "kind": "prefix", "i": n + k,
                    "path": f"/new{k}", "request": f"/new{k}/x", "tag": f"new{k}-g{gen}"})
    return out


def mix(state):
    """The routes wrk cycles through: on the first, the middle and the last host, the
    first and last prefix route, the last regex route and the last header route (the
    ones that match late in that host's table; the last host is the last in the file)."""
    table = [r for r in routes(state) if not r["name"].startswith("new")]
    hosts = sorted({r["host"] for r in table}, key=lambda s: int(s[1:].split(".")[0]))
    pick = [hosts[0], hosts[len(hosts) // 2], hosts[-1]]
    out = []
    for host in dict.fromkeys(pick):
        mine = [r for r in table if r["host"] == host]
        prefixes = [r for r in mine if r["kind"] == "prefix"]
        cand = [prefixes[0] if prefixes else None, prefixes[-1] if prefixes else None]
        for kind in ("regex", "header"):
            ks = [r for r in mine if r["kind"] == kind]
            cand.append(ks[-1] if ks else None)
        for r in cand:
            if r is not None and r not in out:
                out.append(r)
    return out


def idle_header_route(state):
    """A header route that the load mix does not hit (its filter is what reload_load
    changes), or None."""
    busy = {r["name"] for r in mix(state)}
    for r in routes(state):
        if r["kind"] == "header" and r["name"] not in busy:
            return r
    return None


# --------------------------------------------------------------------------- configs


def _yaml_str(s):
    return json.dumps(s)  # a JSON string is a valid YAML flow scalar


def tollgate_config(state):
    lines = ["server: { access_log: false, shutdown_delay: 0s }",  # see run.sh
             "listeners:",
             f"  - {{ name: web, address: \"127.0.0.1:{state['port']}\", protocol: http }}",
             "services:",
             f"  - {{ name: echo, endpoints: [\"{state['backend']}\"] }}",
             "routes:"]
    for r in routes(state):
        if r["kind"] == "regex":
            match = f"path: {{ regex: {_yaml_str(r['path'])} }}"
        elif r["kind"] == "header":
            match = (f"path: {{ prefix: {r['path']} }}, headers: [{{ name: {TENANT_HEADER}, "
                     f"value: {_yaml_str(r['header'])} }}]")
        else:
            match = f"path: {{ prefix: {r['path']} }}"
        lines.append(f"  - {{ name: {r['name']}, hosts: [{r['host']}], match: {{ {match} }}, "
                     f"filters: {{ response_headers: {{ set: {{ x-route: {r['tag']} }} }} }}, "
                     f"backends: [{{ service: echo }}] }}")
    return {"tollgate.yaml": "\n".join(lines) + "\n"}


def nginx_config(state):
    d = state["dir"]
    by_host = {}
    for r in routes(state):
        by_host.setdefault(r["host"], []).append(r)
    servers = []
    for host, rs in by_host.items():
        locs = []
        for r in rs:
            body = f"add_header x-route {r['tag']}; proxy_pass http://echo;"
            if r["kind"] == "regex":
                locs.append(f"    location ~ ^{r['path']}$ {{ {body} }}")
            elif r["kind"] == "header":
                # `if` with only `return` inside is the safe use of nginx's if.
                locs.append(f"    location {r['path']}/ {{ if ($http_x_tenant != "
                            f"\"{r['header']}\") {{ return 404; }} {body} }}")
            else:
                locs.append(f"    location {r['path']}/ {{ {body} }}")
        # No route matched: 404 (else nginx would serve files from its html root).
        locs.append("    location / { return 404; }")
        servers.append(f"  server {{\n    listen 127.0.0.1:{state['port']};\n"
                       f"    server_name {host};\n" + "\n".join(locs) + "\n  }")
    conf = f"""daemon off;
master_process on;
worker_processes 1;
pid {d}/nginx.pid;
error_log {d}/error.log warn;
events {{ worker_connections 4096; }}
http {{
  access_log off;
  client_body_temp_path {d}/client_body;
  proxy_temp_path {d}/proxy_temp;
  keepalive_requests 1000000;
  server_names_hash_max_size 4096;
  server_names_hash_bucket_size 64;
  proxy_http_version 1.1;
  proxy_set_header Connection "";
  upstream echo {{
    server {state['backend']};
    keepalive 64;
    keepalive_requests 1000000;
  }}
  # Unknown hosts: 404, as Tollgate answers when no route matches.
  server {{ listen 127.0.0.1:{state['port']} default_server; return 404; }}
{chr(10).join(servers)}
}}
"""
    os.makedirs(os.path.join(d, "client_body"), exist_ok=True)
    os.makedirs(os.path.join(d, "proxy_temp"), exist_ok=True)
    return {"nginx.conf": conf}


def haproxy_config(state):
    """Maps keyed by `base` (Host + path): map_beg for prefixes, map_reg for regexes, and
    for header routes one map for the expected header value and one for the route."""
    d = state["dir"]
    prefix, regex, hdr_val, hdr_route = [], [], [], []
    for r in routes(state):
        if r["kind"] == "regex":
            regex.append(f"^{re.escape(r['host'])}{r['path']}$ {r['tag']}")
        elif r["kind"] == "header":
            hdr_val.append(f"{r['host']}{r['path']}/ {r['header']}")
            hdr_route.append(f"{r['host']}{r['path']}/ {r['tag']}")
        else:
            prefix.append(f"{r['host']}{r['path']}/ {r['tag']}")
    cfg = f"""global
  nbthread 1
  maxconn 4096
  # The master passes the listening sockets to the new worker on reload (seamless).
  stats socket {d}/admin.sock mode 600 level admin expose-fd listeners

defaults
  mode http
  option http-keep-alive
  http-reuse always
  timeout connect 5s
  timeout client 30s
  timeout server 30s

frontend web
  bind 127.0.0.1:{state['port']}
  http-request set-var(txn.route) base,map_beg({d}/prefix.map)
  http-request set-var(txn.route) base,map_reg({d}/regex.map) unless {{ var(txn.route) -m found }}
  http-request set-var(txn.want) base,map_beg({d}/hdr_value.map) unless {{ var(txn.route) -m found }}
  http-request set-var(txn.route) base,map_beg({d}/hdr_route.map) if {{ var(txn.want) -m found }} {{ req.hdr({TENANT_HEADER}),strcmp(txn.want) eq 0 }}
  http-request return status 404 unless {{ var(txn.route) -m found }}
  http-response set-header x-route %[var(txn.route)]
  default_backend echo

backend echo
  server s1 {state['backend']}
"""
    return {"haproxy.cfg": cfg, "prefix.map": "\n".join(prefix) + "\n",
            "regex.map": "\n".join(regex) + "\n", "hdr_value.map": "\n".join(hdr_val) + "\n",
            "hdr_route.map": "\n".join(hdr_route) + "\n"}


GENERATORS = {"tollgate": tollgate_config, "nginx": nginx_config, "haproxy": haproxy_config}


def write_config(state):
    """Write the proxy's files atomically (write + rename: what editors and config
    management do, and what Tollgate's watcher expects) and the state."""
    files = GENERATORS[state["proxy"]](state)
    for name, text in files.items():
        path = os.path.join(state["dir"], name)
        with open(path + ".tmp", "w") as f:
            f.write(text)
        os.replace(path + ".tmp", path)
    with open(os.path.join(state["dir"], "table.json"), "w") as f:
        json.dump(state, f)


def load_state(d):
    with open(os.path.join(d, "table.json")) as f:
        return json.load(f)


def wrk_lua(state):
    """wrk script cycling through the mix; requests are formatted once, in init."""
    entries = []
    for r in mix(state):
        hdrs = f'["Host"] = "{r["host"]}"'
        if r["kind"] == "header":
            hdrs += f', ["{TENANT_HEADER}"] = "{r["header"]}"'
        entries.append(f'  {{ "{r["request"]}", {{ {hdrs} }} }},')
    return ("-- generated by bench/routes.py: cycles through routes of the table\n"
            "local mix = {\n" + "\n".join(entries) + "\n}\n"
            "local reqs, n = {}, 0\n"
            "function init(args)\n"
            "  for i, m in ipairs(mix) do reqs[i] = wrk.format(\"GET\", m[1], m[2]) end\n"
            "  n = #reqs\n"
            "end\n"
            "local k = 0\n"
            "function request()\n"
            "  k = k % n + 1\n"
            "  return reqs[k]\n"
            "end\n")


def generate(proxy, d, n, port, backend):
    state = {"proxy": proxy, "dir": os.path.abspath(d), "n": n, "port": port,
             "backend": backend, "gen": 0, "added": [], "next_added": 0,
             "header_values": {}}
    write_config(state)
    with open(os.path.join(d, "mix.lua"), "w") as f:
        f.write(wrk_lua(state))
    return state


# --------------------------------------------------------------------------- requests


def get_route(port, r, timeout=2.0, header=True):
    """One GET for route R on a fresh connection: (status, x-route, body length)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        hdrs = {"Host": r["host"], "Connection": "close"}
        if header and r.get("header"):
            hdrs[TENANT_HEADER] = r["header"]
        conn.request("GET", r["request"], headers=hdrs)
        resp = conn.getresponse()
        return resp.status, resp.getheader("x-route"), len(resp.read())
    finally:
        conn.close()


def check(d, body_size):
    """Every route of the mix answers 2xx from the backend (body size) with its own
    x-route; a header route without its header is refused (404): the match is real."""
    state = load_state(d)
    problems = []
    for r in mix(state):
        try:
            status, tag, size = get_route(state["port"], r, timeout=5.0)
        except (OSError, http.client.HTTPException) as e:
            problems.append(f"{r['host']}{r['request']}: {e}")
            continue
        if not 200 <= status < 300 or tag != r["tag"] or size != body_size:
            problems.append(f"{r['host']}{r['request']}: HTTP {status}, x-route {tag}, "
                            f"{size} bytes; expected 2xx, {r['tag']}, {body_size}")
        if r["kind"] == "header":
            try:
                status = get_route(state["port"], r, timeout=5.0, header=False)[0]
            except (OSError, http.client.HTTPException) as e:
                status = str(e)
            if status != 404:
                problems.append(f"{r['host']}{r['request']} without {TENANT_HEADER}: "
                                f"{status}, expected 404")
    return problems


# --------------------------------------------------------------------------- changes


def trigger(state, pid):
    """Make the proxy load the configuration just written: Tollgate watches its file
    (nothing to do), nginx reloads on SIGHUP (what `nginx -s reload` sends), HAProxy in
    master-worker mode (-W) on SIGUSR2 to the master."""
    if state["proxy"] == "nginx":
        os.kill(pid, signal.SIGHUP)
    elif state["proxy"] == "haproxy":
        os.kill(pid, signal.SIGUSR2)


def wait_for(port, r, want, timeout, t0, header=True):
    """Poll R on fresh connections every 2 ms until WANT(status, tag) holds; returns the
    seconds since T0 (a time.monotonic()) or None. Errors while polling count as 'not
    yet'."""
    while time.monotonic() - t0 < timeout:
        try:
            status, tag, _ = get_route(port, r, timeout=1.0, header=header)
            if want(status, tag):
                return time.monotonic() - t0
        except (OSError, http.client.HTTPException):
            pass
        time.sleep(0.002)
    return None


def change(d, pid, what, timeout=30.0):
    """Apply one change to the table in D, trigger the reload and poll until the proxy
    serves it. WHAT: add (a route on the first host), remove (the last added one),
    header (change the expected header value of a header route not under load), full
    (every route gets a new x-route tag). Returns (description, ms or None)."""
    state = load_state(d)
    if what == "header" and idle_header_route(state) is None:
        what = "add"
    if what == "remove" and not state["added"]:
        what = "add"
    if what == "add":
        k = state["next_added"]
        state["next_added"] = k + 1
        state["added"].append(k)
        r = routes(state)[-1]
        desc = f"add route {r['host']}{r['path']}"
        want = lambda s, t, r=r: 200 <= s < 300 and t == r["tag"]  # noqa: E731
        probe = r
    elif what == "remove":
        k = state["added"][-1]
        probe = [r for r in routes(state) if r["name"] == f"new{k}"][0]
        state["added"].pop()
        desc = f"remove route {probe['host']}{probe['path']}"
        want = lambda s, t: s == 404  # noqa: E731
    elif what == "header":
        r = idle_header_route(state)
        new = f"t{r['i']}-v{state['gen']}-{state['next_added']}"
        state["next_added"] += 1
        state["header_values"][r["name"]] = new
        probe = dict(r, header=new)
        desc = f"route {r['name']}: {TENANT_HEADER} must now be {new}"
        want = lambda s, t: 200 <= s < 300  # noqa: E731
    elif what == "full":
        state["gen"] += 1
        probe = routes(state)[state["n"] - 1]  # the last route of the original table
        desc = f"full reload: {state['n']} routes get new x-route tags"
        want = lambda s, t, p=probe: 200 <= s < 300 and t == p["tag"]  # noqa: E731
    else:
        raise ValueError(what)
    t0 = time.monotonic()
    write_config(state)
    trigger(state, pid)
    # Measured from before the write: writing the files and the signal count.
    took = wait_for(state["port"], probe, want, timeout, t0)
    return desc, None if took is None else round(took * 1000.0, 1)


class Prober(threading.Thread):
    """Fresh connections to one route every INTERVAL s while running: counts answers,
    refused connections and other failures (reset, timeout, non-2xx). wrk's keep-alive
    connections only see what happens to established connections; this sees what a new
    client sees (a listener that is briefly gone)."""

    def __init__(self, port, r, interval=0.01):
        super().__init__(daemon=True)
        self.port, self.r, self.interval = port, r, interval
        self.stop = threading.Event()
        self.counts = {"ok": 0, "refused": 0, "non2xx": 0, "error": 0}
        self.examples = []

    def run(self):
        while not self.stop.is_set():
            try:
                status, _, _ = get_route(self.port, self.r, timeout=2.0)
                self.counts["ok" if 200 <= status < 300 else "non2xx"] += 1
                if not 200 <= status < 300:
                    self._note(f"HTTP {status}")
            except ConnectionRefusedError:
                self.counts["refused"] += 1
            except (OSError, http.client.HTTPException) as e:
                self.counts["error"] += 1
                self._note(f"{type(e).__name__}: {e}")
            self.stop.wait(self.interval)

    def _note(self, s):
        if len(self.examples) < 5:
            self.examples.append(s)


def reload_series(d, pid, count, interval, start_delay, out):
    """reload_load's driver, run while wrk loads the proxy: after START_DELAY s, COUNT
    changes, one every INTERVAL s (add a route, change the header filter of an idle
    route, remove the added route, ...), each polled until served; a prober counts what
    fresh connections see meanwhile. Writes a JSON summary to OUT."""
    state = load_state(d)
    prober = Prober(state["port"], mix(state)[0])
    time.sleep(start_delay)
    prober.start()
    kinds = ["add", "header", "remove"]
    changes = []
    t_start = time.monotonic()
    for k in range(count):
        due = t_start + k * interval
        time.sleep(max(0.0, due - time.monotonic()))
        desc, ms = change(d, pid, kinds[k % len(kinds)], timeout=max(interval * 5, 10.0))
        changes.append({"change": desc, "ms": ms})
    time.sleep(min(interval, 1.0))
    prober.stop.set()
    prober.join(5)
    served = [c["ms"] for c in changes if c["ms"] is not None]
    res = {"changes": changes, "changes_served": len(served), "changes_total": count,
           "change_ms_median": round(sorted(served)[len(served) // 2], 1) if served else None,
           "change_ms_max": max(served) if served else None,
           "probe": prober.counts, "probe_examples": prober.examples}
    with open(out, "w") as f:
        json.dump(res, f)
    return res


def scale_timings(d, pid, out, timeout=60.0):
    """After a route-scale row: the time from writing a one-route change to the new
    route answering, then the same for a full reload of the table."""
    desc_a, add_ms = change(d, pid, "add", timeout)
    # Let the first reload settle (old nginx/HAProxy workers exit) before the next.
    time.sleep(0.5)
    desc_f, full_ms = change(d, pid, "full", timeout)
    res = {"add_route_ms": add_ms, "full_reload_ms": full_ms,
           "changes": [{"change": desc_a, "ms": add_ms}, {"change": desc_f, "ms": full_ms}]}
    with open(out, "w") as f:
        json.dump(res, f)
    return res


def rss_kib(pid):
    """Resident set of PID and its children (nginx/HAProxy workers), in KiB."""
    total = 0
    for p in [pid] + _children(pid):
        try:
            with open(f"/proc/{p}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
        except OSError:
            pass
    return total


def _children(pid):
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(c) for c in f.read().split()]
    except OSError:
        return []


def rss_cycles(d, pid, cycles, batch, out, timeout=30.0):
    """reload_rss's driver: CYCLES times, add BATCH routes (one reload) and remove them
    again (another), each polled until served; RSS before, after the cycles (given a
    second to settle) and the largest seen at the end of a cycle. Memory that only grows
    across reloads shows as growth_pct."""
    state = load_state(d)
    time.sleep(1.0)
    base = rss_kib(pid)
    most, took, unserved = base, [], 0
    for _ in range(cycles):
        state = load_state(d)
        first = state["next_added"]
        state["added"].extend(range(first, first + batch))
        state["next_added"] = first + batch
        last = routes(state)[-1]
        t0 = time.monotonic()
        write_config(state)
        trigger(state, pid)
        ms = wait_for(state["port"], last, lambda s, t, r=last: 200 <= s < 300 and t == r["tag"],
                      timeout, t0)
        state["added"] = []
        t1 = time.monotonic()
        write_config(state)
        trigger(state, pid)
        gone = wait_for(state["port"], last, lambda s, t: s == 404, timeout, t1)
        if ms is None or gone is None:
            unserved += 1
        else:
            took.append((ms + gone) * 1000.0)
        most = max(most, rss_kib(pid))
    time.sleep(1.0)
    after = rss_kib(pid)
    res = {"rss_cycles": cycles, "rss_batch": batch, "rss_base_kib": base,
           "rss_after_kib": after, "rss_max_kib": max(most, after),
           "rss_growth_pct": round(100.0 * (after - base) / base, 1) if base else None,
           "rss_cycle_ms_median": round(sorted(took)[len(took) // 2], 1) if took else None,
           "rss_cycles_unserved": unserved}
    with open(out, "w") as f:
        json.dump(res, f)
    return res
