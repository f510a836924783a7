# check OUT AFTER_SEQ (test/cli/lib/cluster.sh): compares what listen.py got
# on the global channels (file argv[1]) with sessions.event_log after
# argv[2]. Range notifications (coalescing) stand for the events of their
# kind from first_seq to last_seq. Prints "ok" or why not.
import json, sys, psycopg2
cur = psycopg2.connect("dbname=postgres").cursor()
cur.execute("SELECT e.seq, e.event, sessions.event_payload(e)::text FROM sessions.event_log e"
            " WHERE e.seq > %s ORDER BY e.seq", (int(sys.argv[2]),))
log = cur.fetchall()
payload = {s: p for s, _, p in log}
got, singles, bad = [], [], []
for line in open(sys.argv[1]):
    channel, pid, text = line.rstrip("\n").split("\t", 2)
    if channel not in ("sessions_start", "sessions_stop"):
        continue
    p = json.loads(text)
    if "first_seq" in p:
        got += [s for s, ev, _ in log if p["first_seq"] <= s <= p["last_seq"] and ev == p["event"]]
    else:
        got.append(p["seq"]); singles.append(p["seq"])
        if payload.get(p["seq"]) != text:
            bad.append(p["seq"])
if sorted(got) != [s for s, _, _ in log]:
    print("not once: %d delivered, %d logged" % (len(got), len(log)))
elif singles != sorted(set(singles)):
    print("out of order")
elif bad:
    print("payload differs for seq %s" % bad[:5])
else:
    print("ok")
