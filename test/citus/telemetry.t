#!/usr/bin/env bash
# Telemetry sessions through the coordinator of a distributed store (one
# namespace per data source): create, update, associate across data
# sources (cycles refused), end, info, current, daily, compared with one
# node given the same calls. Keys differ between the two databases, so the
# answers are compared by identifier.
. "$SA_SRC/test/cli/tap.sh"
. "$SA_SRC/test/citus/lib/citus.sh"
plan 13
one=c_tel_one cl=c_tel
single_db $one
citus_db $cl
cq $cl -c "SELECT count(*) FROM sessions.distribute()" >/dev/null; ok $? "distributed"

# run DB: the same script on a database; keys kept in a table by identifier.
script=$(cat <<'SQL'
CREATE TABLE public.k (id text PRIMARY KEY, key uuid);
INSERT INTO public.k SELECT 'a1', sessions.create_session('meter-a', 'Session', 1, '1 hour', 'a1', '{"x": "1"}', '{}', '2025-03-01 10:00+00');
INSERT INTO public.k SELECT 'b1', sessions.create_session('meter-b', 'Charge', 2, '-2 hours', 'b1', '{}', '{}', '2025-03-01 11:00+00');
INSERT INTO public.k SELECT 'c1', sessions.create_session('meter-c', 'Session', 1, '0', 'c1', '{}',
                                  ARRAY[(SELECT key FROM public.k WHERE id = 'b1')], '2025-03-02 09:00+00');
SELECT sessions.add_associate_session((SELECT key FROM public.k WHERE id = 'a1'), (SELECT key FROM public.k WHERE id = 'c1'));
SELECT sessions.update_session_details((SELECT key FROM public.k WHERE id = 'b1'), '{"y": "2"}');
SELECT sessions.update_session_identifier((SELECT key FROM public.k WHERE id = 'c1'), 'c1-renamed');
SELECT sessions.end_session((SELECT key FROM public.k WHERE id = 'b1'), 'meter-b', '2025-03-01 12:30+00');
SQL
)
both $one $cl "$script"; ok $? "the same telemetry calls succeed on both"
same $one $cl "SELECT namespace, status, started_at, ended_at, doc - 'session_key' FROM sessions.store ORDER BY 1" "the stored sessions are the same"
info="SELECT k.id, i - 'session_key' - 'associate_session_keys' - 'duration', jsonb_array_length(i -> 'associate_session_keys')
        FROM public.k k, LATERAL sessions.session_info(k.key) i ORDER BY 1"
same $one $cl "$info" "session_info of each: the same"
same $one $cl "SELECT k.id, (SELECT string_agg(k2.id, ',' ORDER BY k2.id) FROM sessions.associates(k.key) a JOIN public.k k2 ON k2.key = a)
                 FROM public.k k ORDER BY 1" "associates across data sources: the same"
same $one $cl "SELECT k.id, (SELECT string_agg(k2.id, ',' ORDER BY k2.id) FROM sessions.parents(k.key) a JOIN public.k k2 ON k2.key = a)
                 FROM public.k k ORDER BY 1" "parents: the same"
cyc="SELECT sessions.add_associate_session((SELECT key FROM public.k WHERE id = 'c1'), (SELECT key FROM public.k WHERE id = 'a1'))"
a=$(cq $one -c "$cyc" 2>&1 | grep -o 'would create a cycle'); b=$(cq $cl -c "$cyc" 2>&1 | grep -o 'would create a cycle')
is "$b:$a" "would create a cycle:would create a cycle" "a cycle across three data sources is refused on both"
same $one $cl "SELECT data_source, identifier, type, is_complete FROM sessions.current_sessions(NULL, true) ORDER BY 2" "current_sessions (all): the same"
same $one $cl "SELECT data_source, identifier FROM sessions.current_sessions('meter-a') ORDER BY 2" "current_sessions of one data source: the same"
same $one $cl "SELECT * FROM sessions.telemetry_daily('2025-03-01', '2025-03-03')" "telemetry_daily: the same"
same $one $cl "SELECT * FROM sessions.telemetry_daily('2025-03-01', '2025-03-03', 'Asia/Tokyo')" "telemetry_daily in a zone: the same"
err=$(cq $cl -c "SELECT sessions.update_session_details((SELECT key FROM public.k WHERE id = 'b1'), '{\"z\": \"3\"}')" 2>&1)
like "$err" "has ended and no longer changes" "an ended session refuses changes (55000) through the coordinator"
err=$(cq $cl -c "SELECT sessions.end_session((SELECT key FROM public.k WHERE id = 'a1'), 'meter-b')" 2>&1)
like "$err" "does not match" "a wrong data_source is refused (22023): the namespace-less probe found the session"
