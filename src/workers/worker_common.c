/*
 * workers/worker_common.c
 *		What the background workers share (workers/worker_common.h): the
 *		session_analytics.database and .worker_retry_max GUCs, registration,
 *		the connection back-off, a round's transaction bracket, recovery from
 *		an error inside a round, and the check that the extension is
 *		installed (after waiting out a running ALTER/DROP EXTENSION).
 *
 * Layering: the worker files (workers/expiry_worker.c, workers/notify_worker.c) call this;
 * this file includes neither of them and knows of no job.
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/xact.h"
#include "catalog/pg_extension.h"
#include "commands/extension.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/lmgr.h"
#include "storage/lwlock.h"
#include "storage/procarray.h"
#include "storage/shmem.h"
#include "port/atomics.h"
#include "tcop/tcopprot.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/guc.h"
#include "utils/inval.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "session_analytics.h"
#include "workers/worker_common.h"

/* GUCs */
static char *worker_database = NULL;
static int	sa_worker_retry_max = 60;	/* seconds: cap of the connection back-off */

/*
 * Consecutive failed connection attempts per worker, in shared memory so
 * they survive the worker's restarts (a failed connection is a FATAL exit).
 */
typedef struct WorkerRetryShared
{
	pg_atomic_uint32 failures[SA_WORKER_COUNT];
} WorkerRetryShared;

static WorkerRetryShared *worker_retry = NULL;
static shmem_request_hook_type prev_shmem_request_hook = NULL;
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;

/* Reserves the back-off counters (PG15: from shmem_request_hook only). */
static void
retry_shmem_request(void)
{
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();
	RequestAddinShmemSpace(MAXALIGN(sizeof(WorkerRetryShared)));
}

/* Creates (postmaster) or attaches to the back-off counters. */
static void
retry_shmem_startup(void)
{
	bool		found;

	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();
	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	worker_retry = ShmemInitStruct("session_analytics worker retry", sizeof(WorkerRetryShared), &found);
	if (!found)
		for (int i = 0; i < SA_WORKER_COUNT; i++)
			pg_atomic_init_u32(&worker_retry->failures[i], 0);
	LWLockRelease(AddinShmemInitLock);
}

/*
 * sa_worker_common_init
 *		Defines the GUCs both workers read and, only while
 *		shared_preload_libraries is being processed (never under pg_upgrade),
 *		asks for the back-off counters.
 */
void
sa_worker_common_init(void)
{
	/*
	 * PGC_SIGHUP rather than PGC_POSTMASTER: the library may also be loaded
	 * after startup, when postmaster-level variables cannot be defined. The
	 * workers restart themselves when a reload changes the database.
	 */
	DefineCustomStringVariable(SA_GUC_PREFIX ".database",
							   "Database in which the session expiry worker runs.",
							   "The database where CREATE EXTENSION session_analytics was run.",
							   &worker_database,
							   "postgres",
							   PGC_SIGHUP,
							   0,
							   NULL, NULL, NULL);

	DefineCustomIntVariable(SA_GUC_PREFIX ".worker_retry_max",
							"Longest wait between a background worker's attempts to connect to session_analytics.database.",
							"The wait doubles from 1 s after each failed attempt (e.g. the database does not exist yet) up to this.",
							&sa_worker_retry_max,
							60, 1, 3600,
							PGC_SIGHUP,
							GUC_UNIT_S,
							NULL, NULL, NULL);

	if (!process_shared_preload_libraries_in_progress || IsBinaryUpgrade)
		return;

	prev_shmem_request_hook = shmem_request_hook;
	shmem_request_hook = retry_shmem_request;
	prev_shmem_startup_hook = shmem_startup_hook;
	shmem_startup_hook = retry_shmem_startup;
}

/*
 * sa_register_worker
 *		Registers one of the library's background workers (database
 *		connection, started once recovery has finished, restarted
 *		restart_s seconds after it exits abnormally). Only from _PG_init
 *		while shared_preload_libraries is processed.
 */
