/*
 * ocpi/ocpi_store.c
 *		OCPI Sessions: the write paths sessions.ocpi_put, sessions.ocpi_put_many
 *		and sessions.ocpi_patch, which turn a validated Session into a row of
 *		sessions.store.
 *
 * This is the store access of OCPI. Every check and every OCPI error text
 * belongs to the validation layer (ocpi/ocpi_validate.h), which this file calls
 * and which knows nothing of this one; here are the typed columns, the SPI
 * statements with their kept plans, the PATCH merge and the row lock.
 *
 * Contracts:
 *	- Parameters. put_sql and update_sql take the typed columns as
 *	  parameters: $n is Param_ocpi_row_x, OcpiRow.values[Param_ocpi_row_x - 1]
 *	  holds it and row_types[] gives its type, as pg_cron indexes
 *	  values[Anum_cron_job_x - 1]. The SQL spells each $n through PARAM(),
 *	  never as a bare number. The columns are those of sessions.store
 *	  (src/sql/00_store.sql); a new one needs a Param_ocpi_row_ constant,
 *	  its row_types[] entry, both statements and session_row().
 *	- Row lock. ocpi_patch reads the stored Session with SELECT ... FOR
 *	  UPDATE (lock_sql) and writes it in the same SPI connection, so
 *	  concurrent PATCHes of one session serialise and, under READ
 *	  COMMITTED, each merges into the latest committed document: no
 *	  appended charging period is lost. A PATCH never reads the stored
 *	  document without that lock.
 *	- PUT is one upsert; its WHERE refuses COMPLETED -> ACTIVE (no row
 *	  processed), so PUT needs no lock. The bulk PUT is the same upsert over
 *	  arrays (put_many_sql: one array per Param_ocpi_row_x, element i of
 *	  each is session i) and never raises for one document: a refusal is
 *	  taken from the validation layer as an OcpiReport, the value its raise
 *	  functions raise, so ocpi_put and ocpi_put_many refuse alike.
 *	- The slots of a validated Session point into that document, which
 *	  stays allocated until the row is written.
 */
#include "postgres.h"

#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "commands/extension.h"
#include "access/xact.h"
#include "common/hashfn.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/resowner.h"
#include "utils/rls.h"

#include "ocpi/jsonb_access.h"
#include "ocpi/ocpi_store.h"
#include "ocpi/ocpi_validate.h"

/* ---- statements --------------------------------------------------------- */

/* $n in SQL text: PARAM(Param_ocpi_row_kwh) is "$6". */
#define PARAM(p) "$" CppAsString2(p)

/* Parameters of put_sql and update_sql: the typed columns of one session. */
#define Nparams_ocpi_row				12
#define Param_ocpi_row_namespace		1
#define Param_ocpi_row_external_id		2
#define Param_ocpi_row_status			3
#define Param_ocpi_row_started_at		4
#define Param_ocpi_row_ended_at			5
#define Param_ocpi_row_kwh				6
#define Param_ocpi_row_user_ref			7
#define Param_ocpi_row_site				8
#define Param_ocpi_row_evse				9
#define Param_ocpi_row_connector		10
#define Param_ocpi_row_last_updated		11
#define Param_ocpi_row_doc				12

static const Oid row_types[] = {
	[Param_ocpi_row_namespace - 1] = TEXTOID,
	[Param_ocpi_row_external_id - 1] = TEXTOID,
	[Param_ocpi_row_status - 1] = TEXTOID,
	[Param_ocpi_row_started_at - 1] = TIMESTAMPTZOID,
	[Param_ocpi_row_ended_at - 1] = TIMESTAMPTZOID,
	[Param_ocpi_row_kwh - 1] = FLOAT8OID,
	[Param_ocpi_row_user_ref - 1] = TEXTOID,
	[Param_ocpi_row_site - 1] = TEXTOID,
	[Param_ocpi_row_evse - 1] = TEXTOID,
	[Param_ocpi_row_connector - 1] = TEXTOID,
	[Param_ocpi_row_last_updated - 1] = TIMESTAMPTZOID,
	[Param_ocpi_row_doc - 1] = JSONBOID,
};

StaticAssertDecl(lengthof(row_types) == Nparams_ocpi_row,
				 "row_types[] must give the type of every Param_ocpi_row_ parameter");

/*
 * The upsert of put_sql and put_many_sql: its WHERE refuses COMPLETED ->
 * ACTIVE, so a refused row is not processed.
 */
#define STORE_COLUMNS \
"INSERT INTO sessions.store AS s (kind, namespace, external_id, status, started_at," \
" ended_at, kwh, user_ref, site, evse, connector, last_updated, doc)"

#define UPSERT_SET_SQL \
" ON CONFLICT (namespace, kind, external_id) DO UPDATE SET" \
" status = excluded.status, started_at = excluded.started_at," \
" ended_at = excluded.ended_at, kwh = excluded.kwh, user_ref = excluded.user_ref," \
" site = excluded.site, evse = excluded.evse, connector = excluded.connector," \
" last_updated = excluded.last_updated, doc = excluded.doc"

#define UPSERT_SQL UPSERT_SET_SQL \
" WHERE NOT (s.status OPERATOR(pg_catalog.=) 'COMPLETED'::pg_catalog.text" \
" AND excluded.status OPERATOR(pg_catalog.=) 'ACTIVE'::pg_catalog.text)"

#define PUT_VALUES \
" VALUES ('ocpi', " \
PARAM(Param_ocpi_row_namespace) ", " PARAM(Param_ocpi_row_external_id) ", " \
PARAM(Param_ocpi_row_status) ", " PARAM(Param_ocpi_row_started_at) ", " \
PARAM(Param_ocpi_row_ended_at) ", " PARAM(Param_ocpi_row_kwh) ", " \
PARAM(Param_ocpi_row_user_ref) ", " PARAM(Param_ocpi_row_site) ", " \
PARAM(Param_ocpi_row_evse) ", " PARAM(Param_ocpi_row_connector) ", " \
PARAM(Param_ocpi_row_last_updated) ", " PARAM(Param_ocpi_row_doc) ")"

