/*
 * session_analytics.h
 *		Declarations shared by the extension's C files.
 */
#ifndef SESSION_ANALYTICS_H
#define SESSION_ANALYTICS_H

#include "postgres.h"

#include "access/htup.h"

/*
 * Each concern that owns GUCs or hooks defines one of these; _PG_init in
 * session_analytics.c calls them in order, then reserves the GUC prefix.
 */
extern void sa_analytics_init(void);	/* analytics_params.c: analytics GUCs */
extern void sa_expiry_init(void);	/* expiry_worker.c: expiry GUCs, worker */
extern void sa_events_init(void);	/* event_trigger.c: notification GUCs */
extern void sa_notify_init(void);	/* notify_worker.c: notify_mode, notifier */

/* expiry_worker.c: the database the background workers connect to. */
extern const char *sa_worker_database(void);
extern void sa_register_worker(const char *function, const char *name,
							   const char *type, int restart_s);
extern void sa_worker_recover(MemoryContext cxt);
extern void sa_worker_round_begin(const char *activity);
extern void sa_worker_round_end(void);
extern bool sa_worker_extension_installed(const char *who, bool *warned);
/* Which worker a connection back-off counter belongs to. */
#define SA_WORKER_EXPIRY 0
#define SA_WORKER_NOTIFIER 1
extern void sa_worker_connect(int which, const char *who);

/* event_trigger.c: used by the notifier. */
extern bool sa_notify_enabled(void);
extern void sa_events_announce(HeapTupleHeader row);
extern Oid	sa_event_log_oid(Oid *seqid);

/* notify_worker.c: used by the store trigger's transaction callbacks. */
extern bool sa_notifier_selected(void);
extern void sa_notifier_wake(void);

#define SA_GUC_PREFIX "session_analytics"

/* session_analytics.c: the extension's own objects, found by its OID. */
#define SA_EXTENSION "session_analytics"
extern Oid	sa_extension_schema(Oid *extoid, bool missing_ok);
extern Oid	sa_extension_relation(Oid extoid, Oid nsp, const char *name, char relkind);

#endif							/* SESSION_ANALYTICS_H */
