/*
 * powerflex/powerflex_check.c
 *		sessions.powerflex_row_problem(jsonb): why a PowerFlex export row
 *		cannot be imported, NULL when it can. The rules and reasons are those
 *		documented at the function in src/sql/30_powerflex.sql (and until
 *		0.3.0 written there in PL/pgSQL); in C the check costs about a tenth
 *		of the PL/pgSQL one, which import_powerflex pays on every row.
 *		And sessions.powerflex_rows(jsonb, int8, text): the import's rows in
 *		one pass (the same check, the namespace, the typed store columns and
 *		the last-of-duplicates rule), which import_powerflex upserts.
 *
 * Exactness: every reason and every accepted row is that of the PL/pgSQL
 * version, with one deliberate difference: "whitespace" around numeric
 * strings is ASCII whitespace only. Depending on the locale, the PL/pgSQL
 * regex \s could also match other Unicode spaces, which numeric input then
 * refused with an ERROR that aborted the whole import; such a value is
 * reported as not a number (or not a valid time).
 *
 * updated_at is cast with timestamptz input, as before. A string of the
 * export's strict ISO 8601 shape with a time of day and a real calendar
 * date cannot fail that input, so it is cast directly; any other string the
 * shape check lets through is cast inside a subtransaction that turns a
 * data exception into "not a valid time", as the PL/pgSQL block did.
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_collation.h"
#include "fmgr.h"
#include "mb/pg_wchar.h"
#include "utils/builtins.h"
#include "utils/datetime.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"
#include "utils/numeric.h"
#include "utils/resowner.h"
#include "utils/timestamp.h"
#include "utils/varlena.h"
#include "common/hashfn.h"
#include "funcapi.h"
#include "utils/datum.h"
#include "utils/float.h"
#include "utils/hsearch.h"

#include "ocpi/jsonb_access.h"
#include "powerflex/import_memory.h"

PG_FUNCTION_INFO_V1(sa_powerflex_row_problem);
PG_FUNCTION_INFO_V1(sa_powerflex_rows);

/*
 * What row_problem computed while checking a row: the epoch-ms times as
 * numerics (have_ms: present and not null) and updated_at when it is a
 * string (have_updated).
 */
typedef struct PfChecked
{
	Datum		ms[2];
	bool		have_ms[2];
	bool		have_updated;
	TimestampTz updated;
} PfChecked;

/* Reasons echo at most this many characters of a value (left(x, 40)). */
#define ECHO_CHARS 40

/* The first ECHO_CHARS characters of s. */
static char *
echo(const char *s)
{
	return pnstrdup(s, pg_mbcharcliplen(s, strlen(s), ECHO_CHARS));
}

/* v::text: the JSON text of a value (strings quoted and escaped). */
static char *
json_text(const JsonbValue *v)
{
	if (v->type == jbvBinary)
		return JsonbToCString(NULL, v->val.binary.data, v->val.binary.len);
	else
	{
		Jsonb	   *jb = JsonbValueToJsonb((JsonbValue *) v);

		return JsonbToCString(NULL, &jb->root, VARSIZE(jb));
	}
}

/* v #>> '{}': strings unquoted, other scalars as JSON text. */
static char *
plain_text(const JsonbValue *v)
{
	if (v->type == jbvString)
		return pnstrdup(v->val.string.val, v->val.string.len);
	return json_text(v);
}

/* Member key of the row object, false when absent. */
static bool
member(JsonbContainer *row, const char *key, JsonbValue *out)
{
	return getKeyJsonValueFromContainer(row, key, strlen(key), out) != NULL;
}

static bool
is_ascii_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

/* Skips [0-9]*, returns how many. */
static int
digits(const char **p, const char *end)
{
	int			n = 0;

	while (*p < end && **p >= '0' && **p <= '9')
		(*p)++, n++;
	return n;
}

/* ^\s*[-+]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][-+]?[0-9]{1,3})?\s*$ */
static bool
is_kwh_string(const char *s, int len)
{
	const char *p = s,
			   *end = s + len;

	while (p < end && is_ascii_space(*p))
		p++;
	if (p < end && (*p == '-' || *p == '+'))
		p++;
	if (digits(&p, end) > 0)
	{
		if (p < end && *p == '.')
		{
			p++;
			digits(&p, end);
		}
	}
	else
	{
		if (p >= end || *p != '.')
			return false;
		p++;
		if (digits(&p, end) == 0)
			return false;
	}
	if (p < end && (*p == 'e' || *p == 'E'))
	{
		int			n;

		p++;
		if (p < end && (*p == '-' || *p == '+'))
			p++;
		n = digits(&p, end);
		if (n < 1 || n > 3)
			return false;
	}
	while (p < end && is_ascii_space(*p))
		p++;
	return p == end;
}