void
sa_register_worker(const char *function, const char *name, const char *type, int restart_s)
{
	BackgroundWorker worker;

	memset(&worker, 0, sizeof(worker));
	worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
	worker.bgw_restart_time = restart_s;
	snprintf(worker.bgw_library_name, BGW_MAXLEN, "session_analytics");
	snprintf(worker.bgw_function_name, BGW_MAXLEN, "%s", function);
	snprintf(worker.bgw_name, BGW_MAXLEN, "%s", name);
	snprintf(worker.bgw_type, BGW_MAXLEN, "%s", type);
	RegisterBackgroundWorker(&worker);
}

/*
 * sa_worker_connect
 *		Connects a worker to session_analytics.database, after the back-off
 *		its earlier failed attempts call for: none after a success, then 1 s,
 *		2 s, 4 s ... up to session_analytics.worker_retry_max. A database that
 *		does not exist yet thus costs one attempt (one FATAL in the log, and
 *		one line saying when the next comes) per interval, not one a second,
 *		and is still picked up within the cap once created. A reload cuts the
 *		wait short (the setting may now name another database).
 */
void
sa_worker_connect(int which, const char *who)
{
	uint32		failures = pg_atomic_read_u32(&worker_retry->failures[which]);

	if (failures > 0)
	{
		int			wait_s = sa_worker_retry_max;
		TimestampTz until;
		long		timeout_ms;

		if (failures <= 12)
			wait_s = Min(wait_s, 1 << (failures - 1));
		ereport(LOG,
				(errmsg("%s: could not connect to database \"%s\" (%u failed attempts); next attempt in %d s",
						who, worker_database, failures, wait_s),
				 errhint("Create the database or set session_analytics.database.")));
		until = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), wait_s * 1000L);
		while ((timeout_ms = TimestampDifferenceMilliseconds(GetCurrentTimestamp(), until)) > 0)
		{
			(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
							 timeout_ms, PG_WAIT_EXTENSION);
			ResetLatch(MyLatch);
			CHECK_FOR_INTERRUPTS();
			if (ConfigReloadPending)
			{
				ConfigReloadPending = false;
				ProcessConfigFile(PGC_SIGHUP);
				break;
			}
		}
	}
	/* Counted first: a failure does not come back from here (FATAL). */
	pg_atomic_write_u32(&worker_retry->failures[which], failures + 1);
	BackgroundWorkerInitializeConnection(worker_database, NULL, 0);
	pg_atomic_write_u32(&worker_retry->failures[which], 0);

	/*
	 * The workers run as a superuser: their queries qualify every name, and
	 * no schema a user can create in (public, or a database-level setting)
	 * is searched for the operators and types they leave unqualified.
	 */
	SetConfigOption("search_path", "pg_catalog, pg_temp", PGC_SUSET, PGC_S_OVERRIDE);
}

/*
 * sa_worker_reload
 *		Applies a pending SIGHUP; true when session_analytics.database no
 *		longer names connected_db (a worker cannot switch databases: the
 *		caller cleans up and calls sa_worker_restart_for_database).
 */
bool
sa_worker_reload(const char *connected_db)
{
	if (!ConfigReloadPending)
		return false;
	ConfigReloadPending = false;
	ProcessConfigFile(PGC_SIGHUP);
	return strcmp(connected_db, sa_worker_database()) != 0;
}

/*
 * sa_worker_restart_for_database
 *		Exits so the postmaster restarts the worker in the database now set.
 */
void
sa_worker_restart_for_database(const char *who, const char *connected_db)
{
	ereport(LOG,
			(errmsg("%s restarting to move from database \"%s\" to \"%s\"",
					who, connected_db, sa_worker_database())));
	proc_exit(1);
}

/*
 * sa_worker_database
 *		session_analytics.database (one database for both workers).
 */
const char *
sa_worker_database(void)
{
	return worker_database;
}

/*
 * sa_worker_recover
 *		In a worker's PG_CATCH: logs the error, rolls the transaction back and
 *		reports the worker idle, so its loop can carry on.
 */
