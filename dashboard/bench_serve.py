"""``stat311 bench``: the app under load (issue 8, items 5 and 6).

gunicorn serves ``app:server`` with 2 workers on 127.0.0.1 (a free port) from the bench's store
(``STAT311_DATABASE_URL``, ``STAT311_SNAPSHOT_DIR`` ... in the subprocess's environment), as the
README's deploy section runs it (sync workers, default timeout). A bounded load generator of
``--concurrency-users`` threads (default 20), each with its own signed-in session (a staff user is
added to the bench store and signs in through the real CSRF form over HTTP), sends a mix of page
loads (staff pages, the public portal, the Open311 API) and Dash callbacks
(``/_dash-update-component`` with the payloads the browser would send, built from
``/_dash-dependencies``) for ``--concurrency-seconds`` (default 60). Reported: requests served,
errors (anything but 2xx, or no answer), latency p50/p95; and each worker's peak RSS (``VmHWM``
from ``/proc/<pid>/status``) after the run. gunicorn is stopped (SIGTERM, then SIGKILL) in a
``finally``.

Before the clock starts, every request of the mix is sent twice, untimed (warm-up: the workers
import and open the snapshot); a failure there counts as an error too.
"""

from __future__ import annotations

import itertools
import os
import random
import re
import secrets
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import numpy as np

from dashboard.bench import (
    LAYERS,
    ROOT,
    TEN_MILLION,
    Bar,
    BenchContext,
    Figure,
    Measure,
)
from dashboard.pgcluster import free_port

WORKERS = 2
#: Issue 8 bars.
MAX_P95_MS = 1500.0
MAX_WORKER_RSS_MB = 600.0
START_TIMEOUT_S = 120.0
REQUEST_TIMEOUT_S = 60.0
USER_EMAIL = "bench@stat311.invalid"


@dataclass(frozen=True)
class Action:
    """One request of the mix."""

    kind: str  # short name, for the per-kind counts
    method: str  # GET or POST
    path: str
    body: dict[str, Any] | None = None


@dataclass
class Outcome:
    kind: str
    ms: float
    ok: bool
    detail: str = ""


# -- the server -----------------------------------------------------------------------------------
def server_environment(ctx: BenchContext, secret: str) -> dict[str, str]:
    """The environment gunicorn runs in: the bench store, and no rate limit to speak of (every
    simulated user comes from 127.0.0.1)."""
    settings = ctx.store_settings
    assert settings is not None
    env = {k: v for k, v in os.environ.items() if not k.startswith("STAT311_")}
    env.update(
        STAT311_DATABASE_URL=str(settings.database_url),
        STAT311_SNAPSHOT_DIR=str(Path(settings.snapshot_dir).resolve()),
        STAT311_TIMEZONE=settings.timezone,
        STAT311_BATCH_SIZE=str(settings.batch_size),
        STAT311_SECRET_KEY=secret,
        STAT311_RATE_LIMIT="1000000 per minute",
        # every simulated user signs in from 127.0.0.1 within seconds
        STAT311_SIGN_IN_RATE_LIMIT="1000000 per minute",
        STAT311_LOG_LEVEL="WARNING",
        STAT311_PRODUCTION="false",
    )
    if ctx.settings.sla_policy is not None:
        env["STAT311_SLA_POLICY"] = str(Path(ctx.settings.sla_policy).resolve())
    return env


def worker_pids(master: int) -> list[int]:
    """The gunicorn master's child processes (its workers)."""
    children = Path(f"/proc/{master}/task/{master}/children")
    try:
        return sorted(int(p) for p in children.read_text().split())
    except OSError:
        pids = []
        for status in Path("/proc").glob("[0-9]*/status"):
            try:
                text = status.read_text()
            except OSError:
                continue
            if re.search(rf"^PPid:\s+{master}$", text, re.M):
                pids.append(int(status.parent.name))
        return sorted(pids)


def peak_rss_mb(pid: int) -> float | None:
    """``VmHWM`` (peak resident set size) of a process, in MB (10^6 bytes)."""
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    found = re.search(r"^VmHWM:\s+(\d+) kB", text, re.M)
    return round(int(found.group(1)) * 1024 / 1e6, 1) if found else None