/* Create or replace; no row processed means COMPLETED -> ACTIVE refused. */
static const char put_sql[] = STORE_COLUMNS PUT_VALUES UPSERT_SQL;

/*
 * The same for a Session that is not ACTIVE, whose upsert the WHERE can
 * never refuse: without it, each statement's executor start has one
 * qualifier less to build (a tenth of ocpi_put's own cost).
 */
static const char put_not_active_sql[] = STORE_COLUMNS PUT_VALUES UPSERT_SET_SQL;

/*
 * put_many_sql: the same upsert over many sessions. $n is the array of
 * Param_ocpi_row_x values, one element per session (row_array_types[]).
 * The arrays are unnested in the target list, a ProjectSet that streams
 * them in step (unnest in FROM would copy each into a tuplestore first).
 * RETURNING names the rows written; a valid session not among them was
 * refused by the upsert's WHERE.
 */
#define UNNEST(p) "pg_catalog.unnest(" PARAM(p) ")"
static const char put_many_sql[] =
STORE_COLUMNS
" SELECT 'ocpi'::pg_catalog.text, "
UNNEST(Param_ocpi_row_namespace) ", " UNNEST(Param_ocpi_row_external_id) ", "
UNNEST(Param_ocpi_row_status) ", " UNNEST(Param_ocpi_row_started_at) ", "
UNNEST(Param_ocpi_row_ended_at) ", " UNNEST(Param_ocpi_row_kwh) ", "
UNNEST(Param_ocpi_row_user_ref) ", " UNNEST(Param_ocpi_row_site) ", "
UNNEST(Param_ocpi_row_evse) ", " UNNEST(Param_ocpi_row_connector) ", "
UNNEST(Param_ocpi_row_last_updated) ", " UNNEST(Param_ocpi_row_doc)
UPSERT_SQL
" RETURNING s.external_id";

static const Oid row_array_types[] = {
	[Param_ocpi_row_namespace - 1] = TEXTARRAYOID,
	[Param_ocpi_row_external_id - 1] = TEXTARRAYOID,
	[Param_ocpi_row_status - 1] = TEXTARRAYOID,
	[Param_ocpi_row_started_at - 1] = TIMESTAMPTZARRAYOID,
	[Param_ocpi_row_ended_at - 1] = TIMESTAMPTZARRAYOID,
	[Param_ocpi_row_kwh - 1] = FLOAT8ARRAYOID,
	[Param_ocpi_row_user_ref - 1] = TEXTARRAYOID,
	[Param_ocpi_row_site - 1] = TEXTARRAYOID,
	[Param_ocpi_row_evse - 1] = TEXTARRAYOID,
	[Param_ocpi_row_connector - 1] = TEXTARRAYOID,
	[Param_ocpi_row_last_updated - 1] = TIMESTAMPTZARRAYOID,
	[Param_ocpi_row_doc - 1] = JSONBARRAYOID,
};

StaticAssertDecl(lengthof(row_array_types) == Nparams_ocpi_row,
				 "row_array_types[] must give the type of every Param_ocpi_row_ parameter");

/* Rewrite the locked row of a PATCH; keyed by the row's own parameters. */
static const char update_sql[] =
"UPDATE sessions.store SET"
" status = " PARAM(Param_ocpi_row_status) ","
" started_at = " PARAM(Param_ocpi_row_started_at) ","
" ended_at = " PARAM(Param_ocpi_row_ended_at) ","
" kwh = " PARAM(Param_ocpi_row_kwh) ","
" user_ref = " PARAM(Param_ocpi_row_user_ref) ","
" site = " PARAM(Param_ocpi_row_site) ","
" evse = " PARAM(Param_ocpi_row_evse) ","
" connector = " PARAM(Param_ocpi_row_connector) ","
" last_updated = " PARAM(Param_ocpi_row_last_updated) ","
" doc = " PARAM(Param_ocpi_row_doc)
" WHERE namespace OPERATOR(pg_catalog.=) " PARAM(Param_ocpi_row_namespace)
" AND kind OPERATOR(pg_catalog.=) 'ocpi'::pg_catalog.text"
" AND external_id OPERATOR(pg_catalog.=) " PARAM(Param_ocpi_row_external_id);

/* Parameters of lock_sql: the key of one session. */
#define Nparams_ocpi_key				2
#define Param_ocpi_key_namespace		1
#define Param_ocpi_key_external_id		2

static const Oid key_types[] = {
	[Param_ocpi_key_namespace - 1] = TEXTOID,
	[Param_ocpi_key_external_id - 1] = TEXTOID,
};

StaticAssertDecl(lengthof(key_types) == Nparams_ocpi_key,
				 "key_types[] must give the type of every Param_ocpi_key_ parameter");

/* Columns of lock_sql's result (SPI_getbinval numbers them from 1). */
#define Anum_ocpi_locked_doc			1
#define Anum_ocpi_locked_status			2

/* The stored Session of a PATCH, row-locked (see the contract above). */
static const char lock_sql[] =
"SELECT doc, status FROM sessions.store"
" WHERE namespace OPERATOR(pg_catalog.=) " PARAM(Param_ocpi_key_namespace)
" AND kind OPERATOR(pg_catalog.=) 'ocpi'::pg_catalog.text"
" AND external_id OPERATOR(pg_catalog.=) " PARAM(Param_ocpi_key_external_id)
" FOR UPDATE";

/* Whether the calling role is mapped to a namespace ($1), as the policy reads it. */
static const char mapped_sql[] =
"SELECT '*'::pg_catalog.text OPERATOR(pg_catalog.=) ANY (m.v)"
" OR $1 OPERATOR(pg_catalog.=) ANY (m.v)"
" FROM (SELECT sessions.visible_namespaces() AS v) m";

static const Oid mapped_types[] = {TEXTOID};

/* Charging preferences of a 2.3.0 Session, stored as the module call does. */
#define Nparams_ocpi_prefs				4
static const Oid prefs_types[] = {TEXTOID, TEXTOID, TEXTOID, JSONBOID};

