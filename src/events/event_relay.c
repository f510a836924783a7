/*
 * events/event_relay.c
 *		The relay of a Citus cluster's events (docs/scale-out.md, "Events"):
 *		copies the final events of each worker's own sessions.event_log into
 *		the coordinator's log, so the coordinator's log is the cluster's log
 *		and events_since, the notifier and session-listen work on it as on
 *		one node. SQL: sessions.relay_events(max_rows), one round over every
 *		worker (owner only); the relay background worker
 *		(workers/relay_worker.c) runs the same round per worker.
 *
 * On a worker the store trigger fires on the shards it holds and logs with
 * the worker's own sequence under the lock-before-seq rule
 * (events/event_log.c); a namespace's rows are all in one shard, so the
 * worker's seq order is the namespace's order. Per worker, one coordinator
 * transaction:
 *	1. locks the worker's row of sessions.event_relay (FOR UPDATE: rounds of
 *	   one worker never overlap) and reads its position, the last worker seq
 *	   relayed;
 *	2. reads from the worker sessions.events_since(position, NULL, max_rows):
 *	   the worker's final events past the position, in seq order, never
 *	   one beyond the worker's events_head (a transaction still open there,
 *	   prepared ones of two-phase commits included, holds the head back);
 *	3. appends each to the coordinator's log by sa_event_log_append (the
 *	   same rule, a coordinator seq, the worker's logged_at) and hands it to
 *	   the coordinator's delivery (NOTIFY at commit, or the notifier);
 *	4. moves the position to the last worker seq copied.
 * Copies and position commit together: exactly once, restartable (a failed
 * round copies nothing; the next one starts from the same position).
 * Events the position has passed are deleted from the worker's log by a
 * later round (the position it reads is committed), so a worker's log holds
 * only what is not relayed yet, plus at most a second's worth.
 *
 * The worker's log is identified by its system identifier and the log's OID
 * (sessions.event_relay.log_id): a worker whose database or extension was
 * made anew has a new log whose seqs start again at 1, and is relayed from
 * its start.
 *
 * Connections: libpq, one per worker and backend, kept across rounds, to
 * the host and port of pg_dist_node as the current user (as Citus connects),
 * with session_analytics.relay_conninfo appended; each LISTENs on
 * SA_RELAY_CHANNEL, which a worker's committing writer notifies, so the
 * relay worker can wait on the sockets. A connection that fails is closed
 * and made again at the next round.
 *
 * Layering: over events/event_log.h (the writer) and events/event_xact.h
 * (the delivery); workers/relay_worker.c is its only caller in C.
 */
#include "postgres.h"

#include <limits.h>

#include "libpq-fe.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "commands/dbcommands.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"
#include "utils/uuid.h"

#include "session_analytics.h"
#include "events/event_log.h"
#include "events/event_relay.h"
#include "events/event_xact.h"

PG_FUNCTION_INFO_V1(sa_relay_events);

/* GUCs */
static char *relay_conninfo = NULL;

/* Connections are kept for this many workers at most. */
#define RELAY_MAX_NODES 64
/* Relayed events are deleted from a worker's log at most this often (ms) ... */
#define RELAY_DELETE_EVERY_MS 1000
/* ... unless this many are waiting. */
#define RELAY_DELETE_BATCH 1000

typedef struct RelayConn
{
	bool		used;
	char	   *host;			/* TopMemoryContext */
	int			port;
	PGconn	   *conn;
	char	   *log_id;			/* the worker log's identity, read at connect */
	int64		deleted_through;	/* the worker's log holds nothing at or below */
	TimestampTz deleted_at;
} RelayConn;

static RelayConn relay_conns[RELAY_MAX_NODES];

/*
 * sa_event_relay_init
 *		Registers session_analytics.relay_conninfo; called from _PG_init.
 */