def _stop(proc: subprocess.Popen) -> None:
    """SIGTERM to the gunicorn master (graceful), then SIGKILL to its process group."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)  # the group gunicorn leads (start_new_session)
            proc.wait(timeout=10)


def _tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def _wait_ready(base: str, proc: subprocess.Popen, log_path: Path) -> None:
    import requests

    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"gunicorn exited ({proc.returncode}):\n{_tail(log_path)}")
        try:
            if requests.get(f"{base}/healthz", timeout=5).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.25)
    raise RuntimeError(f"gunicorn did not answer in {START_TIMEOUT_S:.0f} s:\n{_tail(log_path)}")


# -- sessions and payloads --------------------------------------------------------------------------
def add_user(ctx: BenchContext) -> str:
    """An executive user in the bench store; returns its password."""
    from dashboard.auth import Users
    from dashboard.store import Store

    settings = ctx.store_settings
    assert settings is not None
    store = Store(settings.database_url)
    try:
        users = Users(store, settings)
        if users.by_email(USER_EMAIL) is not None:
            return users.reset_password(USER_EMAIL)
        return users.add(USER_EMAIL, role="executive")
    finally:
        store.dispose()


def sign_in(session: Any, base: str, password: str) -> None:
    """Sign a ``requests`` session in through the real form (CSRF token included)."""
    form = session.get(f"{base}/sign-in", timeout=REQUEST_TIMEOUT_S).text
    token = re.search(r'name="csrf_token" value="([^"]+)"', form)
    if token is None:
        raise RuntimeError("no CSRF token in the sign-in form")
    answer = session.post(
        f"{base}/sign-in",
        data={"csrf_token": token.group(1), "email": USER_EMAIL, "password": password, "next": "/"},
        allow_redirects=False,
        timeout=REQUEST_TIMEOUT_S,
    )
    if answer.status_code not in (302, 303) or "sign-in" in answer.headers.get("Location", ""):
        raise RuntimeError(f"sign-in failed: HTTP {answer.status_code}")


def _targets(output: str) -> list[tuple[str, str]]:
    """``"..a.b...c.d.."`` (or ``"a.b"``) -> [(id, property), ...]."""
    parts = output[2:-2].split("...") if output.startswith("..") else [output]
    return [tuple(p.rsplit(".", 1)) for p in parts]  # type: ignore[misc]


def payload(dependency: dict[str, Any], values: dict[str, Any]) -> dict[str, Any]:
    """A ``/_dash-update-component`` body for one callback of ``/_dash-dependencies``, with the
    inputs' and states' values from ``values`` (keyed ``"id.property"``)."""
    outputs = [{"id": i, "property": p} for i, p in _targets(dependency["output"])]

    def item(dep: dict[str, Any]) -> dict[str, Any]:
        return {
            "id": dep["id"],
            "property": dep["property"],
            "value": values.get(f"{dep['id']}.{dep['property']}"),
        }

    inputs = dependency["inputs"]
    known = {f"{d['id']}.{d['property']}" for d in [*inputs, *dependency.get("state", [])]}
    unknown = sorted(set(values) - known)
    if unknown:  # a renamed component or property would otherwise be sent as None, unseen
        raise RuntimeError(f"no input or state of the callback is {', '.join(unknown)}")
    return {
        "output": dependency["output"],
        "outputs": outputs if len(outputs) > 1 else outputs[0],
        "inputs": [item(d) for d in inputs],
        "state": [item(d) for d in dependency.get("state", [])],
        "changedPropIds": [f"{d['id']}.{d['property']}" for d in inputs][:1],
    }


def _pick(dependencies: list[dict[str, Any]], target: str) -> dict[str, Any]:
    """The callback whose outputs include ``target`` (``"id.property"``)."""
    for dep in dependencies:
        if target in {f"{i}.{p}" for i, p in _targets(dep["output"])}:
            return dep
    raise RuntimeError(f"no callback outputs {target}")


@dataclass(frozen=True)
class Subjects:
    """What the mix asks about: real values from the bench store."""

    code: str  # the busiest department
    layer: str
    months: tuple[str, ...]  # the last full months (first days, ISO)
    types: tuple[str, ...]  # the most requested types
    hot_start: str
    hot_end: str
    ids: tuple[str, ...]  # public request ids


def subjects(ctx: BenchContext) -> Subjects:
    from callbacks import hotspots as hot_cb
    from dashboard.queries import CaseFilter, ReadModel

    assert ctx.store_settings is not None
    model = ReadModel(ctx.store_settings.snapshot_dir)
    last = model.options()["max_date"]
    month = last.replace(day=1)
    months = []
    for _ in range(3):
        month = (month - timedelta(days=1)).replace(day=1)
        months.append(month.isoformat())
    by_dept = model.counts(CaseFilter(), by=("department",), period=None)
    code = str(by_dept.sort_values("count", ascending=False)["department"].iloc[0])
    by_type = model.counts(CaseFilter(), by=("type",), period=None)
    types = [str(t) for t in by_type.sort_values("count", ascending=False)["type"].head(3)]
    opened = hot_cb.page_options(model, None)
    ids = model.select(
        "SELECT request_id FROM {cases} WHERE {where} AND NOT is_private "
        "ORDER BY hash(request_id) LIMIT 50"
    )["request_id"]
    return Subjects(
        code=code,
        layer=LAYERS[ctx.format][0],
        months=tuple(months),
        types=tuple(types),
        hot_start=opened["start"],
        hot_end=opened["end"],
        ids=tuple(str(i) for i in ids),
    )


def build_mix(session: Any, base: str, s: Subjects) -> list[Action]:
    """Page loads and callbacks, with payloads built from the apps' own dependency lists."""
    from callbacks.public import map_search
    from layouts.department import Ids as D
    from layouts.hotspots import Ids as H
    from layouts.overview import Ids as O
    from layouts.public import Ids as P

    staff = session.get(f"{base}/_dash-dependencies", timeout=REQUEST_TIMEOUT_S).json()
    public = session.get(f"{base}/public/_dash-dependencies", timeout=REQUEST_TIMEOUT_S).json()
    overview = _pick(staff, f"{O.CHART}.figure")
    department = _pick(staff, f"{D.HEADING}.children")
    department_map = _pick(staff, f"{D.MAP}.figure")
    hotspots = _pick(staff, f"{H.MAP}.figure")
    route = _pick(public, f"{P.CONTENT}.children")
    public_map = _pick(public, f"{P.MAP_GRAPH}.figure")
    code = quote(s.code, safe="")
    actions: list[Action] = []
    for n, month in enumerate(s.months):
        query = f"?period=month&date={month}"
        period = {"kind": "month", "date": month}
        actions += [
            Action("page /", "GET", f"/{query}"),
            Action("page /department", "GET", f"/department/{code}{query}"),
            Action("page /hotspots", "GET", "/hotspots"),
            Action("dash layout", "GET", "/_dash-layout"),
            Action(
                "callback overview",
                "POST",
                "/_dash-update-component",
                payload(
                    overview,
                    {
                        f"{O.KIND}.value": period["kind"],
                        f"{O.DATE}.value": period["date"],
                        f"{O.DEPARTMENT}.value": [],
                        f"{O.STATE}.data": query,
                    },
                ),
            ),
        ]
        dept_values = {
            f"{D.KIND}.value": period["kind"],
            f"{D.DATE}.value": period["date"],
            f"{D.CODE}.data": s.code,
            f"{D.STATE}.data": query,
        }
        actions += [
            Action(
                "callback department",
                "POST",
                "/_dash-update-component",
                payload(department, dept_values),
            ),
            Action(
                "callback department map",
                "POST",
                "/_dash-update-component",
                payload(department_map, {**dept_values, f"{D.LAYER}.value": s.layer}),
            ),
            Action(
                "callback hotspots",
                "POST",
                "/_dash-update-component",
                payload(
                    hotspots,
                    {
                        f"{H.TYPE}.value": s.types[n % len(s.types)],
                        f"{H.DATES_START}.value": s.hot_start,
                        f"{H.DATES_END}.value": s.hot_end,
                        f"{H.RESOLUTION}.value": "auto",
                        f"{H.MODE}.value": "count",
                        f"{H.STEP}.value": "auto",
                        f"{H.VIEW}.value": "map",
                    },
                ),
            ),
        ]
    for n, view in enumerate(("area", "cell", "points")):
        # A shared link of the map: its settings are in the address, the callback's first input
        # (what a browser opening the link sends).
        type_ = [None, *s.types][n % (len(s.types) + 1)]
        search = map_search({"type": type_, "days": 30, "view": view})
        actions += [
            Action("page /public/", "GET", "/public/"),
            Action(
                "callback public map",
                "POST",
                "/public/_dash-update-component",
                payload(
                    public_map,
                    {
                        f"{P.MAP_URL}.search": search,
                        f"{P.MAP_DAYS}.value": "30",
                        f"{P.VIEWPORT}.data": 1200,
                    },
                ),
            ),
        ]
    for number in s.ids[:6]:
        path = f"/public/requests/{quote(number, safe='')}"
        actions += [
            Action("page /public/requests", "GET", path),
            Action(
                "callback public lookup",
                "POST",
                "/public/_dash-update-component",
                payload(route, {f"{P.URL}.pathname": path}),
            ),
            Action(
                "open311 request",
                "GET",
                f"/open311/v2/requests.json?service_request_id={quote(number, safe='')}",
            ),
        ]
    actions.append(Action("open311 services", "GET", "/open311/v2/services.json"))
    return actions


