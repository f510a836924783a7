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
 * LISTENs on every worker; a two-phase commit's wake-up comes with the
 * COMMIT PREPARED), at once again when a notification arrived during or
 * after the last read or a page was full, and every
 * session_analytics.relay_interval otherwise (a safety net: a commit that
 * sent no wake-up, e.g. COMMIT PREPARED by Citus's recovery). A worker that
 * fails (down, restarting) is logged and retried with a back-off
 * (relay_round); the others go on. Where the store is not distributed (or
 * this is not the coordinator) it looks again every RELAY_IDLE_MS.
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

static int	relay_interval_ms = 500;

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
							"A worker's commit wakes the relay at once; this poll is the safety net for commits that sent no wake-up.",
							&relay_interval_ms, 500, 10, 60000,
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
 * The workers of the last look at pg_dist_node, kept for RELAY_NODES_MS
 * (and looked at again after any failure), each with its back-off: a
 * worker that failed is tried again after 100 ms, doubling to
 * RELAY_BACKOFF_MAX_MS, so one that is down costs a log line a few times a
 * second at most, and is picked up soon after it is back.
 */
#define RELAY_NODES_MS 5000
#define RELAY_BACKOFF_MAX_MS 2000
typedef struct RelayNode
{
	char	   *host;
	int			port;
	int			backoff_ms;
	TimestampTz next_try;
} RelayNode;

static RelayNode *relay_nodes = NULL;	/* in relay_nodes_cxt */
static int	relay_nnodes = 0;
static TimestampTz relay_nodes_at = 0;
static bool relay_serving = false;
static MemoryContext relay_nodes_cxt = NULL;

/*
 * relay_refresh
 *		Looks at the cluster again (one transaction): whether this database
 *		relays, and its workers (back-offs kept for workers still there).
 */
static void
relay_refresh(void)
{
	static bool warned_missing = false;
	const char *why = NULL;
	RelayNode  *old_nodes = relay_nodes;
	int			old_n = relay_nnodes;
	MemoryContext old;

	MemoryContext old_cxt = relay_nodes_cxt;

	/* A new context per look; the old one (and the old list) goes at the end. */
	relay_nodes_cxt = AllocSetContextCreate(TopMemoryContext, "session_analytics relay nodes",
											ALLOCSET_SMALL_SIZES);
	relay_nodes = NULL;
	relay_nnodes = 0;
	sa_worker_round_begin("session_analytics relay: workers");
	relay_serving = sa_worker_extension_installed("session_analytics relay", &warned_missing) &&
		sa_relay_wanted(&why);
	if (relay_serving)
	{
		char	  **h;
		int		   *p;
		int			n = sa_relay_nodes(&h, &p);
		RelayNode  *nodes;

		old = MemoryContextSwitchTo(relay_nodes_cxt);
		nodes = palloc0(sizeof(RelayNode) * (n + 1));
		for (int i = 0; i < n; i++)
		{
			nodes[i].host = pstrdup(h[i]);
			nodes[i].port = p[i];
			for (int j = 0; j < old_n; j++)
				if (old_nodes[j].port == p[i] && strcmp(old_nodes[j].host, h[i]) == 0)
				{
					nodes[i].backoff_ms = old_nodes[j].backoff_ms;
					nodes[i].next_try = old_nodes[j].next_try;
				}
		}
		MemoryContextSwitchTo(old);
		relay_nodes = nodes;
		relay_nnodes = n;
	}
	else
		relay_nnodes = 0;
	sa_worker_round_end();
	if (old_cxt)
		MemoryContextDelete(old_cxt);
	relay_nodes_at = GetCurrentTimestamp();
}

/*
 * relay_round
 *		One round: each worker due in its own transaction (the list of
 *		workers looked at again every RELAY_NODES_MS). Returns the wait
 *		before the next round (ms).
 */
static long
relay_round(MemoryContext cxt)
{
	volatile bool full = false;
	volatile bool failed = false;
	TimestampTz now = GetCurrentTimestamp();
	long		wait_ms;

	if (relay_nodes_at == 0 || TimestampDifferenceExceeds(relay_nodes_at, now, RELAY_NODES_MS))
		relay_refresh();
	if (!relay_serving)
		return RELAY_IDLE_MS;
	wait_ms = relay_interval_ms;
	for (int i = 0; i < relay_nnodes; i++)
	{
		RelayNode  *node = &relay_nodes[i];

		if (node->next_try != 0 && now < node->next_try)
		{
			wait_ms = Min(wait_ms, Max(1, TimestampDifferenceMilliseconds(now, node->next_try)));
			continue;
		}
		MemoryContextSwitchTo(cxt);
		PG_TRY();
		{
			int64		n;

			sa_worker_round_begin("session_analytics relay: copy");
			n = sa_relay_node(node->host, node->port, RELAY_BATCH);
			sa_worker_round_end();
			if (n >= RELAY_BATCH)
				full = true;
			node->backoff_ms = 0;
			node->next_try = 0;
		}
		PG_CATCH();
		{
			/* Logged; the worker's events wait in its log for the next try. */
			sa_worker_recover(cxt);
			node->backoff_ms = node->backoff_ms ? Min(node->backoff_ms * 2, RELAY_BACKOFF_MAX_MS) : 100;
			node->next_try = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), node->backoff_ms);
			wait_ms = Min(wait_ms, node->backoff_ms);
			failed = true;
		}
		PG_END_TRY();
	}
	MemoryContextSwitchTo(cxt);
	if (failed)
		relay_nodes_at = 0;		/* the cluster may have changed */
	return full ? 0 : wait_ms;
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
		bool		woken = false;

		CHECK_FOR_INTERRUPTS();
		if (sa_worker_reload(connected_db))
			sa_worker_restart_for_database("session_analytics relay", connected_db);
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

		nsocks = sa_relay_sockets(socks, RELAY_MAX_SOCKETS, &woken);
		if (woken)
			continue;
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
