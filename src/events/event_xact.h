/*
 * events/event_xact.h
 *		Delivery of logged events at the end of the transaction that logged
 *		(or, for the notifier, announced) them (events/event_xact.c): the writer's
 *		side of the hand-off stated at the top of events/notify_handoff.c.
 *
 * Layering: over events/event_payload.h, events/event_log.h and events/notify_handoff.h. Used by
 * the store trigger (events/store_events.c) and the notifier (workers/notify_worker.c);
 * knows nothing of either.
 */
#ifndef EVENT_XACT_H
#define EVENT_XACT_H

#include "postgres.h"

#include "access/htup.h"

#include "events/event_log.h"

extern void sa_event_xact_logged(const EventFields *ev);
extern void sa_event_xact_relay(void);

/* The channel a Citus worker's commit wakes the coordinator's relay on. */
#define SA_RELAY_CHANNEL "session_analytics_relay"
extern void sa_events_announce(HeapTupleHeader row);
extern bool sa_notify_enabled(void);

#endif							/* EVENT_XACT_H */
