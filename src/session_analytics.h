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
extern void sa_analytics_init(void);	/* session_math.c: analytics GUCs */
extern void sa_expiry_init(void);	/* expiry_worker.c: expiry GUCs, worker */
extern void sa_events_init(void);	/* event_trigger.c: notification GUCs */

#define SA_GUC_PREFIX "session_analytics"

#endif							/* SESSION_ANALYTICS_H */
