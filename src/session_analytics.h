/*
 * session_analytics.h
 *		Declarations shared by the extension's C files.
 */
#ifndef SESSION_ANALYTICS_H
#define SESSION_ANALYTICS_H

#include "postgres.h"

/*
 * Each concern that owns GUCs or hooks defines one of these; _PG_init in
 * session_analytics.c calls them in order, then reserves the GUC prefix.
 */
extern void sa_analytics_init(void);	/* analytics/analytics_params.c: analytics GUCs */
extern void sa_worker_common_init(void);	/* workers/worker_common.c: the workers' GUCs */
extern void sa_expiry_init(void);	/* workers/expiry_worker.c: expiry GUC, worker */
extern void sa_event_log_init(void);	/* events/event_log.c: the log writer's cache */
extern void sa_store_events_init(void);	/* events/store_events.c: notify_updates */
extern void sa_event_xact_init(void);	/* events/event_xact.c: notify GUCs, xact callbacks */
extern void sa_event_prune_init(void);	/* events/event_prune.c: event_retention */
extern void sa_handoff_init(void);	/* events/notify_handoff.c: notify_mode, shared state */
extern void sa_notify_init(void);	/* workers/notify_worker.c: the notifier */
extern void sa_event_relay_init(void);	/* events/event_relay.c: relay_conninfo */
extern void sa_relay_worker_init(void);	/* workers/relay_worker.c: relay_interval, the relay */
extern void sa_import_memory_init(void);	/* powerflex/import_memory.c: import_memory_retain */

#define SA_GUC_PREFIX "session_analytics"

/* session_analytics.c: the extension's own objects, found by its OID. */
#define SA_EXTENSION "session_analytics"
extern Oid	sa_extension_schema(Oid *extoid, bool missing_ok);
extern Oid	sa_extension_relation(Oid extoid, Oid nsp, const char *name, char relkind);

#endif							/* SESSION_ANALYTICS_H */
