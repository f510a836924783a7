/*
 * workers/notify_worker.c
 *		The notifier: a background worker that NOTIFYs logged events, so
 *		writing transactions stay off PostgreSQL's NOTIFY path.
 *
 * Every notifying commit takes one cluster-wide lock (PreCommit_Notify) and
 * signals the listeners, so notifying writers serialize. With the library in
 * shared_preload_libraries, one worker ("session_analytics notifier")
 * connects to session_analytics.database; writers there that logged events
 * queue no NOTIFY and only set its latch after commit. The worker reads the
 * log after the last seq it delivered in the catch-up order of
 * sessions.events_since (never an event after a higher-numbered one): in C
 * by the primary key while the snapshot's xmin bounds it (deliver_fast),
 * else through events_since itself (deliver_sql), and queues the
 * same payloads on the same channels in one transaction per batch, and
 * remembers the batch's last seq in shared memory, where a restarted worker
 * resumes. session_analytics.notify_mode chooses the path (docs/notifications.md).
 *
 * Layering: this file is the top of events and notifier. It uses the
 * hand-off (events/notify_handoff.h: the shared state, the contract with the
 * writers), the writer's delivery (events/event_xact.h: sa_events_announce,
 * sa_notify_enabled), the log's identity (events/event_log.h: sa_event_log_oid)
 * and the worker plumbing (workers/worker_common.h); nothing includes or calls it.
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/nbtree.h"
#include "access/relscan.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/transam.h"
#include "access/xact.h"
#include "catalog/pg_am.h"
#include "catalog/pg_authid.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "port/atomics.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/lwlock.h"
#include "storage/proc.h"
#include "storage/shmem.h"
#include "tcop/tcopprot.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/fmgroids.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"
#include "utils/xid8.h"

#include "session_analytics.h"
#include "events/event_log.h"
#include "events/event_xact.h"
#include "events/notify_handoff.h"
#include "workers/worker_common.h"

PGDLLEXPORT void sa_notify_worker_main(Datum main_arg);
PG_FUNCTION_INFO_V1(sa_notify_status);

/* Events per delivery transaction; coalescing counts per batch. */
#define NOTIFIER_BATCH 10000
/* Safety-net wake-up while delivering, and the poll while idle (ms). */
#define NOTIFIER_TIMEOUT_MS 250
#define NOTIFIER_IDLE_MS 1000
#define NOTIFIER_BACKOFF_MAX_MS 10000
/*
 * Pause after a delivering round, so that under load one round serves many
 * commits: per event delivered, up to a cap (µs). At a few events per round
 * it stays well under a millisecond.
 */
#define NOTIFIER_GATHER_PER_EVENT_US 200
#define NOTIFIER_GATHER_MAX_US 10000

/*
 * sa_notify_init
 *		While shared_preload_libraries is processed (not under pg_upgrade),
 *		registers the notifier. Its GUC and shared state are the hand-off's
 *		(events/notify_handoff.c).
 */
void
sa_notify_init(void)
{
	if (!process_shared_preload_libraries_in_progress || IsBinaryUpgrade)
		return;

	sa_register_worker("sa_notify_worker_main", "session_analytics notifier",
					   "session_analytics notifier", 1);
}

/* ---------------------------------------------------------------------
 * Status
 * ---------------------------------------------------------------------
 */

/*
 * sa_notify_status
 *		SQL: sessions.notify_status(): who notifies this database's events
 *		now ('commit', 'worker' or 'off'), the notifier's pid, and the last
 *		seq it delivered here.
 */
Datum
sa_notify_status(PG_FUNCTION_ARGS)
{
	TupleDesc	desc;
	Datum		values[3];
	bool		nulls[3] = {false, false, false};
	bool		serving;

	if (get_call_result_type(fcinfo, NULL, &desc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	values[0] = CStringGetTextDatum(!sa_notify_enabled() ? "off" :
									sa_notifier_selected() ? "worker" : "commit");
	if (sa_notifier != NULL && pg_atomic_read_u32(&sa_notifier->procno) > 0)
	{
		pg_read_barrier();		/* pid is written before procno */
		values[1] = Int32GetDatum(sa_notifier->pid);
	}
	else
		nulls[1] = true;
	serving = sa_notifier != NULL && pg_atomic_read_u32(&sa_notifier->active) != 0;
	pg_read_barrier();

	/*
	 * The delivered seq is the global event count: shown, like the query
	 * text of pg_stat_activity, only to roles with pg_read_all_stats (and
	 * superusers); tenants get NULL.
	 */
	if (serving && sa_notifier->dboid == MyDatabaseId &&
		has_privs_of_role(GetUserId(), ROLE_PG_READ_ALL_STATS))
		values[2] = Int64GetDatum((int64) pg_atomic_read_u64(&sa_notifier->delivered));
	else
		nulls[2] = true;
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(desc, values, nulls)));
}

