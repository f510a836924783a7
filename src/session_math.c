/*
 * session_math.c
 *		analytics GUCs and scalar functions (issue: analytics).
 */
#include "postgres.h"

#include "session_analytics.h"

/*
 * sa_analytics_init
 *		Registers this file's GUCs; called from _PG_init.
 */
void
sa_analytics_init(void)
{
}
