/*
 * events/event_prune.c
 *		Retention of the event log: session_analytics.event_retention and
 *		sessions.prune_events(), which sessions.maintenance() (writers, the
 *		expiry worker) or pg_cron calls.
 *
 * Pruning deletes a prefix of the log in seq order: the oldest events, up to
 * the first one logged within the retention (so an event of a long
 * transaction, logged earlier than events numbered before it, goes with
 * them). It never deletes past sessions.events_head(), so it cannot overtake
 * a transaction that took a lower seq and commits late, and it records the
 * highest seq removed in sessions.event_prune_state, where readers learn
 * that they missed events (sessions.events_since raises an error below it).
 *
 * Layering: SQL over the log through SPI; includes no other events file and
 * is called by none (the SQL function is its only entry).
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "utils/guc.h"

#include "session_analytics.h"

PG_FUNCTION_INFO_V1(sa_prune_events);

/* GUC: minutes; 0 keeps every event. */
static int	event_retention_min = 7 * 24 * 60;

/*
 * sa_event_prune_init
 *		Registers session_analytics.event_retention; called from _PG_init.
 */
void
sa_event_prune_init(void)
{
	DefineCustomIntVariable(SA_GUC_PREFIX ".event_retention",
							"Events older than this are removed by sessions.prune_events(); 0 keeps them.",
							NULL, &event_retention_min, 7 * 24 * 60, 0, INT_MAX,
							PGC_SUSET, GUC_UNIT_MIN, NULL, NULL, NULL);
}

/*
 * sa_prune_events
 *		SQL: sessions.prune_events(): deletes the oldest events, in seq order,
 *		up to the first one logged within session_analytics.event_retention
 *		(never past sessions.events_head(),
 *		so pruning cannot overtake a late-committing transaction) and records
 *		the highest removed seq, so a reader resuming below it gets an error
 *		instead of a silent gap.
 */
Datum
sa_prune_events(PG_FUNCTION_ARGS)
{
	int64		deleted = 0;
	Datum		arg;
	Oid			argtype = INT4OID;
	bool		isnull;

	if (event_retention_min == 0)
		PG_RETURN_INT64(0);
	arg = Int32GetDatum(event_retention_min);
	/* SPI_connect raises its own errors; it returns SPI_OK_CONNECT otherwise. */
	(void) SPI_connect();
	/*
	 * Every name qualified: the schema is the extension's (non-relocatable).
	 * The oldest events go, in seq order, up to the first one logged within
	 * the retention (found by the primary key: no index on logged_at for
	 * writers to maintain) and never past events_head().
	 */
	if (SPI_execute_with_args(
							  "WITH b AS (SELECT LEAST(sessions.events_head(), "
							  "    (SELECT e.seq OPERATOR(pg_catalog.-) 1 FROM sessions.event_log e "
							  "      WHERE e.logged_at OPERATOR(pg_catalog.>=) (pg_catalog.now() "
							  "            OPERATOR(pg_catalog.-) pg_catalog.make_interval(mins => $1)) "
							  "      ORDER BY e.seq LIMIT 1)) AS upto), "
							  "d AS (DELETE FROM sessions.event_log e USING b "
							  "  WHERE e.seq OPERATOR(pg_catalog.<=) b.upto RETURNING e.seq), "
							  "m AS (SELECT pg_catalog.count(*) AS n, pg_catalog.max(d.seq) AS top FROM d), "
							  "u AS (UPDATE sessions.event_prune_state s "
							  "  SET pruned_through = GREATEST(s.pruned_through, m.top), pruned_at = pg_catalog.now() "
							  "  FROM m WHERE m.top IS NOT NULL RETURNING 1) "
							  "SELECT m.n FROM m",
							  1, &argtype, &arg, NULL, false, 0) != SPI_OK_SELECT || SPI_processed != 1)
		/* A failing statement raises its own error; this needs another catalog. */
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("sessions.prune_events() got no row count from deleting old events"),
				 errhint("Reinstall the extension instead of altering its tables.")));
	deleted = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	SPI_finish();
	PG_RETURN_INT64(deleted);
}
