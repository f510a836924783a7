/*
 * expiry_worker.c
 *		expiry background worker.
 */
#include "postgres.h"

#include "session_analytics.h"

/*
 * sa_expiry_init
 *		Registers this file's GUCs; called from _PG_init.
 */
void
sa_expiry_init(void)
{
}