StaticAssertDecl(lengthof(prefs_types) == Nparams_ocpi_prefs,
				 "prefs_types[] must give the type of every parameter of prefs_sql");

static const char prefs_sql[] =
"SELECT sessions.ocpi_put_charging_preferences($1, $2, $3, $4)";

/* Plans kept for the backend's life; re-planned by the plan cache as needed. */
static SPIPlanPtr put_plan = NULL;
static SPIPlanPtr put_not_active_plan = NULL;
static SPIPlanPtr lock_plan = NULL;
static SPIPlanPtr update_plan = NULL;
static SPIPlanPtr mapped_plan = NULL;
static SPIPlanPtr prefs_plan = NULL;
static SPIPlanPtr put_many_plan = NULL;

/*
 * Prepare a statement once per backend and keep its plan. put_many_sql asks
 * for generic plans only (CURSOR_OPT_GENERIC_PLAN): a custom plan would copy
 * every parameter into the plan (all the documents of the call) and plan
 * each call anew.
 */
static SPIPlanPtr
keep_plan_opts(SPIPlanPtr *cache, const char *sql, int nargs, const Oid *types, int options)
{
	if (*cache == NULL)
	{
		SPIPlanPtr	p = SPI_prepare_cursor(sql, nargs, (Oid *) types, options);

		if (p == NULL)
			elog(ERROR, "SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
		SPI_keepplan(p);
		*cache = p;
	}
	return *cache;
}

/* keep_plan_opts() with the default options. */
static SPIPlanPtr
keep_plan(SPIPlanPtr *cache, const char *sql, int nargs, const Oid *types)
{
	return keep_plan_opts(cache, sql, nargs, types, 0);
}

/* ---- typed columns ------------------------------------------------------ */

/* The store's typed columns for one OCPI session: $n is values[n - 1]. */
typedef struct OcpiRow
{
	Datum		values[Nparams_ocpi_row];
	bool		nulls[Nparams_ocpi_row];
} OcpiRow;

/* SPI's null flags ('n' = null, ' ' = not). */
static char *
row_nulls(OcpiRow *row)
{
	char	   *n = palloc(lengthof(row->nulls) + 1);

	for (int i = 0; i < (int) lengthof(row->nulls); i++)
		n[i] = row->nulls[i] ? 'n' : ' ';
	n[lengthof(row->nulls)] = '\0';
	return n;
}

/* A jsonb string as a text datum. */
static Datum
string_datum(const JsonbValue *v)
{
	return PointerGetDatum(cstring_to_text_with_len(v->val.string.val, v->val.string.len));
}

/*
 * upper_text
 *		A text datum of s in ASCII upper case (sa_ascii_upper), followed by
 *		'-' and s2 in upper case when s2 is not NULL: built in one piece, as
 *		every write needs two of them.
 */
static Datum
upper_text(const char *s, int len, const char *s2, int len2)
{
	int			n = len + (s2 ? 1 + len2 : 0);
	text	   *t = palloc(VARHDRSZ + n);
	char	   *d = VARDATA(t);

	SET_VARSIZE(t, VARHDRSZ + n);
	for (int i = 0; i < len; i++)
		*d++ = pg_ascii_toupper((unsigned char) s[i]);
	if (s2)
	{
		*d++ = '-';
		for (int i = 0; i < len2; i++)
			*d++ = pg_ascii_toupper((unsigned char) s2[i]);
	}
	return PointerGetDatum(t);
}

/* The store namespace of an OCPI party: upper(country_code)-upper(party_id). */
static Datum
ocpi_namespace(const char *cc, int cclen, const char *pid, int pidlen)
{
	return upper_text(cc, cclen, pid, pidlen);
}

/*
 * session_row
 *		Typed columns from a validated Session's slots.
 */
static void
session_row(OcpiCheck *c, OcpiSlot *s, Jsonb *doc, OcpiRow *row)
{
	JsonbValue	contract;

	memset(row->nulls, 0, sizeof(row->nulls));

	row->values[Param_ocpi_row_namespace - 1] =
		ocpi_namespace(s[OCPI_S_COUNTRY_CODE].v.val.string.val,
					   s[OCPI_S_COUNTRY_CODE].v.val.string.len,
					   s[OCPI_S_PARTY_ID].v.val.string.val,
					   s[OCPI_S_PARTY_ID].v.val.string.len);
	row->values[Param_ocpi_row_external_id - 1] =
		upper_text(s[OCPI_S_ID].v.val.string.val, s[OCPI_S_ID].v.val.string.len, NULL, 0);
	row->values[Param_ocpi_row_status - 1] = string_datum(&s[OCPI_S_STATUS].v);
	row->values[Param_ocpi_row_started_at - 1] = TimestampTzGetDatum(s[OCPI_S_START].ts);
	if (s[OCPI_S_END].present)
		row->values[Param_ocpi_row_ended_at - 1] = TimestampTzGetDatum(s[OCPI_S_END].ts);
	else
		row->nulls[Param_ocpi_row_ended_at - 1] = true;
	row->values[Param_ocpi_row_kwh - 1] = Float8GetDatum(sa_ocpi_session_kwh(c, s));
	if (sa_jsonb_get(s[OCPI_S_CDR_TOKEN].v.val.binary.data, "contract_id", &contract))
		row->values[Param_ocpi_row_user_ref - 1] = string_datum(&contract);
	else
		row->nulls[Param_ocpi_row_user_ref - 1] = true;
	row->values[Param_ocpi_row_site - 1] = string_datum(&s[OCPI_S_LOCATION].v);
	row->values[Param_ocpi_row_evse - 1] = string_datum(&s[OCPI_S_EVSE].v);
	row->values[Param_ocpi_row_connector - 1] = string_datum(&s[OCPI_S_CONNECTOR].v);
	row->values[Param_ocpi_row_last_updated - 1] = TimestampTzGetDatum(s[OCPI_S_LAST_UPDATED].ts);
	row->values[Param_ocpi_row_doc - 1] = JsonbPGetDatum(doc);
}

/* Arguments of the write functions must not be NULL; name the one that is. */
static void
require_args(FunctionCallInfo fcinfo, const char *const *names, int n)
{
	for (int i = 0; i < n; i++)
		if (PG_ARGISNULL(i))
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("argument %s of %s must not be NULL", names[i],
							get_func_name(fcinfo->flinfo->fn_oid)),
					 errdetail("OCPI status code 2001 (Invalid or missing parameters).")));
}

