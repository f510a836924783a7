/*
 * events/notify_handoff.c
 *		Who sends a transaction's event notifications: the writing
 *		transaction itself (commit mode) or the notifier worker. Owns
 *		session_analytics.notify_mode and the notifier's shared state
 *		(NotifierShared, events/notify_handoff.h), which the writers read and the
 *		notifier (workers/notify_worker.c) writes. Knows neither side's code.
 *
 * The hand-off contract
 * ---------------------
 * The writer's side is implemented in events/event_xact.c, the notifier's in
 * workers/notify_worker.c; this file holds what both read.
 * - One mode for the cluster. session_analytics.notify_mode is PGC_SIGHUP,
 *   so writers and the notifier never disagree for long about who sends.
 *   session_analytics.notify is read by each side for itself: a writer with
 *   it off still logs its events but queues nothing and wakes nobody; the
 *   notifier with it off (its own setting, postgresql.conf) stops
 *   delivering (active = 0), with it on it announces whatever the log
 *   holds past its position, such a writer's events included, at its next
 *   poll.
 * - Delivery mode per transaction. A writer chooses at its first logged
 *   event (events/event_xact.c, sa_event_xact_logged): sa_notifier_selected() true
 *   means its events are the notifier's (it queues no NOTIFY), false means
 *   it collects them to NOTIFY itself. Just before commit
 *   (XACT_EVENT_PRE_COMMIT, before PreCommit_Notify) a commit-mode writer
 *   asks again: when the notifier has started delivering for this database
 *   meanwhile, the writer leaves its events to it too (they commit after
 *   the notifier's start position, so the notifier announces them) rather
 *   than sending them twice. The choice never goes the other way within a
 *   transaction: once the notifier's, always the notifier's.
 * - Same output. The notifier announces each row it reads back (by the
 *   log's primary key, or through sessions.events_since, in the same order
 *   and bound) with events/event_xact.c's sa_events_announce, so the
 *   channels, payloads, coalescing and order are those a commit-mode
 *   writer would have sent (counted per delivery batch).
 * - Wake-up. A transaction whose events are the notifier's sets its latch
 *   after commit -- and after abort, since its open transaction may have
 *   held back later events -- with sa_notifier_wake(): no lock, a stale
 *   procno at worst wakes another process once for nothing. The notifier
 *   also polls, so a lost wake-up only delays. A prepared transaction sends
 *   nothing itself (PREPARE cannot NOTIFY); the notifier's next round after
 *   COMMIT PREPARED announces its events.
 * - Barriers. The notifier writes dboid (and delivered, logrelid, horizon)
 *   first, then pg_write_barrier(), then active = 1; readers read active,
 *   then pg_read_barrier(), then dboid. Likewise pid before procno (a
 *   reader of pid checks procno > 0, then pg_read_barrier()). Only the
 *   notifier writes these fields; active = 0 sends writers back to commit
 *   mode (auto).
 * - Activation. The notifier reads the log's head before publishing active,
 *   so every event at or below it committed while writers notified
 *   themselves, and every writer that leaves its events to the notifier
 *   commits above the head.
 * - Interrupts. The notifier commits a delivered batch and moves
 *   `delivered` with interrupts held (HOLD_INTERRUPTS), so a SIGTERM cannot
 *   land between the commit of the NOTIFYs and the position: a restarted
 *   notifier resumes exactly after the last batch that committed. On an
 *   error inside that bracket it restores InterruptHoldoffCount before
 *   recovering. active stays set across a restart: writers keep leaving
 *   their events to it meanwhile.
 */
#include "postgres.h"

#include "miscadmin.h"
#include "port/atomics.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/lwlock.h"
#include "storage/proc.h"
#include "storage/shmem.h"
#include "utils/guc.h"

#include "session_analytics.h"
#include "events/notify_handoff.h"

static const struct config_enum_entry notify_mode_options[] = {
	{"auto", NOTIFY_MODE_AUTO, false},
	{"commit", NOTIFY_MODE_COMMIT, false},
	{"worker", NOTIFY_MODE_WORKER, false},
	{NULL, 0, false}
};

int			sa_notify_mode = NOTIFY_MODE_AUTO;
NotifierShared *sa_notifier = NULL;

static shmem_request_hook_type prev_shmem_request_hook = NULL;
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;

static void handoff_shmem_request(void);
static void handoff_shmem_startup(void);

/*
 * sa_handoff_init
 *		Defines session_analytics.notify_mode and, while
 *		shared_preload_libraries is processed (not under pg_upgrade), asks for
 *		the notifier's shared state.
 */
void
sa_handoff_init(void)
{
	/*
	 * SIGHUP: writers and the notifier must agree on who sends, so the mode
	 * is cluster-wide (postgresql.conf, ALTER SYSTEM), never per session.
	 */
	DefineCustomEnumVariable(SA_GUC_PREFIX ".notify_mode",
							 "Who sends event notifications: the writing transaction (commit), the notifier worker (worker), or the notifier when it runs (auto).",
							 NULL, &sa_notify_mode, NOTIFY_MODE_AUTO, notify_mode_options,
							 PGC_SIGHUP, 0, NULL, NULL, NULL);

	if (!process_shared_preload_libraries_in_progress || IsBinaryUpgrade)
		return;

	prev_shmem_request_hook = shmem_request_hook;
	shmem_request_hook = handoff_shmem_request;
	prev_shmem_startup_hook = shmem_startup_hook;
	shmem_startup_hook = handoff_shmem_startup;
}

/* Reserves the shared state (PG15: from shmem_request_hook only). */
static void
handoff_shmem_request(void)
{
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();
	RequestAddinShmemSpace(MAXALIGN(sizeof(NotifierShared)));
}

/* Creates (postmaster) or attaches to the shared state. */
static void
handoff_shmem_startup(void)
{
	bool		found;

	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();
	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	sa_notifier = ShmemInitStruct("session_analytics notifier", sizeof(NotifierShared), &found);
	if (!found)
	{
		pg_atomic_init_u32(&sa_notifier->procno, 0);
		pg_atomic_init_u32(&sa_notifier->active, 0);
		pg_atomic_init_u64(&sa_notifier->delivered, 0);
		sa_notifier->dboid = InvalidOid;
		sa_notifier->logrelid = InvalidOid;
		sa_notifier->horizon = 0;
		sa_notifier->pid = 0;
	}
	LWLockRelease(AddinShmemInitLock);
}

/*
 * sa_notifier_selected
 *		True when this backend's logged events are the notifier's to send:
 *		mode worker, or auto while the notifier delivers for this database.
 */
bool
sa_notifier_selected(void)
{
	if (sa_notify_mode == NOTIFY_MODE_COMMIT)
		return false;
	if (sa_notify_mode == NOTIFY_MODE_WORKER)
		return true;
	if (sa_notifier == NULL || pg_atomic_read_u32(&sa_notifier->active) == 0)
		return false;
	pg_read_barrier();
	return sa_notifier->dboid == MyDatabaseId;
}

/*
 * sa_notifier_wake
 *		Sets the notifier's latch (no lock; a stale procno at worst wakes
 *		another process once for nothing).
 */
void
sa_notifier_wake(void)
{
	uint32		procno;

	if (sa_notifier == NULL)
		return;
	procno = pg_atomic_read_u32(&sa_notifier->procno);
	if (procno > 0)
		SetLatch(&GetPGProcByNumber(procno - 1)->procLatch);
}
