/*
 * session_analytics.c
 *		Module entry point: registers every concern's GUCs and hooks.
 */
#include "postgres.h"

#include "fmgr.h"
#include "utils/guc.h"

#include "session_analytics.h"

PG_MODULE_MAGIC;

void		_PG_init(void);

/*
 * _PG_init
 *		Runs once per backend that loads the library (or in the postmaster when
 *		the library is in shared_preload_libraries).
 */
void
_PG_init(void)
{
	sa_analytics_init();
	sa_expiry_init();
	sa_events_init();
	sa_notify_init();

	/* No one else may define variables under our prefix, typo'd ones warn. */
	MarkGUCPrefixReserved(SA_GUC_PREFIX);
}
