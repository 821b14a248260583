"""Benchmark: 50 trialists answering questions on the web pages at once, against PostgreSQL and
two server workers.

    python3 dev.py bench pages                           # 50 trialists, 60 s
    python3 dev.py bench pages -- --trialists 20 --seconds 30

A throw-away PostgreSQL cluster is started (dev.py's, unless IPDREPO_TEST_PG_URL names one),
a workspace on it with 10 trials, each with a delivery holding a date column and 5 trialists
with 20 date questions each (1,000 questions), then ``ipdrepo serve --workers 2``. Each
simulated trialist signs in through the sign-in form and, until the time is up, does what a
browser does for one answer: load the question page (thread, values now, answer form: the
delivery is read and the column rules inferred), post the answer form (checked by the workbook
import's check, recorded, redirected). When a trialist has answered all their questions they
answer them again (the answer is replaced), so every answer counts.

Printed: answers per second, latency of the answer post and of the question page (median,
p95), and the proof: every answer the server confirmed (303) is in the database exactly once
(each carries a unique comment), no answer is there that the client did not see confirmed,
and each question's current answer is the last one its trialist sent.

Reference measured in the same run: ``GET /api/v1/auth/me`` by the same 50 clients (a
signed-in request that reads one session and one user): the floor of any page.
"""

from __future__ import annotations

import argparse
import random
import re
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

PASSWORD = "correct horse battery staple"
TRIALS = 10


@dataclass
class Trialist:
    name: str
    trial: str
    queries: list[int]
    sent: list[tuple[int, str, str]] = field(default_factory=list)  # (query, value, comment)
    failed: list[str] = field(default_factory=list)
    post_ms: list[float] = field(default_factory=list)
    page_ms: list[float] = field(default_factory=list)
    me_ms: list[float] = field(default_factory=list)