/* ---------------------------------------------------------------------
 * The worker
 * ---------------------------------------------------------------------
 */

static bool warned_missing = false;	/* said once that the extension is missing */
static SPIPlanPtr deliver_plan = NULL;	/* kept across rounds */
static SPIPlanPtr check_plan = NULL;	/* notifier_check_log's, kept too */

/* Writers go back to commit mode (auto); the next activation starts afresh. */
static void
notifier_deactivate(const char *why)
{
	if (pg_atomic_read_u32(&sa_notifier->active) == 0)
		return;
	pg_atomic_write_u32(&sa_notifier->active, 0);
	ereport(LOG, (errmsg("session_analytics notifier stopped delivering: %s", why)));
}

/* Exit callback: no latch to set any more. active stays: the restarted
 * worker resumes after the last delivered seq, writers keep leaving their
 * events to it meanwhile. */
static void
notifier_detach(int code, Datum arg)
{
	pg_atomic_write_u32(&sa_notifier->procno, 0);
}

/*
 * notifier_activate
 *		Starts delivering at the log's head (older events are the catch-up
 *		protocol's): the head is read first, then active is published, so
 *		every event at or below it committed while writers still notified
 *		themselves, and every writer that leaves its events to the notifier
 *		commits after that snapshot, above the head.
 */
static void
notifier_activate(void)
{
	bool		isnull;
	int64		head = 0;
	uint64		horizon;
	Oid			seqid;
	Oid			logid;

	sa_worker_round_begin("session_analytics notifier: start position");
	if (!sa_worker_extension_installed("session_analytics notifier", &warned_missing))
	{
		sa_worker_round_end();
		return;
	}
	logid = sa_event_log_oid(&seqid);
	if (SPI_execute("SELECT h.head, (SELECT e.horizon FROM sessions.event_log e WHERE e.seq OPERATOR(pg_catalog.=) h.head) "
					"FROM sessions.events_head() AS h(head)", true, 1) != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "could not read sessions.events_head()");
	head = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	if (isnull)
		head = 0;
	horizon = U64FromFullTransactionId(DatumGetFullTransactionId(
				SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull)));
	if (isnull)
		horizon = 0;
	sa_worker_round_end();

	pg_atomic_write_u64(&sa_notifier->delivered, (uint64) head);
	sa_notifier->horizon = horizon;
	sa_notifier->logrelid = logid;
	sa_notifier->dboid = MyDatabaseId;
	pg_write_barrier();
	pg_atomic_write_u32(&sa_notifier->active, 1);
	ereport(LOG, (errmsg("session_analytics notifier delivering events after seq " INT64_FORMAT " in database \"%s\"",
						 head, sa_worker_database())));
}

/*
 * notifier_restart_log
 *		Delivers the (new) log from its start: the position belonged to
 *		another log. Every event in it was left to the notifier, since the
 *		notifier stayed active (writers queued no NOTIFY) while it appeared.
 */
static void
notifier_restart_log(Oid logid, const char *why)
{
	ereport(LOG,
			(errmsg("session_analytics notifier: %s; delivering the event log from its start "
					"(was after seq " INT64_FORMAT ")",
					why, (int64) pg_atomic_read_u64(&sa_notifier->delivered))));
	pg_atomic_write_u64(&sa_notifier->delivered, 0);
	sa_notifier->horizon = 0;
	sa_notifier->logrelid = logid;
	if (deliver_plan)
	{
		SPI_freeplan(deliver_plan);
		deliver_plan = NULL;
	}
	if (check_plan)
	{
		SPI_freeplan(check_plan);
		check_plan = NULL;
	}
}

/*
 * notifier_check_log
 *		Inside a round, before reading the log: is the position still one of
 *		this log? It is tied to the log's OID (DROP EXTENSION then CREATE
 *		EXTENSION, in one transaction or not, makes a new log whose seqs start
 *		again at 1), it must not be above the sequence, and the event at the
 *		position, while still there, must be the one delivered (same
 *		horizon): both fail when the log was emptied and its sequence
 *		restarted, before or after the new numbers pass the position.
 */