/* ^\s*[0-9]{1,15}(\.[0-9]*)?\s*$ */
static bool
is_ms_string(const char *s, int len)
{
	const char *p = s,
			   *end = s + len;
	int			n;

	while (p < end && is_ascii_space(*p))
		p++;
	n = digits(&p, end);
	if (n < 1 || n > 15)
		return false;
	if (p < end && *p == '.')
	{
		p++;
		digits(&p, end);
	}
	while (p < end && is_ascii_space(*p))
		p++;
	return p == end;
}

/* A numeric from its text (already checked to be valid numeric input). */
static Datum
numeric_from(const char *s)
{
	return DirectFunctionCall3(numeric_in, CStringGetDatum(s), ObjectIdGetDatum(InvalidOid), Int32GetDatum(-1));
}

/*
 * The numeric bounds of the checks, parsed once per backend (numeric input
 * of the constants on every row was a third of the check's cost).
 */
enum
{
	BOUND_ZERO, BOUND_KWH_MAX, BOUND_KWH_MIN, BOUND_MS_MAX, BOUND_THOUSAND, BOUND_N
};
static const char *const bound_text[] = {
	[BOUND_ZERO] = "0", [BOUND_KWH_MAX] = "1e9", [BOUND_KWH_MIN] = "1e-9",
	[BOUND_MS_MAX] = "253402300799999", [BOUND_THOUSAND] = "1000"
};
static Datum bound_value[BOUND_N];
static bool bounds_ready = false;

/* bound_value[b], parsed into TopMemoryContext at the first use. */
static Datum
bound(int b)
{
	if (!bounds_ready)
	{
		MemoryContext old = MemoryContextSwitchTo(TopMemoryContext);

		for (int i = 0; i < BOUND_N; i++)
			bound_value[i] = numeric_from(bound_text[i]);
		MemoryContextSwitchTo(old);
		bounds_ready = true;
	}
	return bound_value[b];
}

static int
numeric_compare(Datum a, int b)
{
	return DatumGetInt32(DirectFunctionCall2(numeric_cmp, a, bound(b)));
}

/* Exactly n digits at p, as a number. */
static bool
fixed_digits(const char *p, int n, int *out)
{
	int			v = 0;

	for (int i = 0; i < n; i++)
	{
		if (p[i] < '0' || p[i] > '9')
			return false;
		v = v * 10 + (p[i] - '0');
	}
	*out = v;
	return true;
}

/*
 * strict_shape
 *		^[0-9]{4}-[0-9]{2}-[0-9]{2}([T ]([01][0-9]|2[0-3]):[0-5][0-9]
 *		(:[0-5][0-9](\.[0-9]{1,6})?)?)?(Z|[+-](0[0-9]|1[0-5])(:?[0-5][0-9])?)?$
 *		*safe is set when the cast cannot fail: a time of day is present and
 *		the date is a real calendar date of a year after 0.
 */
static bool
strict_shape(const char *s, int len, bool *safe)
{
	const char *p = s,
			   *end = s + len;
	int			y,
				m,
				d,
				h,
				mi,
				sec;
	bool		has_time = false;

	*safe = false;
	if (len < 10 || !fixed_digits(p, 4, &y) || p[4] != '-' || !fixed_digits(p + 5, 2, &m) ||
		p[7] != '-' || !fixed_digits(p + 8, 2, &d))
		return false;
	p += 10;
	if (p < end && (*p == 'T' || *p == ' '))
	{
		if (end - p < 6 || !fixed_digits(p + 1, 2, &h) || h > 23 || p[3] != ':' ||
			!fixed_digits(p + 4, 2, &mi) || mi > 59)
			return false;
		p += 6;
		has_time = true;
		if (p < end && *p == ':')
		{
			int			n;

			if (end - p < 3 || !fixed_digits(p + 1, 2, &sec) || sec > 59)
				return false;
			p += 3;
			if (p < end && *p == '.')
			{
				p++;
				n = digits(&p, end);
				if (n < 1 || n > 6)
					return false;
			}
		}
	}
	if (p < end && *p == 'Z')
		p++;
	else if (p < end && (*p == '+' || *p == '-'))
	{
		int			zh,
					zm;

		if (end - p < 3 || !fixed_digits(p + 1, 2, &zh) || zh > 15)
			return false;
		p += 3;
		if (p < end && *p == ':')
		{
			if (end - p < 3 || !fixed_digits(p + 1, 2, &zm) || zm > 59)
				return false;
			p += 3;
		}
		else if (end - p >= 2 && fixed_digits(p, 2, &zm))
		{
			if (zm > 59)
				return false;
			p += 2;
		}
	}
	if (p != end)
		return false;
	*safe = has_time && y >= 1 && m >= 1 && m <= 12 && d >= 1 &&
		d <= day_tab[isleap(y) ? 1 : 0][m - 1];
	return true;
}

