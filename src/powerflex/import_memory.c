/*
 * powerflex/import_memory.c
 *		session_analytics.import_memory_retain: how much freed memory a
 *		backend keeps for reuse while a transaction imports.
 *
 * Why: each batch of an import builds and frees the same few megabytes
 * (the batch as jsonb, the checked rows, the statement's tuplestores and
 * sorts). With glibc's defaults, memory freed at the top of the heap beyond
 * its trim threshold goes back to the kernel, and blocks above its mmap
 * threshold are mapped and unmapped each time, so every batch touches fresh
 * pages again: a page fault per 4 kB. A re-import of the same file spent
 * about a fifth of its time there (docs/benchmarks.md, issue 14).
 *
 * What: the first time a transaction checks import rows
 * (sa_import_memory_begin, from sessions.powerflex_rows), the backend's
 * allocator keeps up to the setting's worth of freed memory at the top of
 * its heap and serves blocks below min(setting, 32 MB) from the heap. At
 * the end of that transaction (commit, abort or prepare) the trim threshold
 * returns to glibc's default and malloc_trim gives the retained memory
 * back. The mmap threshold stays where the import put it: glibc itself
 * raises it so, once it frees a mapped block of that size.
 *
 * Elsewhere than glibc the setting is accepted and does nothing.
 */
#include "postgres.h"

#ifdef __GLIBC__
#include <malloc.h>
#endif

#include "access/xact.h"
#include "utils/guc.h"

#include "session_analytics.h"
#include "powerflex/import_memory.h"

/* glibc's default trim threshold, restored when the transaction ends. */
#define GLIBC_DEFAULT_TRIM_THRESHOLD (128 * 1024)
/* The largest mmap threshold glibc accepts on 64-bit platforms. */
#define GLIBC_MAX_MMAP_THRESHOLD (32 * 1024 * 1024)

static int	import_memory_retain_kb = 32 * 1024;

/* This transaction raised the thresholds; its end restores them. */
static bool retaining = false;

static void import_memory_xact_callback(XactEvent event, void *arg);

/*
 * sa_import_memory_init
 *		Registers session_analytics.import_memory_retain and the callback
 *		that ends the retention with the transaction; called from _PG_init.
 */
void
sa_import_memory_init(void)
{
	DefineCustomIntVariable(SA_GUC_PREFIX ".import_memory_retain",
							"Freed memory a backend keeps for reuse while its transaction imports PowerFlex rows.",
							"Given back when the transaction ends. 0 keeps the C library's own policy. Only glibc is tuned.",
							&import_memory_retain_kb, 32 * 1024, 0, 1024 * 1024,
							PGC_USERSET, GUC_UNIT_KB, NULL, NULL, NULL);
	RegisterXactCallback(import_memory_xact_callback, NULL);
}

/*
 * sa_import_memory_begin
 *		Called before an import's rows are checked: raises this backend's
 *		allocator thresholds for the rest of the transaction, once.
 */
void
sa_import_memory_begin(void)
{
	if (retaining || import_memory_retain_kb == 0)
		return;
#ifdef __GLIBC__
	{
		size_t		bytes = (size_t) import_memory_retain_kb * 1024;

		/* Either call failing leaves glibc's policy, which is only slower. */
		(void) mallopt(M_MMAP_THRESHOLD, (int) Min(bytes, GLIBC_MAX_MMAP_THRESHOLD));
		(void) mallopt(M_TRIM_THRESHOLD, (int) bytes);
		retaining = true;
		elog(DEBUG1, "import memory: keeping up to %d kB of freed memory until the transaction ends",
			 import_memory_retain_kb);
	}
#endif
}

/*
 * import_memory_xact_callback
 *		At the end of a transaction that retained memory: glibc's trim
 *		threshold again, and the retained memory given back.
 */
static void
import_memory_xact_callback(XactEvent event, void *arg)
{
	switch (event)
	{
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_PARALLEL_COMMIT:
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PARALLEL_ABORT:
		case XACT_EVENT_PREPARE:
			break;
		default:
			return;
	}
	if (!retaining)
		return;
	retaining = false;
#ifdef __GLIBC__
	(void) mallopt(M_TRIM_THRESHOLD, GLIBC_DEFAULT_TRIM_THRESHOLD);
	(void) malloc_trim(0);
	elog(DEBUG1, "import memory: freed memory given back at the end of the transaction");
#endif
}