static void
notifier_check_log(void)
{
	Oid			seqid;
	Oid			logid = sa_event_log_oid(&seqid);
	Oid			argtypes[2] = {REGCLASSOID, INT8OID};
	Datum		args[2];
	bool		isnull;
	int64		last;
	uint64		delivered = pg_atomic_read_u64(&sa_notifier->delivered);

	if (!OidIsValid(logid) || !OidIsValid(seqid))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("sessions.event_log or sessions.event_seq is missing")));
	if (logid != sa_notifier->logrelid)
	{
		notifier_restart_log(logid, "the event log was recreated (extension dropped and created again)");
		return;
	}
	args[0] = ObjectIdGetDatum(seqid);
	args[1] = Int64GetDatum((int64) delivered);
	if (check_plan == NULL)
	{
		SPIPlanPtr	plan = SPI_prepare("SELECT pg_catalog.pg_sequence_last_value($1), "
									   "(SELECT e.horizon FROM sessions.event_log e WHERE e.seq OPERATOR(pg_catalog.=) $2)",
									   2, argtypes);

		if (plan == NULL || SPI_keepplan(plan) != 0)
			elog(ERROR, "could not prepare the log check: %s", SPI_result_code_string(SPI_result));
		check_plan = plan;
	}
	if (SPI_execute_plan(check_plan, args, NULL, true, 1) != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "could not read the event sequence");
	last = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	if (isnull)
		last = 0;
	if ((uint64) last < delivered)
	{
		notifier_restart_log(logid, "the event sequence is below the delivered position");
		return;
	}
	if (sa_notifier->horizon != 0)
	{
		Datum		h = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull);

		if (!isnull && U64FromFullTransactionId(DatumGetFullTransactionId(h)) != sa_notifier->horizon)
			notifier_restart_log(logid, "the event at the delivered position is not the one delivered");
	}
}

/*
 * notifier_round_begin
 *		Opens a delivery round: a transaction with SPI connected, but no
 *		snapshot yet. deliver_fast takes it once it holds its locks on the
 *		log, so a round that waited for a DDL lock (ALTER or DROP of the log)
 *		reads what that transaction committed.
 */
static void
notifier_round_begin(void)
{
	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	pgstat_report_activity(STATE_RUNNING, "session_analytics notifier: deliver");
}

/*
 * widen_xid
 *		A snapshot's 32-bit xid as the 64-bit one it stands for, as
 *		pg_current_snapshot() widens it: within 2^31 below the next xid.
 */
static uint64
widen_xid(TransactionId xid, FullTransactionId next)
{
	uint32		epoch = EpochFromFullTransactionId(next);

	if (!TransactionIdIsNormal(xid))
		return (uint64) xid;
	if (xid > XidFromFullTransactionId(next))
		epoch--;
	return U64FromFullTransactionId(FullTransactionIdFromEpochAndXid(epoch, xid));
}

/*
 * open_log
 *		The log the position belongs to (sa_notifier->logrelid) and its
 *		primary key, locked for reading, when they still look as the fast
 *		read needs them: the relation exists under that OID (DROP EXTENSION
 *		drops it; a recreated log has another OID), is a table named
 *		event_log whose seq and horizon columns have their types at their
 *		Anum_event_log_* positions, and whose primary key is a btree on seq
 *		alone. NULL otherwise: the round takes the SQL path, whose checks
 *		(extension installed, log recreated) say what happened. So the
 *		extension and log checks cost a relcache lookup per round, not a
 *		catalog scan and a query.
 */
static Relation
open_log(Relation *index)
{
	Oid			logid = sa_notifier->logrelid;
	Relation	rel;
	Relation	idx;
	TupleDesc	desc;
	Form_pg_attribute seq_att,
				horizon_att;
	Oid			pk;

	if (!OidIsValid(logid) || (rel = try_table_open(logid, AccessShareLock)) == NULL)
		return NULL;
	desc = RelationGetDescr(rel);
	if (rel->rd_rel->relkind != RELKIND_RELATION ||
		strcmp(RelationGetRelationName(rel), "event_log") != 0 ||
		desc->natts != Natts_event_log)
	{
		table_close(rel, AccessShareLock);
		return NULL;
	}
	seq_att = TupleDescAttr(desc, Anum_event_log_seq - 1);
	horizon_att = TupleDescAttr(desc, Anum_event_log_horizon - 1);
	pk = RelationGetPrimaryKeyIndex(rel);
	if (seq_att->attisdropped || seq_att->atttypid != INT8OID ||
		horizon_att->attisdropped || horizon_att->atttypid != XID8OID || !OidIsValid(pk))
	{
		table_close(rel, AccessShareLock);
		return NULL;
	}
	idx = index_open(pk, AccessShareLock);
	if (idx->rd_rel->relam != BTREE_AM_OID || idx->rd_index->indnatts != 1 ||
		idx->rd_index->indkey.values[0] != Anum_event_log_seq)
	{
		index_close(idx, AccessShareLock);
		table_close(rel, AccessShareLock);
		return NULL;
	}
	*index = idx;
	return rel;
}