/*
 * like_shape
 *		u LIKE '____-__-__T__:__:__.___Z' AND substr(u, 12, 2) < '24' AND
 *		substr(u, 18, 2) < '60', character-wise and in the database's
 *		default collation, as the SQL said it.
 */
static bool
like_shape(const char *s, int len)
{
	static const char pattern[] = "____-__-__T__:__:__.___Z";
	const char *at[25];
	const char *p = s,
			   *end = s + len;
	int			n = 0;

	while (p < end && n < 25)
	{
		at[n++] = p;
		p += pg_mblen(p);
	}
	if (n != 24 || p != end)
		return false;
	at[24] = end;
	for (int i = 0; i < 24; i++)
		if (pattern[i] != '_' && (at[i + 1] - at[i] != 1 || *at[i] != pattern[i]))
			return false;
	return varstr_cmp(at[11], at[13] - at[11], "24", 2, DEFAULT_COLLATION_OID) < 0 &&
		varstr_cmp(at[17], at[19] - at[17], "60", 2, DEFAULT_COLLATION_OID) < 0;
}

/*
 * cast_guarded
 *		u::timestamptz in a subtransaction; a data exception (class 22)
 *		gives false, as the PL/pgSQL block's EXCEPTION WHEN data_exception.
 */
static bool
cast_guarded(const char *u, TimestampTz *out)
{
	MemoryContext cxt = CurrentMemoryContext;
	ResourceOwner owner = CurrentResourceOwner;
	volatile bool ok = true;

	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(cxt);
	PG_TRY();
	{
		*out = DatumGetTimestampTz(DirectFunctionCall3(timestamptz_in, CStringGetDatum(u),
													   ObjectIdGetDatum(InvalidOid), Int32GetDatum(-1)));
		ReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(cxt);
		CurrentResourceOwner = owner;
	}
	PG_CATCH();
	{
		ErrorData  *e;

		MemoryContextSwitchTo(cxt);
		e = CopyErrorData();
		if (ERRCODE_TO_CATEGORY(e->sqlerrcode) != ERRCODE_DATA_EXCEPTION)
			PG_RE_THROW();
		FlushErrorState();
		FreeErrorData(e);
		RollbackAndReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(cxt);
		CurrentResourceOwner = owner;
		ok = false;
	}
	PG_END_TRY();
	return ok;
}

/* The reason, as row_problem returns it. */
#define PROBLEM(...) return psprintf(__VA_ARGS__)

/*
 * row_problem
 *		The checks in the order of the documentation in 30_powerflex.sql;
 *		the first that fails is the reason, NULL when the row passes. row is
 *		the row's object, NULL when the row is not one. What the checks
 *		computed on the way (the times as numerics, updated_at) is left in
 *		*t for the typed columns of powerflex_rows.
 */
