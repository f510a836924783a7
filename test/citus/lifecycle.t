#!/usr/bin/env bash
# The invoice-style lifecycle through the coordinator of a distributed store
# (one namespace per session type): open, statuses, items, secrets, leases,
# list with continuation tokens, state and resume, terminate, expiry once per
# cluster, metrics, compared with one node given the same calls.
. "$SA_SRC/test/cli/tap.sh"
. "$SA_SRC/test/citus/lib/citus.sh"
plan 17
one=c_life_one cl=c_life
single_db $one
citus_db $cl
cq $cl -c "SELECT count(*) FROM sessions.distribute()" >/dev/null; ok $? "distributed"

script=$(cat <<'SQL'
SELECT sessions.open_session('online', '1 hour', 'ON-' || i) FROM generate_series(1, 7) i;
SELECT sessions.open_session('batch', '1 hour', 'BA-' || i) FROM generate_series(1, 3) i;
SELECT sessions.open_session('online', '1 second', 'ON-SHORT');
SELECT sessions.set_session_status('ON-1', 150);
SELECT sessions.set_session_status('ON-1', 200);
SELECT sessions.set_session_status('ON-2', 170);
SELECT sessions.count_session_item('ON-2', true);
SELECT sessions.count_session_item('ON-2', false);
SELECT sessions.set_session_secret('ON-3', '\x0102');
SELECT sessions.claim_session('ON-4', 'worker-1', '10 minutes');
SELECT sessions.terminate_session('BA-1');
SQL
)
both $one $cl "$script"; ok $? "the same lifecycle calls succeed on both"
same $one $cl "SELECT namespace, external_id, status, ended_at IS NULL, doc - 'date_created' - 'date_updated' - 'date_ended' - 'created' - 'closed' FROM sessions.store ORDER BY 2" \
     "the stored sessions are the same"
same $one $cl "SELECT r, sessions.session_status(r) -> 'status', sessions.session_status(r) -> 'counters' FROM unnest(ARRAY['ON-1', 'ON-2', 'BA-1', 'ON-5']) r" \
     "session_status of each: the same"
same $one $cl "SELECT encode(sessions.session_secret('ON-3'), 'hex')" "the secret reads back"
same $one $cl "SELECT sessions.claim_session('ON-4', 'worker-2', '10 minutes')" "a second holder's claim: the same answer"
same $one $cl "SELECT sessions.release_session('ON-4', 'worker-1')" "release by the holder: the same"
# The sessions were opened in one transaction (one created time), so the
# order within it is the keys', which differ between the databases: compare
# the walk through every page, by token, with one node's list as a set.
walk() {
    local db=$1 tok= out
    while :; do
        out=$(cq "$db" -c "SELECT coalesce(l.continuation, '') || ' ' || string_agg(s ->> 'reference', ' ')
                           FROM sessions.list_sessions('online', NULL, NULL, NULL, 3${tok:+, '$tok'}) l,
                                jsonb_array_elements(l.items) s GROUP BY l.continuation")
        tok=${out%% *}; echo "${out#* }" | tr ' ' '\n'
        [ -z "$tok" ] && break
    done | sort
}
pages=$(walk $cl)
is "$pages" "$(cq $one -c "SELECT s ->> 'reference' FROM sessions.list_sessions('online', NULL, NULL, NULL, 100) l, jsonb_array_elements(l.items) s" | sort)" \
   "list_sessions page by page (3 a page, signed tokens verified on the next call): every online session once"
ok $([ "$(wc -l <<<"$pages")" -eq 8 ]; echo $?) "eight online sessions over three pages"
same $one $cl "SELECT jsonb_array_length(l.items) FROM sessions.list_sessions('online', NULL, NULL, NULL, 100) l" "one page of 100: the same count"
st=$(cq $cl -c "SELECT sessions.session_state('ON-5')")
is "$(cq $cl -c "SELECT sessions.resume_session('$st') ->> 'reference'")" "ON-5" "session_state / resume_session round trip"
sleep 1.2
# Expiry: one run on the coordinator expires the cluster's due session;
# maintenance on a worker leaves it to the coordinator.
is "$(wq 1 $cl -c "SELECT sessions.maintenance() ->> 'expired'")" 0 "maintenance() on a worker expires nothing (once per cluster)"
is "$(cq $cl -c "SELECT sessions.expire_sessions()"):$(cq $one -c "SELECT sessions.expire_sessions()")" "1:1" \
   "expire_sessions on the coordinator ends the due session, as on one node"
same $one $cl "SELECT * FROM sessions.metric_samples() ORDER BY 1, 2, 3" "metric_samples after the expiry: the same"
same $one $cl "SELECT sessions.metrics()" "metrics (the exporter's text): the same"
# ON DELETE CASCADE between co-located tables: deleting a session through
# the coordinator removes its secret and lease on its worker.
cq $cl -c "SELECT sessions.claim_session('ON-3', 'worker-9', '10 minutes')" >/dev/null
is "$(cq $cl -c "SELECT (SELECT count(*) FROM sessions.invoice_secret s JOIN sessions.store t USING (session_key, namespace) WHERE t.external_id = 'ON-3')
                   || ':' || (SELECT count(*) FROM sessions.session_lease s JOIN sessions.store t USING (session_key, namespace) WHERE t.external_id = 'ON-3')")" "1:1" \
   "ON-3 has a secret and a lease"
k=$(cq $cl -c "SELECT session_key FROM sessions.store WHERE external_id = 'ON-3'")
cq $cl -c "DELETE FROM sessions.store WHERE external_id = 'ON-3' AND namespace = 'online'" >/dev/null
is "$(cq $cl -c "SELECT (SELECT count(*) FROM sessions.invoice_secret WHERE session_key = '$k') || ':' || (SELECT count(*) FROM sessions.session_lease WHERE session_key = '$k')")" "0:0" \
   "deleting it cascades to its secret and lease (co-located foreign keys)"

