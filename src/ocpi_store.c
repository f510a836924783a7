/*
 * ocpi_store.c
 *		OCPI Sessions: the write paths sessions.ocpi_put and
 *		sessions.ocpi_patch, which turn a validated Session into a row of
 *		sessions.store.
 *
 * This is the store access of OCPI. Every check and every OCPI error text
 * belongs to the validation layer (ocpi_validate.h), which this file calls
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
 *	  processed), so PUT needs no lock.
 *	- The slots of a validated Session point into that document, which
 *	  stays allocated until the row is written.
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"

#include "jsonb_access.h"
#include "ocpi_store.h"
#include "ocpi_validate.h"

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

/* Create or replace; no row processed means COMPLETED -> ACTIVE refused. */
static const char put_sql[] =
"INSERT INTO sessions.store AS s (kind, namespace, external_id, status, started_at,"
" ended_at, kwh, user_ref, site, evse, connector, last_updated, doc)"
" VALUES ('ocpi', "
PARAM(Param_ocpi_row_namespace) ", " PARAM(Param_ocpi_row_external_id) ", "
PARAM(Param_ocpi_row_status) ", " PARAM(Param_ocpi_row_started_at) ", "
PARAM(Param_ocpi_row_ended_at) ", " PARAM(Param_ocpi_row_kwh) ", "
PARAM(Param_ocpi_row_user_ref) ", " PARAM(Param_ocpi_row_site) ", "
PARAM(Param_ocpi_row_evse) ", " PARAM(Param_ocpi_row_connector) ", "
PARAM(Param_ocpi_row_last_updated) ", " PARAM(Param_ocpi_row_doc) ")"
" ON CONFLICT (namespace, kind, external_id) DO UPDATE SET"
" status = excluded.status, started_at = excluded.started_at,"
" ended_at = excluded.ended_at, kwh = excluded.kwh, user_ref = excluded.user_ref,"
" site = excluded.site, evse = excluded.evse, connector = excluded.connector,"
" last_updated = excluded.last_updated, doc = excluded.doc"
" WHERE NOT (s.status OPERATOR(pg_catalog.=) 'COMPLETED'::pg_catalog.text"
" AND excluded.status OPERATOR(pg_catalog.=) 'ACTIVE'::pg_catalog.text)";

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

/* Plans kept for the backend's life; re-planned by the plan cache as needed. */
static SPIPlanPtr put_plan = NULL;
static SPIPlanPtr lock_plan = NULL;
static SPIPlanPtr update_plan = NULL;

/* Prepare a statement once per backend and keep its plan. */
static SPIPlanPtr
keep_plan(SPIPlanPtr *cache, const char *sql, int nargs, const Oid *types)
{
	if (*cache == NULL)
	{
		SPIPlanPtr	p = SPI_prepare(sql, nargs, (Oid *) types);

		if (p == NULL)
			elog(ERROR, "SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
		SPI_keepplan(p);
		*cache = p;
	}
	return *cache;
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

/* The store namespace of an OCPI party: upper(country_code)-upper(party_id). */
static Datum
ocpi_namespace(const char *cc, int cclen, const char *pid, int pidlen)
{
	return CStringGetTextDatum(psprintf("%s-%s", sa_ascii_upper(cc, cclen),
										sa_ascii_upper(pid, pidlen)));
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
		CStringGetTextDatum(sa_ascii_upper(s[OCPI_S_ID].v.val.string.val, s[OCPI_S_ID].v.val.string.len));
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

/* ---- SQL functions ------------------------------------------------------ */

PG_FUNCTION_INFO_V1(sa_ocpi_put);
PG_FUNCTION_INFO_V1(sa_ocpi_patch);

/*
 * sa_ocpi_put(country_code, party_id, session_id, session jsonb, version)
 *		Validate the whole Session and create or replace it. One statement
 *		writes it: the upsert's WHERE refuses COMPLETED -> ACTIVE, and a
 *		refused upsert (no row processed) is raised as a conflict.
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
	doc = PG_GETARG_JSONB_P(3);
	sa_ocpi_check_init(&c, sa_ocpi_parse_version(PG_GETARG_TEXT_PP(4)), "Session");
	if (!sa_ocpi_validate_session(&c, doc, slots))
		sa_ocpi_raise_check(&c);
	sa_ocpi_check_url_keys(&c, slots, PG_GETARG_TEXT_PP(0), PG_GETARG_TEXT_PP(1), PG_GETARG_TEXT_PP(2));
	session_row(&c, slots, doc, &row);

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	rc = SPI_execute_plan(keep_plan(&put_plan, put_sql, Nparams_ocpi_row, row_types),
						  row.values, row_nulls(&row), false, 0);
	if (rc != SPI_OK_INSERT)
		elog(ERROR, "SPI_execute_plan failed: %s", SPI_result_code_string(rc));
	if (SPI_processed == 0)
		sa_ocpi_raise_completed_to_active();
	SPI_finish();
	PG_RETURN_JSONB_P(doc);
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
		CStringGetTextDatum(sa_ascii_upper(VARDATA_ANY(sid), VARSIZE_ANY_EXHDR(sid)));

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
	sa_ocpi_check_url_keys(&c, slots, cc, pid, sid);
	if (strcmp(old_status, "COMPLETED") == 0 && sa_jsonb_str_eq(&slots[OCPI_S_STATUS].v, "ACTIVE"))
		sa_ocpi_raise_completed_to_active();
	session_row(&c, slots, merged, &row);

	rc = SPI_execute_plan(keep_plan(&update_plan, update_sql, Nparams_ocpi_row, row_types),
						  row.values, row_nulls(&row), false, 0);
	if (rc != SPI_OK_UPDATE || SPI_processed != 1)
		elog(ERROR, "OCPI session update failed: %s", SPI_result_code_string(rc));

	result = SPI_palloc(VARSIZE(merged));
	memcpy(result, merged, VARSIZE(merged));
	SPI_finish();
	PG_RETURN_JSONB_P(result);
}