static char *
row_problem(JsonbContainer *row, PfChecked *t)
{
	JsonbValue	v;
	static const char *const time_fields[] = {"session_start_time", "session_end_time"};
	Datum	   *ms = t->ms;
	bool	   *have_ms = t->have_ms;

	have_ms[0] = have_ms[1] = false;
	t->have_updated = false;
	if (row == NULL)
		PROBLEM("row is not a JSON object");

	/* session_id: a string or number, not blank, at most 200 characters */
	if (!member(row, "session_id", &v) || (v.type != jbvString && v.type != jbvNumeric))
		PROBLEM("session_id is missing");
	{
		char	   *sid = plain_text(&v);
		const char *p = sid;

		while (*p == ' ')		/* btrim(x) = '' trims spaces */
			p++;
		if (*p == '\0')
			PROBLEM("session_id is missing");
		if (pg_mbstrlen(sid) > 200)
			PROBLEM("session_id is longer than 200 characters");
	}

	/* session_kwh: a number or numeric string from 0 to 1e9, not tiny */
	if (!member(row, "session_kwh", &v) || v.type == jbvNull)
		PROBLEM("session_kwh is missing");
	if (!(v.type == jbvNumeric ||
		  (v.type == jbvString && is_kwh_string(v.val.string.val, v.val.string.len))))
		PROBLEM("session_kwh is not a number: %s", echo(json_text(&v)));
	{
		Datum		kn = v.type == jbvNumeric ? NumericGetDatum(v.val.numeric) : numeric_from(plain_text(&v));

		if (numeric_compare(kn, BOUND_ZERO) < 0)
			PROBLEM("session_kwh is negative: %s", echo(plain_text(&v)));
		if (numeric_compare(kn, BOUND_KWH_MAX) > 0)
			PROBLEM("session_kwh is out of range: %s", echo(plain_text(&v)));
		if (numeric_compare(kn, BOUND_ZERO) > 0 && numeric_compare(kn, BOUND_KWH_MIN) < 0)
			PROBLEM("session_kwh is too small (non-zero below 1e-9): %s", echo(plain_text(&v)));
	}

	/* user, site, status: strings when present; site at most 1000 bytes */
	if (member(row, "user", &v) && v.type != jbvString && v.type != jbvNull)
		PROBLEM("user is not a string");
	if (member(row, "site", &v))
	{
		if (v.type != jbvString && v.type != jbvNull)
			PROBLEM("site is not a string");
		if (v.type == jbvString && v.val.string.len > 1000)
			PROBLEM("site is longer than 1000 bytes");
	}
	if (member(row, "status", &v) && v.type != jbvString && v.type != jbvNull)
		PROBLEM("status is not a string");

	/* times: epoch ms from 0 to year 9999, numbers or digit strings */
	for (int i = 0; i < 2; i++)
	{
		if (!member(row, time_fields[i], &v) || v.type == jbvNull)
		{
			if (i == 0)
				PROBLEM("session_start_time is missing");
			continue;
		}
		if (v.type == jbvNumeric)
			ms[i] = NumericGetDatum(v.val.numeric);
		else if (v.type == jbvString && is_ms_string(v.val.string.val, v.val.string.len))
			ms[i] = numeric_from(plain_text(&v));
		else
			PROBLEM("%s is not a valid time: %s", time_fields[i], echo(json_text(&v)));
		if (numeric_compare(ms[i], BOUND_ZERO) < 0 || numeric_compare(ms[i], BOUND_MS_MAX) > 0)
			PROBLEM("%s is not a valid time: %s", time_fields[i], echo(json_text(&v)));
		have_ms[i] = true;
	}

	/* updated_at: ISO 8601 of a real date, 1970 to before 10000 (UTC) */
	if (member(row, "updated_at", &v))
	{
		if (v.type == jbvString)
		{
			char	   *u = plain_text(&v);
			int			len = v.val.string.len;
			bool		safe;
			bool		strict = strict_shape(u, len, &safe);
			TimestampTz ts;
			bool		ok;

			if (!strict && !like_shape(u, len))
				PROBLEM("updated_at is not a valid time: %s", echo(json_text(&v)));
			if (safe)
			{
				ts = DatumGetTimestampTz(DirectFunctionCall3(timestamptz_in, CStringGetDatum(u),
															 ObjectIdGetDatum(InvalidOid), Int32GetDatum(-1)));
				ok = true;
			}
			else
				ok = cast_guarded(u, &ts);
			/* [1970-01-01 00:00+00, 10000-01-01 00:00+00) */
			if (!ok || TIMESTAMP_NOT_FINITE(ts) || ts < -INT64CONST(946684800000000) ||
				ts >= INT64CONST(252455616000000000))
				PROBLEM("updated_at is not a valid time: %s", echo(json_text(&v)));
			t->have_updated = true;
			t->updated = ts;
		}
		else if (v.type != jbvNull)
			PROBLEM("updated_at is not a timestamp");
	}

	if (have_ms[0] && have_ms[1] &&
		DatumGetInt32(DirectFunctionCall2(numeric_cmp, ms[1], ms[0])) < 0)
		PROBLEM("session_end_time is before session_start_time");
	return NULL;
}
#undef PROBLEM

