/*
 * powerflex/powerflex_check.c
 *		sessions.powerflex_row_problem(jsonb): why a PowerFlex export row
 *		cannot be imported, NULL when it can. The rules and reasons are those
 *		documented at the function in src/sql/30_powerflex.sql (and until
 *		0.3.0 written there in PL/pgSQL); in C the check costs about a tenth
 *		of the PL/pgSQL one, which import_powerflex pays on every row.
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

#include "ocpi/jsonb_access.h"

PG_FUNCTION_INFO_V1(sa_powerflex_row_problem);

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

static int
numeric_compare(Datum a, const char *b)
{
	return DatumGetInt32(DirectFunctionCall2(numeric_cmp, a, numeric_from(b)));
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

/* The reason as the function's text result. */
#define PROBLEM(...) PG_RETURN_TEXT_P(cstring_to_text(psprintf(__VA_ARGS__)))

/*
 * sa_powerflex_row_problem(r jsonb) -> text
 *		The checks in the order of the documentation in 30_powerflex.sql;
 *		the first that fails is the reason.
 */
Datum
sa_powerflex_row_problem(PG_FUNCTION_ARGS)
{
	Jsonb	   *r;
	JsonbContainer *row;
	JsonbValue	v;
	static const char *const time_fields[] = {"session_start_time", "session_end_time"};
	Datum		ms[2];
	bool		have_ms[2] = {false, false};

	if (PG_ARGISNULL(0))
		PROBLEM("row is not a JSON object");
	r = PG_GETARG_JSONB_P(0);
	row = &r->root;
	if (JB_ROOT_IS_SCALAR(r) || !JB_ROOT_IS_OBJECT(r))
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

		if (numeric_compare(kn, "0") < 0)
			PROBLEM("session_kwh is negative: %s", echo(plain_text(&v)));
		if (numeric_compare(kn, "1e9") > 0)
			PROBLEM("session_kwh is out of range: %s", echo(plain_text(&v)));
		if (numeric_compare(kn, "0") > 0 && numeric_compare(kn, "1e-9") < 0)
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
		if (numeric_compare(ms[i], "0") < 0 || numeric_compare(ms[i], "253402300799999") > 0)
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
		}
		else if (v.type != jbvNull)
			PROBLEM("updated_at is not a timestamp");
	}

	if (have_ms[0] && have_ms[1] &&
		DatumGetInt32(DirectFunctionCall2(numeric_cmp, ms[1], ms[0])) < 0)
		PROBLEM("session_end_time is before session_start_time");
	PG_RETURN_NULL();
}