static Oid	party_store_relid = InvalidOid;	/* sessions.store, cached */

/* Forgets the cached store when it changes (or everything is invalidated). */
static void
party_store_invalidate(Datum arg, Oid relid)
{
	if (relid == InvalidOid || relid == party_store_relid)
		party_store_relid = InvalidOid;
}

/*
 * check_party_mapped
 *		Refuse a write into a party the calling role is not mapped to, in
 *		OCPI's terms (42501, status 2000), before the store's policy would
 *		refuse it with PostgreSQL's row-level security error. Roles the
 *		policy does not apply to (superusers, the owner, BYPASSRLS) pass
 *		without a query. Runs in its own SPI connection. The store's OID is
 *		kept until an invalidation of it (a per-call look-up by name was a
 *		tenth of ocpi_put's own cost).
 */
static void
check_party_mapped(text *cc, text *pid)
{
	static bool callback_registered = false;
	Oid			store;
	Datum		ns;
	bool		isnull;
	int			rc;

	if (!OidIsValid(party_store_relid))
	{
		if (!callback_registered)
		{
			CacheRegisterRelcacheCallback(party_store_invalidate, (Datum) 0);
			callback_registered = true;
		}
		party_store_relid = get_relname_relid("store", get_namespace_oid("sessions", false));
	}
	store = party_store_relid;

	if (!OidIsValid(store) || check_enable_rls(store, InvalidOid, false) != RLS_ENABLED)
		return;
	ns = ocpi_namespace(VARDATA_ANY(cc), VARSIZE_ANY_EXHDR(cc), VARDATA_ANY(pid), VARSIZE_ANY_EXHDR(pid));
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	rc = SPI_execute_plan(keep_plan(&mapped_plan, mapped_sql, lengthof(mapped_types), mapped_types),
						  &ns, NULL, true, 1);
	if (rc != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "SPI_execute_plan failed: %s", SPI_result_code_string(rc));
	if (!DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull)) || isnull)
		sa_ocpi_raise_party_not_mapped(cc, pid);
	SPI_finish();
}

/*
 * preferences_to_store
 *		The charging_preferences of a validated 2.3.0 Session that must be
 *		stored with it (already validated as ChargingPreferences), as jsonb;
 *		NULL when there are none or the session is finished (it has nothing
 *		to steer: its preferences stay in doc only).
 */
static Jsonb *
preferences_to_store(OcpiSlot *s)
{
	if (!s[OCPI_S_PREFERENCES].valid ||
		sa_jsonb_str_eq(&s[OCPI_S_STATUS].v, "COMPLETED") ||
		sa_jsonb_str_eq(&s[OCPI_S_STATUS].v, "INVALID"))
		return NULL;
	return JsonbValueToJsonb(&s[OCPI_S_PREFERENCES].v);
}

/*
 * store_preferences
 *		Preferences from preferences_to_store() go through
 *		sessions.ocpi_put_charging_preferences, so they are judged and stored
 *		exactly as that call stores them; any response but ACCEPTED refuses
 *		the write. Needs SPI.
 */
static void
store_preferences(Jsonb *prefs, text *cc, text *pid, text *sid)
{
	Datum		args[Nparams_ocpi_prefs];
	Datum		answer;
	bool		isnull;
	char	   *response;
	int			rc;

	if (prefs == NULL)
		return;
	args[0] = PointerGetDatum(cc);
	args[1] = PointerGetDatum(pid);
	args[2] = PointerGetDatum(sid);
	args[3] = JsonbPGetDatum(prefs);
	rc = SPI_execute_plan(keep_plan(&prefs_plan, prefs_sql, Nparams_ocpi_prefs, prefs_types),
						  args, NULL, false, 1);
	if (rc != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "SPI_execute_plan failed: %s", SPI_result_code_string(rc));
	answer = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	if (isnull)
		elog(ERROR, "ocpi_put_charging_preferences returned NULL");
	response = TextDatumGetCString(answer);
	if (strcmp(response, "ACCEPTED") != 0)
		sa_ocpi_raise_preferences_refused(response);
}

/* ---- SQL functions ------------------------------------------------------ */

PG_FUNCTION_INFO_V1(sa_ocpi_put);
PG_FUNCTION_INFO_V1(sa_ocpi_patch);

/*
 * sa_ocpi_put(country_code, party_id, session_id, session jsonb|text, version)
 *		Refuse an unmapped party, validate the whole Session (listing its
 *		problems in the text's member order when given the sender's text)
 *		and create or replace it. One statement writes it: the upsert's
 *		WHERE refuses COMPLETED -> ACTIVE, and a refused upsert (no row
 *		processed) is raised as a conflict. A 2.3.0 Session's
 *		charging_preferences are then stored as the module call stores them.
 */
