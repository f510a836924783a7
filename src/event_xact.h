/*
 * event_xact.h
 *		Delivery of logged events at the end of the transaction that logged
 *		(or, for the notifier, announced) them (event_xact.c): the writer's
 *		side of the hand-off stated at the top of notify_handoff.c.
 *
 * Layering: over event_payload.h, event_log.h and notify_handoff.h. Used by
 * the store trigger (store_events.c) and the notifier (notify_worker.c);
 * knows nothing of either.
 */
#ifndef EVENT_XACT_H
#define EVENT_XACT_H

#include "postgres.h"

#include "access/htup.h"

#include "event_log.h"

extern void sa_event_xact_logged(const EventFields *ev);
extern void sa_events_announce(HeapTupleHeader row);
extern bool sa_notify_enabled(void);

#endif							/* EVENT_XACT_H */