/*
 * sa_powerflex_row_problem(r jsonb) -> text
 *		Why the row cannot be imported (row_problem), NULL when it can.
 */
Datum
sa_powerflex_row_problem(PG_FUNCTION_ARGS)
{
	PfChecked	t;
	Jsonb	   *r;
	char	   *problem;

	if (PG_ARGISNULL(0))
		PG_RETURN_TEXT_P(cstring_to_text("row is not a JSON object"));
	r = PG_GETARG_JSONB_P(0);
	problem = row_problem(JB_ROOT_IS_SCALAR(r) || !JB_ROOT_IS_OBJECT(r) ? NULL : &r->root, &t);
	if (problem == NULL)
		PG_RETURN_NULL();
	PG_RETURN_TEXT_P(cstring_to_text(problem));
}

/* ---- powerflex_rows ----------------------------------------------------- */

/* Columns of powerflex_rows' result, as 30_powerflex.sql declares them. */
enum
{
	PFR_POSITION, PFR_NAMESPACE, PFR_PROBLEM, PFR_EXTERNAL_ID, PFR_STATUS,
	PFR_STARTED_AT, PFR_ENDED_AT, PFR_KWH, PFR_USER_REF, PFR_SITE,
	PFR_LAST_UPDATED, PFR_ROW, PFR_N
};

/*
 * What powerflex_rows keeps of a row between its two passes: small values
 * only (the row itself stays in the argument and is copied out when the
 * result row is formed), so the memory held is a fraction of the export's.
 */
typedef struct PfRow
{
	char	   *ns;
	char	   *sid;			/* r ->> 'session_id' of a valid row */
	char	   *problem;
	PfChecked	t;
} PfRow;

/* Hash key of the duplicate check: namespace and session_id, not copied. */
typedef struct PfKey
{
	const char *ns;
	const char *sid;
} PfKey;

typedef struct PfEntry
{
	PfKey		key;
	int			last;			/* 0-based index of the last valid row of this key */
} PfEntry;

/* dynahash callbacks for PfKey */
static uint32
pf_key_hash(const void *key, Size keysize)
{
	const PfKey *k = key;

	return hash_combine(string_hash(k->ns, 0), string_hash(k->sid, 0));
}

static int
pf_key_match(const void *a, const void *b, Size keysize)
{
	const PfKey *x = a,
			   *y = b;

	return (strcmp(x->ns, y->ns) == 0 && strcmp(x->sid, y->sid) == 0) ? 0 : 1;
}

/* btrim(s): s without leading and trailing spaces (a copy). */
static char *
trim_spaces(const char *s, int len)
{
	while (len > 0 && *s == ' ')
		s++, len--;
	while (len > 0 && s[len - 1] == ' ')
		len--;
	return pnstrdup(s, len);
}

/*
 * row_namespace
 *		import_powerflex's namespace of a row (NULL: not an object): the
 *		site argument, else the row's site when it is a string of at most
 *		1000 bytes that is not blank (trimmed), else 'powerflex'.
 */
static char *
row_namespace(JsonbContainer *row, const char *site)
{
	JsonbValue	v;

	if (site)
		return (char *) site;
	if (row && member(row, "site", &v) && v.type == jbvString && v.val.string.len <= 1000)
	{
		char	   *ns = trim_spaces(v.val.string.val, v.val.string.len);

		if (*ns)
			return ns;
	}
	return "powerflex";
}

/*
 * row_container
 *		Element i of the rows array as an object to read, in place (it
 *		points into rows); NULL when the element is not an object.
 */
static JsonbContainer *
row_container(Jsonb *rows, int i, MemoryContext cxt)
{
	MemoryContext old = MemoryContextSwitchTo(cxt);
	JsonbValue *e = getIthJsonbValueFromContainer(&rows->root, i);
	JsonbContainer *c = NULL;

	if (e->type == jbvBinary && JsonContainerIsObject(e->val.binary.data))
		c = e->val.binary.data;
	MemoryContextSwitchTo(old);
	return c;
}

/*
 * to_timestamp((ms / 1000)::float8), as import_powerflex computed it in SQL.
 * ms is checked to lie in [0, BOUND_MS_MAX], below 2^53. When it is a whole
 * number, (double) ms / 1000 is the same double: ms converts exactly, the
 * division rounds the exact quotient once, and the numeric quotient (at
 * least 8 decimals, of which it needs 3) is that exact quotient, which
 * float8 input rounds the same way. Whole numbers skip the numeric
 * division and the text round trip of numeric_float8.
 */
