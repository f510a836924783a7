# Plain LISTEN client for the notifier tests (test/cli/lib/cluster.sh,
# listen_start): LISTEN on the global channels and the marker channel argv[2];
# writes one line per notification, "channel<TAB>sender pid<TAB>payload", to
# argv[1] until the marker. argv[1].ready says it is listening. argv[3], if
# given, is how many seconds of silence end it as a failure (20).
import select, sys, psycopg2
conn = psycopg2.connect("dbname=postgres"); conn.autocommit = True
cur = conn.cursor()
for ch in ("sessions_start", "sessions_stop", sys.argv[2]):
    cur.execute('LISTEN "%s"' % ch)
out = open(sys.argv[1], "w")
open(sys.argv[1] + ".ready", "w").close()
while True:
    if select.select([conn], [], [], float(sys.argv[3]) if len(sys.argv) > 3 else 20) == ([], [], []):
        sys.exit("timed out")
    conn.poll()
    while conn.notifies:
        n = conn.notifies.pop(0)
        out.write("%s\t%d\t%s\n" % (n.channel, n.pid, n.payload)); out.flush()
        if n.channel == sys.argv[2]:
            sys.exit(0)