def build(root: Path, url: str, n_trialists: int) -> tuple[object, list[Trialist]]:
    import pandas as pd

    from harmonise.queries.lifecycle import raise_query
    from repository.deliveries import ingest
    from repository.service import accounts
    from repository.trials import TrialSpec, add_trial, get_trial, parse_arm
    from repository.workspace import init_workspace
    from tests.service.world import World

    init_workspace(root / "ws", topic="bench-topic", database_url=url, actor="cur")
    world = World(workspace=root / "ws", database_url=url)
    store = world.store()
    per_trial = max(1, n_trialists // TRIALS)
    each = 20
    people: list[Trialist] = []
    try:
        with store.transaction() as session:
            topic = store.topic(session)
            for t in range(TRIALS):
                add_trial(session, topic, TrialSpec(
                    acronym=f"T-{t:02d}", title=f"Trial {t}",
                    arms=(parse_arm("1=A:1:10:0"), parse_arm("2=B:1:10:1"))), actor="cur")
        links = []
        for t in range(TRIALS):
            acronym = f"T-{t:02d}"
            n = per_trial * each
            ids = [f"P{t:02d}{i:04d}" for i in range(n)]
            frame = pd.DataFrame({"patid": ids, "arm": [1 + i % 2 for i in range(n)],
                                  "randdate": ["31/02/2020"] * n})
            path = root / f"{acronym}.csv"
            frame.to_csv(path, index=False)
            ingest(store, acronym, path, id_column="patid")
            pseudonyms = store.pseudonymiser("bench-topic").many(acronym, ids)
            with store.transaction() as session:
                topic = store.topic(session)
                trial = get_trial(session, topic, acronym)
                qids = []
                for i, p in enumerate(pseudonyms):
                    q = raise_query(session, topic, trial, question="randdate is not a date",
                                    actor="cur", participant=p, variable="randomisation_date",
                                    source_columns=["randdate"], rows=[i + 1])
                    q.raw_values = {"randdate": "31/02/2020"}
                    qids.append(q.id)
                for k in range(per_trial):
                    name = f"tri.{t:02d}.{k}"
                    links.append(accounts.invite(session, by="cur", name=name,
                                                 role="trialist", trial=trial, topic=topic.slug))
                    people.append(Trialist(name, acronym, qids[k * each:(k + 1) * each]))
        for link in links:
            with store.transaction() as session:
                accounts.redeem_link(session, link.token, password=PASSWORD)
    finally:
        store.close()
    return world, people[:n_trialists]


def _csrf(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, "no CSRF field"
    return found.group(1)


def run_trialist(person: Trialist, url: str, until: list[float], start: threading.Barrier,
                 counter: list[int], lock: threading.Lock) -> None:
    """Answer until ``until[0]`` (set by the main thread once everyone has signed in)."""
    import httpx

    rng = random.Random(person.name)
    with httpx.Client(base_url=url, timeout=120, headers={"Accept": "text/html"}) as client:
        form = client.get("/sign-in")  # everyone at once: the hash is checked off the pool
        done = client.post("/sign-in", data={"user": person.name, "password": PASSWORD,
                                             "csrf_token": _csrf(form.text)})
        if done.status_code != 303:
            person.failed.append(f"sign-in: {done.status_code}")
            start.wait()
            return
        start.wait()
        seq = 0
        while time.monotonic() < until[0]:
            qid = person.queries[seq % len(person.queries)]
            seq += 1
            t0 = time.perf_counter()
            page = client.get(f"/queries/{qid}")
            person.page_ms.append((time.perf_counter() - t0) * 1000)
            if page.status_code != 200:
                person.failed.append(f"page {qid}: {page.status_code}")
                continue
            version = re.search(r'name="version" value="(\d+)"', page.text)
            value = f"{1 + rng.randrange(28):02d}/{1 + rng.randrange(12):02d}/2020"
            comment = f"bench {person.name} #{seq}"
            t0 = time.perf_counter()
            got = client.post(f"/queries/{qid}/answer", data={
                "csrf_token": _csrf(page.text), "response": "typographical_error",
                "value": value, "comment": comment,
                "version": version.group(1) if version else ""})
            person.post_ms.append((time.perf_counter() - t0) * 1000)
            if got.status_code == 303:
                person.sent.append((qid, value, comment))
                with lock:
                    counter[0] += 1
            else:
                person.failed.append(f"answer {qid}: {got.status_code}")
        # the reference: the cheapest signed-in request, by the same clients, in the same run
        for _ in range(20):
            t0 = time.perf_counter()
            client.get("/api/v1/auth/me")
            person.me_ms.append((time.perf_counter() - t0) * 1000)


def proof(world: object, people: list[Trialist]) -> dict[str, int]:
    from sqlalchemy import select

    from repository.models import Query, QueryMessage

    store = world.store()  # type: ignore[attr-defined]
    try:
        with store.reading() as session:
            rows = session.execute(select(QueryMessage.query_id, QueryMessage.comment,
                                          QueryMessage.corrected_value)
                                   .where(QueryMessage.kind == "response")).all()
            last = {}
            answered = 0
            for q in session.scalars(select(Query)):
                answers = [m for m in q.messages if m.kind == "response"]
                if answers:
                    last[q.id] = answers[-1].comment
                answered += q.status == "answered"
    finally:
        store.close()
    stored = Counter(c for _, c, _ in rows)
    confirmed = {c for p in people for _, _, c in p.sent}
    expected_last = {}
    for p in people:
        for qid, _, comment in p.sent:
            expected_last[qid] = comment
    return {
        "confirmed": len(confirmed),
        "stored": sum(stored.values()),
        "lost": len(confirmed - set(stored)),
        "applied_twice": sum(1 for c, n in stored.items() if n > 1),
        "unconfirmed_in_store": len(set(stored) - confirmed),
        "wrong_current_answer": sum(1 for q, c in expected_last.items() if last.get(q) != c),
        "answered_questions": answered,
    }


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


@dataclass
class Run:
    """One timed run: answers confirmed, seconds, the load average (1/5/15 min) at start, end."""

    answers: int
    elapsed: float
    load_start: tuple[float, ...]
    load_end: tuple[float, ...]


def drive(url: str, people: list[Trialist], seconds: float) -> Run:
    """Every trialist signs in (all at once), then answers until ``seconds`` have passed."""
    import os

    counter, lock = [0], threading.Lock()
    start = threading.Barrier(len(people) + 1)
    until_box = [time.monotonic() + 10_000]  # the deadline is set once everyone signed in
    threads = [threading.Thread(target=run_trialist, args=(p, url, until_box, start, counter,
                                                           lock), daemon=True) for p in people]
    for th in threads:
        th.start()
    start.wait()
    began = time.monotonic()
    load_start = os.getloadavg()
    until_box[0] = began + seconds
    for th in threads:
        th.join()
    return Run(answers=counter[0], elapsed=min(time.monotonic() - began, seconds + 60),
               load_start=load_start, load_end=os.getloadavg())


def report(people: list[Trialist], run: Run, checked: dict[str, int], *, seconds: float,
           workers: int) -> bool:
    """Print the figures and the proof; whether no answer was lost or applied twice."""
    import os

    posts = [v for p in people for v in p.post_ms]
    pages = [v for p in people for v in p.page_ms]
    me = [v for p in people for v in p.me_ms]
    failed = [f for p in people for f in p.failed]
    print(f"{len(people)} trialists for {seconds:.0f} s, {workers} workers, PostgreSQL")
    print(f"answers confirmed: {run.answers} ({run.answers / seconds:.1f} answers/s; each = "
          "question page + answer post)")
    print(f"answer post  ms: median {statistics.median(posts):.0f}, p95 {pct(posts, .95):.0f}")
    print(f"question page ms: median {statistics.median(pages):.0f}, "
          f"p95 {pct(pages, .95):.0f}")
    print(f"reference GET /api/v1/auth/me ms: median {statistics.median(me):.0f}, "
          f"p95 {pct(me, .95):.0f} (answer post p95 = {pct(posts, .95) / pct(me, .95):.1f}x)")
    print(f"refused or failed requests: {len(failed)} {Counter(f.split(':')[1] for f in failed)}")
    print("proof: " + ", ".join(f"{k} {v}" for k, v in checked.items()))
    ok = (checked["lost"] == 0 and checked["applied_twice"] == 0
          and checked["unconfirmed_in_store"] == 0 and checked["wrong_current_answer"] == 0
          and checked["confirmed"] == run.answers)
    print("no answer lost or applied twice" if ok else "PROBLEM: see the proof line")
    print(f"(elapsed {run.elapsed:.0f} s; load average 1/5/15 min on {os.cpu_count()} cores: "
          f"start {'/'.join(f'{x:.1f}' for x in run.load_start)}, "
          f"end {'/'.join(f'{x:.1f}' for x in run.load_end)})")
    return ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--trialists", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()

    import os

    from tests.service.world import Server

    pg = None
    url = os.environ.get("IPDREPO_TEST_PG_URL")
    if not url:
        import dev

        pg = dev.Postgres()
        url = pg.start()
        if url is None:
            sys.exit("no PostgreSQL: install Debian's postgresql or set IPDREPO_TEST_PG_URL")
    try:
        with tempfile.TemporaryDirectory(prefix="ipdrepo-bench-pages-") as tmp:
            t0 = time.monotonic()
            world, people = build(Path(tmp), url, args.trialists)
            print(f"set up: {TRIALS} trials, {len(people)} trialists, "
                  f"{sum(len(p.queries) for p in people)} questions on PostgreSQL in "
                  f"{time.monotonic() - t0:.0f} s")
            server = Server(world, workers=args.workers)  # type: ignore[arg-type]
            try:
                run = drive(server.url, people, args.seconds)
            finally:
                server.stop()
            checked = proof(world, people)
    finally:
        if pg is not None:
            pg.stop()
    ok = report(people, run, checked, seconds=args.seconds, workers=args.workers)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
