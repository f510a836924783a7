/*
 * workers/relay_worker.c
 *		The relay worker: on the coordinator of a Citus cluster whose store
 *		is distributed, copies every worker's final events into the
 *		coordinator's log (events/event_relay.c), one transaction per worker
 *		and round, so the notifier, events_since and session-listen serve the
 *		cluster's events from the coordinator.
 *
 * Registered only when citus is in shared_preload_libraries too; connects
 * to session_analytics.database like the other workers. A round runs when a
 * worker's commit notifies SA_RELAY_CHANNEL (one-phase commits: the relay
 * LISTENs on every worker), and every session_analytics.relay_interval
 * otherwise (events of two-phase commits, a lost wake-up); at once again
 * after a full page. Where the store is not distributed (or this is not the
 * coordinator) it looks again every RELAY_IDLE_MS. A worker that fails
 * (down, restarting) is logged and retried at the next round; the others go
 * on.
 *
 * Layering: over events/event_relay.h and workers/worker_common.h only.
 */
#include "postgres.h"

#include "access/xact.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "tcop/tcopprot.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"
#include "utils/varlena.h"

#include "session_analytics.h"
#include "events/event_relay.h"
#include "workers/worker_common.h"

PGDLLEXPORT void sa_relay_worker_main(Datum main_arg);

/* Events per worker and transaction. */
#define RELAY_BATCH 1000
/* Where nothing is relayed (no Citus, not the coordinator, not distributed). */
#define RELAY_IDLE_MS 5000
/* Sockets waited on at most. */
#define RELAY_MAX_SOCKETS 64

static int	relay_interval_ms = 100;

/*
 * sa_relay_worker_init
 *		Registers session_analytics.relay_interval and, while
 *		shared_preload_libraries (naming citus as well) is processed, the
 *		relay worker.
 */
void
sa_relay_worker_init(void)
{
	const char *libs;
	char	   *copy;
	List	   *names = NIL;
	bool		citus = false;
	ListCell   *lc;

	DefineCustomIntVariable(SA_GUC_PREFIX ".relay_interval",
							"Longest time between two rounds of the Citus event relay.",
							"A worker's one-phase commit wakes the relay at once; events of two-phase commits wait for this poll.",
							&relay_interval_ms, 100, 10, 60000,
							PGC_SIGHUP, GUC_UNIT_MS, NULL, NULL, NULL);
	if (!process_shared_preload_libraries_in_progress || IsBinaryUpgrade)
		return;
	libs = GetConfigOption("shared_preload_libraries", true, false);
	if (libs == NULL)
		return;
	copy = pstrdup(libs);
	if (SplitIdentifierString(copy, ',', &names))
		foreach(lc, names)
			if (strcmp((char *) lfirst(lc), "citus") == 0)
				citus = true;
	if (citus)
		sa_register_worker("sa_relay_worker_main", "session_analytics relay",
						   "session_analytics relay", 1);
}

/*
 * relay_round
 *		One round: the list of workers (one transaction), then each worker in
 *		its own transaction. Returns the wait before the next round (ms).
 */
static long
relay_round(MemoryContext cxt)
{
	static bool warned_missing = false;
	const char *why = NULL;
	char	  **volatile hosts = NULL;
	int		   *volatile ports = NULL;
	volatile int nodes = 0;
	volatile bool full = false;
	MemoryContext old;

	sa_worker_round_begin("session_analytics relay: workers");
	if (sa_worker_extension_installed("session_analytics relay", &warned_missing) && sa_relay_wanted(&why))
	{
		char	  **h;
		int		   *p;

		nodes = sa_relay_nodes(&h, &p);
		old = MemoryContextSwitchTo(cxt);
		hosts = palloc(sizeof(char *) * (nodes + 1));
		ports = palloc(sizeof(int) * (nodes + 1));
		for (int i = 0; i < nodes; i++)
		{
			hosts[i] = pstrdup(h[i]);
			ports[i] = p[i];
		}
		MemoryContextSwitchTo(old);
	}
	else
		why = why ? why : "extension not installed";
	sa_worker_round_end();
	if (why)
		return RELAY_IDLE_MS;

	for (int i = 0; i < nodes; i++)
	{
		MemoryContextSwitchTo(cxt);
		PG_TRY();
		{
			int64		n;

			sa_worker_round_begin("session_analytics relay: copy");
			n = sa_relay_node(hosts[i], ports[i], RELAY_BATCH);
			sa_worker_round_end();
			if (n >= RELAY_BATCH)
				full = true;
		}
		PG_CATCH();
		{
			/* Logged; the worker's events wait in its log for the next round. */
			sa_worker_recover(cxt);
		}
		PG_END_TRY();
	}
	MemoryContextSwitchTo(cxt);
	return full ? 0 : relay_interval_ms;
}

/*
 * sa_relay_worker_main
 *		Worker entry: connect, then a round whenever a worker notifies, the
 *		latch is set or the interval passes, until SIGTERM or postmaster death.
 */
void
sa_relay_worker_main(Datum main_arg)
{
	MemoryContext loop_cxt;
	char	   *connected_db;

	if (IsBinaryUpgrade)
		proc_exit(0);
	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();

	sa_worker_connect(SA_WORKER_RELAY, "session_analytics relay");
	connected_db = pstrdup(sa_worker_database());
	loop_cxt = AllocSetContextCreate(TopMemoryContext, "session_analytics relay",
									 ALLOCSET_DEFAULT_SIZES);
	for (;;)
	{
		long		wait_ms;
		pgsocket	socks[RELAY_MAX_SOCKETS];
		int			nsocks;
		WaitEventSet *set;
		WaitEvent	events[RELAY_MAX_SOCKETS + 2];

		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
			if (strcmp(connected_db, sa_worker_database()) != 0)
			{
				ereport(LOG,
						(errmsg("session_analytics relay restarting to move from database \"%s\" to \"%s\"",
								connected_db, sa_worker_database())));
				proc_exit(1);
			}
		}
		MemoryContextReset(loop_cxt);
		MemoryContextSwitchTo(loop_cxt);
		PG_TRY();
		{
			wait_ms = relay_round(loop_cxt);
		}
		PG_CATCH();
		{
			sa_worker_recover(loop_cxt);
			wait_ms = RELAY_IDLE_MS;
		}
		PG_END_TRY();
		MemoryContextSwitchTo(loop_cxt);
		if (wait_ms == 0)
			continue;

		nsocks = sa_relay_sockets(socks, RELAY_MAX_SOCKETS);
		set = CreateWaitEventSet(loop_cxt, nsocks + 2);
		AddWaitEventToSet(set, WL_LATCH_SET, PGINVALID_SOCKET, MyLatch, NULL);
		AddWaitEventToSet(set, WL_EXIT_ON_PM_DEATH, PGINVALID_SOCKET, NULL, NULL);
		for (int i = 0; i < nsocks; i++)
			AddWaitEventToSet(set, WL_SOCKET_READABLE, socks[i], NULL, NULL);
		(void) WaitEventSetWait(set, wait_ms, events, lengthof(events), PG_WAIT_EXTENSION);
		FreeWaitEventSet(set);
		ResetLatch(MyLatch);
	}
}