void
sa_event_relay_init(void)
{
	DefineCustomStringVariable(SA_GUC_PREFIX ".relay_conninfo",
							   "Connection keywords the event relay adds when it connects to a Citus worker.",
							   "Host, port and database are those of pg_dist_node and the current database; "
							   "e.g. sslmode=require passfile=/path (docs/scale-out.md).",
							   &relay_conninfo, "", PGC_SIGHUP, GUC_SUPERUSER_ONLY, NULL, NULL, NULL);
}

/* Closes one worker's connection (it is made again at the next round). */
static void
relay_close(RelayConn *rc)
{
	if (rc->conn)
		PQfinish(rc->conn);
	rc->conn = NULL;
	if (rc->log_id)
		pfree(rc->log_id);
	rc->log_id = NULL;
	rc->deleted_through = 0;
	rc->deleted_at = 0;
}

/* The slot of a worker's connection, taken at its first round. */
static RelayConn *
relay_slot(const char *host, int port)
{
	RelayConn  *free_slot = NULL;

	for (int i = 0; i < RELAY_MAX_NODES; i++)
	{
		RelayConn  *rc = &relay_conns[i];

		if (rc->used && rc->port == port && strcmp(rc->host, host) == 0)
			return rc;
		if (!rc->used && free_slot == NULL)
			free_slot = rc;
	}
	if (free_slot == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("relay: more than %d workers", RELAY_MAX_NODES),
				 errhint("The event relay keeps one connection per worker, for at most %d workers.",
						 RELAY_MAX_NODES)));
	memset(free_slot, 0, sizeof(RelayConn));
	free_slot->used = true;
	free_slot->host = MemoryContextStrdup(TopMemoryContext, host);
	free_slot->port = port;
	return free_slot;
}

/*
 * relay_fail
 *		A worker's connection or statement failed: the error, with the
 *		worker's SQLSTATE when it sent one (08006 when the connection broke),
 *		and the connection closed when it is no longer usable.
 */
static void
relay_fail(RelayConn *rc, PGresult *res, const char *what)
{
	const char *primary = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
	char	   *msg = pstrdup(primary ? primary : res ? PQresultErrorMessage(res) : PQerrorMessage(rc->conn));
	const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
	int			code = ERRCODE_CONNECTION_FAILURE;
	char	   *host = pstrdup(rc->host);
	int			port = rc->port;

	if (state && strlen(state) == 5)
		code = MAKE_SQLSTATE(state[0], state[1], state[2], state[3], state[4]);
	if (res)
		PQclear(res);
	if (rc->conn == NULL || PQstatus(rc->conn) != CONNECTION_OK || code == ERRCODE_CONNECTION_FAILURE)
		relay_close(rc);
	msg[strcspn(msg, "\n")] = '\0';
	ereport(ERROR,
			(errcode(code),
			 errmsg("relay: %s on worker %s:%d failed", what, host, port),
			 errdetail("%s", msg[0] ? msg : "no message"),
			 errhint("The worker's events stay in its log; the next round relays them (docs/scale-out.md).")));
}

/* Runs a command (no result rows) on a worker, or fails. */
static void
relay_command(RelayConn *rc, const char *sql, const char *what)
{
	PGresult   *res = PQexec(rc->conn, sql);

	if (PQresultStatus(res) != PGRES_COMMAND_OK && PQresultStatus(res) != PGRES_TUPLES_OK)
		relay_fail(rc, res, what);
	PQclear(res);
}

/*
 * relay_connect
 *		The worker's connection, made when there is none: host and port of
 *		pg_dist_node, this database, the current user, relay_conninfo; then
 *		LISTEN on SA_RELAY_CHANNEL and the log's identity.
 */
