#!/usr/bin/python3
"""Deterministic fuzzer for sessions.session_stats and every function taking one.

Usage: fuzz_stats.py [--tap] DSN

Connects as a superuser to a database that has the extension, and runs
FUZZ_CASES cases (default 3000) from the fixed seed FUZZ_SEED (default 9),
the kinds round robin:

  text     mutated valid text forms            -> session_stats_in
  binary   mutated valid binary forms          -> session_stats_recv (binary COPY)
  stored   mutated in-memory layouts, as a table column may hold them
           (built with a LANGUAGE internal identity function, bypassing the
           input functions)                     -> out, send, days, totals,
                                                   rollup, daily_chart_svg
  agg      hostile arguments of session_stats_agg (timestamps at the ends of
           the range, negative and huge spans, extreme kWh, zones, parameters)
  scalar   the same kind of arguments for the scalar functions

Every case asserts: the server did not crash, no SQLSTATE outside the
expected user-error set (never XX000/XX001), and every accepted value
round-trips (out -> in -> equal, send -> recv -> equal, across both forms)
and can be passed to every function taking a session_stats.

Prints TAP (one test per property) with --tap, else a summary; exits 1 on a
failure, printing each failing case so it can be replayed.
Environment: FUZZ_CASES, FUZZ_SEED, FUZZ_CHART_ALL=1 (chart also for values
spanning more than 200 years; slow until the chart bounds its axis).
"""
import io
import os
import random
import struct
import sys
import time

import psycopg2

SEED = int(os.environ.get("FUZZ_SEED", "9"))
CASES = int(os.environ.get("FUZZ_CASES", "3000"))
CHART_ALL = os.environ.get("FUZZ_CHART_ALL") == "1"

# SQLSTATEs a hostile value may get: bad text / binary representation,
# invalid parameter, numeric and datetime overflow, NULL argument, program
# limit. Anything else (XX000 internal, XX001 data_corrupted, 08P01 from a
# read past the message, a lost connection) is a failure.
ALLOWED = {"22P02", "22P03", "22023", "22003", "22008", "22004", "54000"}

INTS = ["0", "1", "2", "-1", "7", "9223372036854775807", "-9223372036854775808",
        "9223372036854775808", "4294967296", "2147483648", "99999999999999999999", "00", "-0", "1e3", "+1", ""]
FLOATS = ["0", "-0", "1", "0.5", "1e-400", "5e-324", "2.2250738585072014e-308", "1.7976931348623157e308",
          "1e309", "NaN", "nan", "inf", "-inf", "Infinity", "0x1p-3", "1e", ".5", "5.", "-1", "12.76309", "1e-9"]
DATES = ["2025-01-01", "4294967296-01-01", "-4713-11-24", "-4713-11-23", "5874897-12-31", "5874898-01-01",
         "2025-02-29", "2024-02-29", "0000-01-01", "-0001-12-31", "2025-13-01", "2025-00-10", "2025-01-32",
         "2025-1-1", "02025-01-01", "2025-01-01x", "--2025-01-01", "294277-01-01", "-2147483648-01-01", "1999-12-31"]
ZONES = ["UTC", "utc", "Etc/UTC", "europe/warsaw", "Europe/Warsaw", "America/New_York", "PST", "pst",
         "<+0530>-5:30", "UTC+5", "utc-14", "EST5EDT", "Mars/Olympus", "x" * 256, "X" * 255, "\u00e9", "\u20ac",
         "a|b", "MSK", "Europe/../etc", ":UTC", "posixrules", "Factory", "<\u00e9>-1", "Australia/Lord_Howe",
         "<+167>-167", "<-167>167:59:59", "Asia/Kolkata"]
TOKENS = INTS + FLOATS + DATES + ["|", "v1", "v2", "tz=UTC", "tz=", "micro=1", "volts=208", "good=16", "fair=8",
                                  "good=8", "fair=16", "micro=0"] + ["tz=" + z for z in ZONES[:12]]
