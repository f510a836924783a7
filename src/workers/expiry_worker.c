/*
 * workers/expiry_worker.c
 *		Background worker that ends expired sessions.
 *
 * When the library is in shared_preload_libraries, one worker connects to
 * session_analytics.database and runs SELECT sessions.maintenance() every
 * session_analytics.expiry_interval seconds (which calls expire_sessions()).
 * Loaded any other way, only the GUCs are defined; deployments without the
 * worker schedule sessions.expire_sessions() with pg_cron instead. The
 * plumbing (connecting, the round's transaction, recovery) is
 * workers/worker_common.c's; this file keeps only the loop and the job.
 */
#include "postgres.h"

#include "executor/spi.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "tcop/tcopprot.h"
#include "utils/guc.h"
#include "utils/memutils.h"

#include "session_analytics.h"
#include "workers/worker_common.h"

PGDLLEXPORT void sa_expiry_worker_main(Datum main_arg);

/* GUCs */
static int	sa_expiry_interval = 60;	/* seconds; 0 disables the runs */

/*
 * sa_expiry_init
 *		Defines the expiry GUC and, only while shared_preload_libraries is
 *		being processed (never under pg_upgrade), registers the worker.
 */
void
sa_expiry_init(void)
{
	DefineCustomIntVariable(SA_GUC_PREFIX ".expiry_interval",
							"Seconds between runs of the session expiry worker.",
							"0 pauses the worker. Only used when the library is preloaded.",
							&sa_expiry_interval,
							60, 0, 86400,
							PGC_SIGHUP,
							GUC_UNIT_S,
							NULL, NULL, NULL);

	if (!process_shared_preload_libraries_in_progress || IsBinaryUpgrade)
		return;

	/* Restarted after 1 s: sa_worker_connect paces failed connections. */
	sa_register_worker("sa_expiry_worker_main", "session_analytics expiry worker",
					   "session_analytics expiry", 1);
}

/*
 * sa_expiry_run
 *		One run in its own transaction: maintenance() when the extension is
 *		installed in this database, nothing otherwise.
 */
static void
sa_expiry_run(bool *warned_missing)
{
	int			ret;

	sa_worker_round_begin("SELECT sessions.maintenance()");
	if (sa_worker_extension_installed("session_analytics expiry worker", warned_missing))
	{
		ret = SPI_execute("SELECT sessions.maintenance()::text", false, 1);
		if (ret != SPI_OK_SELECT)
			elog(ERROR, "SPI_execute failed: %s", SPI_result_code_string(ret));
		if (SPI_processed > 0)
			elog(DEBUG1, "session_analytics maintenance: %s",
				 SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1));
	}
	sa_worker_round_end();
}

/*
 * sa_expiry_worker_main
 *		Worker entry: connect, then run every interval until SIGTERM or
 *		postmaster death. A failing run is logged, rolled back and retried at
 *		the next interval; it does not end the worker.
 */
void
sa_expiry_worker_main(Datum main_arg)
{
	static bool warned_missing = false;
	MemoryContext loop_cxt;
	char	   *connected_db;

	/* Never registered under pg_upgrade; and never run there either. */
	if (IsBinaryUpgrade)
		proc_exit(0);

	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();

	sa_worker_connect(SA_WORKER_EXPIRY, "session_analytics expiry worker");
	connected_db = pstrdup(sa_worker_database());
	elog(LOG, "session_analytics expiry worker started in database \"%s\" (interval %d s)",
		 sa_worker_database(), sa_expiry_interval);

	loop_cxt = AllocSetContextCreate(TopMemoryContext, "session_analytics expiry",
									 ALLOCSET_DEFAULT_SIZES);

	for (;;)
	{
		long		timeout_ms;

		CHECK_FOR_INTERRUPTS();
		if (sa_worker_reload(connected_db))
			sa_worker_restart_for_database("session_analytics expiry worker", connected_db);

		if (sa_expiry_interval > 0)
		{
			MemoryContextSwitchTo(loop_cxt);
			PG_TRY();
			{
				sa_expiry_run(&warned_missing);
			}
			PG_CATCH();
			{
				/* Report, roll back, and carry on at the next interval. */
				sa_worker_recover(loop_cxt);
			}
			PG_END_TRY();
			MemoryContextSwitchTo(TopMemoryContext);
			MemoryContextReset(loop_cxt);
		}

		timeout_ms = (sa_expiry_interval > 0 ? sa_expiry_interval : 3600) * 1000L;
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 timeout_ms, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
	}
}
