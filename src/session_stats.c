/*
 * session_stats.c
 *		The sessions.session_stats type: construction, validation of values
 *		that come from outside (text, binary, table columns), and the text
 *		and binary forms.
 *
 * Text form, one line, every field in a fixed order:
 *
 *	 v1 tz=America/Los_Angeles micro=1 volts=208 good=16 fair=8
 *		| 2025-09-07 active completed empty micro normal green orange red kwh duration_us
 *		| ...
 *
 * Days are ISO dates (astronomical years), floats in shortest exact form.
 * Binary form: version byte, tz as int32 length + bytes, the four floats,
 * int32 ndays, then per day int32 date and the ten counters (int64, kwh as
 * float8), all network order. Both forms and the stored layout are those of
 * 0.1.0; the input functions store the zone under its canonical spelling.
 *
 * Every value from outside goes through ss_check, which reports with the
 * SQLSTATE of its source (22P02 text, 22P03 binary and function arguments):
 * these are user errors, never XX001.
 *
 * This file owns the forms of the layout contract stated in session_stats.h:
 * the four I/O functions walk the day counters in the order of
 * ss_day_counters below, SS_TEXT_DAY_FIELDS fields and SS_WIRE_DAY bytes a
 * day. Dependency rule: session_stats.h, analytics_params.h, PostgreSQL.
 */
#include "postgres.h"

#include <ctype.h>
#include <math.h>

#include "common/shortest_dec.h"
#include "lib/stringinfo.h"
#include "libpq/pqformat.h"
#include "mb/pg_wchar.h"
#include "parser/scansup.h"
#include "utils/builtins.h"
#include "utils/datetime.h"

#include "session_stats.h"

PG_FUNCTION_INFO_V1(sa_session_stats_in);
PG_FUNCTION_INFO_V1(sa_session_stats_out);
PG_FUNCTION_INFO_V1(sa_session_stats_recv);
PG_FUNCTION_INFO_V1(sa_session_stats_send);

/*
 * The day counters in the order of the text and binary forms (both put them
 * between the date and kwh): the one list the four I/O functions walk.
 */
typedef struct SSCounterField
{
	const char *name;			/* the token expected in the text form */
	const char *what;			/* what a syntax error says was expected */
	size_t		offset;			/* int64 field of SessionStatsDay */
} SSCounterField;

static const SSCounterField ss_day_counters[] = {
	{"active", "active count", offsetof(SessionStatsDay, active)},
	{"completed", "completed count", offsetof(SessionStatsDay, completed)},
	{"empty", "empty count", offsetof(SessionStatsDay, empty)},
	{"micro", "micro count", offsetof(SessionStatsDay, micro)},
	{"normal", "normal count", offsetof(SessionStatsDay, normal)},
	{"green", "green count", offsetof(SessionStatsDay, green)},
	{"orange", "orange count", offsetof(SessionStatsDay, orange)},
	{"red", "red count", offsetof(SessionStatsDay, red)},
};

StaticAssertDecl(lengthof(ss_day_counters) == SS_DAY_COUNTERS,
				 "ss_day_counters must list every counter of SessionStatsDay (session_stats.h contract)");
/* A day in either form: the date, these counters, kwh, duration. */
StaticAssertDecl(SS_TEXT_DAY_FIELDS == 1 + lengthof(ss_day_counters) + 2 &&
				 SS_WIRE_DAY == sizeof(int32) + lengthof(ss_day_counters) * sizeof(int64) +
				 sizeof(float8) + sizeof(int64),
				 "session_stats in/out/send/recv no longer match SS_TEXT_DAY_FIELDS / SS_WIRE_DAY");

/* Counter k (in ss_day_counters order) of day d. */
#define SS_COUNTER(d, k)	(*(int64 *) ((char *) (d) + ss_day_counters[k].offset))

/*
 * ss_create
 *		A summary with no days and room for capacity of them, in mcxt.
 */
