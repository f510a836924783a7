/*
 * store/namespace_visible.c
 *		sessions.namespace_visible(namespace): the row-level security test of
 *		the store and the tables of its sessions.
 *
 * The policies used to read sessions.visible_namespaces() through a
 * sub-select, which the planner turns into an InitPlan run once per
 * statement. Citus refuses policies with sub-selects on distributed and
 * reference tables, and a plain call of the SQL function in a policy runs
 * it for every row (about a hundred times slower on a scan). This function
 * keeps the InitPlan's cost: it calls visible_namespaces() once per call
 * site and execution (the result is kept in the call site's fn_extra, which
 * lives as long as the executor state of the statement) and then answers
 * each row from that list. The rule stays in visible_namespaces() alone.
 */
#include "postgres.h"

#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "fmgr.h"
#include "nodes/makefuncs.h"
#include "nodes/value.h"
#include "parser/parse_func.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"

#include "session_analytics.h"

/* The visible namespaces of one call site, read once per execution. */
typedef struct VisibleCache
{
	bool		all;			/* '*' is mapped: every namespace */
	int			n;
	text	  **names;
} VisibleCache;

/*
 * visible_cache_load
 *		Calls sessions.visible_namespaces() (found in the extension's schema,
 *		never through search_path) and keeps its answer in mcxt.
 */
static VisibleCache *
visible_cache_load(MemoryContext mcxt)
{
	Oid			nsp = sa_extension_schema(NULL, false);
	List	   *name = list_make2(makeString(get_namespace_name(nsp)),
								  makeString("visible_namespaces"));
	Oid			fn = LookupFuncName(name, 0, NULL, false);
	Datum		arr = OidFunctionCall0(fn);
	ArrayType  *a = DatumGetArrayTypeP(arr);
	Datum	   *elems;
	bool	   *nulls;
	int			n;
	MemoryContext old;
	VisibleCache *c;

	deconstruct_array(a, TEXTOID, -1, false, TYPALIGN_INT, &elems, &nulls, &n);
	old = MemoryContextSwitchTo(mcxt);
	c = palloc0(sizeof(VisibleCache));
	c->names = palloc0(sizeof(text *) * Max(n, 1));
	for (int i = 0; i < n; i++)
	{
		text	   *t;

		if (nulls[i])
			continue;
		t = DatumGetTextPCopy(elems[i]);
		if (VARSIZE_ANY_EXHDR(t) == 1 && *VARDATA_ANY(t) == '*')
			c->all = true;
		c->names[c->n++] = t;
	}
	MemoryContextSwitchTo(old);
	return c;
}

PG_FUNCTION_INFO_V1(sa_namespace_visible);

/*
 * sa_namespace_visible
 *		True when the current role may see rows of namespace (it is, or '*'
 *		is, among sessions.visible_namespaces()); NULL namespace: false.
 */
Datum
sa_namespace_visible(PG_FUNCTION_ARGS)
{
	VisibleCache *c = (VisibleCache *) fcinfo->flinfo->fn_extra;
	text	   *ns;

	if (c == NULL)
	{
		c = visible_cache_load(fcinfo->flinfo->fn_mcxt);
		fcinfo->flinfo->fn_extra = c;
	}
	if (c->all)
		PG_RETURN_BOOL(true);
	if (PG_ARGISNULL(0))
		PG_RETURN_BOOL(false);
	ns = PG_GETARG_TEXT_PP(0);
	for (int i = 0; i < c->n; i++)
	{
		if (VARSIZE_ANY_EXHDR(ns) == VARSIZE_ANY_EXHDR(c->names[i]) &&
			memcmp(VARDATA_ANY(ns), VARDATA_ANY(c->names[i]), VARSIZE_ANY_EXHDR(ns)) == 0)
			PG_RETURN_BOOL(true);
	}
	PG_RETURN_BOOL(false);
}
