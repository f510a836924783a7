/*
 * events/notify_handoff.h
 *		The hand-off between the writers (events/event_xact.c) and the notifier
 *		worker (workers/notify_worker.c): who sends a transaction's notifications,
 *		and the notifier's shared state and latch. The contract is stated at
 *		the top of events/notify_handoff.c.
 *
 * Direction: workers/notify_worker.c -> events/event_xact.c -> events/notify_handoff.c. The
 * writer side knows only this header, never the worker; this header and
 * events/notify_handoff.c know neither of them. The writer functions the notifier
 * announces with are declared by their owners (events/event_xact.h, events/event_log.h).
 */
#ifndef NOTIFY_HANDOFF_H
#define NOTIFY_HANDOFF_H

#include "postgres.h"

#include "port/atomics.h"

/* session_analytics.notify_mode */
typedef enum NotifyMode
{
	NOTIFY_MODE_AUTO,
	NOTIFY_MODE_COMMIT,
	NOTIFY_MODE_WORKER
} NotifyMode;

extern int	sa_notify_mode;

/*
 * Shared state. procno and active are read by every writer without a lock;
 * dboid is written before active is set (write barrier), delivered only by
 * the worker.
 */
typedef struct NotifierShared
{
	pg_atomic_uint32 procno;	/* the worker's pgprocno + 1; 0 when none */
	pg_atomic_uint32 active;	/* 1: the worker delivers dboid's events */
	pg_atomic_uint64 delivered; /* last seq delivered (valid while active) */
	Oid			dboid;
	Oid			logrelid;		/* the log delivered is the one with this OID */
	uint64		horizon;		/* horizon of the event at delivered; 0: unknown */
	int			pid;
} NotifierShared;

/* NULL unless the library was preloaded (no notifier then). */
extern NotifierShared *sa_notifier;

/* events/notify_handoff.c: the writers' side of the hand-off. */
extern bool sa_notifier_selected(void);
extern void sa_notifier_wake(void);

#endif							/* NOTIFY_HANDOFF_H */