SessionStats *
ss_create(const char *tz, int tzlen, const SessionParams *p, int32 capacity, MemoryContext mcxt)
{
	Size		size = SS_SIZE(tzlen, capacity);
	SessionStats *s = MemoryContextAllocZero(mcxt, size);

	SET_VARSIZE(s, size);
	s->version = SS_VERSION;
	s->tzlen = (uint16) tzlen;
	s->capacity = capacity;
	s->micro_threshold = p->micro_threshold;
	s->volts = p->volts;
	s->good_a = p->good_a;
	s->fair_a = p->fair_a;
	memcpy(s->tz, tz, tzlen);
	return s;
}

/*
 * ss_resize
 *		A copy of s with room for capacity days (>= s->ndays), in mcxt.
 */
SessionStats *
ss_resize(const SessionStats *s, int32 capacity, MemoryContext mcxt)
{
	SessionParams p = {s->micro_threshold, s->volts, s->good_a, s->fair_a};
	SessionStats *r;

	Assert(capacity >= s->ndays);
	r = ss_create(s->tz, s->tzlen, &p, capacity, mcxt);
	r->ndays = s->ndays;
	memcpy(SS_DAYS(r), SS_DAYS(s), sizeof(SessionStatsDay) * s->ndays);
	return r;
}

/* ---- validation ---------------------------------------------------------- */

/*
 * ss_format_day
 *		A day as out() writes it (YYYY-MM-DD, astronomical year), or its raw
 *		number when it is not a valid date; for messages.
 */
void
ss_format_day(int32 day, char *buf, size_t size)
{
	int			y,
				m,
				d;

	if (!IS_VALID_DATE(day))
	{
		snprintf(buf, size, "#%d", day);
		return;
	}
	j2date(day + POSTGRES_EPOCH_JDATE, &y, &m, &d);
	snprintf(buf, size, "%04d-%02d-%02d", y, m, d);
}

/*
 * bad_value
 *		Reports a value that is not a valid session_stats. The SQLSTATE says
 *		where it came from: 22P02 text input, 22P03 binary input or a value
 *		passed to a function (which only the input functions and the
 *		aggregates make). Never XX001: every such value is user input.
 */
static void pg_attribute_noreturn()
bad_value(int sqlerrcode, const char *detail)
{
	ereport(ERROR,
			(errcode(sqlerrcode),
			 errmsg("invalid session_stats value"),
			 errdetail("%s", detail),
			 errhint("Build summaries with session_stats_agg or rollup, or from their text or binary form.")));
}

/* bad_value for one day, naming it. */
static void pg_attribute_noreturn()
bad_day(int sqlerrcode, const SessionStatsDay *d, const char *what)
{
	char		day[32];

	ss_format_day(d->day, day, sizeof(day));
	bad_value(sqlerrcode, psprintf("Day %s: %s.", day, what));
}

/*
 * ss_zone_name_ok
 *		A zone name is 1..TZ_STRLEN_MAX printable non-blank bytes, no '|' (so
 *		the text form can be split on blanks and bars).
 */
bool
ss_zone_name_ok(const char *tz, int len)
{
	if (len < 1 || len > TZ_STRLEN_MAX)
		return false;
	for (int i = 0; i < len; i++)
	{
		unsigned char c = (unsigned char) tz[i];

		if (c <= ' ' || c == 0x7f || c == '|')
			return false;
	}
	return true;
}

/* ASCII upper case: how zone names fold (pg_tzset, abbreviations). */
static inline char
zone_fold(char c)
{
	return (c >= 'a' && c <= 'z') ? c - ('a' - 'A') : c;
}

/*
 * ss_zone_equal
 *		Whether two zone names name the same zone as AT TIME ZONE reads them:
 *		equal up to ASCII letter case. Values written before names were
 *		canonicalised may hold any spelling ('utc'), so merging compares
 *		this way rather than byte for byte.
 */
bool
ss_zone_equal(const char *a, int alen, const char *b, int blen)
{
	if (alen != blen)
		return false;
	for (int i = 0; i < alen; i++)
		if (zone_fold(a[i]) != zone_fold(b[i]))
			return false;
	return true;
}