static void
relay_connect(RelayConn *rc)
{
	StringInfoData ci;
	PGresult   *res;
	char		portbuf[16];
	const char *keys[] = {"host", "port", "dbname", "user", "application_name", "connect_timeout", "options", NULL};
	const char *vals[8];

	if (rc->conn && PQstatus(rc->conn) == CONNECTION_OK)
		return;
	relay_close(rc);
	snprintf(portbuf, sizeof(portbuf), "%d", rc->port);
	initStringInfo(&ci);
	appendStringInfoString(&ci, relay_conninfo ? relay_conninfo : "");
	vals[0] = rc->host;
	vals[1] = portbuf;
	vals[2] = get_database_name(MyDatabaseId);
	vals[3] = GetUserNameFromId(GetUserId(), false);
	vals[4] = "session_analytics relay";
	vals[5] = "10";
	vals[6] = "-c statement_timeout=30000 -c idle_in_transaction_session_timeout=60000";
	vals[7] = NULL;
	if (ci.len > 0)
	{
		/* The extra keywords first: the node's address, database and user win. */
		PQconninfoOption *opts = PQconninfoParse(ci.data, NULL);
		int			n = 0;
		const char **k2;
		const char **v2;

		if (opts == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("session_analytics.relay_conninfo is not a valid connection string")));
		for (PQconninfoOption *o = opts; o->keyword; o++)
			if (o->val)
				n++;
		k2 = palloc(sizeof(char *) * (n + 8));
		v2 = palloc(sizeof(char *) * (n + 8));
		n = 0;
		for (PQconninfoOption *o = opts; o->keyword; o++)
			if (o->val)
			{
				k2[n] = pstrdup(o->keyword);
				v2[n++] = pstrdup(o->val);
			}
		PQconninfoFree(opts);
		for (int i = 0; keys[i]; i++)
		{
			k2[n] = keys[i];
			v2[n++] = vals[i];
		}
		k2[n] = v2[n] = NULL;
		rc->conn = PQconnectdbParams(k2, v2, false);
	}
	else
		rc->conn = PQconnectdbParams(keys, vals, false);
	if (rc->conn == NULL)
		ereport(ERROR, (errcode(ERRCODE_OUT_OF_MEMORY), errmsg("relay: out of memory for a connection")));
	if (PQstatus(rc->conn) != CONNECTION_OK)
		relay_fail(rc, NULL, "connecting");
	relay_command(rc, "LISTEN " SA_RELAY_CHANNEL, "LISTEN");
	res = PQexec(rc->conn,
				 "SELECT (SELECT s.system_identifier FROM pg_catalog.pg_control_system() s)::pg_catalog.text "
				 "OPERATOR(pg_catalog.||) ':' OPERATOR(pg_catalog.||) "
				 "(pg_catalog.to_regclass('sessions.event_log')::pg_catalog.oid)::pg_catalog.text");
	if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1)
		relay_fail(rc, res, "reading the log's identity");
	if (PQgetisnull(res, 0, 0))
	{
		PQclear(res);
		relay_close(rc);
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("relay: worker %s:%d has no sessions.event_log", rc->host, rc->port),
				 errhint("CREATE EXTENSION session_analytics on the coordinator creates it on every worker; run sessions.distribute() again.")));
	}
	rc->log_id = MemoryContextStrdup(TopMemoryContext, PQgetvalue(res, 0, 0));
	PQclear(res);
}

/*
 * Notifications the connection has received, dropped (they only wake);
 * returns whether there were any.
 */
static bool
relay_drain(RelayConn *rc)
{
	PGnotify   *n;
	bool		any = false;

	if (rc->conn == NULL)
		return false;
	while ((n = PQnotifies(rc->conn)) != NULL)
	{
		PQfreemem(n);
		any = true;
	}
	return any;
}

