#!/usr/bin/python3
"""Deterministic fuzzer for the input functions of session_analytics.

Every target mutates real inputs (the official OCPI examples, the PowerFlex
test exports, documents the server itself issued: state documents and
continuation tokens) and checks per case:

  * the server does not crash (the connection stays up; the server log is
    searched for 'terminated by signal' / PANIC at the end),
  * no SQLSTATE of class XX (internal error, data corrupted) or 58 (system
    error), no statement timeout, and a refusal uses one of the SQLSTATEs a
    caller can act on (class 22 or 23, P0002, 0A000, 55000),
  * error messages stay short (a hostile value is never echoed whole),
  * every accepted value round-trips (PUT -> GET returns the same document,
    imported rows read back, a resumed state names the same session ...).

Cases are derived from (seed, target, case number) only, so a failure is
reproduced with --seed S --target T --case N. Each case runs in its own
transaction, which is rolled back. session_stats input is fuzzed by
test/fuzz/fuzz_stats.py (its own owner); this file leaves it alone.

Usage: fuzz.py [--cases N] [--seed S] [--target T[,T...]] [--case N]
               [--server-log FILE] [--out DIR] [--tap]
Environment: FUZZ_CASES, FUZZ_SEED (defaults for --cases, --seed); libpq's
PGHOST, PGPORT, PGUSER, PGDATABASE for the connection. Needs psycopg2 and a
database with the extension installed; creates the login role fuzz_writer
(a session_analytics_writer mapped to every namespace) and runs as it.
"""

import argparse
import collections
import glob
import hashlib
import json
import os
import random
import re
import sys
import time

import psycopg2
import psycopg2.extensions

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.dirname(os.path.dirname(HERE))

# Refusals a caller can act on. Anything else is a finding.
OK_CLASSES = ("22", "23")
OK_CODES = {"P0002", "0A000", "55000"}
MESSAGE_LIMIT = 1000            # bytes of errmsg / errdetail / errhint


class Finding(Exception):
    """A property violated by one case."""


# --- JSON documents with the things json.dumps cannot write ----------------

class Raw:
    """A JSON token written verbatim (numbers at float limits, bad escapes)."""

    def __init__(self, text):
        self.text = text

    def __repr__(self):
        return "Raw(%r)" % self.text


class Dup:
    """An object written with its members in order, duplicates included."""

    def __init__(self, pairs):
        self.pairs = pairs


def dump(v):
    if isinstance(v, Raw):
        return v.text
    if isinstance(v, Dup):
        return "{" + ", ".join(json.dumps(k) + ": " + dump(x) for k, x in v.pairs) + "}"
    if isinstance(v, dict):
        return "{" + ", ".join(json.dumps(k, ensure_ascii=False) + ": " + dump(x) for k, x in v.items()) + "}"
    if isinstance(v, list):
        return "[" + ", ".join(dump(x) for x in v) + "]"
    return json.dumps(v, ensure_ascii=False)


def has_raw(v):
    if isinstance(v, (Raw, Dup)):
        return True
    if isinstance(v, dict):
        return any(has_raw(x) for x in v.values())
    if isinstance(v, list):
        return any(has_raw(x) for x in v)
    return False


# --- hostile values ---------------------------------------------------------

NUMBERS = ["1e308", "-1e308", "1.7976931348623157e308", "1e309", "1e-400", "-1e-400", "-0", "0e0",
           "-0.0", "4.9e-324", "123456789012345678901234567890.123456789", "1e1000", "-1",
           "0.00000000000000000000000000001", "2147483648", "-9223372036854775809",
           "18446744073709551616", "1" + "0" * 400, "0." + "0" * 300 + "1"]
DATES = ["0000-01-01T00:00:00Z", "0001-01-01T00:00:00Z", "9999-12-31T23:59:59Z", "9999-12-31T23:59:59.999999999Z",
         "2024-02-29T00:00:00Z", "2023-02-29T00:00:00Z", "2016-12-31T23:59:60Z", "2024-01-01T24:00:00Z",
         "2024-13-01T00:00:00Z", "2024-01-01t00:00:00z", "2024-01-01T00:00:00+00:00", "2024-01-01T00:00:00.Z",
         "2024-01-01T00:00:00." + "9" * 100 + "Z", "2024-01-01", "294277-01-01T00:00:00Z",
         "-4713-11-24T00:00:00Z", "infinity", "-infinity", "now", "epoch", "", "1e308",
         "2024-01-01 00:00:00", "\u0662\u0660\u0662\u0664-01-01T00:00:00Z", "2024-01-01T00:00:00Z\u0000"]
STRINGS = ["", " ", "\t", "\u0085", "\u200f\u202e", "\ufeff", "é", "€" * 37, "😀" * 20, "a" * 37, "A" * 256,
           "'; DROP TABLE sessions.store; --", "%s%n%x", "\\", "\"", "null", "NaN", "Infinity",
           "<script>", "\U0010ffff", "ACTIVE ", "active", "RFID\u0000"]
BAD_ESCAPES = ['"\\ud800"', '"\\udc00"', '"\\ud800\\u0041"', '"\\u0000"', '"a\\u0000b"', '"\\uDFFF\\uD800"',
               '"\\u00"', '"\\x41"', '"\u0001"', '"\\u0085"']
KEYS = ["", " ", "a.b", "x y", "\"", "\\", "é", "€" * 70, "k" * 10000, "id ", "ID", "Id", "\u0085",
        "charging_periods", "last_updated", "kwh", "__proto__", "$ref", "doc", "0"]