/*
 * ss_zone_lookup
 *		Resolves a zone name the way AT TIME ZONE does: an abbreviation first
 *		(fixed offset, or one whose meaning changed over time), then a tz
 *		database name or POSIX spec. Fills *zone, with the canonical
 *		spelling of the name; false when the zone is unknown or the name
 *		malformed.
 */
bool
ss_zone_lookup(const char *name, int len, SSZone *zone)
{
	char		buf[TZ_STRLEN_MAX + 1];
	char	   *lower;
	const char *canon;
	int			type,
				val;
	pg_tz	   *tzp;

	if (!ss_zone_name_ok(name, len))
		return false;
	memcpy(buf, name, len);
	buf[len] = '\0';

	lower = downcase_truncate_identifier(buf, len, false);
	type = DecodeTimezoneAbbrev(0, lower, &val, &tzp);
	pfree(lower);
	if (type == TZ || type == DTZ || type == DYNTZ)
	{
		zone->kind = type == DYNTZ ? SS_ZONE_DYNAMIC : SS_ZONE_FIXED;
		zone->offset = type == DYNTZ ? 0 : val;
		zone->tz = type == DYNTZ ? tzp : NULL;
		for (int i = 0; i < len; i++)
			zone->name[i] = zone_fold(buf[i]);
		zone->name[len] = '\0';
		zone->len = len;
		return true;
	}

	tzp = pg_tzset(buf);
	if (tzp == NULL)
		return false;
	zone->kind = SS_ZONE_TZ;
	zone->offset = 0;
	zone->tz = tzp;
	/* the tz database's spelling ("Europe/Warsaw"), or the spec upper-cased */
	canon = pg_get_timezone_name(tzp);
	if (canon == NULL || !ss_zone_equal(canon, strlen(canon), buf, len))
		canon = buf;
	memcpy(zone->name, canon, len + 1);
	zone->len = len;
	return true;
}

/*
 * check_day
 *		One day's counters are consistent: a valid date, non-negative, the
 *		classes and the ratings each within completed, kWh finite and >= 0,
 *		duration >= 0 (sessions never end before they start).
 */
static void
check_day(const SessionStatsDay *d, int code)
{
	if (!IS_VALID_DATE(d->day))
		bad_day(code, d, "date out of range");
	if (d->reserved != 0)
		bad_day(code, d, "reserved field not zero");
	if (d->active < 0 || d->completed < 0 || d->empty < 0 || d->micro < 0 ||
		d->normal < 0 || d->green < 0 || d->orange < 0 || d->red < 0)
		bad_day(code, d, "negative counter");
	if (d->active > PG_INT64_MAX - d->completed)
		bad_day(code, d, "active + completed out of range");
	if (d->active + d->completed == 0)
		bad_day(code, d, "no sessions");
	if (d->empty > d->completed || d->micro > d->completed - d->empty ||
		d->normal > d->completed - d->empty - d->micro)
		bad_day(code, d, "empty + micro + normal exceed completed");
	if (d->green > d->completed || d->orange > d->completed - d->green ||
		d->red > d->completed - d->green - d->orange)
		bad_day(code, d, "green + orange + red exceed completed");
	if (isnan(d->kwh) || isinf(d->kwh) || d->kwh < 0)
		bad_day(code, d, "kwh not a finite number >= 0");
	if (d->duration < 0)
		bad_day(code, d, "negative duration");
	if (d->completed == 0 && (d->kwh != 0 || d->duration != 0))
		bad_day(code, d, "energy or duration without completed sessions");
}

/*
 * ss_check
 *		The one validation of a session_stats from outside: text and binary
 *		input and every function argument. Checks size, header, zone name
 *		(syntax and encoding), parameters and every day, reporting any
 *		inconsistency with sqlerrcode. Whether the zone is known is checked
 *		where values enter (input, receive), not here.
 */