/* Microseconds since the Unix epoch as a timestamptz. */
static TimestampTz
from_unix_us(const char *s)
{
	return (TimestampTz) strtoi64(s, NULL, 10) -
		((TimestampTz) (POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * USECS_PER_DAY);
}

/*
 * relay_position
 *		The worker's position in sessions.event_relay (its row made at the
 *		first round) and the identity of the log it belongs to (NULL before
 *		the first relayed event). With lock, the row is locked (FOR UPDATE):
 *		taken only once there is something to relay, so an idle round
 *		assigns no transaction id and writes nothing.
 */
static int64
relay_position(const char *host, int port, char **log_id, bool lock)
{
	Oid			argtypes[2] = {TEXTOID, INT4OID};
	Datum		args[2] = {CStringGetTextDatum(host), Int32GetDatum(port)};
	bool		isnull;
	int			ret;

	for (int attempt = 0;; attempt++)
	{
		ret = SPI_execute_with_args(lock ?
									"SELECT r.last_seq, r.log_id FROM sessions.event_relay r "
									"WHERE r.nodename OPERATOR(pg_catalog.=) $1 AND r.nodeport OPERATOR(pg_catalog.=) $2 FOR UPDATE" :
									"SELECT r.last_seq, r.log_id FROM sessions.event_relay r "
									"WHERE r.nodename OPERATOR(pg_catalog.=) $1 AND r.nodeport OPERATOR(pg_catalog.=) $2",
									2, argtypes, args, NULL, false, 1);
		if (ret != SPI_OK_SELECT)
			elog(ERROR, "could not read sessions.event_relay: %s", SPI_result_code_string(ret));
		if (SPI_processed == 1)
			break;
		if (attempt > 0)
			elog(ERROR, "sessions.event_relay has no row for %s:%d", host, port);
		ret = SPI_execute_with_args("INSERT INTO sessions.event_relay (nodename, nodeport) VALUES ($1, $2) "
									"ON CONFLICT DO NOTHING", 2, argtypes, args, NULL, false, 0);
		if (ret != SPI_OK_INSERT)
			elog(ERROR, "could not insert into sessions.event_relay: %s", SPI_result_code_string(ret));
	}
	*log_id = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2);
	return DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
}

/* Moves the worker's position (and its log's identity). */
static void
relay_set_position(const char *host, int port, int64 pos, const char *log_id)
{
	Oid			argtypes[4] = {TEXTOID, INT4OID, INT8OID, TEXTOID};
	Datum		args[4] = {CStringGetTextDatum(host), Int32GetDatum(port), Int64GetDatum(pos),
	CStringGetTextDatum(log_id)};

	if (SPI_execute_with_args("UPDATE sessions.event_relay SET last_seq = $3, log_id = $4, relayed_at = pg_catalog.now() "
							  "WHERE nodename OPERATOR(pg_catalog.=) $1 AND nodeport OPERATOR(pg_catalog.=) $2",
							  4, argtypes, args, NULL, false, 0) != SPI_OK_UPDATE || SPI_processed != 1)
		elog(ERROR, "could not update sessions.event_relay");
}

/*
 * relay_prune_worker
 *		Deletes what the committed position has passed from the worker's
 *		log (at most once a second, or when RELAY_DELETE_BATCH are waiting),
 *		and raises the worker's pruned position to it, so its events_since
 *		and events_head stay consistent.
 */
static void
relay_prune_worker(RelayConn *rc, int64 pos)
{
	char		sql[512];
	TimestampTz now = GetCurrentTimestamp();

	if (pos <= rc->deleted_through ||
		(pos - rc->deleted_through < RELAY_DELETE_BATCH &&
		 !TimestampDifferenceExceeds(rc->deleted_at, now, RELAY_DELETE_EVERY_MS)))
		return;
	snprintf(sql, sizeof(sql),
			 "DELETE FROM sessions.event_log WHERE seq OPERATOR(pg_catalog.<=) " INT64_FORMAT "; "
			 "UPDATE sessions.event_prune_state SET pruned_through = " INT64_FORMAT ", pruned_at = pg_catalog.now() "
			 "WHERE pruned_through OPERATOR(pg_catalog.<) " INT64_FORMAT,
			 pos, pos, pos);
	relay_command(rc, sql, "deleting relayed events");
	rc->deleted_through = pos;
	rc->deleted_at = now;
}

/*
 * sa_relay_node
 *		One round for one worker, in the caller's transaction (SPI
 *		connected by the caller): at most max_rows events copied in worker
 *		seq order, the position moved with them. Returns their number.
 */