Datum
sa_ocpi_put(PG_FUNCTION_ARGS)
{
	static const char *const names[] = {"country_code", "party_id", "session_id", "session", "version"};
	Jsonb	   *doc;
	OcpiCheck	c;
	OcpiSlot	slots[OCPI_MAX_FIELDS];
	OcpiRow		row;
	int			rc;

	require_args(fcinfo, names, 5);
	check_party_mapped(PG_GETARG_TEXT_PP(0), PG_GETARG_TEXT_PP(1));
	sa_ocpi_check_init(&c, sa_ocpi_parse_version(PG_GETARG_TEXT_PP(4)), "Session");
	doc = sa_ocpi_arg_is_text(fcinfo, 3) ? sa_ocpi_parse_text(&c, PG_GETARG_TEXT_PP(3)) : PG_GETARG_JSONB_P(3);
	/* URL keys are compared even when the object has other problems */
	if (!sa_ocpi_validate_session(&c, doc, slots) |
		!sa_ocpi_check_url_keys(&c, slots, PG_GETARG_TEXT_PP(0), PG_GETARG_TEXT_PP(1), PG_GETARG_TEXT_PP(2)))
		sa_ocpi_raise_check(&c);
	session_row(&c, slots, doc, &row);

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	rc = SPI_execute_plan(sa_jsonb_str_eq(&slots[OCPI_S_STATUS].v, "ACTIVE") ?
						  keep_plan(&put_plan, put_sql, Nparams_ocpi_row, row_types) :
						  keep_plan(&put_not_active_plan, put_not_active_sql, Nparams_ocpi_row, row_types),
						  row.values, row_nulls(&row), false, 0);
	if (rc != SPI_OK_INSERT)
		elog(ERROR, "SPI_execute_plan failed: %s", SPI_result_code_string(rc));
	if (SPI_processed == 0)
		sa_ocpi_raise_completed_to_active();
	store_preferences(preferences_to_store(slots), PG_GETARG_TEXT_PP(0), PG_GETARG_TEXT_PP(1), PG_GETARG_TEXT_PP(2));
	SPI_finish();
	PG_RETURN_JSONB_P(doc);
}

/* ---- bulk PUT ----------------------------------------------------------- */

/* What happened to one document of a bulk PUT. */
typedef enum BulkState
{
	BULK_REFUSED,				/* not stored: report holds why */
	BULK_SUPERSEDED,			/* same id later in the call: that one replaces it */
	BULK_PENDING,				/* valid, to be written */
	BULK_WRITTEN				/* stored */
} BulkState;

typedef struct BulkDoc
{
	BulkState	state;
	char	   *id;				/* the id as given, clipped (NULL: not a string) */
	OcpiReport	report;			/* BULK_REFUSED */
	int			superseded_by;	/* BULK_SUPERSEDED: 1-based ordinality */
	OcpiRow    *row;			/* BULK_PENDING/WRITTEN: its typed columns */
	Jsonb	   *prefs;			/* 2.3.0 preferences to store with it, or NULL */
	text	   *sid;			/* the id as given, for the preferences call */
} BulkDoc;

/* Hash key: an external_id (upper case), not copied. */
typedef struct BulkKey
{
	const char *s;
	int			len;
} BulkKey;

typedef struct BulkEntry
{
	BulkKey		key;
	int			doc;			/* 0-based index of the last valid document of this id */
} BulkEntry;

/* dynahash callbacks for BulkKey */
static uint32
bulk_key_hash(const void *key, Size keysize)
{
	const BulkKey *k = key;

	return hash_bytes((const unsigned char *) k->s, k->len);
}

static int
bulk_key_match(const void *a, const void *b, Size keysize)
{
	const BulkKey *x = a,
			   *y = b;

	return (x->len == y->len && memcmp(x->s, y->s, x->len) == 0) ? 0 : 1;
}

/* A text datum as a BulkKey pointing into it. */
static BulkKey
bulk_key(Datum t)
{
	text	   *v = DatumGetTextPP(t);

	return (BulkKey) {VARDATA_ANY(v), VARSIZE_ANY_EXHDR(v)};
}

/*
 * bulk_doc_id
 *		The id member of a refused document for its result row, when it is a
 *		string (clipped as messages are); NULL otherwise.
 */
static char *
bulk_doc_id(Jsonb *doc)
{
	JsonbValue	id;

	if (JB_ROOT_IS_SCALAR(doc) || !JB_ROOT_IS_OBJECT(doc) ||
		!sa_jsonb_get(&doc->root, "id", &id) || id.type != jbvString)
		return NULL;
	return sa_clip_for_message(id.val.string.val, id.val.string.len, SA_MESSAGE_TEXT_CHARS);
}

/*
 * bulk_put_one
 *		Write one document as ocpi_put does (its upsert, then its
 *		preferences), in a subtransaction: a refusal (COMPLETED -> ACTIVE,
 *		preferences not accepted, or any data or integrity error of the
 *		write) rolls back this document only and becomes its report. Other
 *		errors (cancel, out of memory, ...) are raised. Used for the
 *		documents whose preferences must be stored, which the bulk upsert
 *		cannot undo when the preferences are refused.
 */
static void
bulk_put_one(BulkDoc *d, text *cc, text *pid)
{
	MemoryContext cxt = CurrentMemoryContext;
	ResourceOwner owner = CurrentResourceOwner;

	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(cxt);
	PG_TRY();
	{
		int			rc;

		rc = SPI_execute_plan(keep_plan(&put_plan, put_sql, Nparams_ocpi_row, row_types),
							  d->row->values, row_nulls(d->row), false, 0);
		if (rc != SPI_OK_INSERT)
			elog(ERROR, "SPI_execute_plan failed: %s", SPI_result_code_string(rc));
		if (SPI_processed == 0)
			sa_ocpi_raise_completed_to_active();
		store_preferences(d->prefs, cc, pid, d->sid);
		ReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(cxt);
		CurrentResourceOwner = owner;
		d->state = BULK_WRITTEN;
	}
	PG_CATCH();
	{
		ErrorData  *e;
		int			class;

		MemoryContextSwitchTo(cxt);
		e = CopyErrorData();
		class = ERRCODE_TO_CATEGORY(e->sqlerrcode);
		if (class != ERRCODE_DATA_EXCEPTION && class != ERRCODE_INTEGRITY_CONSTRAINT_VIOLATION &&
			e->sqlerrcode != ERRCODE_NO_DATA_FOUND)
			PG_RE_THROW();
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(cxt);
		CurrentResourceOwner = owner;
		d->state = BULK_REFUSED;
		d->report.sqlstate = e->sqlerrcode;
		d->report.message = e->message;
		d->report.detail = e->detail;
		d->report.hint = e->hint;
	}
	PG_END_TRY();
}

/* The OCPI status code a refusal's detail names ("OCPI status code NNNN"), else 2001. */
static int
report_status_code(const OcpiReport *r)
{
	int			code;

	if (r->detail && sscanf(r->detail, "OCPI status code %d", &code) == 1)
		return code;
	return 2001;
}