def repeat(x, n, budget=2000000):
    """[x] * n, with n cut so the list stays under budget bytes of JSON."""
    return [x] * min(n, max(1, budget // (len(dump(x)) + 2)))


class Gen:
    """Random choices of one case, seeded by (seed, target, case number)."""

    def __init__(self, seed, target, case):
        h = hashlib.sha256(("%s/%s/%d" % (seed, target, case)).encode()).hexdigest()
        self.r = random.Random(int(h[:16], 16))

    def __getattr__(self, name):
        return getattr(self.r, name)

    def big(self):
        """A big size: mostly moderate, sometimes 10k or 100k."""
        return self.r.choice([100, 1000, 5000, 10000, 10000, 100000])

    def string(self):
        c = self.r.random()
        if c < 0.5:
            return self.r.choice(STRINGS)
        if c < 0.7:
            return self.r.choice("aZ9€é-_ ") * self.big()
        if c < 0.85:
            return "".join(chr(self.r.choice([self.r.randrange(0x20, 0x7f), self.r.randrange(0x80, 0xd7ff),
                                               self.r.randrange(0xe000, 0x10ffff), self.r.randrange(1, 0x20)]))
                           for _ in range(self.r.randrange(1, 80)))
        return self.r.choice(DATES)

    def scalar(self):
        c = self.r.random()
        if c < 0.3:
            return Raw(self.r.choice(NUMBERS))
        if c < 0.5:
            return Raw(self.r.choice(BAD_ESCAPES))
        if c < 0.8:
            return self.string()
        return self.r.choice([None, True, False, 0, 1, -1, 0.5, 36, 2 ** 31, 2 ** 63])

    def deep(self):
        """Deep nesting, written as text (no recursion on this side)."""
        d = self.r.choice([10, 100, 1000, 2000])
        inner = self.r.choice(["1", '"x"', "null"])
        if self.r.random() < 0.5:
            return Raw("[" * d + inner + "]" * d)
        return Raw('{"a": ' * d + inner + "}" * d)

    def value(self):
        """Any hostile JSON value."""
        c = self.r.random()
        if c < 0.55:
            return self.scalar()
        if c < 0.65:
            return self.deep()
        if c < 0.75:
            return repeat(self.scalar(), self.r.choice([0, 1, 10, 10000]))
        if c < 0.85:
            return {self.key(): self.scalar() for _ in range(self.r.randrange(0, 4))}
        if c < 0.92:
            return Dup([("a", 1), ("a", self.scalar())])
        return self.r.choice([{}, [], [[]], [{}], {"": {}}])

    def pick(self, valid, hostile, p=0.85):
        """A valid value with probability p, else one of the hostile ones."""
        return valid if self.r.random() < p else self.r.choice(hostile)

    def key(self):
        return self.r.choice(KEYS) if self.r.random() < 0.8 else self.string()[:100]

    def timestamp(self):
        return self.r.choice(["-infinity", "infinity", "4714-11-24 00:00+00 BC", "294276-12-31 23:59:59+00",
                              "1970-01-01 00:00+00", "2000-01-01 00:00+00", "2026-01-01 00:00+00", None,
                              "2024-02-29 12:00+00", "0001-01-01 00:00+00"])

    def interval(self):
        return self.r.choice(["0", "-1 second", "1 microsecond", "12 hours", "178000000 years", "-178000000 years",
                              "14 hours", "14 hours 1 second", "-14 hours", "1 month", None, "2147483647 days"])


def paths(v, prefix=()):
    """Every path into a document (the root included)."""
    yield prefix
    if isinstance(v, dict):
        for k, x in v.items():
            yield from paths(x, prefix + (k,))
    elif isinstance(v, list):
        for i, x in enumerate(v[:20]):
            yield from paths(x, prefix + (i,))


def get_at(v, path):
    for p in path:
        v = v[p]
    return v


def set_at(v, path, x):
    if not path:
        return x
    get_at(v, path[:-1])[path[-1]] = x
    return v


def mutate(g, doc, n=None):
    """Apply 1-3 hostile edits to a copy of doc."""
    doc = json.loads(json.dumps(doc))
    for _ in range(n or g.choice([1, 1, 1, 2, 3])):
        ps = [p for p in paths(doc)]
        p = g.choice(ps)
        cur = get_at(doc, p) if p else doc
        op = g.random()
        if op < 0.35:
            doc = set_at(doc, p, g.value())
        elif op < 0.5 and p and isinstance(get_at(doc, p[:-1]), dict):
            del get_at(doc, p[:-1])[p[-1]]
        elif op < 0.62 and isinstance(cur, dict):
            cur[g.key()] = g.value()
        elif op < 0.7 and isinstance(cur, list):
            cur.extend(repeat(cur[0] if cur else g.scalar(), g.choice([1, 100, 10000])))
            break                   # the copies share cur[0]: no edits below it
        elif op < 0.78 and isinstance(cur, dict) and cur:
            k = g.choice(list(cur))
            pairs = list(cur.items()) + [(k, g.value())]
            if g.random() < 0.5:
                pairs.reverse()
            doc = set_at(doc, p, Dup(pairs))
            break                   # a Dup is not walked further
        elif op < 0.86:
            doc = set_at(doc, p, g.choice(DATES))
        elif op < 0.93:
            doc = set_at(doc, p, Raw(g.choice(NUMBERS)))
        else:
            doc = set_at(doc, p, g.string())
        if has_raw(doc):
            break                   # Raw and Dup are leaves from here on
    return doc


# --- seeds ------------------------------------------------------------------

def load_json_files(pattern):
    out = []
    for f in sorted(glob.glob(pattern)):
        with open(f, encoding="utf-8") as fh:
            out.append((os.path.relpath(f, SRC), json.load(fh)))
    return out


def seed_docs():
    """The official OCPI examples (both copies), the PowerFlex test exports
    and JSON blocks of the shared seed texts."""
    roots = [os.path.join(SRC, "test/data/ocpi"), "/work/shared/conformance/ocpi"]
    sessions, patches = [], []
    seen = set()
    for root in roots:
        for name, doc in load_json_files(os.path.join(root, "*/*.json")):
            version = "2.3.0" if "/2.3.0/" in name else "2.2.1"
            key = json.dumps(doc, sort_keys=True) + version
            if key in seen:
                continue
            seen.add(key)
            if "patch" in name:
                patches.append(doc)
            else:
                if version == "2.2.1" and "country_code" not in doc["cdr_token"]:
                    # the 2.2.1 examples predate cdr_token.country_code/party_id
                    doc["cdr_token"].update(country_code=doc["country_code"], party_id="TST")
                sessions.append((version, doc))
    powerflex = [doc for _, doc in load_json_files(os.path.join(SRC, "test/cli/data/powerflex_*.json"))]
    extra = []
    for f in sorted(glob.glob("/work/shared/seeds/*.txt")):
        text = open(f, encoding="utf-8", errors="replace").read()
        for block in re.findall(r"```json\n(.*?)```", text, re.S):
            try:
                extra.append(json.loads(block))
            except ValueError:
                pass
    return sessions, patches, powerflex, extra


# --- the database -----------------------------------------------------------

class Db:
    def __init__(self, args):
        self.args = args
        self.connect()

    def connect(self):
        deadline = time.time() + 60
        while True:
            try:
                self.conn = psycopg2.connect("", application_name="fuzz")
                break
            except psycopg2.OperationalError:
                if time.time() > deadline:
                    raise
                time.sleep(0.5)   # the server restarts after a crash
        self.conn.autocommit = True
        cur = self.conn.cursor()
        cur.execute("SELECT 1 FROM pg_roles WHERE rolname = 'fuzz_writer'")
        if not cur.fetchone():
            cur.execute("CREATE ROLE fuzz_writer LOGIN IN ROLE session_analytics_writer")
        cur.execute("INSERT INTO sessions.role_namespace VALUES ('fuzz_writer', '*') ON CONFLICT DO NOTHING")
        # refusals are the normal outcome here: keep them (and their
        # statements, up to megabytes each) out of the server log
        try:
            cur.execute("SET log_min_messages = fatal")
            cur.execute("SET log_min_error_statement = panic")
        except psycopg2.Error:
            pass                # not a superuser: the log gets them, no harm
        cur.execute("SET ROLE fuzz_writer")
        cur.execute("SET statement_timeout = '20s'")
        cur.execute("SET client_min_messages = warning")
        self.conn.autocommit = False

    def alive(self):
        try:
            c = self.conn.cursor()
            c.execute("SELECT 1")
            c.fetchone()
            return True
        except psycopg2.Error:
            return False


class Case:
    """One case: statements run in order; the first error ends it."""

    def __init__(self, db, log):
        self.db = db
        self.cur = db.conn.cursor()
        self.log = log          # (sql, params) of every statement, for the reproducer

    def q(self, sql, params=()):
        # text cannot hold NUL: such arguments are sent without it
        params = tuple(p.replace("\x00", "") if isinstance(p, str) else p for p in params) or None
        self.log.append(self.cur.mogrify(sql, params).decode("utf-8", "replace"))
        self.cur.execute(sql, params)
        return self.cur.fetchall() if self.cur.description else None

    def one(self, sql, params=()):
        rows = self.q(sql, params)
        return rows[0][0] if rows else None

    def expect(self, cond, what):
        if not cond:
            raise Finding(what)


class Refused(Exception):
    def __init__(self, err):
        self.err = err


def classify(err):
    """None for an acceptable refusal, else what is wrong with it."""
    code = err.pgcode
    if code is None:
        return "connection lost (server crash?): %s" % str(err).strip()[:300]
    if code[:2] in ("XX", "58"):
        return "internal error SQLSTATE %s" % code
    if code == "57014":
        return "statement timeout (SQLSTATE 57014)"
    if code[:2] not in OK_CLASSES and code not in OK_CODES:
        return "unexpected SQLSTATE %s" % code
    d = err.diag
    for part, text in (("message", d.message_primary), ("detail", d.message_detail), ("hint", d.message_hint)):
        if text and len(text.encode()) > MESSAGE_LIMIT:
            return "error %s is %d bytes (the limit is %d): an input is echoed unbounded" % (
                part, len(text.encode()), MESSAGE_LIMIT)
    return None


# --- targets ----------------------------------------------------------------
# Each target is (generate(g, seeds) -> case arguments, run(case, args)).
# run() returns normally when the call was accepted and round-tripped, or
# raises psycopg2.Error (a refusal, judged by classify) or Finding.

def jtext(v):
    return dump(v)


def ocpi_keys(doc):
    def s(k, default):
        v = doc.get(k) if isinstance(doc, dict) else None
        return v if isinstance(v, str) else default
    return s("country_code", "NL"), s("party_id", "TNM"), s("id", "fuzz-1")


def gen_session(g, seeds):
    version, base = g.choice(seeds["sessions"])
    doc = mutate(g, base) if g.random() < 0.95 else json.loads(json.dumps(base))
    if g.random() < 0.05:
        doc = g.choice(seeds["extra"] or [{}])
    return {"version": version if g.random() < 0.97 else g.choice(["2.2", "3.0", "", "2.2.1 ", "9" * 5000]),
            "doc": doc, "as_text": g.random() < 0.5}


def refusal(c, sql, params):
    """None when the statement succeeds, else its (acceptable) refusal."""
    c.q("SAVEPOINT o")
    try:
        c.one(sql, params)
        c.q("RELEASE SAVEPOINT o")
        return None
    except psycopg2.Error as e:
        if classify(e):
            raise
        c.q("ROLLBACK TO SAVEPOINT o")
        return e


def problem_count(e):
    m = re.search(r"\. (\d+) problems?: ", e.diag.message_detail or "")
    return int(m.group(1)) if m else None


def run_ocpi_validate(c, a):
    text = jtext(a["doc"])
    # the sender's text (problems in its member order) and jsonb must agree
    # on validity and on the number of problems; only their order differs
    et = refusal(c, "SELECT sessions.ocpi_validate(%s::text, %s)", (text, a["version"]))
    ej = refusal(c, "SELECT sessions.ocpi_validate(%s::jsonb, %s)", (text, a["version"]))
    c.expect((et is None) == (ej is None),
             "ocpi_validate of the text and of the jsonb disagree: %s / %s"
             % (et.pgcode if et else "valid", ej.pgcode if ej else "valid"))
    if ej is not None:
        c.expect(problem_count(et) == problem_count(ej),
                 "text and jsonb count different problems: %r / %r" % (problem_count(et), problem_count(ej)))
        raise ej
    r = c.one("SELECT sessions.ocpi_validate(%s::jsonb, %s)", (text, a["version"]))
    c.expect(r is True, "ocpi_validate returned %r instead of true or an error" % r)


def run_ocpi_put(c, a):
    doc = a["doc"]
    cc, pid, sid = ocpi_keys(doc) if isinstance(doc, dict) else ("NL", "TNM", "x")
    text = jtext(doc)
    # validate first: PUT must accept exactly what validation accepts, apart
    # from the request keys and the float8 range of kwh
    c.q("SAVEPOINT v")
    try:
        c.one("SELECT sessions.ocpi_validate(%s::jsonb, %s)", (text, a["version"]))
        valid = True
    except psycopg2.Error as e:
        bad = classify(e)
        if bad:
            raise
        c.q("ROLLBACK TO SAVEPOINT v")
        valid = False
    # the sender's text or jsonb: the same outcome
    r = c.one("SELECT sessions.ocpi_put(%%s, %%s, %%s, %%s::%s, %%s) = %%s::jsonb" % ("text" if a.get("as_text") else "jsonb"),
              (cc, pid, sid, text, a["version"], text))
    c.expect(valid, "ocpi_put accepted a document ocpi_validate refuses")
    c.expect(r is True, "ocpi_put did not return the document it was given")
    got = c.one("SELECT sessions.ocpi_get(%s, %s, %s) = %s::jsonb", (cc, pid, sid, text))
    c.expect(got is True, "ocpi_get does not return the document ocpi_put accepted")
    row = c.one("""SELECT (namespace = upper(%s) || '-' || upper(%s)
                           AND external_id = upper(%s) AND status = d->>'status'
                           AND kwh = (d->>'kwh')::float8 AND site = d->>'location_id'
                           AND started_at IS NOT NULL AND last_updated IS NOT NULL)
                     FROM sessions.store, (SELECT %s::jsonb AS d) x
                    WHERE kind = 'ocpi' AND doc = x.d""", (cc, pid, sid, text))
    c.expect(row is True, "the typed columns do not match the accepted document")


def gen_patch(g, seeds):
    version, base = g.choice([s for s in seeds["sessions"] if s[1].get("status") != "COMPLETED"] or seeds["sessions"])
    patch = json.loads(json.dumps(g.choice(seeds["patches"])))
    patch = mutate(g, patch) if g.random() < 0.9 else patch
    if g.random() < 0.1:
        patch = mutate(g, json.loads(json.dumps(base)))
    keys = list(ocpi_keys(base))
    if g.random() < 0.1:
        keys[g.randrange(3)] = g.string()
    return {"version": version, "base": base, "patch": patch, "keys": keys}


def run_ocpi_patch(c, a):
    base = jtext(a["base"])
    cc, pid, sid = ocpi_keys(a["base"])
    c.q("SELECT sessions.ocpi_put(%s, %s, %s, %s::jsonb, %s)", (cc, pid, sid, base, a["version"]))
    ptext = jtext(a["patch"])
    kc, kp, ks = a["keys"]
    res = c.one("SELECT sessions.ocpi_patch(%s, %s, %s, %s::jsonb)::text", (kc, kp, ks, ptext))
    c.expect((kc.upper(), kp.upper(), ks.upper()) == (cc.upper(), pid.upper(), sid.upper()),
             "ocpi_patch found a session under other keys")
    ok = c.one("SELECT sessions.ocpi_get(%s, %s, %s) = %s::jsonb", (cc, pid, sid, res))
    c.expect(ok is True, "ocpi_get does not return what ocpi_patch returned")
    # members other than charging_periods replace the stored ones; periods append
    ok = c.one("""SELECT bool_and(CASE WHEN p.key = 'charging_periods' THEN true ELSE r.v -> p.key = p.value END)
                    FROM jsonb_each(%s::jsonb) p, (SELECT %s::jsonb AS v) r""", (ptext, res))
    c.expect(ok is not False, "a PATCH member is not in the result as sent")
    n = c.one("""SELECT COALESCE(jsonb_array_length(CASE WHEN jsonb_typeof(%s::jsonb -> 'charging_periods') = 'array'
                                                       THEN %s::jsonb -> 'charging_periods' END), 0)
                      + COALESCE(jsonb_array_length(CASE WHEN jsonb_typeof(%s::jsonb -> 'charging_periods') = 'array'
                                                       THEN %s::jsonb -> 'charging_periods' END), 0)
                      = COALESCE(jsonb_array_length(%s::jsonb -> 'charging_periods'), 0)""",
              (base, base, ptext, ptext, res))
    c.expect(n is True, "charging_periods of the result are not the stored ones plus the patch's")


PREFS = [{"profile_type": "REGULAR"}, {"profile_type": "FAST", "discharge_allowed": False},
         {"profile_type": "CHEAP", "departure_time": "2030-01-01T10:00:00Z", "energy_need": 20},
         {"profile_type": "GREEN", "departure_time": "2030-01-01T10:00:00", "energy_need": 0, "x": 1}]


def gen_prefs(g, seeds):
    p = mutate(g, g.choice(PREFS)) if g.random() < 0.9 else g.value()
    return {"prefs": p, "base": g.choice([s for s in seeds["sessions"] if s[1].get("status") == "ACTIVE"]
                                          or seeds["sessions"])}


def run_prefs_validate(c, a):
    r = c.one("SELECT sessions.ocpi_validate_charging_preferences(%s::jsonb)", (jtext(a["prefs"]),))
    c.expect(r is True, "ocpi_validate_charging_preferences returned %r" % r)


def run_prefs_put(c, a):
    version, base = a["base"]
    cc, pid, sid = ocpi_keys(base)
    c.q("SELECT sessions.ocpi_put(%s, %s, %s, %s::jsonb, %s)", (cc, pid, sid, jtext(base), version))
    text = jtext(a["prefs"])
    r = c.one("SELECT sessions.ocpi_put_charging_preferences(%s, %s, %s, %s::jsonb)", (cc, pid, sid, text))
    c.expect(r in ("ACCEPTED", "NOT_POSSIBLE", "PROFILE_TYPE_NOT_SUPPORTED", "DEPARTURE_REQUIRED",
                   "ENERGY_NEED_REQUIRED"), "unknown ChargingPreferencesResponse %r" % r)
    n = c.one("SELECT count(*) FROM sessions.ocpi_charging_preferences WHERE preferences = %s::jsonb", (text,))
    c.expect(n == (1 if r == "ACCEPTED" else 0), "%s but %d rows stored with the preferences" % (r, n))


def gen_powerflex(g, seeds):
    base = json.loads(json.dumps(g.choice(seeds["powerflex"])))
    rows = base["rows"] if isinstance(base, dict) else base
    rows = [r for r in rows if isinstance(r, dict)][:g.choice([1, 3, 10])] or [{"session_id": "x"}]
    template = json.loads(json.dumps(rows[0]))
    out = []
    for i, r in enumerate(rows):
        r = json.loads(json.dumps(r))
        r["session_id"] = "fz-%d" % i if isinstance(r.get("session_id"), str) else r.get("session_id")
        out.append(mutate(g, r) if g.random() < 0.6 else r)
    c = g.random()
    if c < 0.1:
        for f in ("session_kwh", "session_start_time", "session_end_time", "updated_at", "site", "user", "status"):
            t = json.loads(json.dumps(template))
            t["session_id"] = "edge-" + f
            t[f] = g.choice([Raw(g.choice(NUMBERS)), g.choice(DATES), g.string(), "x" * 3200, None, [], {}])
            out.append(t)
    elif c < 0.15:
        out.append(g.value())
    if g.random() < 0.05:
        out = out * min(g.choice([2, 300]), max(1, 2000000 // (len(dump(out)) + 2)))   # duplicates, a large export
    doc = out if g.random() < 0.5 else {"rows": out, "total_count": len(out), "page": g.choice([1, 0, -1, Raw("1e308")]),
                                        "limit": g.choice([50, Raw("1e-400"), "x"])}
    if g.random() < 0.05:
        doc = mutate(g, {"rows": [template]})
    site = None if g.random() < 0.8 else g.choice(["Depot", "", " ", "x" * 3200, g.string()])
    return {"doc": doc, "site": site}


def run_powerflex(c, a):
    text = jtext(a["doc"])
    c.q("DELETE FROM sessions.import_rejects")
    shape = c.one("""SELECT CASE WHEN jsonb_typeof(d) = 'array' THEN jsonb_array_length(d)
                                 WHEN jsonb_typeof(d -> 'rows') = 'array' THEN jsonb_array_length(d -> 'rows') END
                       FROM (SELECT %s::jsonb AS d) x""", (text,))
    try:
        imp, upd, skip = c.q("SELECT * FROM sessions.import_powerflex(%s::jsonb, %s)", (text, a["site"]))[0]
    except psycopg2.Error as e:
        if shape is not None and classify(e) is None and e.pgcode != "22004" and \
                not (a["site"] is not None and (a["site"].strip() == "" or len(a["site"].encode()) > 1000)):
            raise Finding("one bad row aborted the whole import (SQLSTATE %s: %s) instead of being skipped"
                          % (e.pgcode, (e.diag.message_primary or "")[:200]))
        raise
    c.expect(shape is not None, "import_powerflex accepted a document that is not an export")
    c.expect(imp + upd + skip == shape, "imported %d + updated %d + skipped %d != %d rows" % (imp, upd, skip, shape))
    n = c.one("SELECT count(*) FROM sessions.import_rejects")
    c.expect(n == skip, "%d skipped but %d rows in import_rejects" % (skip, n))
    # every row read back: in the store with its document, or among the rejects
    missing = c.one("""SELECT count(*) FROM (SELECT %s::jsonb AS d) x,
                             jsonb_array_elements(CASE WHEN jsonb_typeof(d) = 'array' THEN d ELSE d -> 'rows' END) e(r)
                        WHERE NOT EXISTS (SELECT 1 FROM sessions.store s WHERE s.kind = 'powerflex' AND s.doc = e.r)
                          AND NOT EXISTS (SELECT 1 FROM sessions.import_rejects j WHERE j.row_doc = e.r)""", (text,))
    c.expect(missing == 0, "%d rows neither stored nor rejected" % missing)
    bad = c.q("""SELECT s.external_id, s.kwh, s.started_at::text, s.ended_at::text, s.last_updated::text
                   FROM sessions.store s
                  WHERE s.kind = 'powerflex' AND (s.external_id LIKE 'fz-%%' OR s.external_id LIKE 'edge-%%')
                    AND NOT (s.kwh = (s.doc ->> 'session_kwh')::float8
                             AND s.external_id = s.doc ->> 'session_id'
                             AND s.started_at BETWEEN '1970-01-01' AND '10000-01-01'
                             AND s.last_updated BETWEEN '1970-01-01' AND '10000-01-01'
                             AND s.ended_at IS NOT DISTINCT FROM
                                 CASE WHEN jsonb_typeof(s.doc -> 'session_end_time') IN ('number', 'string')
                                      THEN to_timestamp((s.doc ->> 'session_end_time')::numeric / 1000) END)
                  LIMIT 1""")
    c.expect(not bad, "an imported row does not read back as sent (id, kWh, start, end, updated): %r" % (bad[0],)
             if bad else "")


def gen_list(g, seeds):
    return {"type": g.pick("online", ["batch", "Online", "", g.string()[:50], None]),
            "statuses": g.pick(None, [[100], [100, 150, 200], [], [0], [-1], [2 ** 31 - 1], [None], [100] * 1000], 0.5),
            "from": g.pick(None, [g.timestamp()], 0.6), "to": g.pick(None, [g.timestamp()], 0.6),
            "page_size": g.pick(g.choice([1, 2, 10]), [1000, 0, -1, 1001, 2 ** 31 - 1, None]),
            "mutation": g.randrange(1000), "n_open": g.choice([0, 3, 5])}


def mutate_token(g, tok):
    """A mangled continuation token, and whether it still means the same."""
    c = g.random()
    if c < 0.2:
        i = g.randrange(len(tok))
        ch = g.choice("AZaz09-_.=+/ \u00e9")
        return tok[:i] + ch + tok[i + 1:], tok[i] == ch
    if c < 0.3:
        return tok[:g.randrange(len(tok))], False
    if c < 0.4:
        return tok + g.choice([".", "x", "=", ".x", "\u0000"[:0] + "é"]), False
    if c < 0.5:
        return tok.split(".")[0], False
    if c < 0.6:
        return "." + tok.split(".")[1] if "." in tok else tok + ".", False
    if c < 0.7:
        return g.string()[:5000], False
    if c < 0.8:
        import base64
        body = g.choice([b"\xff\xfe", b"{}", b'{"v":1}', b"null", b"[" * 5000, b'{"v":"1","c":"1e400","k":"x"}',
                         b'{"v":1,"c":"-9223372036854775808","k":"00000000-0000-0000-0000-000000000000"}'])
        return base64.urlsafe_b64encode(body).decode().rstrip("=") + "." + tok.split(".")[-1], False
    if c < 0.9:
        return tok * g.choice([2, 100]), False
    return tok.swapcase(), tok.swapcase() == tok


def run_list(c, a):
    for _ in range(a["n_open"]):
        c.q("SELECT sessions.open_session('online')")
    args = (a["type"], a["statuses"], a["from"], a["to"], a["page_size"])
    rows = c.q("SELECT items::text, continuation FROM sessions.list_sessions(%s, %s::int[], %s, %s, %s, NULL)", args)
    items, token = rows[0]
    seen = [x["reference"] for x in json.loads(items)]
    g = random.Random(a["mutation"])
    pages = 0
    while token and pages < 20:
        pages += 1
        bad, same = mutate_token(Gen(a["mutation"], "tok", pages), token)
        if not same:
            c.q("SAVEPOINT t")
            try:
                r = c.q("SELECT items::text FROM sessions.list_sessions(%s, %s::int[], %s, %s, %s, %s)", args + (bad,))
                raise Finding("a mangled continuation token was accepted: ...%r (issued ...%r, %d and %d bytes)"
                              % (bad[-70:], token[-70:], len(bad), len(token)))
            except psycopg2.Error as e:
                if classify(e):
                    raise
                c.q("ROLLBACK TO SAVEPOINT t")
        # the same token with other filters must be refused too
        if a["type"] in ("online", "batch") and g.random() < 0.3:
            other = ("batch" if a["type"] == "online" else "online",) + args[1:]
            c.q("SAVEPOINT u")
            try:
                c.q("SELECT 1 FROM sessions.list_sessions(%s, %s::int[], %s, %s, %s, %s)", other + (token,))
                raise Finding("a continuation token was accepted for another query (type %s)" % other[0])
            except psycopg2.Error as e:
                if classify(e):
                    raise
                c.q("ROLLBACK TO SAVEPOINT u")
        items, token = c.q("SELECT items::text, continuation FROM sessions.list_sessions(%s, %s::int[], %s, %s, %s, %s)",
                           args + (token,))[0]
        seen += [x["reference"] for x in json.loads(items)]
    if not token:
        want = c.one("""SELECT count(*) FROM sessions.invoice_sessions v
                         WHERE v.type = %s AND (%s::int[] IS NULL OR v.code = ANY (%s::int[]))
                           AND v.date_created >= coalesce(%s::timestamptz, '-infinity')
                           AND v.date_created < coalesce(%s::timestamptz, 'infinity')""",
                     (a["type"], a["statuses"], a["statuses"], a["from"], a["to"]))
        c.expect(len(seen) == len(set(seen)) == want,
                 "paging returned %d items (%d distinct), %d match" % (len(seen), len(set(seen)), want))


def gen_resume(g, seeds):
    return {"field": g.choice(["format_version", "reference", "type", "session_key", "date_created",
                               "valid_until", "signature", None, "+extra", "-drop"]),
            "value": g.value(), "n": g.randrange(1 << 30)}


def run_resume(c, a):
    ref = c.one("SELECT sessions.open_session('online')")
    state = json.loads(c.one("SELECT sessions.session_state(%s)::text", (ref,)))
    f, v = a["field"], a["value"]
    if f is None:
        doc = state
    elif f == "+extra":
        doc = dict(state)
        doc[Gen(a["n"], "k", 0).key()] = v
    elif f == "-drop":
        doc = dict(state)
        del doc[random.Random(a["n"]).choice(sorted(doc))]
    else:
        doc = dict(state)
        doc[f] = v
    text = jtext(doc)
    res = c.one("SELECT sessions.resume_session(%s::jsonb)::text", (text,))
    # accepted: the document must name the same session with the same fields
    same = c.one("""SELECT d ->> 'reference' = s ->> 'reference' AND d ->> 'type' = s ->> 'type'
                           AND (d ->> 'session_key')::uuid = (s ->> 'session_key')::uuid
                           AND (d ->> 'date_created')::timestamptz = (s ->> 'date_created')::timestamptz
                           AND (d ->> 'valid_until')::timestamptz = (s ->> 'valid_until')::timestamptz
                           AND d ->> 'format_version' = s ->> 'format_version' AND d ->> 'signature' = s ->> 'signature'
                           AND (SELECT count(*) FROM jsonb_object_keys(d)) = 7
                      FROM (SELECT %s::jsonb AS d, %s::jsonb AS s) x""", (text, json.dumps(state)))
    c.expect(same is True, "resume_session accepted an altered state document")
    st = c.one("SELECT sessions.session_status(%s)::text = %s::jsonb::text", (ref, res))
    c.expect(st is True, "resume_session does not return the session's status")


def gen_channel(g, seeds):
    ns = g.choice([None, g.string(), "NL-TNM", "nl_tnm", "a" * 40, "a" * 41, "a" * 200, "é" * 30,
                   "sessions_start", "x:y", "x#0123456789abcdef", g.string()[:70]])
    return {"event": g.pick(g.choice(["start", "stop", "update"]), ["START", "", "start ", g.string()[:30], None]),
            "ns": ns, "after": g.pick(0, [-1, 2 ** 63 - 1, 1, None]),
            "max_rows": g.pick(1000, [1, 0, 100000, 100001, None, -1])}


CHANNELS = {}


def run_channel(c, a):
    ch = c.one("SELECT sessions.channel_for(%s, %s)", (a["event"], a["ns"]))
    c.expect(ch is not None and 0 < len(ch.encode()) <= 63, "channel_for gave %r (not a 1-63 byte name)" % ch)
    again = c.one("SELECT sessions.channel_for(%s, %s) = %s", (a["event"], a["ns"], ch))
    c.expect(again is True, "channel_for is not deterministic")
    q = c.one("SELECT quote_ident(%s)", (ch,))
    c.q("LISTEN " + q)
    c.q("UNLISTEN " + q)
    key = (a["event"].lower(), a["ns"])
    prev = CHANNELS.setdefault(ch, key)
    c.expect(prev == key, "channel_for gives %r to both %r and %r" % (ch, prev, key))
    # a namespace spelled like this one's hashed channel must not share it
    if a["ns"] is not None and ":" in ch and "#" in ch and ch.split(":", 1)[1] != a["ns"]:
        forged = ch.split(":", 1)[1]
        other = c.one("SELECT sessions.channel_for(%s, %s)", (a["event"], forged))
        c.expect(other != ch, "namespace %r gets the channel of namespace %r (%s)" % (forged, a["ns"][:80], ch))
    c.q("SELECT count(*) FROM sessions.events_since(%s, %s, %s)", (a["after"], a["ns"], a["max_rows"]))


def gen_telemetry(g, seeds):
    details = g.choice([{}, {"a": "b"}, {"k" * 100: "v" * 1000}, {"x": "y" * 70000}]) if g.random() < 0.3 \
        else mutate(g, {"site": "Depot", "vin": "WVW"}) if g.random() < 0.5 else {"site": "Depot"}
    return {"ds": g.pick("ds-1", ["", " ", "x" * 3200, g.string()[:300], None]),
            "type": g.pick("Session", ["", "x" * 3000, g.string()[:100], None]),
            "version": g.pick(1, [0, -1, 2 ** 31 - 1, None]),
            "offset": g.pick("0", ["14 hours", "-14 hours", "14:00:01", "1 month", "-178000000 years", None]),
            "identifier": g.pick("id-1", ["", "x" * 100000, g.string(), None]),
            "details": details, "creation": g.pick("now", [g.timestamp()]),
            "valid_until": g.pick(None, [g.timestamp()]),
            "update": mutate(g, {"a": "c", "b": None}) if g.random() < 0.7 else g.value()}


def run_telemetry(c, a):
    key = c.one("SELECT sessions.create_session(%s, %s, %s, %s::interval, %s, %s::jsonb, '{}', %s::timestamptz, %s::timestamptz)",
                (a["ds"], a["type"], a["version"], a["offset"], a["identifier"], jtext(a["details"]),
                 a["creation"], a["valid_until"]))
    ok = c.one("""SELECT doc -> 'details' = %s::jsonb AND doc ->> 'identifier' = %s AND doc ->> 'type' = %s
                         AND namespace = %s
                    FROM sessions.store WHERE session_key = %s""",
               (jtext(a["details"]), a["identifier"], a["type"], a["ds"], key))
    c.expect(ok is True, "create_session does not store what it was given")
    info = c.one("SELECT sessions.session_info(%s) IS NOT NULL", (key,))
    c.expect(info is True, "session_info of a new session is NULL")
    if a["valid_until"] is not None:
        return              # may be expired already: update would be refused
    up = jtext(a["update"])
    c.q("SELECT sessions.update_session_details(%s, %s::jsonb)", (key, up))
    ok = c.one("""SELECT doc -> 'details' = jsonb_strip_nulls(%s::jsonb || %s::jsonb)
                    FROM sessions.store WHERE session_key = %s""", (jtext(a["details"]), up, key))
    c.expect(ok is True, "update_session_details did not merge the details as documented")


def gen_open(g, seeds):
    return {"type": g.pick("online", ["batch", "Online", "", g.string()[:40], None]),
            "valid_for": g.pick("12 hours", [g.interval()]),
            "reference": g.pick(None, ["ref-1", "a" * 64, "a" * 65, "-x", "a b", g.string()[:100], "x" * 10000], 0.5),
            "metadata": mutate(g, {"client": "x", "n": 1}) if g.random() < 0.7 else g.value(),
            "code": g.choice([150, 200, 400, 440, 170, 100, 0, -1, 2 ** 31 - 1, None]),
            "description": g.choice([None, "", "ok", "x" * 100000, g.string()])}


def run_open(c, a):
    ref = c.one("SELECT sessions.open_session(%s, %s::interval, %s, %s::jsonb)",
                (a["type"], a["valid_for"], a["reference"], jtext(a["metadata"])))
    c.expect(a["reference"] is None or ref == a["reference"], "open_session returned another reference")
    ok = c.one("""SELECT doc -> 'metadata' = %s::jsonb AND namespace = %s FROM sessions.store
                   WHERE kind = 'invoice' AND external_id = %s""", (jtext(a["metadata"]), a["type"], ref))
    c.expect(ok is True, "open_session does not store its metadata as given")
    st = json.loads(c.one("SELECT sessions.session_status(%s)::text", (ref,)))
    c.expect(st.get("reference") == ref, "session_status names another session")
    res = c.one("SELECT sessions.set_session_status(%s, %s, %s)::text", (ref, a["code"], a["description"]))
    st = json.loads(c.one("SELECT sessions.session_status(%s)::text", (ref,)))
    c.expect(json.loads(res) == st, "set_session_status returns %s but session_status shows %s" % (res[:200], str(st)[:200]))


TARGETS = collections.OrderedDict([
    # name: (generator, runner, weight)
    ("ocpi_validate", (gen_session, run_ocpi_validate, 3)),
    ("ocpi_put", (gen_session, run_ocpi_put, 4)),
    ("ocpi_patch", (gen_patch, run_ocpi_patch, 4)),
    ("ocpi_validate_charging_preferences", (gen_prefs, run_prefs_validate, 1)),
    ("ocpi_put_charging_preferences", (gen_prefs, run_prefs_put, 2)),
    ("import_powerflex", (gen_powerflex, run_powerflex, 3)),
    ("list_sessions", (gen_list, run_list, 2)),
    ("resume_session", (gen_resume, run_resume, 2)),
    ("channel_for", (gen_channel, run_channel, 1)),
    ("create_session", (gen_telemetry, run_telemetry, 2)),
    ("open_session", (gen_open, run_open, 2)),
])


# --- shrinking and reporting ------------------------------------------------

def shrink_value(v):
    """Smaller variants of a JSON value, most aggressive first."""
    if isinstance(v, Dup):
        yield dict(v.pairs)
        for i in range(len(v.pairs)):
            yield Dup(v.pairs[:i] + v.pairs[i + 1:])
    elif isinstance(v, dict):
        for k in list(v):
            yield {x: y for x, y in v.items() if x != k}
        for k in list(v):
            for s in shrink_value(v[k]):
                w = dict(v)
                w[k] = s
                yield w
    elif isinstance(v, list):
        if len(v) > 1:
            yield v[:len(v) // 2]
            yield v[:1]
        for i, x in enumerate(v[:3]):
            for s in shrink_value(x):
                yield v[:i] + [s] + v[i + 1:]
    elif isinstance(v, str) and len(v) > 1:
        yield v[:len(v) // 2]
        if len(v) > 70:
            yield v[:70]


def run_case(db, target, args):
    """(outcome, detail, statements): outcome 'accepted', a SQLSTATE, or 'FAIL'."""
    gen, run, _ = TARGETS[target]
    # text arguments cannot hold NUL (JSON documents escape it)
    args = {k: v.replace("\x00", "") if isinstance(v, str) else v for k, v in args.items()}
    log = []
    c = Case(db, log)
    try:
        run(c, args)
        out = ("accepted", None)
    except Finding as f:
        out = ("FAIL", str(f))
    except psycopg2.Error as e:
        bad = classify(e)
        if bad:
            msg = (e.diag.message_primary or str(e)).strip() if e.pgcode else ""
            out = ("FAIL", bad + ((": " + msg[:300]) if msg else ""))
        else:
            out = (e.pgcode, None)
    try:
        db.conn.rollback()
    except psycopg2.Error:
        pass
    if out[0] == "FAIL" and not db.alive():
        out = ("FAIL", "server connection lost: " + (out[1] or ""))
        db.connect()
    return out[0], out[1], log


def kind_of(detail):
    """A failure's kind: its text without quoted values and numbers."""
    if detail.startswith(("internal error", "unexpected SQLSTATE", "statement timeout")):
        return detail.split(": ")[0]
    k = re.sub(r"'[^']*'|\"[^\"]*\"|\([^)]*\)", "_", detail)
    return re.sub(r"[0-9]+", "N", k)[:100]


def shrink(db, target, args, detail, budget=150):
    """Greedy shrinking of the JSON arguments while the same failure stays."""
    kind = kind_of(detail)
    best = args
    for _ in range(budget):
        progressed = False
        for name, v in best.items():
            if not isinstance(v, (dict, list, str, Dup)) or name in ("version", "type", "event"):
                continue
            for s in shrink_value(v):
                cand = dict(best)
                cand[name] = s
                outcome, d, _ = run_case(db, target, cand)
                budget -= 1
                if outcome == "FAIL" and kind_of(d) == kind:
                    best = cand
                    progressed = True
                    break
                if budget <= 0:
                    return best
            if progressed:
                break
        if not progressed:
            break
    return best


def show(s, limit=1500):
    return s if len(s) <= limit else s[:limit] + " ... (%d bytes in all)" % len(s)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cases", type=int, default=int(os.environ.get("FUZZ_CASES", "3000")),
                    help="cases in all, shared by the targets by weight")
    ap.add_argument("--seed", default=os.environ.get("FUZZ_SEED", "9"))
    ap.add_argument("--target", default="", help="comma-separated targets (default: all)")
    ap.add_argument("--case", type=int, default=None, help="run only this case number")
    ap.add_argument("--server-log", default=None)
    ap.add_argument("--out", default=None, help="directory for full reproducers")
    ap.add_argument("--tap", action="store_true", help="TAP output, one test per target")
    ap.add_argument("--max-failures", type=int, default=3, help="reproducers shown per target")
    args = ap.parse_args()

    targets = [t for t in args.target.split(",") if t] or list(TARGETS)
    for t in targets:
        if t not in TARGETS:
            sys.exit("unknown target %s (known: %s)" % (t, ", ".join(TARGETS)))
    sessions, patches, powerflex, extra = seed_docs()
    seeds = {"sessions": sessions, "patches": patches, "powerflex": powerflex, "extra": extra}
    weight = sum(TARGETS[t][2] for t in targets)
    db = Db(args)
    log_start = os.path.getsize(args.server_log) if args.server_log and os.path.exists(args.server_log) else 0

    # under prove, diagnostics go to stderr so a failing run shows them
    say = (lambda s: print("# " + s, file=sys.stderr, flush=True)) if args.tap else print
    if args.tap:
        print("1..%d" % (len(targets) + 1))
    t0 = time.time()
    total_fail = 0
    for n, t in enumerate(targets, 1):
        gen, run, w = TARGETS[t]
        count = max(1, args.cases * w // weight)
        numbers = [args.case] if args.case is not None else range(count)
        stats = collections.Counter()
        failures = []
        started = time.time()
        for i in numbers:
            a = gen(Gen(args.seed, t, i), seeds)
            outcome, detail, log = run_case(db, t, a)
            stats[outcome] += 1
            if outcome == "FAIL":
                failures.append((i, a, detail, log))
        refused = ", ".join("%s %d" % (k, v) for k, v in sorted(stats.items()) if k not in ("accepted", "FAIL"))
        line = "%s: %d cases, %d accepted, %d failed%s (%.1fs)" % (
            t, len(numbers), stats["accepted"], stats["FAIL"], "; refused: " + refused if refused else "",
            time.time() - started)
        if args.tap:
            print("%sok %d - %s" % ("not " if failures else "", n, line))
        else:
            print(line)
        kinds = collections.OrderedDict()
        for f in failures:
            kinds.setdefault(kind_of(f[2]), f)
        for i, a, detail, log in list(kinds.values())[:args.max_failures]:
            small = shrink(db, t, a, detail)
            outcome, d2, log2 = run_case(db, t, small)
            if outcome != "FAIL":
                d2, log2 = detail, log
            say("FAILURE %s case %d (seed %s): %s" % (t, i, args.seed, d2))
            say("  reproduce: test/fuzz/fuzz.py --seed %s --target %s --case %d" % (args.seed, t, i))
            say("  minimal input, statements in one transaction:")
            for s in log2:
                say("    " + re.sub(r"\s+", " ", show(s, 300 if args.tap else 1500)))
            if args.out:
                os.makedirs(args.out, exist_ok=True)
                path = os.path.join(args.out, "%s-%d.sql" % (t, i))
                with open(path, "w", encoding="utf-8") as fh:
                    fh.write("-- %s\nBEGIN;\n%s;\nROLLBACK;\n" % (d2, ";\n".join(log2)))
                say("  full reproducer: " + path)
        if len(kinds) > args.max_failures:
            say("  (%d more kinds of failure in %s)" % (len(kinds) - args.max_failures, t))
        total_fail += len(failures)

    crash = []
    if args.server_log and os.path.exists(args.server_log):
        with open(args.server_log, "rb") as fh:
            fh.seek(log_start)
            crash = [l.decode("utf-8", "replace").strip() for l in fh
                     if b"terminated by signal" in l or b"PANIC" in l]
    if args.tap:
        print("%sok %d - server log: no crash%s" % ("not " if crash else "", len(targets) + 1,
                                                    "" if args.server_log else " (no log given)"))
    for l in crash[:10]:
        say("server log: " + l)
    say("fuzz: %.1fs, %d failing cases, %d crash lines in the server log, seed %s" % (
        time.time() - t0, total_fail, len(crash), args.seed))
    sys.exit(1 if total_fail or crash else 0)


if __name__ == "__main__":
    main()