static Datum
ms_timestamptz(Datum ms)
{
	Datum		whole = DirectFunctionCall1(numeric_int8, ms);
	Datum		sec;

	if (DatumGetInt32(DirectFunctionCall2(numeric_cmp, NumericGetDatum(int64_to_numeric(DatumGetInt64(whole))), ms)) == 0)
		return DirectFunctionCall1(float8_timestamptz, Float8GetDatum((double) DatumGetInt64(whole) / 1000.0));
	sec = DirectFunctionCall2(numeric_div, ms, bound(BOUND_THOUSAND));
	return DirectFunctionCall1(float8_timestamptz, DirectFunctionCall1(numeric_float8, sec));
}

/*
 * typed_columns
 *		The store's columns of a valid row, each exactly as import_powerflex's
 *		INSERT computed it from r before (30_powerflex.sql): status trimmed,
 *		else ACTIVE without an end time and FINISHED with one; times from
 *		epoch ms; kwh by float8 input of its text; updated_at, else now().
 */
static void
typed_columns(PfRow *row, JsonbContainer *c, const char *site, Datum *values, bool *nulls)
{
	JsonbValue	v;
	char	   *status = NULL;

	values[PFR_EXTERNAL_ID] = CStringGetTextDatum(row->sid);
	if (member(c, "status", &v) && v.type == jbvString)
	{
		status = trim_spaces(v.val.string.val, v.val.string.len);
		if (*status == '\0')
			status = NULL;
	}
	if (status == NULL)
		status = member(c, "session_end_time", &v) && (v.type == jbvNumeric || v.type == jbvString)
			? "FINISHED" : "ACTIVE";
	values[PFR_STATUS] = CStringGetTextDatum(status);
	values[PFR_STARTED_AT] = ms_timestamptz(row->t.ms[0]);
	if (row->t.have_ms[1])
		values[PFR_ENDED_AT] = ms_timestamptz(row->t.ms[1]);
	else
		nulls[PFR_ENDED_AT] = true;
	member(c, "session_kwh", &v);
	/* float8 input of its text: numeric_float8 is that for a number */
	values[PFR_KWH] = v.type == jbvNumeric
		? DirectFunctionCall1(numeric_float8, NumericGetDatum(v.val.numeric))
		: DirectFunctionCall1(float8in, CStringGetDatum(plain_text(&v)));
	if (member(c, "user", &v) && v.type == jbvString)
		values[PFR_USER_REF] = PointerGetDatum(cstring_to_text_with_len(v.val.string.val, v.val.string.len));
	else
		nulls[PFR_USER_REF] = true;
	if (site)
		values[PFR_SITE] = CStringGetTextDatum(site);
	else if (member(c, "site", &v) && v.type == jbvString)
		values[PFR_SITE] = PointerGetDatum(cstring_to_text_with_len(v.val.string.val, v.val.string.len));
	else
		nulls[PFR_SITE] = true;
	values[PFR_LAST_UPDATED] = TimestampTzGetDatum(row->t.have_updated ? row->t.updated
												   : GetCurrentTransactionStartTimestamp());
}

/*
 * sa_powerflex_rows(rows jsonb, base int8, site text) -> setof record
 *		import_powerflex's rows in one pass, in array order: each row's
 *		position (base + its 1-based ordinality), namespace, problem
 *		(row_problem, or, of valid rows sharing namespace and session_id,
 *		"repeated later" for all but the last) and, for a valid row, the
 *		store's typed columns. Replaces the SQL that extracted, checked, and
 *		sorted the rows twice (window and insert order): docs/benchmarks.md,
 *		issue 14.
 */