/*
 * deliver_fast
 *		The round's read of the log in C, in place of sessions.events_since:
 *		the primary key from the delivered position on, in the round's
 *		snapshot. The position's own row must still be there with the
 *		horizon delivered (the log check of notifier_check_log, answered by
 *		the same index descent). Of the events past it, those up to the last
 *		one whose horizon the snapshot's xmin has passed are final (the cheap
 *		bound of events_since: every transaction that could still hold a
 *		lower seq has ended) and are announced, in seq order, at most
 *		NOTIFIER_BATCH. Returns their number with the last seq and horizon
 *		in *last and *last_horizon, or -1, having announced nothing, when
 *		the round must take the SQL path: the log or its key not as
 *		expected (recreated, dropped, altered), the position's row gone or
 *		another (pruned, log emptied: the sequence check decides), or events
 *		past the position none of which is final by the cheap bound (the
 *		exact bound of sessions.events_head reads pg_locks).
 */
static int
deliver_fast(int64 *last, uint64 *last_horizon)
{
	Relation	rel;
	Relation	idx = NULL;
	Snapshot	snap;
	uint64		xmin;
	uint64		delivered = pg_atomic_read_u64(&sa_notifier->delivered);
	ScanKeyData key;
	IndexScanDesc scan;
	TupleTableSlot *slot;
	Datum	   *rows;
	int64	   *seqs;
	uint64	   *horizons;
	int			n = 0,
				maxrows = 64,
				usable = 0;
	bool		at_position = false;
	uint64		position_horizon = 0;

	rel = open_log(&idx);
	PushActiveSnapshot(GetTransactionSnapshot());
	if (rel == NULL)
		return -1;
	snap = GetActiveSnapshot();
	xmin = widen_xid(snap->xmin, ReadNextFullTransactionId());

	rows = palloc(sizeof(Datum) * maxrows);
	seqs = palloc(sizeof(int64) * maxrows);
	horizons = palloc(sizeof(uint64) * maxrows);
	ScanKeyInit(&key, 1, BTGreaterEqualStrategyNumber, F_INT8GE, Int64GetDatum((int64) delivered));
	scan = index_beginscan(rel, idx, snap, 1, 0);
	index_rescan(scan, &key, 1, NULL, 0);
	slot = table_slot_create(rel, NULL);
	while (n < NOTIFIER_BATCH && index_getnext_slot(scan, ForwardScanDirection, slot))
	{
		bool		seq_null,
					h_null;
		int64		seq = DatumGetInt64(slot_getattr(slot, Anum_event_log_seq, &seq_null));
		Datum		hd = slot_getattr(slot, Anum_event_log_horizon, &h_null);
		uint64		h;

		if (seq_null || h_null)
			elog(ERROR, "sessions.event_log holds a row with a NULL seq or horizon");
		h = U64FromFullTransactionId(DatumGetFullTransactionId(hd));
		if (seq <= (int64) delivered)
		{
			if (seq == (int64) delivered)
			{
				at_position = true;
				position_horizon = h;
			}
			continue;
		}
		if (n == maxrows)
		{
			maxrows *= 2;
			rows = repalloc(rows, sizeof(Datum) * maxrows);
			seqs = repalloc(seqs, sizeof(int64) * maxrows);
			horizons = repalloc(horizons, sizeof(uint64) * maxrows);
		}
		rows[n] = ExecFetchSlotHeapTupleDatum(slot);
		seqs[n] = seq;
		horizons[n] = h;
		n++;
		if (h <= xmin)
			usable = n;
	}
	ExecDropSingleTupleTableSlot(slot);
	index_endscan(scan);
	index_close(idx, NoLock);
	table_close(rel, NoLock);

	if (delivered > 0 && !at_position)
		return -1;
	if (at_position && sa_notifier->horizon != 0 && position_horizon != sa_notifier->horizon)
		return -1;
	if (n > 0 && usable == 0)
		return -1;
	for (int i = 0; i < usable; i++)
		sa_events_announce(DatumGetHeapTupleHeader(rows[i]));
	if (usable > 0)
	{
		*last = seqs[usable - 1];
		*last_horizon = horizons[usable - 1];
	}
	return usable;
}