TIMESTAMPS = ["4714-11-24 00:00:00+00 BC", "4714-11-24 00:00:01+00 BC", "294276-12-31 23:59:59.999999+00",
              "294276-12-31 23:59:59+00", "2000-01-01 00:00+00", "1970-01-01 00:00+00", "2025-03-09 10:00+00",
              "2025-03-30 01:30+00", "2025-10-26 00:59:59+00", "1900-01-01 00:00+00", "infinity", "-infinity"]

# Replacements that keep a value valid (so that accepted values are common
# enough to exercise the round trips and the functions on unusual content).
GOOD_KWH = ["0", "5e-324", "1e-300", "0.1", "12.76309", "1.7976931348623157e308", "1e300", "-0"]
GOOD_ZONES = ["utc", "Utc", "EUROPE/WARSAW", "america/new_york", "pst", "utc+5", "<+0530>-5:30", "msk",
              "Asia/Kolkata", "<\u00e9>-1", "Etc/GMT-14", "<+167>-167"]

PGCOPY_HEADER = b"PGCOPY\n\xff\r\n\x00" + struct.pack("!ii", 0, 0)


class Fuzz:
    def __init__(self, dsn):
        self.dsn = dsn
        self.rng = random.Random(SEED)
        self.failures = {}
        self.counts = {}
        self.connect()

    # ---- plumbing --------------------------------------------------------------

    def connect(self):
        for _ in range(60):
            try:
                self.conn = psycopg2.connect(self.dsn)
                break
            except psycopg2.OperationalError:
                time.sleep(0.5)
        else:
            raise SystemExit("cannot connect to %s" % self.dsn)
        self.conn.autocommit = True
        self.cur = self.conn.cursor()
        self.cur.execute("SET statement_timeout = '20s'; SET client_min_messages = warning")

    def fail(self, prop, what):
        self.failures.setdefault(prop, []).append(what)

    def count(self, key):
        self.counts[key] = self.counts.get(key, 0) + 1

    def run(self, prop, case, sql, args=None, copy=None):
        """Runs sql; returns (rows, None) or (None, sqlstate). A crash or an
        unexpected SQLSTATE is a failure of prop."""
        try:
            if copy is not None:
                self.cur.copy_expert(sql, io.BytesIO(copy))
                return [], None
            self.cur.execute(sql, args)
            return (self.cur.fetchall() if self.cur.description else []), None
        except UnicodeDecodeError as e:
            # the server sent text that is not valid in its own encoding
            self.fail(prop, "invalid UTF-8 in a result on %r: %s" % (case, e))
            return None, "encoding"
        except psycopg2.Error as e:
            if self.conn.closed:
                self.fail(prop, "connection lost (server crash?) on %r: %s" % (case, e))
                self.connect()
                return None, "crash"
            code = e.pgcode
            self.count("SQLSTATE %s" % code)
            if code not in ALLOWED:
                msg = (e.pgerror or str(e)).strip().replace("\n", " | ")[:300]
                self.fail(prop, "SQLSTATE %s on %r: %s" % (code, case, msg))
            return None, code

    def copy_stream(self, payload):
        return (PGCOPY_HEADER + struct.pack("!hi", 1, len(payload)) + payload + struct.pack("!h", -1))

    # ---- setup -------------------------------------------------------------------

    def setup(self):
        c = self.cur
        c.execute("DROP SCHEMA IF EXISTS fuzz CASCADE; CREATE SCHEMA fuzz")
        # identity functions over the varlena: the in-memory layout of a value
        # and back, unchecked (byteasend returns its detoasted argument)
        c.execute("CREATE FUNCTION fuzz.raw(sessions.session_stats) RETURNS bytea LANGUAGE internal IMMUTABLE STRICT AS 'byteasend'")
        c.execute("CREATE FUNCTION fuzz.st(bytea) RETURNS sessions.session_stats LANGUAGE internal IMMUTABLE STRICT AS 'byteasend'")
        c.execute("CREATE TABLE fuzz.typed (st sessions.session_stats)")
        # a pool of valid values: aggregates over varied rows, zones, parameters
        self.seeds = []
        specs = [("UTC", 1.0, 208.0, "2025-01-01", 40), ("Europe/Warsaw", 0.5, 230.0, "2025-03-25", 12),
                 ("America/Los_Angeles", 1.0, 208.0, "2025-11-01", 6), ("Australia/Lord_Howe", 2.0, 400.0, "2024-04-06", 3),
                 ("PST", 1.0, 208.0, "1999-12-30", 4), ("<+0530>-5:30", 1e-9, 1.0, "2000-02-28", 5),
                 ("MSK", 1.0, 208.0, "2011-03-26", 3), ("Asia/Tokyo", 3.0, 120.0, "294276-12-20", 2)]
        for tz, thr, volts, day, ndays in specs:
            c.execute("""SELECT sessions.session_stats_agg(s, e, k, %s, %s, %s)::text
                           FROM (SELECT s, CASE WHEN g %% 7 = 0 THEN NULL ELSE s + (g %% 97) * interval '7 min' END e,
                                        CASE WHEN g %% 5 = 0 THEN NULL WHEN g %% 3 = 0 THEN 0 ELSE (g %% 11) * 0.37 END k
                                   FROM generate_series(1, %s * 8) g,
                                        LATERAL (SELECT %s::timestamptz + g * interval '3 hours' s) x) r""",
                      (tz, thr, volts, ndays, day + " 00:00+00"))
            self.seeds.append(c.fetchone()[0])
        self.seeds += ["v1 tz=UTC micro=1 volts=208 good=16 fair=8",
                       "v1 tz=UTC micro=1 volts=208 good=16 fair=8 | -4713-11-24 0 1 0 1 0 0 0 0 5e-324 0 | 5874897-12-31 9223372036854775806 1 0 0 1 1 0 0 1.7976931348623157e308 9223372036854775807",
                       "v1 tz=Europe/Warsaw micro=0.5 volts=230 good=16 fair=8 | 2025-03-29 0 2 0 2 0 0 0 2 0.5 10800000000"]
        self.seed_bin, self.seed_raw, good = [], [], []
        for v in self.seeds:
            rows, code = self.run("text round trip", v, "SELECT sessions.session_stats_send(v), fuzz.raw(v) "
                                  "FROM (SELECT %s::sessions.session_stats v) x", (v,))
            if code is not None:
                self.fail("text round trip", "a valid value is refused (%s): %r" % (code, v))
                continue
            good.append(v)
            self.seed_bin.append(bytes(rows[0][0]))
            self.seed_raw.append(bytes(rows[0][1]))
        self.seeds = good

    # ---- properties of accepted values ---------------------------------------------

    def check_accepted(self, prop, case, text, binary):
        """An accepted value (text form and binary form as the server gave
        them back) round-trips both ways and survives every function."""
        rows, code = self.run(prop, case, """
            SELECT v::text = %(t)s, sessions.session_stats_send(v) = %(b)s,
                   sessions.session_stats_send(%(t)s::sessions.session_stats) = %(b)s
              FROM (SELECT %(t)s::text::sessions.session_stats v) x""", {"t": text, "b": psycopg2.Binary(binary)})
        if code is not None:
            self.fail(prop, "accepted value does not read back (%s): %r" % (code, text))
            return
        if not all(rows[0]):
            self.fail(prop, "text round trip changed the value: %r" % text)
        # send -> recv through binary COPY
        self.cur.execute("DELETE FROM fuzz.typed")
        _, code = self.run(prop, case, "COPY fuzz.typed FROM STDIN (FORMAT binary)", copy=self.copy_stream(binary))
        if code is not None:
            self.fail(prop, "send form not accepted by recv (%s): %r" % (code, text))
            return
        rows, _ = self.run(prop, case, "SELECT st::text, sessions.session_stats_send(st) FROM fuzz.typed")
        if not rows or rows[0][0] != text or bytes(rows[0][1]) != binary:
            self.fail(prop, "binary round trip changed the value: %r" % text)
        self.functions("functions", case, "%(t)s::text::sessions.session_stats", {"t": text})

    def functions(self, prop, case, expr, args):
        """Every function taking a session_stats, on the value expr."""
        chart = "length(sessions.daily_chart_svg(v, 'fuzz'))"
        if not CHART_ALL:
            chart = ("CASE WHEN (SELECT max(day) - min(day) FROM sessions.days(v)) > 73050 THEN 0 ELSE %s END" % chart)
        self.run(prop, case, """
            SELECT (SELECT count(*) FROM sessions.days(v)), (sessions.totals(v)).sessions, length(v::text),
                   length(sessions.session_stats_send(v)), %s
              FROM (SELECT %s v) x""" % (chart, expr), args)
        self.run(prop, case, "SELECT sessions.rollup(v)::text FROM (SELECT %s v UNION ALL SELECT %s) x" % (expr, expr), args)
        self.run(prop, case, "SELECT sessions.rollup(v ORDER BY o)::text FROM (SELECT 1 o, %s v UNION ALL SELECT 2, "
                             "'v1 tz=UTC micro=1 volts=208 good=16 fair=8 | 2025-01-01 0 1 0 0 1 0 0 0 1 60000000') x" % expr, args)

    # ---- the four case kinds ----------------------------------------------------------

    def benign_text(self, toks):
        """A change that keeps the value valid: another zone spelling, an
        unusual kWh, parameters, or one more day after the last."""
        r = self.rng
        op = r.randrange(4)
        if op == 0:
            toks[1] = "tz=" + r.choice(GOOD_ZONES)
        elif op == 1 and "|" in toks:
            k = len(toks) - 1 - toks[::-1].index("|")
            if toks[k + 3] != "0":      # completed > 0: kWh may be anything finite >= 0
                toks[k + 10] = r.choice(GOOD_KWH)
        elif op == 2:
            toks[2:6] = r.choice([["micro=1e-300", "volts=1e300", "good=1e300", "fair=5e-324"],
                                  ["micro=0.5", "volts=230", "good=8", "fair=8"]])
        else:
            toks += ["|", r.choice(["5874897-12-31", "294277-01-01"]), "0", "1", "0", "0", "0", "0", "0", "0", "0",
                     r.choice(["0", "9223372036854775807"])]
        return toks

    def mutate_text(self, text):
        r = self.rng
        toks = text.split(" ")
        if r.random() < 0.3:
            return " ".join(self.benign_text(toks))
        for _ in range(r.randint(1, 3)):
            op = r.randrange(9)
            i = r.randrange(len(toks))
            if op <= 2:
                toks[i] = r.choice(TOKENS)
            elif op == 3 and len(toks) > 1:
                del toks[i]
            elif op == 4:
                toks.insert(i, toks[r.randrange(len(toks))])
            elif op == 5:
                j = r.randrange(len(toks))
                toks[i], toks[j] = toks[j], toks[i]
            elif op == 6 and toks[i]:
                s = toks[i]
                k = r.randrange(len(s))
                ch = r.choice(["", "0", "9", "-", ".", "e", "\u00e9", "\u20ac", "\t", "|", "x", s[k]])
                toks[i] = s[:k] + ch + s[k + 1:]
            elif op == 7:
                s = " ".join(toks)
                cut = r.randrange(len(s) + 1)
                toks = (s[:cut] or "v1").split(" ")
            else:
                # repeat the last day group (order and duplicate errors)
                if "|" in toks:
                    k = len(toks) - 1 - toks[::-1].index("|")
                    toks += toks[k:] * r.randint(1, 3)
        return " ".join(toks)

    def case_text(self, n):
        base = self.rng.choice(self.seeds)
        text = self.mutate_text(base)
        rows, code = self.run("text input", text, "SELECT v::text, sessions.session_stats_send(v) "
                              "FROM (SELECT %s::sessions.session_stats v) x", (text,))
        if code is None:
            self.count("text accepted")
            self.check_accepted("text round trip", text, rows[0][0], bytes(rows[0][1]))

    def shared_edit(self, b, op, tail):
        """The edits both binary mutators make, in place on bytearray b: op 3
        flips one bit (of a non-empty value), op 4 cuts the value short, op 5
        appends tail(). False for any other op, or op 3 on an empty value,
        so the caller's own edits run instead."""
        r = self.rng
        if op == 3 and len(b):
            k = r.randrange(len(b))
            b[k] ^= 1 << r.randrange(8)
        elif op == 4:
            del b[r.randrange(len(b) + 1):]
        elif op == 5:
            b += tail()
        else:
            return False
        return True

    def mutate_binary(self, b):
        r = self.rng
        b = bytearray(b)
        tzlen = struct.unpack("!i", b[1:5])[0]
        fields = [(0, 1), (1, 4)] + [(5 + tzlen + 8 * i, 8) for i in range(4)] + [(5 + tzlen + 32, 4)]
        day0 = 5 + tzlen + 36
        ndays = (len(b) - day0) // 84
        for d in range(min(ndays, 4)):
            o = day0 + 84 * d
            fields += [(o, 4)] + [(o + 4 + 8 * i, 8) for i in range(10)]
        if r.random() < 0.3:
            # keep it valid: another spelling of a zone, unusual finite parameters
            op = r.randrange(2)
            if op == 0 and tzlen > 0:
                z = r.choice(GOOD_ZONES).encode()
                b[1:5 + tzlen] = struct.pack("!i", len(z)) + z
            else:
                off = 5 + tzlen + 8 * r.randrange(3)
                b[off:off + 8] = struct.pack("!d", r.choice([1e-300, 1e300, 0.25]))
                if off == 5 + tzlen + 16:       # good_a: keep fair_a <= good_a
                    b[off + 8:off + 16] = struct.pack("!d", 5e-324)
            return bytes(b)
        for _ in range(r.randint(1, 3)):
            op = r.randrange(8)
            if op <= 2 and fields:
                off, size = r.choice(fields)
                if size == 1:
                    val = bytes([r.choice([0, 1, 2, 255])])
                elif size == 4:
                    val = struct.pack("!i", r.choice([0, 1, -1, 3, 255, 256, 2147483647, -2147483648, ndays + 1,
                                                      -2451545, 2147483494 - 2451545, 2147483494 - 2451545 - 1]))
                else:
                    val = r.choice([struct.pack("!q", r.choice([0, 1, -1, 2 ** 63 - 1, -2 ** 63, 5])),
                                    struct.pack("!d", r.choice([0.0, -0.0, 5e-324, 1.7976931348623157e308,
                                                                float("inf"), float("nan"), -1.0, 0.5]))])
                b[off:off + size] = val
            elif self.shared_edit(b, op, lambda: bytes(r.randrange(256) for _ in range(r.choice([1, 4, 84, 85])))):
                pass
            elif op == 6 and tzlen > 0:
                # the zone bytes: invalid UTF-8, unknown, other case, control bytes
                z = r.choice([b"\xc3\x28", b"\xff", b"Mars/Olympus", b"utc", b"U\x01C", b"\xe2\x82\xac", b"a|b",
                              b"europe/warsaw", b"UTC\x00", b"x" * 300])
                b[1:5 + tzlen] = struct.pack("!i", len(z) if r.random() < 0.8 else r.randint(0, 400)) + z
                tzlen = -1      # layout changed: no more field-aware edits
                fields = []
            else:
                # another day record, possibly out of order
                if ndays:
                    o = day0 + 84 * r.randrange(ndays)
                    b += b[o:o + 84]
                    b[day0 - 4:day0] = struct.pack("!i", ndays + 1)
        return bytes(b)

    def case_binary(self, n):
        i = self.rng.randrange(len(self.seed_bin))
        data = self.mutate_binary(self.seed_bin[i])
        self.cur.execute("DELETE FROM fuzz.typed")
        _, code = self.run("binary input", data.hex(), "COPY fuzz.typed FROM STDIN (FORMAT binary)", copy=self.copy_stream(data))
        if code is None:
            rows, code = self.run("binary input", data.hex(), "SELECT st::text, sessions.session_stats_send(st) FROM fuzz.typed")
            if code is None:
                self.count("binary accepted")
                self.check_accepted("binary round trip", data.hex(), rows[0][0], bytes(rows[0][1]))

    def mutate_raw(self, b):
        r = self.rng
        b = bytearray(b)
        # payload offsets (after the 4-byte varlena header): version 0, flags 1,
        # tzlen 2 (uint16), ndays 4, capacity 8, reserved 12, floats 20..52, zone 52
        for _ in range(r.randint(1, 3)):
            op = r.randrange(7)
            if op <= 1:
                off, fmt = r.choice([(0, "<B"), (1, "<B"), (2, "<H"), (4, "<i"), (8, "<i"), (12, "<i"), (16, "<i"),
                                     (20, "<d"), (28, "<d"), (36, "<d"), (44, "<d")])
                if off + struct.calcsize(fmt) > len(b):
                    continue
                if fmt == "<d":
                    v = r.choice([0.0, -1.0, float("nan"), float("inf"), 5e-324, 1e308])
                elif fmt == "<B":
                    v = r.choice([0, 1, 2, 255])
                elif fmt == "<H":
                    v = r.choice([0, 1, 2, 3, 4, 255, 256, 65535])
                else:
                    v = r.choice([0, 1, -1, 2, 8, 2147483647, -2147483648, 48806446])
                b[off:off + struct.calcsize(fmt)] = struct.pack(fmt, v)
            elif op == 2 and len(b) > 60:
                # a day field: date, counters, kWh, duration
                tzlen = struct.unpack("<H", b[2:4])[0]
                start = ((56 + tzlen + 1 + 7) & ~7) - 4
                if start + 88 <= len(b):
                    off = start + r.choice([0, 4, 8, 16, 24, 32, 40, 48, 56, 64, 72, 80])
                    b[off:off + 8] = struct.pack("<q", r.choice([0, -1, 1, 2 ** 63 - 1, -2 ** 63, 2 ** 31]))[:min(8, len(b) - off)]
            elif self.shared_edit(b, op, lambda: bytes(r.choice([0, 255]) for _ in range(r.choice([1, 8, 88])))):
                pass
            else:
                if len(b) > 56:
                    b[52:55] = r.choice([b"\xff\xfe\xfd", b"utc", b"Mar", b"\x00\x00\x00", b"| |"])
        return bytes(b)

    def case_stored(self, n):
        i = self.rng.randrange(len(self.seed_raw))
        data = self.mutate_raw(self.seed_raw[i])
        self.functions("stored values", data.hex(), "fuzz.st(%(b)s)", {"b": psycopg2.Binary(data)})

    def pick(self, good, bad, p_bad):
        return self.rng.choice(bad if self.rng.random() < p_bad else good)

    def case_agg(self, n):
        r = self.rng
        rows = []
        for _ in range(r.randint(1, 6)):
            s = r.choice(TIMESTAMPS) if r.random() < 0.15 else "2025-%02d-%02d %02d:%02d+00" % (
                r.randint(1, 12), r.randint(1, 28), r.randint(0, 23), r.randint(0, 59))
            roll = r.random()
            if roll < 0.2:
                e = None
            elif roll < 0.3:
                e = r.choice(TIMESTAMPS)
            else:
                e = self.pick(["0", "1", "3600", "86400", "1e10", "0.000001", "5e9"], ["-1", "-86400", "9e12"], 0.05)
            k = self.pick([None, 0.0, 0.5, 1.0, 12.76309, 5e-324, 1.7976931348623157e308, 1e-300],
                          [-1.0, float("inf"), float("nan"), -5e-324], 0.05)
            rows.append((s, e, k))
        tz = self.pick(GOOD_ZONES + ["UTC", "Europe/Warsaw", "America/Los_Angeles"], ZONES, 0.2)
        thr = self.pick([1.0, 0.5, 1e-9, 5e-324, 1e300], [0.0, -1.0, float("nan"), float("inf")], 0.1)
        volts = self.pick([208.0, 230.0, 1.0, 5e-324, 1e300], [0.0, float("nan"), float("inf"), -208.0], 0.1)
        starts = [x[0] for x in rows]
        ends = [x[1] for x in rows]
        kwhs = [x[2] for x in rows]
        case = (rows, tz, thr, volts)
        res, code = self.run("aggregate arguments", case, """
            SELECT st::text, sessions.session_stats_send(st)
              FROM (SELECT sessions.session_stats_agg(s, CASE WHEN e ~ '^[-0-9.e]+$' THEN s + e::float8 * interval '1 second'
                                                             ELSE e::timestamptz END, k, %s, %s, %s) st
                      FROM unnest(%s::timestamptz[], %s::text[], %s::float8[]) u(s, e, k)) a""",
                              (tz, thr, volts, starts, ends, kwhs))
        if code is None and res and res[0][0] is not None:
            self.count("aggregates accepted")
            self.check_accepted("aggregate round trip", case, res[0][0], bytes(res[0][1]))

    def case_scalar(self, n):
        """The scalar functions on the same kind of hostile arguments."""
        r = self.rng
        s = r.choice(TIMESTAMPS + ["2025-06-01 12:00+00"])
        e = r.choice(TIMESTAMPS + ["2025-06-01 13:00+00", "2025-06-01 11:00+00"])
        k = r.choice([0.0, 0.5, 12.76309, 5e-324, 1.7976931348623157e308, -1.0, float("inf"), float("nan")])
        x = r.choice([1.0, 208.0, 0.0, -1.0, 5e-324, 1e300, float("inf"), float("nan")])
        y = r.choice([1.0, 8.0, 16.0, 0.0, -1.0, 5e-324, float("inf"), float("nan")])
        name = r.choice(["today", "yesterday", "last_week", "last_month", "this_month", "TODAY", "", "fortnight"])
        tz = r.choice(ZONES)
        case = (s, e, k, x, y, name, tz)
        args = {"s": s, "e": e, "k": k, "x": x, "y": y, "n": name, "tz": tz}
        for sql in ["SELECT sessions.average_power_w(%(k)s, %(s)s, %(e)s)",
                    "SELECT sessions.average_current_a(%(k)s, %(s)s, %(e)s, %(x)s)",
                    "SELECT sessions.classify(%(k)s, %(x)s)",
                    "SELECT sessions.charge_rating(%(k)s, %(x)s, %(y)s)",
                    "SELECT sessions.format_duration(%(e)s::timestamptz - %(s)s::timestamptz)",
                    "SELECT sessions.date_range(%(n)s, %(tz)s, %(s)s)"]:
            self.run("scalar functions", case, "SELECT (%s)::text" % sql[len("SELECT "):], args)

    # ---- driver -----------------------------------------------------------------------

    PROPS = ["text input", "text round trip", "binary input", "binary round trip", "stored values",
             "functions", "aggregate arguments", "aggregate round trip", "scalar functions"]

    def main(self, tap):
        self.setup()
        kinds = [self.case_text, self.case_binary, self.case_stored, self.case_agg, self.case_scalar]
        start = time.time()
        for n in range(CASES):
            kinds[n % len(kinds)](n)
        elapsed = time.time() - start
        self.cur.execute("DROP SCHEMA fuzz CASCADE")
        summary = "%d cases in %.1f s (seed %d; accepted: %s)" % (
            CASES, elapsed, SEED, ", ".join("%s %d" % kv for kv in sorted(self.counts.items())))
        bad = 0
        if tap:
            print("1..%d" % (len(self.PROPS) + 1))
        for i, prop in enumerate(self.PROPS, 1):
            fails = self.failures.get(prop, [])
            bad += len(fails)
            if tap:
                print("%s %d - %s: no crash, no unexpected SQLSTATE%s" % (
                    "not ok" if fails else "ok", i, prop, ", every accepted value round-trips" if "round" in prop else ""))
            for f in fails[:20]:
                print("#   " + f)
            if len(fails) > 20:
                print("#   ... %d more" % (len(fails) - 20))
        enough = all(self.counts.get(k, 0) > 0 for k in ("text accepted", "binary accepted", "aggregates accepted")) or CASES < 40
        if tap:
            print("%s %d - the mutations hit accepted values of every kind (%s)" % ("ok" if enough else "not ok",
                                                                                  len(self.PROPS) + 1, summary))
        else:
            print(summary)
        return 1 if bad or not enough else 0


if __name__ == "__main__":
    args = sys.argv[1:]
    tap = "--tap" in args
    args = [a for a in args if a != "--tap"]
    sys.exit(Fuzz(args[0] if args else "").main(tap))