# -- the load -----------------------------------------------------------------------------------------
def send(session: Any, base: str, action: Action) -> Outcome:
    import requests

    started = time.perf_counter()
    try:
        if action.method == "GET":
            answer = session.get(base + action.path, timeout=REQUEST_TIMEOUT_S)
        else:
            answer = session.post(base + action.path, json=action.body, timeout=REQUEST_TIMEOUT_S)
        answer.content  # noqa: B018 - read the whole body inside the timing
        ok = 200 <= answer.status_code < 300
        detail = "" if ok else f"HTTP {answer.status_code} {answer.text[:200]!r}"
    except requests.RequestException as exc:
        ok, detail = False, f"{type(exc).__name__}: {exc}"
    ms = (time.perf_counter() - started) * 1000.0
    return Outcome(
        action.kind, ms, ok, f"{action.method} {action.path}: {detail}" if detail else ""
    )


def run_users(
    sessions: list[Any], base: str, actions: list[Action], seconds: float, seed: int
) -> tuple[list[Outcome], float]:
    """One thread per session, each going round the mix (from its own random start) until the
    time is up; returns every outcome and the elapsed seconds."""
    outcomes: list[Outcome] = []
    lock = threading.Lock()
    deadline = time.monotonic() + seconds

    def user(number: int, session: Any) -> None:
        order = list(actions)
        random.Random(seed + number).shuffle(order)
        mine = []
        for action in itertools.cycle(order):
            if time.monotonic() >= deadline:
                break
            mine.append(send(session, base, action))
        with lock:
            outcomes.extend(mine)

    started = time.monotonic()
    threads = [
        threading.Thread(target=user, args=(n, s), name=f"bench-user-{n}", daemon=True)
        for n, s in enumerate(sessions)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=seconds + REQUEST_TIMEOUT_S + 30)
    return outcomes, time.monotonic() - started