/*
 * deliver_sql
 *		The round's SQL path, taken when deliver_fast cannot decide: the
 *		extension check (waiting out ALTER/DROP EXTENSION), the log check
 *		(notifier_check_log: recreated log, sequence below the position,
 *		another event at the position), then sessions.events_since, whose
 *		exact bound covers a log that an open transaction holds back.
 *		Returns the number of events announced (-1: the extension is gone,
 *		the notifier stops delivering).
 */
static int
deliver_sql(int64 *last, uint64 *last_horizon)
{
	Oid			argtypes[2] = {INT8OID, INT4OID};
	Datum		args[2];
	uint64		n;

	if (!sa_worker_extension_installed("session_analytics notifier", &warned_missing))
		return -1;
	notifier_check_log();
	args[0] = Int64GetDatum((int64) pg_atomic_read_u64(&sa_notifier->delivered));
	args[1] = Int32GetDatum(NOTIFIER_BATCH);
	if (deliver_plan == NULL)
	{
		/* Past pruned events (after a very long stop) rather than an error loop. */
		SPIPlanPtr	plan = SPI_prepare("SELECT e, e.seq, e.horizon FROM sessions.events_since("
									   "  GREATEST($1, (SELECT s.pruned_through FROM sessions.event_prune_state s)),"
									   "  NULL, $2) AS e", 2, argtypes);

		if (plan == NULL || SPI_keepplan(plan) != 0)
			elog(ERROR, "could not prepare the delivery query: %s", SPI_result_code_string(SPI_result));
		deliver_plan = plan;
	}
	if (SPI_execute_plan(deliver_plan, args, NULL, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read sessions.events_since");
	n = SPI_processed;
	for (uint64 i = 0; i < n; i++)
	{
		bool		isnull;
		Datum		row = SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, &isnull);

		if (isnull)
			elog(ERROR, "sessions.events_since returned a NULL row");
		sa_events_announce(DatumGetHeapTupleHeader(row));
		*last = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2, &isnull));
		*last_horizon = U64FromFullTransactionId(DatumGetFullTransactionId(
						SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 3, &isnull)));
	}
	return (int) n;
}

/* Rounds that took the SQL path, and all delivering rounds (notify_status is unchanged; DEBUG1 reports them). */
static uint64 rounds_sql = 0;
static uint64 rounds_all = 0;

/*
 * notifier_deliver
 *		One batch: the events after the last delivered seq, in seq order,
 *		announced on their channels in one transaction (one NOTIFY queue
 *		lock for the batch): read in C by deliver_fast, or through
 *		sessions.events_since by deliver_sql when it cannot decide. The
 *		position moves only once the transaction has committed. Returns the
 *		number of events.
 */
static int
notifier_deliver(void)
{
	int			n;
	int64		last = 0;
	uint64		last_horizon = 0;

	notifier_round_begin();
	rounds_all++;
	n = deliver_fast(&last, &last_horizon);
	if (n < 0)
	{
		rounds_sql++;
		n = deliver_sql(&last, &last_horizon);
		if (n < 0)
		{
			sa_worker_round_end();
			notifier_deactivate("extension not installed");
			return 0;
		}
	}
	if ((rounds_all & 0xffff) == 0)
		elog(DEBUG1, "session_analytics notifier: " UINT64_FORMAT " of " UINT64_FORMAT " rounds took the SQL path",
			 rounds_sql, rounds_all);

	/* Commit and move the position with no interrupt in between. */
	HOLD_INTERRUPTS();
	sa_worker_round_end();
	if (n > 0)
	{
		sa_notifier->horizon = last_horizon;
		pg_atomic_write_u64(&sa_notifier->delivered, (uint64) last);
	}
	RESUME_INTERRUPTS();
	return n;
}

/*
 * sa_notify_worker_main
 *		Worker entry: connect, publish the latch, then deliver on every wake
 *		(and every NOTIFIER_TIMEOUT_MS as a safety net) until SIGTERM or
 *		postmaster death. Errors are logged and retried with backoff.
 */