int64
sa_relay_node(const char *host, int port, int max_rows)
{
	RelayConn  *rc = relay_slot(host, port);
	char	   *stored_id;
	char	   *locked_id;
	int64		pos = relay_position(host, port, &stored_id, false);
	int64		from;
	int64		n;
	int64		last;
	bool		new_log;
	PGresult   *res;
	char		posbuf[32],
				maxbuf[16];
	const char *params[2] = {posbuf, maxbuf};

	relay_connect(rc);
	(void) relay_drain(rc);
	new_log = stored_id != NULL && strcmp(stored_id, rc->log_id) != 0;
	if (stored_id != NULL && !new_log)
		relay_prune_worker(rc, pos);
	from = new_log ? 0 : pos;
	snprintf(posbuf, sizeof(posbuf), INT64_FORMAT, from);
	snprintf(maxbuf, sizeof(maxbuf), "%d", max_rows);
	res = PQexecParams(rc->conn,
					   "SELECT e.seq, e.event, e.kind, e.namespace, e.session_key, e.external_id, e.status, "
					   "(pg_catalog.extract('epoch', e.event_time) OPERATOR(pg_catalog.*) 1000000)::pg_catalog.int8, "
					   "(pg_catalog.extract('epoch', e.logged_at) OPERATOR(pg_catalog.*) 1000000)::pg_catalog.int8 "
					   "FROM sessions.events_since($1::pg_catalog.int8, NULL, $2::pg_catalog.int4) e",
					   2, NULL, params, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK || PQnfields(res) != 9)
		relay_fail(rc, res, "reading events");
	n = PQntuples(res);
	if (n == 0 && stored_id != NULL && !new_log)
	{
		PQclear(res);
		return 0;
	}

	/*
	 * Something to copy: lock the position now. Another relay that moved it
	 * meanwhile has copied these events; this round copies nothing.
	 */
	if (relay_position(host, port, &locked_id, true) != pos ||
		(locked_id == NULL) != (stored_id == NULL) ||
		(locked_id != NULL && strcmp(locked_id, stored_id) != 0))
	{
		PQclear(res);
		return 0;
	}
	if (new_log)
		ereport(LOG,
				(errmsg("session_analytics relay: worker %s:%d has another event log (%s, was %s); relaying it from its start",
						host, port, rc->log_id, stored_id)));
	last = from;
	for (int64 i = 0; i < n; i++)
	{
		EventFields ev;
		int64		seq = strtoi64(PQgetvalue(res, i, 0), NULL, 10);

		if (seq <= last)
		{
			PQclear(res);
			ereport(ERROR,
					(errcode(ERRCODE_DATA_EXCEPTION),
					 errmsg("relay: worker %s:%d returned seq " INT64_FORMAT " after " INT64_FORMAT,
							host, port, seq, last)));
		}
		ev.event = sa_event_parse(PQgetvalue(res, i, 1));
		ev.kind = pstrdup(PQgetvalue(res, i, 2));
		ev.namespace = pstrdup(PQgetvalue(res, i, 3));
		ev.session_key = *DatumGetUUIDP(DirectFunctionCall1(uuid_in, CStringGetDatum(PQgetvalue(res, i, 4))));
		ev.external_id = PQgetisnull(res, i, 5) ? NULL : pstrdup(PQgetvalue(res, i, 5));
		ev.status = pstrdup(PQgetvalue(res, i, 6));
		ev.has_time = !PQgetisnull(res, i, 7);
		ev.time = ev.has_time ? from_unix_us(PQgetvalue(res, i, 7)) : 0;
		ev.logged_at = from_unix_us(PQgetvalue(res, i, 8));
		sa_event_log_append(&ev);
		sa_event_xact_logged(&ev);
		last = seq;
	}
	PQclear(res);
	relay_set_position(host, port, last, rc->log_id);
	return n;
}

/*
 * sa_relay_wanted
 *		Does this database relay events: Citus installed, this node the
 *		coordinator, the store distributed? (Inside a transaction, SPI
 *		connected.) With why set, says which is missing.
 */
