/*
 * events/event_payload.h
 *		What a notification says and where it goes: the JSON payload of one
 *		event or of a coalesced range, and the channel naming rule
 *		(events/event_payload.c). Pure functions of their arguments: no state, no
 *		catalog access.
 *
 * Layering: over events/event_log.h (EventFields, EventType); knows nothing of
 * transactions, the trigger or the notifier.
 */
#ifndef EVENT_PAYLOAD_H
#define EVENT_PAYLOAD_H

#include "postgres.h"

#include "events/event_log.h"

extern char *sa_event_payload_build(const EventFields *ev);
extern char *sa_event_range_payload(EventType event, const char *ns,
									int64 first, int64 last, int64 count);
extern void sa_event_channel_name(EventType event, const char *ns, char *out);

#endif							/* EVENT_PAYLOAD_H */