def serve_figures(ctx: BenchContext) -> list[Figure]:
    """gunicorn (2 workers) under ``ctx.concurrency_users`` users for ``ctx.concurrency_seconds``;
    the workers' peak RSS after the run."""
    import requests

    if ctx.concurrency_seconds <= 0:
        ctx.facts.setdefault("not_measured", []).append(
            {"figure": "concurrency and web worker RSS", "reason": "skipped (--no-serve)"}
        )
        return []
    if ctx.store_settings is None:
        raise RuntimeError("the concurrency figure needs the store the ingest figure builds")
    password = add_user(ctx)
    found = subjects(ctx)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log_path = ctx.workdir / "gunicorn.log"
    command = [
        sys.executable, "-m", "gunicorn", "--workers", str(WORKERS),
        "--bind", f"127.0.0.1:{port}", "--error-logfile", str(log_path), "app:server",
    ]  # fmt: skip
    ctx.say("starting %s", " ".join(command[2:]))
    proc = subprocess.Popen(
        command,
        cwd=ROOT,
        env=server_environment(ctx, secrets.token_hex(32)),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    sessions: list[Any] = []
    try:
        _wait_ready(base, proc, log_path)
        sessions = [requests.Session() for _ in range(ctx.concurrency_users)]
        # The users sign in at once, as many at a time as the workers take (each sign-in is an
        # argon2 hash check: one after another, 24 of them took about 6 s).
        with ThreadPoolExecutor(max_workers=WORKERS) as pool:
            list(pool.map(lambda session: sign_in(session, base, password), sessions))
        actions = build_mix(sessions[0], base, found)
        warm = [send(sessions[n % len(sessions)], base, a) for n in range(2) for a in actions]
        ctx.say(
            "%d users for %.0f s against %d workers (%d kinds of request)",
            len(sessions),
            ctx.concurrency_seconds,
            WORKERS,
            len({a.kind for a in actions}),
        )
        outcomes, elapsed = run_users(sessions, base, actions, ctx.concurrency_seconds, ctx.seed)
        workers = worker_pids(proc.pid)
        rss = {pid: peak_rss_mb(pid) for pid in workers}
        master_rss = peak_rss_mb(proc.pid)
    finally:
        for session in sessions:
            session.close()
        _stop(proc)
    if not outcomes:
        raise RuntimeError("the load generator sent no request")
    failures = [o for o in [*warm, *outcomes] if not o.ok]
    served = sum(o.ok for o in outcomes)
    ours = Measure([o.ms for o in outcomes])
    by_kind: dict[str, dict[str, Any]] = {}
    for kind in sorted({o.kind for o in outcomes}):
        ms = [o.ms for o in outcomes if o.kind == kind]
        by_kind[kind] = {
            "requests": len(ms),
            "errors": sum(not o.ok for o in outcomes if o.kind == kind),
            "p50_ms": round(float(np.percentile(ms, 50)), 1),
            "p95_ms": round(float(np.percentile(ms, 95)), 1),
        }
    peaks = [v for v in rss.values() if v is not None]
    peak = max(peaks) if peaks else None
    figure = Figure(
        name=f"concurrency: {WORKERS} gunicorn workers, {len(sessions)} users, "
        f"{ctx.concurrency_seconds:g} s",
        description="latency of every request of the mix (page loads, Dash callbacks, Open311) "
        "sent by simulated signed-in users to gunicorn app:server on 127.0.0.1",
        ours=ours,
        extra={
            "requests": len(outcomes),
            "served": served,
            "errors": len(failures),
            "warmup_requests": len(warm),
            "error_samples": [o.detail for o in failures[:5]],
            "seconds": round(elapsed, 1),
            "requests_per_s": round(len(outcomes) / elapsed, 1),
            "p50_ms": round(float(np.percentile(ours.runs_ms, 50)), 1),
            "by_kind": by_kind,
            "worker_peak_rss_mb": [rss[p] for p in workers],
            "master_peak_rss_mb": master_rss,
            "peak_rss_mb": peak,
            "command": " ".join(command[2:]),
            "mix": sorted(Counter(a.kind for a in actions).items()),
        },
    )
    figure.bars = [
        Bar("0 errors", f"{len(failures):,} errors of {len(outcomes) + len(warm):,}", not failures),
        Bar("p95 <= 1.5 s", f"{ours.p95_ms:,.0f} ms", ours.p95_ms <= MAX_P95_MS),
    ]
    if ctx.cases >= TEN_MILLION and peak is not None:
        figure.bars.append(
            Bar(
                "web worker peak RSS <= 600 MB at 10M", f"{peak:,.0f} MB", peak <= MAX_WORKER_RSS_MB
            )
        )
    return [figure]