void
sa_notify_worker_main(Datum main_arg)
{
	MemoryContext loop_cxt;
	char	   *connected_db;
	volatile int backoff_ms = 0;

	/* Never registered under pg_upgrade; and never run there either. */
	if (IsBinaryUpgrade)
		proc_exit(0);

	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();

	sa_worker_connect(SA_WORKER_NOTIFIER, "session_analytics notifier");
	connected_db = pstrdup(sa_worker_database());

	/* A restart in another database cannot resume the old position. */
	if (pg_atomic_read_u32(&sa_notifier->active) != 0 && sa_notifier->dboid != MyDatabaseId)
		notifier_deactivate("database changed");
	sa_notifier->pid = MyProcPid;
	pg_write_barrier();
	pg_atomic_write_u32(&sa_notifier->procno, MyProc->pgprocno + 1);
	on_shmem_exit(notifier_detach, 0);
	if (pg_atomic_read_u32(&sa_notifier->active) != 0)
		ereport(LOG, (errmsg("session_analytics notifier resuming after seq " INT64_FORMAT " in database \"%s\"",
							 (int64) pg_atomic_read_u64(&sa_notifier->delivered), connected_db)));

	loop_cxt = AllocSetContextCreate(TopMemoryContext, "session_analytics notifier",
									 ALLOCSET_DEFAULT_SIZES);
	for (;;)
	{
		bool		wanted;
		long		timeout_ms;
		volatile int delivered = 0;

		CHECK_FOR_INTERRUPTS();
		if (sa_worker_reload(connected_db))
		{
			notifier_deactivate("session_analytics.database changed");
			sa_worker_restart_for_database("session_analytics notifier", connected_db);
		}

		wanted = sa_notify_mode != NOTIFY_MODE_COMMIT && sa_notify_enabled();
		if (!wanted)
			notifier_deactivate(sa_notify_mode == NOTIFY_MODE_COMMIT ? "notify_mode is commit" : "notify is off");
		else
		{
			uint32		holdoff = InterruptHoldoffCount;

			MemoryContextSwitchTo(loop_cxt);
			PG_TRY();
			{
				if (pg_atomic_read_u32(&sa_notifier->active) == 0)
					notifier_activate();
				/* Repeat while a full batch came: there may be more. */
				while (pg_atomic_read_u32(&sa_notifier->active) != 0 &&
					   (delivered = notifier_deliver()) == NOTIFIER_BATCH)
				{
					CHECK_FOR_INTERRUPTS();
					MemoryContextReset(loop_cxt);
				}
				backoff_ms = 0;
			}
			PG_CATCH();
			{
				/* Report, roll back, retry later; the position has not moved. */
				InterruptHoldoffCount = holdoff;	/* an error inside the commit */
				sa_worker_recover(loop_cxt);
				if (deliver_plan)
				{
					/* Prepared afresh next time (e.g. after the extension was recreated). */
					SPI_freeplan(deliver_plan);
					deliver_plan = NULL;
				}
				if (check_plan)
				{
					SPI_freeplan(check_plan);
					check_plan = NULL;
				}
				backoff_ms = backoff_ms ? Min(backoff_ms * 2, NOTIFIER_BACKOFF_MAX_MS) : 100;
			}
			PG_END_TRY();
			MemoryContextSwitchTo(TopMemoryContext);
			MemoryContextReset(loop_cxt);
		}

		if (backoff_ms)
		{
			/* Back off for the whole time: writers' wake-ups do not cut it short. */
			TimestampTz until = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), backoff_ms);

			while ((timeout_ms = TimestampDifferenceMilliseconds(GetCurrentTimestamp(), until)) > 0)
			{
				(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
								 timeout_ms, PG_WAIT_EXTENSION);
				ResetLatch(MyLatch);
				CHECK_FOR_INTERRUPTS();
				if (ConfigReloadPending)
					break;
			}
			continue;
		}
		/*
		 * After a round that delivered, let commits gather for a moment: one
		 * round (a transaction, a log read, the NOTIFY lock, a signal to
		 * each listener) then serves many of them.
		 */
		if (delivered > 0)
			pg_usleep(Min((long) delivered * NOTIFIER_GATHER_PER_EVENT_US, NOTIFIER_GATHER_MAX_US));
		timeout_ms = pg_atomic_read_u32(&sa_notifier->active) ? NOTIFIER_TIMEOUT_MS : NOTIFIER_IDLE_MS;
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 timeout_ms, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
	}
}