PG_FUNCTION_INFO_V1(sa_ocpi_put_many);

/*
 * sa_ocpi_put_many(country_code, party_id, docs jsonb[], version)
 *		Bulk PUT of many Sessions of one party. The party is checked once, as
 *		ocpi_put checks it (an unmapped one raises 42501 before any document
 *		is looked at). Every document is then validated as ocpi_put
 *		validates it, all its problems collected; a refused document gets
 *		the SQLSTATE, errmsg and errdetail ocpi_put would raise for it and
 *		does not stop the others. The valid ones are written by one upsert
 *		(put_many_sql), so executor start-up is paid once per call, not once
 *		per Session; a 2.3.0 Session whose charging_preferences must be
 *		stored is written alone, as ocpi_put writes it (bulk_put_one). Of
 *		documents sharing an id, the last valid one is written and the
 *		earlier ones are reported as superseded (21000). One row per
 *		document, in array order.
 */
Datum
sa_ocpi_put_many(PG_FUNCTION_ARGS)
{
	static const char *const names[] = {"country_code", "party_id", "docs", "version"};
	text	   *cc,
			   *pid;
	ArrayType  *docs_arr;
	Datum	   *docs;
	bool	   *doc_nulls;
	int			ndocs;
	int			nbulk = 0;
	int			nsingle = 0;
	OcpiVersion version;
	BulkDoc    *bd;
	HASHCTL		hctl;
	HTAB	   *ids;
	MemoryContext call_cxt = CurrentMemoryContext;
	MemoryContext doc_cxt;
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;

	require_args(fcinfo, names, 4);
	cc = PG_GETARG_TEXT_PP(0);
	pid = PG_GETARG_TEXT_PP(1);
	docs_arr = PG_GETARG_ARRAYTYPE_P(2);
	version = sa_ocpi_parse_version(PG_GETARG_TEXT_PP(3));
	if (ARR_NDIM(docs_arr) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("argument docs of ocpi_put_many must be a one-dimensional array"),
				 errdetail("OCPI status code 2001 (Invalid or missing parameters)."),
				 errhint("Pass one Session per array element.")));
	check_party_mapped(cc, pid);

	InitMaterializedSRF(fcinfo, 0);
	deconstruct_array(docs_arr, JSONBOID, -1, false, TYPALIGN_INT, &docs, &doc_nulls, &ndocs);
	if (ndocs == 0)
		PG_RETURN_NULL();

	bd = palloc0(sizeof(BulkDoc) * ndocs);
	memset(&hctl, 0, sizeof(hctl));
	hctl.keysize = sizeof(BulkKey);
	hctl.entrysize = sizeof(BulkEntry);
	hctl.hash = bulk_key_hash;
	hctl.match = bulk_key_match;
	hctl.hcxt = call_cxt;
	ids = hash_create("ocpi_put_many ids", ndocs, &hctl,
					  HASH_ELEM | HASH_FUNCTION | HASH_COMPARE | HASH_CONTEXT);
	/* Validation's scratch memory, reset per document. */
	doc_cxt = AllocSetContextCreate(call_cxt, "ocpi_put_many document", ALLOCSET_DEFAULT_SIZES);

	/* Validate each document; the typed columns of valid ones into bd[]. */
	for (int i = 0; i < ndocs; i++)
	{
		OcpiCheck	c;
		OcpiSlot	slots[OCPI_MAX_FIELDS];
		Jsonb	   *doc;
		BulkEntry  *e;
		BulkKey		key;
		bool		found;

		if (doc_nulls[i])
		{
			bd[i].state = BULK_REFUSED;
			bd[i].report.sqlstate = ERRCODE_NULL_VALUE_NOT_ALLOWED;
			bd[i].report.message = psprintf("invalid OCPI Session: element %d of docs is NULL", i + 1);
			bd[i].report.detail = "OCPI status code 2001 (Invalid or missing parameters).";
			bd[i].report.hint = "Send one Session per array element; nothing was stored for this element.";
			continue;
		}
		MemoryContextReset(doc_cxt);
		MemoryContextSwitchTo(doc_cxt);
		doc = DatumGetJsonbP(docs[i]);
		sa_ocpi_check_init(&c, version, "Session");
		/* URL keys are compared even when the object has other problems */
		if (!sa_ocpi_validate_session(&c, doc, slots) |
			!sa_ocpi_check_url_keys(&c, slots, cc, pid, NULL) ||
			!sa_ocpi_kwh_storable(&c, slots))
		{
			MemoryContextSwitchTo(call_cxt);
			bd[i].state = BULK_REFUSED;
			sa_ocpi_check_report(&c, &bd[i].report);
			bd[i].id = bulk_doc_id(doc);
			continue;
		}
		MemoryContextSwitchTo(call_cxt);
		bd[i].id = sa_clip_for_message(slots[OCPI_S_ID].v.val.string.val,
									   slots[OCPI_S_ID].v.val.string.len, SA_MESSAGE_TEXT_CHARS);
		bd[i].row = palloc(sizeof(OcpiRow));
		session_row(&c, slots, doc, bd[i].row);
		/* the array's own element, not the copy detoasting may have made */
		bd[i].row->values[Param_ocpi_row_doc - 1] = docs[i];
		bd[i].prefs = preferences_to_store(slots);
		if (bd[i].prefs)
			bd[i].sid = cstring_to_text_with_len(slots[OCPI_S_ID].v.val.string.val,
												 slots[OCPI_S_ID].v.val.string.len);
		bd[i].state = BULK_PENDING;

		key = bulk_key(bd[i].row->values[Param_ocpi_row_external_id - 1]);
		e = hash_search(ids, &key, HASH_ENTER, &found);
		if (found)
		{
			/* the earlier document of this id is replaced by this one */
			bd[e->doc].state = BULK_SUPERSEDED;
			bd[e->doc].superseded_by = i + 1;
		}
		e->key = key;
		e->doc = i;
	}
	MemoryContextSwitchTo(call_cxt);
	MemoryContextDelete(doc_cxt);

	for (int i = 0; i < ndocs; i++)
		if (bd[i].state == BULK_PENDING)
		{
			if (bd[i].prefs)
				nsingle++;
			else
				nbulk++;
		}

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");

	/* One upsert of every valid document without preferences to store. */
	if (nbulk > 0)
	{
		Datum		params[Nparams_ocpi_row];
		int			rc;

		for (int p = 0; p < Nparams_ocpi_row; p++)
		{
			int16		typlen;
			bool		typbyval;
			char		typalign;
			Oid			elemtype = get_element_type(row_array_types[p]);
			int			dims[1] = {nbulk};
			int			lbs[1] = {1};
			Datum	   *col;
			bool	   *col_nulls;
			int			n = 0;

			/*
			 * Every document in the upsert: the argument is already the array
			 * of documents, so it is not copied into a new one.
			 */
			if (p == Param_ocpi_row_doc - 1 && nbulk == ndocs)
			{
				params[p] = PointerGetDatum(docs_arr);
				continue;
			}
			col = palloc(sizeof(Datum) * nbulk);
			col_nulls = palloc(sizeof(bool) * nbulk);
			for (int i = 0; i < ndocs; i++)
				if (bd[i].state == BULK_PENDING && bd[i].prefs == NULL)
				{
					col[n] = bd[i].row->values[p];
					col_nulls[n] = bd[i].row->nulls[p];
					n++;
				}
			get_typlenbyvalalign(elemtype, &typlen, &typbyval, &typalign);
			params[p] = PointerGetDatum(construct_md_array(col, col_nulls, 1, dims, lbs,
														   elemtype, typlen, typbyval, typalign));
		}

		/*
		 * With Citus in the database the store may be distributed, and Citus
		 * plans no INSERT ... SELECT whose parameters are unknown (a generic
		 * plan): there the statement is planned once per call with its
		 * values (docs/scale-out.md).
		 */
		if (OidIsValid(get_extension_oid("citus", true)))
			rc = SPI_execute_with_args(put_many_sql, Nparams_ocpi_row, (Oid *) row_array_types,
									   params, NULL, false, 0);
		else
			rc = SPI_execute_plan(keep_plan_opts(&put_many_plan, put_many_sql, Nparams_ocpi_row,
												 row_array_types, CURSOR_OPT_GENERIC_PLAN),
								  params, NULL, false, 0);
		if (rc != SPI_OK_INSERT_RETURNING)
			elog(ERROR, "SPI_execute_plan failed: %s", SPI_result_code_string(rc));
		for (uint64 r = 0; r < SPI_processed; r++)
		{
			bool		isnull;
			BulkKey		key;
			BulkEntry  *e;

			key = bulk_key(SPI_getbinval(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, 1, &isnull));
			e = hash_search(ids, &key, HASH_FIND, NULL);
			if (e != NULL)
				bd[e->doc].state = BULK_WRITTEN;
		}
		/* valid but not written: the upsert's WHERE refused COMPLETED -> ACTIVE */
		for (int i = 0; i < ndocs; i++)
			if (bd[i].state == BULK_PENDING && bd[i].prefs == NULL)
			{
				bd[i].state = BULK_REFUSED;
				sa_ocpi_completed_to_active_report(&bd[i].report);
			}
	}

	/* Sessions with preferences to store: each as ocpi_put writes it. */
	for (int i = 0; nsingle > 0 && i < ndocs; i++)
		if (bd[i].state == BULK_PENDING)
			bulk_put_one(&bd[i], cc, pid);
	SPI_finish();

	/* One result row per document, in array order. */
	for (int i = 0; i < ndocs; i++)
	{
		Datum		values[6];
		bool		nulls[6] = {false, false, false, false, false, false};

		values[0] = Int32GetDatum(i + 1);
		if (bd[i].id)
			values[1] = CStringGetTextDatum(bd[i].id);
		else
			nulls[1] = true;
		switch (bd[i].state)
		{
			case BULK_WRITTEN:
				values[2] = CStringGetTextDatum("00000");
				values[3] = Int32GetDatum(1000);
				nulls[4] = nulls[5] = true;
				break;
			case BULK_SUPERSEDED:
				values[2] = CStringGetTextDatum(unpack_sql_state(ERRCODE_CARDINALITY_VIOLATION));
				values[3] = Int32GetDatum(2001);
				values[4] = CStringGetTextDatum(psprintf("session id repeated by element %d of docs, which replaces this one",
														 bd[i].superseded_by));
				values[5] = CStringGetTextDatum("OCPI status code 2001 (Invalid or missing parameters). Of documents sharing an id only the last valid one is written.");
				break;
			default:
				values[2] = CStringGetTextDatum(unpack_sql_state(bd[i].report.sqlstate));
				values[3] = Int32GetDatum(report_status_code(&bd[i].report));
				values[4] = CStringGetTextDatum(bd[i].report.message);
				if (bd[i].report.detail)
					values[5] = CStringGetTextDatum(bd[i].report.detail);
				else
					nulls[5] = true;
				break;
		}
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	PG_RETURN_NULL();
}