Datum
sa_powerflex_rows(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	Jsonb	   *rows;
	int64		base;
	const char *site = NULL;
	int			n;
	PfRow	   *pr;
	HASHCTL		hctl;
	HTAB	   *keys;
	MemoryContext call_cxt = CurrentMemoryContext;
	MemoryContext row_cxt;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("powerflex_rows: rows must not be NULL"),
				 errhint("Pass the export's JSON array of rows.")));
	if (PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("powerflex_rows: base must not be NULL"),
				 errhint("Pass 0 to number the rows from 1.")));
	rows = PG_GETARG_JSONB_P(0);
	base = PG_GETARG_INT64(1);
	if (!PG_ARGISNULL(2))
		site = text_to_cstring(PG_GETARG_TEXT_PP(2));
	if (JB_ROOT_IS_SCALAR(rows) || !JB_ROOT_IS_ARRAY(rows))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("powerflex_rows: rows must be a JSON array"),
				 errhint("Pass the \"rows\" array of a PowerFlex export.")));
	n = JB_ROOT_COUNT(rows);
	if (base < 0 || base > PG_INT64_MAX - n)
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("powerflex_rows: base %lld is out of range", (long long) base),
				 errhint("Row positions start at base + 1: pass a non-negative base.")));

	/* The next batch reuses this one's memory (powerflex/import_memory.c). */
	sa_import_memory_begin();
	InitMaterializedSRF(fcinfo, 0);
	/* huge: a 1 GB array may have more rows than a plain palloc allows */
	pr = palloc_extended(sizeof(PfRow) * Max(n, 1), MCXT_ALLOC_HUGE);
	memset(&hctl, 0, sizeof(hctl));
	hctl.keysize = sizeof(PfKey);
	hctl.entrysize = sizeof(PfEntry);
	hctl.hash = pf_key_hash;
	hctl.match = pf_key_match;
	hctl.hcxt = call_cxt;
	keys = hash_create("powerflex_rows keys", Max(n, 16), &hctl,
					   HASH_ELEM | HASH_FUNCTION | HASH_COMPARE | HASH_CONTEXT);
	/* Each row's scratch memory (the check's, the result row's), reset per row. */
	row_cxt = AllocSetContextCreate(call_cxt, "powerflex_rows row", ALLOCSET_DEFAULT_SIZES);

	/* Check every row; the last valid one of each key is the one kept. */
	for (int i = 0; i < n; i++)
	{
		JsonbContainer *c = row_container(rows, i, row_cxt);
		PfRow	   *row = &pr[i];
		char	   *problem;

		row->ns = row_namespace(c, site);
		MemoryContextSwitchTo(row_cxt);
		problem = row_problem(c, &row->t);
		MemoryContextSwitchTo(call_cxt);
		row->problem = problem ? pstrdup(problem) : NULL;
		row->sid = NULL;
		if (problem == NULL)
		{
			JsonbValue	v;
			PfKey		key;
			PfEntry    *entry;
			bool		found;

			/* the times a numeric string gave live in row_cxt: keep them */
			for (int m = 0; m < 2; m++)
				if (row->t.have_ms[m])
					row->t.ms[m] = datumCopy(row->t.ms[m], false, -1);
			member(c, "session_id", &v);
			row->sid = plain_text(&v);
			key.ns = row->ns;
			key.sid = row->sid;
			entry = hash_search(keys, &key, HASH_ENTER, &found);
			entry->key = key;
			entry->last = i;
		}
		MemoryContextReset(row_cxt);
	}

	for (int i = 0; i < n; i++)
	{
		PfRow	   *row = &pr[i];
		Datum		values[PFR_N];
		bool		nulls[PFR_N];
		JsonbValue *e;

		memset(nulls, 0, sizeof(nulls));
		if (row->problem == NULL)
		{
			PfKey		key = {row->ns, row->sid};
			PfEntry    *entry = hash_search(keys, &key, HASH_FIND, NULL);

			if (entry->last != i)
				row->problem = "session_id repeated later in the document (the later row wins)";
		}
		MemoryContextSwitchTo(row_cxt);
		e = getIthJsonbValueFromContainer(&rows->root, i);
		values[PFR_POSITION] = Int64GetDatum(base + i + 1);
		values[PFR_NAMESPACE] = CStringGetTextDatum(row->ns);
		values[PFR_ROW] = JsonbPGetDatum(JsonbValueToJsonb(e));
		if (row->problem == NULL)
		{
			nulls[PFR_PROBLEM] = true;
			typed_columns(row, e->type == jbvBinary ? e->val.binary.data : NULL, site, values, nulls);
		}
		else
		{
			values[PFR_PROBLEM] = CStringGetTextDatum(row->problem);
			for (int c = PFR_EXTERNAL_ID; c <= PFR_LAST_UPDATED; c++)
				nulls[c] = true;
		}
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
		MemoryContextSwitchTo(call_cxt);
		MemoryContextReset(row_cxt);
	}
	hash_destroy(keys);
	MemoryContextDelete(row_cxt);
	return (Datum) 0;
}
