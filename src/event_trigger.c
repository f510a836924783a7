/*
 * event_trigger.c
 *		start/stop notification trigger.
 */
#include "postgres.h"

#include "session_analytics.h"

/*
 * sa_events_init
 *		Registers this file's GUCs; called from _PG_init.
 */
void
sa_events_init(void)
{
}