/* ---- PATCH -------------------------------------------------------------- */

/*
 * merge_patch
 *		The stored Session with a PATCH applied: members of the patch replace
 *		the stored ones whole, except charging_periods, whose elements are
 *		appended (an empty list changes nothing).
 */
static Jsonb *
merge_patch(OcpiCheck *c, Jsonb *old, Jsonb *patch)
{
	JsonbParseState *st = NULL;
	JsonbValue	k,
				v,
				old_periods,
				new_periods;
	SaObjectIter it;
	bool		have_old = false,
				have_new = false;

	pushJsonbValue(&st, WJB_BEGIN_OBJECT, NULL);

	if (!JB_ROOT_IS_SCALAR(old) && JB_ROOT_IS_OBJECT(old))
	{
		sa_object_iter_init(&it, &old->root);
		while (sa_object_iter_next(&it, &k, &v))
		{
			if (sa_jsonb_str_eq(&k, "charging_periods"))
			{
				old_periods = v;
				have_old = true;
				continue;
			}
			if (getKeyJsonValueFromContainer(&patch->root, k.val.string.val,
											 k.val.string.len, NULL) != NULL)
				continue;
			pushJsonbValue(&st, WJB_KEY, &k);
			pushJsonbValue(&st, WJB_VALUE, &v);
		}
	}

	sa_object_iter_init(&it, &patch->root);
	while (sa_object_iter_next(&it, &k, &v))
	{
		if (sa_jsonb_str_eq(&k, "charging_periods"))
		{
			if (v.type != jbvNull && !sa_jsonb_is_array(&v))
			{
				sa_path_push_key(&c->path, "charging_periods", 16);
				sa_ocpi_wrong_type(c, "an array", &v);
				sa_ocpi_raise_check(c);
			}
			if (v.type != jbvNull && sa_jsonb_array_size(&v) > 0)
			{
				new_periods = v;
				have_new = true;
			}
			continue;
		}
		pushJsonbValue(&st, WJB_KEY, &k);
		pushJsonbValue(&st, WJB_VALUE, &v);
	}

	if (have_old || have_new)
	{
		k.type = jbvString;
		k.val.string.val = "charging_periods";
		k.val.string.len = 16;
		pushJsonbValue(&st, WJB_KEY, &k);
		if (!have_new)
			pushJsonbValue(&st, WJB_VALUE, &old_periods);
		else if (!have_old || !sa_jsonb_is_array(&old_periods))
			pushJsonbValue(&st, WJB_VALUE, &new_periods);
		else
		{
			JsonbValue	e;
			int			n;

			pushJsonbValue(&st, WJB_BEGIN_ARRAY, NULL);
			n = sa_jsonb_array_size(&old_periods);
			for (int i = 0; i < n; i++)
				if (sa_jsonb_array_elem(&old_periods, i, &e))
					pushJsonbValue(&st, WJB_ELEM, &e);
			n = sa_jsonb_array_size(&new_periods);
			for (int i = 0; i < n; i++)
				if (sa_jsonb_array_elem(&new_periods, i, &e))
					pushJsonbValue(&st, WJB_ELEM, &e);
			pushJsonbValue(&st, WJB_END_ARRAY, NULL);
		}
	}

	return JsonbValueToJsonb(pushJsonbValue(&st, WJB_END_OBJECT, NULL));
}