void
ss_check(const SessionStats *s, int code)
{
	Size		size = VARSIZE(s);
	const SessionStatsDay *days;

	if (size < SS_HEADER_SIZE + 2)
		bad_value(code, "Value too short.");
	if (s->version != SS_VERSION || s->flags != 0 || s->reserved != 0)
		bad_value(code, "Unknown version or flags.");
	if (s->tzlen < 1 || s->tzlen > TZ_STRLEN_MAX || SS_DAYS_OFFSET(s->tzlen) > size)
		bad_value(code, "Zone name length out of range.");
	if (s->tz[s->tzlen] != '\0' || !ss_zone_name_ok(s->tz, s->tzlen) ||
		!pg_verify_mbstr(GetDatabaseEncoding(), s->tz, s->tzlen, true))
		bad_value(code, "Zone name malformed.");
	if (s->ndays < 0 || s->capacity < s->ndays || s->capacity > SS_MAX_DAYS)
		bad_value(code, "Day count out of range.");
	if (size != SS_SIZE(s->tzlen, s->capacity))
		bad_value(code, "Size does not match the day count.");
	if (!sa_params_ok(s->micro_threshold, s->volts, s->good_a, s->fair_a))
		bad_value(code, "Analysis parameters out of range.");
	days = SS_DAYS(s);
	for (int i = 0; i < s->ndays; i++)
	{
		check_day(&days[i], code);
		if (i > 0 && days[i].day <= days[i - 1].day)
			bad_day(code, &days[i], "days not in ascending order or repeated");
	}
}

/*
 * ss_get_arg
 *		Argument argno as a validated, detoasted, 4-byte-header summary. The
 *		result may be a copy; callers that modify it in place must own it.
 */
SessionStats *
ss_get_arg(FunctionCallInfo fcinfo, int argno)
{
	struct varlena *v = PG_GETARG_VARLENA_P(argno);

	if (VARSIZE(v) < SS_HEADER_SIZE + 2 || (((uintptr_t) v) & (MAXIMUM_ALIGNOF - 1)) != 0)
	{
		/* short or misaligned: work on an aligned copy (then validate) */
		struct varlena *c = palloc(Max(VARSIZE(v), SS_HEADER_SIZE + 2));

		memset(c, 0, Max(VARSIZE(v), SS_HEADER_SIZE + 2));
		memcpy(c, v, VARSIZE(v));
		v = c;
	}
	ss_check((SessionStats *) v, ERRCODE_INVALID_BINARY_REPRESENTATION);
	return (SessionStats *) v;
}

/* ---- text form ---------------------------------------------------------- */

/* Appends a float8 in shortest exact form. */
static void
append_float(StringInfo buf, float8 v)
{
	char		tmp[DOUBLE_SHORTEST_DECIMAL_LEN];

	double_to_shortest_decimal_buf(v, tmp);
	appendStringInfoString(buf, tmp);
}

/*
 * sa_session_stats_out
 *		The text form described at the top of this file.
 */
Datum
sa_session_stats_out(PG_FUNCTION_ARGS)
{
	SessionStats *s = ss_get_arg(fcinfo, 0);
	SessionStatsDay *days = SS_DAYS(s);
	StringInfoData buf;

	initStringInfo(&buf);
	appendStringInfo(&buf, "v%d tz=%s micro=", SS_VERSION, s->tz);
	append_float(&buf, s->micro_threshold);
	appendStringInfoString(&buf, " volts=");
	append_float(&buf, s->volts);
	appendStringInfoString(&buf, " good=");
	append_float(&buf, s->good_a);
	appendStringInfoString(&buf, " fair=");
	append_float(&buf, s->fair_a);
	for (int i = 0; i < s->ndays; i++)
	{
		SessionStatsDay *d = &days[i];
		int			y,
					m,
					dd;

		j2date(d->day + POSTGRES_EPOCH_JDATE, &y, &m, &dd);
		appendStringInfo(&buf, " | %04d-%02d-%02d", y, m, dd);
		for (int k = 0; k < SS_DAY_COUNTERS; k++)
			appendStringInfo(&buf, " " INT64_FORMAT, SS_COUNTER(d, k));
		appendStringInfoChar(&buf, ' ');
		append_float(&buf, d->kwh);
		appendStringInfo(&buf, " " INT64_FORMAT, d->duration);
	}
	PG_RETURN_CSTRING(buf.data);
}