bool
sa_relay_wanted(const char **why)
{
	const char *reason = NULL;

	if (SPI_execute("SELECT EXISTS (SELECT FROM pg_catalog.pg_extension e WHERE e.extname OPERATOR(pg_catalog.=) 'citus')",
					true, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read pg_extension");
	if (!DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &(bool){false})))
		reason = "citus is not installed in this database";
	else
	{
		if (SPI_execute("SELECT (SELECT g.groupid FROM pg_catalog.pg_dist_local_group g) OPERATOR(pg_catalog.=) 0, "
						"EXISTS (SELECT FROM pg_catalog.pg_dist_partition p "
						"  WHERE p.logicalrelid OPERATOR(pg_catalog.=) pg_catalog.to_regclass('sessions.store'))",
						true, 1) != SPI_OK_SELECT)
			elog(ERROR, "could not read the Citus metadata");
		if (!DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &(bool){false})))
			reason = "this node is not the Citus coordinator";
		else if (!DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &(bool){false})))
			reason = "sessions.store is not distributed";
	}
	if (why)
		*why = reason;
	return reason == NULL;
}

/*
 * sa_relay_nodes
 *		The workers whose logs are relayed: the active primary nodes of
 *		pg_dist_node other than the coordinator, as (host, port) lists.
 */
int
sa_relay_nodes(char ***hosts, int **ports)
{
	int			n;

	if (SPI_execute("SELECT n.nodename, n.nodeport FROM pg_catalog.pg_dist_node n "
					"WHERE n.isactive AND n.noderole OPERATOR(pg_catalog.=) 'primary' AND n.groupid OPERATOR(pg_catalog.<>) 0 "
					"ORDER BY n.nodeid", true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read pg_dist_node");
	n = (int) SPI_processed;
	*hosts = palloc(sizeof(char *) * (n + 1));
	*ports = palloc(sizeof(int) * (n + 1));
	for (int i = 0; i < n; i++)
	{
		bool		isnull;

		(*hosts)[i] = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1);
		(*ports)[i] = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2, &isnull));
	}
	return n;
}

/*
 * sa_relay_sockets
 *		The sockets of the open worker connections (up to max), for the
 *		relay worker to wait on. Their notifications are consumed; *woken
 *		tells whether any had arrived since the worker's last read (while
 *		the read ran, or after it): a commit the round may have missed, so
 *		the relay runs the next round at once instead of waiting. libpq
 *		buffers a notification that came with a query's result, so the
 *		socket alone would not show it.
 */
int
sa_relay_sockets(pgsocket *socks, int max, bool *woken)
{
	int			n = 0;

	for (int i = 0; i < RELAY_MAX_NODES && n < max; i++)
	{
		RelayConn  *rc = &relay_conns[i];

		if (!rc->used || rc->conn == NULL || PQstatus(rc->conn) != CONNECTION_OK)
			continue;
		if (PQconsumeInput(rc->conn) == 0)
		{
			relay_close(rc);
			continue;
		}
		if (relay_drain(rc))
			*woken = true;
		socks[n++] = PQsocket(rc->conn);
	}
	return n;
}

/*
 * sa_relay_events
 *		SQL: sessions.relay_events(max_rows): one round over every worker in
 *		this transaction; returns the number of events relayed. Errors:
 *		22023 max_rows out of range, 55000 not a distributed store's
 *		coordinator, the worker's SQLSTATE (08006 when it cannot be reached).
 */
Datum
sa_relay_events(PG_FUNCTION_ARGS)
{
	int32		max_rows = PG_ARGISNULL(0) ? -1 : PG_GETARG_INT32(0);
	const char *why;
	char	  **hosts;
	int		   *ports;
	int			nodes;
	int64		total = 0;

	if (max_rows < 1 || max_rows > 100000)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("max_rows must be between 1 and 100000, got %d", max_rows)));
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (!sa_relay_wanted(&why))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("relay: %s", why),
				 errhint("sessions.relay_events() copies the workers' events on the coordinator of a distributed store (sessions.distribute()).")));
	nodes = sa_relay_nodes(&hosts, &ports);
	for (int i = 0; i < nodes; i++)
		total += sa_relay_node(hosts[i], ports[i], max_rows);
	SPI_finish();
	PG_RETURN_INT64(total);
}