void
sa_worker_recover(MemoryContext cxt)
{
	MemoryContextSwitchTo(cxt);
	EmitErrorReport();
	FlushErrorState();
	AbortCurrentTransaction();
	pgstat_report_activity(STATE_IDLE, NULL);
}

/*
 * sa_worker_round_begin
 *		Opens one round of a worker's work: a transaction with SPI connected,
 *		a snapshot, and activity reported as running.
 */
void
sa_worker_round_begin(const char *activity)
{
	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	PushActiveSnapshot(GetTransactionSnapshot());
	pgstat_report_activity(STATE_RUNNING, activity);
}

/*
 * sa_worker_round_end
 *		Closes the round: commits, flushes statistics, reports idle.
 */
void
sa_worker_round_end(void)
{
	SPI_finish();
	PopActiveSnapshot();
	CommitTransactionCommand();
	pgstat_report_stat(false);
	pgstat_report_activity(STATE_IDLE, NULL);
}

/*
 * wait_for_extension_change
 *		Waits while a transaction that changes the extension's pg_extension
 *		row is in progress. ALTER EXTENSION ... UPDATE and DROP EXTENSION
 *		update (or delete) that row before they run anything else, so a round
 *		that starts during an update waits for it to end and then sees the new
 *		catalog, instead of running the old SQL against a half-replaced one.
 *		The row is only read (its xmax): a worker takes no row lock, so its
 *		rounds assign no transaction ID and write no WAL for this. Returns
 *		whether it waited.
 */
static bool
wait_for_extension_change(void)
{
	bool		waited = false;

	for (;;)
	{
		Relation	rel;
		ScanKeyData key;
		SysScanDesc scan;
		HeapTuple	tup;
		TransactionId xwait = InvalidTransactionId;

		rel = table_open(ExtensionRelationId, AccessShareLock);
		ScanKeyInit(&key, Anum_pg_extension_extname, BTEqualStrategyNumber, F_NAMEEQ,
					CStringGetDatum("session_analytics"));
		scan = systable_beginscan(rel, ExtensionNameIndexId, true, NULL, 1, &key);
		tup = systable_getnext(scan);
		if (HeapTupleIsValid(tup) &&
			!(tup->t_data->t_infomask & HEAP_XMAX_INVALID) &&
			!HEAP_XMAX_IS_LOCKED_ONLY(tup->t_data->t_infomask))
		{
			TransactionId xmax = HeapTupleHeaderGetUpdateXid(tup->t_data);

			if (TransactionIdIsValid(xmax) && TransactionIdIsInProgress(xmax))
				xwait = xmax;
		}
		systable_endscan(scan);
		table_close(rel, AccessShareLock);
		if (!TransactionIdIsValid(xwait))
			return waited;

		pgstat_report_activity(STATE_RUNNING, "waiting for ALTER/DROP EXTENSION session_analytics");
		XactLockTableWait(xwait, NULL, NULL, XLTW_None);
		/*
		 * Waiting for a transaction reads no invalidations: read them now,
		 * and look again with a new catalog snapshot.
		 */
		AcceptInvalidationMessages();
		InvalidateCatalogSnapshot();
		waited = true;
	}
}

/*
 * sa_worker_extension_installed
 *		Inside a round: is session_analytics installed in this database?
 *		First waits out a running ALTER EXTENSION ... UPDATE or DROP
 *		EXTENSION (wait_for_extension_change), then takes a new snapshot if
 *		it waited, so the rest of the round reads what that transaction
 *		committed. When the extension is not installed, the worker named who
 *		says so once (*warned remembers).
 */
bool
sa_worker_extension_installed(const char *who, bool *warned)
{
	if (wait_for_extension_change())
	{
		PopActiveSnapshot();
		PushActiveSnapshot(GetTransactionSnapshot());
	}
	if (OidIsValid(get_extension_oid("session_analytics", true)))
	{
		*warned = false;
		return true;
	}
	if (!*warned)
		ereport(LOG,
				(errmsg("%s: extension not installed in database \"%s\"",
						who, worker_database),
				 errhint("Run CREATE EXTENSION session_analytics there, or set session_analytics.database.")));
	*warned = true;
	return false;
}