/* Tokenizer state for sa_session_stats_in. */
typedef struct Tok
{
	char	   *p;
	const char *input;
} Tok;

#define SS_ECHO_MAX	80			/* bytes of the input an error message echoes */

/* Reports a syntax error, echoing at most SS_ECHO_MAX bytes of the input. */
static void pg_attribute_noreturn()
syntax(const Tok *t, const char *what)
{
	int			len = strlen(t->input);
	int			clip = pg_mbcliplen(t->input, len, SS_ECHO_MAX);

	ereport(ERROR,
			(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
			 errmsg("invalid input syntax for type session_stats: \"%.*s%s\"",
					clip, t->input, clip < len ? "..." : ""),
			 errdetail("Expected %s.", what)));
}

/* The next blank-separated token, NUL-terminated in place; NULL at the end. */
static char *
next_token(Tok *t)
{
	char	   *start;

	while (*t->p && isspace((unsigned char) *t->p))
		t->p++;
	if (*t->p == '\0')
		return NULL;
	start = t->p;
	while (*t->p && !isspace((unsigned char) *t->p))
		t->p++;
	if (*t->p)
		*t->p++ = '\0';
	return start;
}

static char *
need_token(Tok *t, const char *what)
{
	char	   *tok = next_token(t);

	if (tok == NULL)
		syntax(t, what);
	return tok;
}

/* key=value token: returns the value. */
static char *
keyed(Tok *t, const char *key)
{
	char	   *tok = need_token(t, key);
	size_t		kl = strlen(key);

	if (strncmp(tok, key, kl) != 0 || tok[kl] != '=')
		syntax(t, key);
	return tok + kl + 1;
}

/*
 * parse_float
 *		A finite float8. Subnormal values (strtod reports ERANGE for them)
 *		are kept, as float8in does, so every value out() writes reads back;
 *		an underflow to zero or an overflow is an error.
 */
static float8
parse_float(Tok *t, const char *s, const char *what)
{
	char	   *end;
	float8		v;

	errno = 0;
	v = strtod(s, &end);
	if (*s == '\0' || *end != '\0' || isnan(v) || isinf(v) ||
		(errno == ERANGE && v == 0) || (errno != 0 && errno != ERANGE))
		syntax(t, what);
	return v;
}

static int64
parse_int(Tok *t, const char *s, const char *what)
{
	char	   *end;
	long long	v;

	if (!(isdigit((unsigned char) *s) || (*s == '-' && isdigit((unsigned char) s[1]))))
		syntax(t, what);
	errno = 0;
	v = strtoll(s, &end, 10);
	if (*end != '\0' || errno != 0)
		syntax(t, what);
	return (int64) v;
}

/* Two ASCII digits at p as a number, or -1. */
static inline int
two_digits(const char *p)
{
	if (!isdigit((unsigned char) p[0]) || !isdigit((unsigned char) p[1]))
		return -1;
	return (p[0] - '0') * 10 + (p[1] - '0');
}

/*
 * parse_date
 *		[-]Y...Y-MM-DD (astronomical year, as out() writes it) as DateADT.
 *		Strict: digits only, exactly two for month and day, the year checked
 *		against the date range as it is read (no wrap-around).
 */