/*
 * sa_ocpi_patch(country_code, party_id, session_id, patch jsonb)
 *		Lock the stored session, apply the patch, validate the result and
 *		write it. The row lock serialises concurrent PATCHes, and each one
 *		merges into the latest committed version, so no appended charging
 *		period is lost (READ COMMITTED). Which version the result must be
 *		valid under is sa_ocpi_validate_patched()'s rule.
 */
Datum
sa_ocpi_patch(PG_FUNCTION_ARGS)
{
	static const char *const names[] = {"country_code", "party_id", "session_id", "patch"};
	text	   *cc,
			   *pid,
			   *sid;
	Jsonb	   *patch,
			   *old,
			   *merged,
			   *result;
	OcpiCheck	c;
	OcpiSlot	slots[OCPI_MAX_FIELDS];
	OcpiRow		row;
	Datum		key[Nparams_ocpi_key];
	bool		isnull;
	char	   *old_status;
	int			rc;

	require_args(fcinfo, names, 4);
	cc = PG_GETARG_TEXT_PP(0);
	pid = PG_GETARG_TEXT_PP(1);
	sid = PG_GETARG_TEXT_PP(2);
	patch = PG_GETARG_JSONB_P(3);

	sa_ocpi_check_patch(&c, patch);

	key[Param_ocpi_key_namespace - 1] = ocpi_namespace(VARDATA_ANY(cc), VARSIZE_ANY_EXHDR(cc),
													   VARDATA_ANY(pid), VARSIZE_ANY_EXHDR(pid));
	key[Param_ocpi_key_external_id - 1] =
		upper_text(VARDATA_ANY(sid), VARSIZE_ANY_EXHDR(sid), NULL, 0);

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	rc = SPI_execute_plan(keep_plan(&lock_plan, lock_sql, Nparams_ocpi_key, key_types),
						  key, NULL, false, 1);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "SPI_execute_plan failed: %s", SPI_result_code_string(rc));
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_NO_DATA_FOUND),
				 errmsg("OCPI session %s/%s/%s not found",
						sa_ocpi_clip_text(cc), sa_ocpi_clip_text(pid), sa_ocpi_clip_text(sid)),
				 errdetail("OCPI status code 2000 (Generic client error), HTTP 404."),
				 errhint("Create the session with a PUT first.")));
	old = DatumGetJsonbP(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc,
									   Anum_ocpi_locked_doc, &isnull));
	old_status = TextDatumGetCString(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc,
												   Anum_ocpi_locked_status, &isnull));

	merged = merge_patch(&c, old, patch);
	sa_ocpi_validate_patched(old, merged, slots);
	if (!sa_ocpi_check_url_keys(&c, slots, cc, pid, sid))
		sa_ocpi_raise_check(&c);
	if (strcmp(old_status, "COMPLETED") == 0 && sa_jsonb_str_eq(&slots[OCPI_S_STATUS].v, "ACTIVE"))
		sa_ocpi_raise_completed_to_active();
	session_row(&c, slots, merged, &row);

	rc = SPI_execute_plan(keep_plan(&update_plan, update_sql, Nparams_ocpi_row, row_types),
						  row.values, row_nulls(&row), false, 0);
	if (rc != SPI_OK_UPDATE || SPI_processed != 1)
		elog(ERROR, "OCPI session update failed: %s", SPI_result_code_string(rc));
	/* preferences the PATCH carries (the merged member is the patch's) */
	if (getKeyJsonValueFromContainer(&patch->root, "charging_preferences", 20, NULL) != NULL)
		store_preferences(preferences_to_store(slots), cc, pid, sid);

	result = SPI_palloc(VARSIZE(merged));
	memcpy(result, merged, VARSIZE(merged));
	SPI_finish();
	PG_RETURN_JSONB_P(result);
}