static int32
parse_date(Tok *t, const char *s)
{
	const char *p = s;
	bool		neg = false;
	int			y = 0,
				m,
				d,
				ndigits = 0,
				y2,
				m2,
				d2,
				jd;

	if (*p == '-')
	{
		neg = true;
		p++;
	}
	for (; isdigit((unsigned char) *p); p++, ndigits++)
	{
		y = y * 10 + (*p - '0');
		if (y > JULIAN_MAXYEAR)
			syntax(t, "a date within the range of type date");
	}
	if (ndigits == 0 || *p != '-')
		syntax(t, "a date YYYY-MM-DD");
	m = two_digits(p + 1);
	if (m < 0 || p[3] != '-')
		syntax(t, "a date YYYY-MM-DD");
	d = two_digits(p + 4);
	if (d < 0 || p[6] != '\0')
		syntax(t, "a date YYYY-MM-DD");
	if (neg)
		y = -y;
	if (m < 1 || m > 12 || d < 1 || d > 31 || !IS_VALID_JULIAN(y, m, d))
		syntax(t, "a valid date");
	jd = date2j(y, m, d);
	j2date(jd, &y2, &m2, &d2);
	if (y2 != y || m2 != m || d2 != d || !IS_VALID_DATE(jd - POSTGRES_EPOCH_JDATE))
		syntax(t, "a valid date");
	return jd - POSTGRES_EPOCH_JDATE;
}

/* Errors for a zone that is not known (the same test as the aggregate). */
static void
lookup_zone(const char *tz, int len, SSZone *zone)
{
	if (!ss_zone_lookup(tz, len, zone))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("time zone \"%.*s\" not recognized", len, tz),
				 errhint("Use a name from pg_timezone_names, an abbreviation from pg_timezone_abbrevs or a POSIX zone.")));
}

/*
 * sa_session_stats_in
 *		Parses the text form; the result is validated like any other value.
 */
Datum
sa_session_stats_in(PG_FUNCTION_ARGS)
{
	char	   *input = PG_GETARG_CSTRING(0);
	Tok			t;
	char	   *tok,
			   *tz;
	SSZone		zone;
	SessionParams p;
	SessionStats *s;
	int32		ndays = 0,
				cap = 8;

	t.input = input;
	t.p = pstrdup(input);
	tok = need_token(&t, "v1");
	if (strcmp(tok, "v1") != 0)
		syntax(&t, "version v1");
	tz = keyed(&t, "tz");
	if (!ss_zone_name_ok(tz, strlen(tz)))
		syntax(&t, "a time-zone name");
	lookup_zone(tz, strlen(tz), &zone);
	p.micro_threshold = parse_float(&t, keyed(&t, "micro"), "micro=<kWh>");
	p.volts = parse_float(&t, keyed(&t, "volts"), "volts=<V>");
	p.good_a = parse_float(&t, keyed(&t, "good"), "good=<A>");
	p.fair_a = parse_float(&t, keyed(&t, "fair"), "fair=<A>");
	sa_check_params(p.micro_threshold, p.volts, p.good_a, p.fair_a);
	/* stored under its canonical spelling: 'utc' reads as 'UTC' */
	s = ss_create(zone.name, zone.len, &p, cap, CurrentMemoryContext);

	while ((tok = next_token(&t)) != NULL)
	{
		SessionStatsDay *d;

		if (strcmp(tok, "|") != 0)
			syntax(&t, "'|' before a day");
		if (ndays >= SS_MAX_DAYS)
			syntax(&t, "fewer days");
		if (ndays == cap)
		{
			cap = Min(cap * 2, SS_MAX_DAYS);
			s = ss_resize(s, cap, CurrentMemoryContext);
		}
		d = &SS_DAYS(s)[ndays];
		d->day = parse_date(&t, need_token(&t, "a date"));
		for (int k = 0; k < SS_DAY_COUNTERS; k++)
			SS_COUNTER(d, k) = parse_int(&t, need_token(&t, ss_day_counters[k].name),
										 ss_day_counters[k].what);
		d->kwh = parse_float(&t, need_token(&t, "kwh"), "kWh");
		d->duration = parse_int(&t, need_token(&t, "duration"), "duration in microseconds");
		s->ndays = ++ndays;
	}
	s = ss_resize(s, ndays, CurrentMemoryContext);
	ss_check(s, ERRCODE_INVALID_TEXT_REPRESENTATION);
	PG_RETURN_POINTER(s);
}

/* ---- binary form -------------------------------------------------------- */

/*
 * sa_session_stats_send
 *		The binary form described at the top of this file.
 */
Datum
sa_session_stats_send(PG_FUNCTION_ARGS)
{
	SessionStats *s = ss_get_arg(fcinfo, 0);
	SessionStatsDay *days = SS_DAYS(s);
	StringInfoData buf;

	pq_begintypsend(&buf);
	pq_sendbyte(&buf, SS_VERSION);
	pq_sendint32(&buf, s->tzlen);
	pq_sendbytes(&buf, s->tz, s->tzlen);
	pq_sendfloat8(&buf, s->micro_threshold);
	pq_sendfloat8(&buf, s->volts);
	pq_sendfloat8(&buf, s->good_a);
	pq_sendfloat8(&buf, s->fair_a);
	pq_sendint32(&buf, s->ndays);
	for (int i = 0; i < s->ndays; i++)
	{
		pq_sendint32(&buf, days[i].day);
		for (int k = 0; k < SS_DAY_COUNTERS; k++)
			pq_sendint64(&buf, SS_COUNTER(&days[i], k));
		pq_sendfloat8(&buf, days[i].kwh);
		pq_sendint64(&buf, days[i].duration);
	}
	PG_RETURN_BYTEA_P(pq_endtypsend(&buf));
}

static void pg_attribute_noreturn()
bad_binary(const char *detail)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
			 errmsg("invalid binary representation of session_stats"),
			 errdetail("%s", detail)));
}

/*
 * sa_session_stats_recv
 *		Reads the binary form; lengths are checked before anything is read
 *		or allocated, and the result is validated.
 */
Datum
sa_session_stats_recv(PG_FUNCTION_ARGS)
{
	StringInfo	buf = (StringInfo) PG_GETARG_POINTER(0);
	int			version,
				tzlen;
	char		tz[TZ_STRLEN_MAX + 1];
	SSZone		zone;
	SessionParams p;
	int32		ndays;
	SessionStats *s;
	SessionStatsDay *days;

	if (buf->len - buf->cursor < 1 + 4)
		bad_binary("value too short");
	version = pq_getmsgbyte(buf);
	if (version != SS_VERSION)
		bad_binary("unknown version");
	tzlen = pq_getmsgint(buf, 4);
	if (tzlen < 1 || tzlen > TZ_STRLEN_MAX || buf->len - buf->cursor < tzlen + SS_WIRE_PARAMS + 4)
		bad_binary("zone name length out of range");
	memcpy(tz, pq_getmsgbytes(buf, tzlen), tzlen);
	tz[tzlen] = '\0';
	if (!ss_zone_name_ok(tz, tzlen))
		bad_binary("zone name malformed");
	if (!pg_verify_mbstr(GetDatabaseEncoding(), tz, tzlen, true))
		bad_binary("zone name not valid in the database encoding");
	lookup_zone(tz, tzlen, &zone);
	p.micro_threshold = pq_getmsgfloat8(buf);
	p.volts = pq_getmsgfloat8(buf);
	p.good_a = pq_getmsgfloat8(buf);
	p.fair_a = pq_getmsgfloat8(buf);
	sa_check_params(p.micro_threshold, p.volts, p.good_a, p.fair_a);
	ndays = pq_getmsgint(buf, 4);
	if (ndays < 0 || ndays > SS_MAX_DAYS ||
		(int64) ndays * SS_WIRE_DAY != (int64) (buf->len - buf->cursor))
		bad_binary("day count does not match the length");
	s = ss_create(zone.name, zone.len, &p, ndays, CurrentMemoryContext);
	s->ndays = ndays;
	days = SS_DAYS(s);
	for (int i = 0; i < ndays; i++)
	{
		days[i].day = pq_getmsgint(buf, 4);
		for (int k = 0; k < SS_DAY_COUNTERS; k++)
			SS_COUNTER(&days[i], k) = pq_getmsgint64(buf);
		days[i].kwh = pq_getmsgfloat8(buf);
		days[i].duration = pq_getmsgint64(buf);
	}
	ss_check(s, ERRCODE_INVALID_BINARY_REPRESENTATION);
	PG_RETURN_POINTER(s);
}
