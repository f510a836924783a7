/*
 * report_queries.c
 *		The connection and every statement session-report sends for a report:
 *		the selection (range, site, active sessions), the listings, the
 *		summary and daily reports, the per-user figures and the chart.
 *
 * Every figure is computed by the extension's SQL functions; this file only
 * builds the statements and their text parameters. Failures map to the
 * exit statuses of docs/session-report.md (die_query).
 */
#include "session_report.h"

#include <stdlib.h>
#include <string.h>

PGconn	   *conn;
char	   *range;				/* tstzrange text */
char	   *range_from;			/* first local day, YYYY-MM-DD HH:MI:SS */
char	   *range_to;

static char *user_ref;			/* the resolved --user EMAIL */

/* --sort values and the store expression each one orders by. */
static const struct
{
	const char *name;
	const char *expr;
}			sort_fields[] =
{
	{"session_start_time", "s.started_at"},
	{"started_at", "s.started_at"},
	{"start", "s.started_at"},
	{"session_end_time", "s.ended_at"},
	{"ended_at", "s.ended_at"},
	{"end", "s.ended_at"},
	{"session_kwh", "s.kwh"},
	{"kwh", "s.kwh"},
	{"duration", "(s.ended_at - s.started_at)"},
	{"user", "s.user_ref"},
	{"site", "s.site"},
	{"status", "s.status"},
	{"session_id", "s.external_id"},
	{"updated_at", "s.last_updated"},
	{"last_updated", "s.last_updated"},
	{NULL, NULL}
};

/* The store expression --sort NAME orders by, NULL for an unknown name. */
const char *
sort_expr(const char *sort)
{
	for (int i = 0; sort_fields[i].name; i++)
		if (strcmp(sort, sort_fields[i].name) == 0)
			return sort_fields[i].expr;
	return NULL;
}

/*
 * die_query
 *		Turns a failed statement into one line and the exit status of its
 *		class: a lost connection, a missing function (an extension without
 *		this release's analytics), a bad value (usage_what names the flag),
 *		anything else.
 */
void
die_query(PGresult *res, const char *usage_what)
{
	const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
	const char *primary = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
	char	   *msg = strdup(primary ? primary : PQerrorMessage(conn));

	msg[strcspn(msg, "\n")] = '\0';
	if (PQstatus(conn) == CONNECTION_BAD)
		tool_die(EXIT_CONNECT, "lost the connection to the database: %s", msg);
	if (state && (strcmp(state, "42883") == 0 || strcmp(state, "42P01") == 0 || strcmp(state, "3F000") == 0))
		tool_die(EXIT_NO_EXTENSION, "the installed session_analytics lacks what this program needs (%s); run ALTER EXTENSION session_analytics UPDATE", msg);
	if (state && strncmp(state, "22", 2) == 0 && usage_what)
		tool_die(EXIT_USAGE, "invalid %s: %s", usage_what, msg);
	if (state && strcmp(state, "42501") == 0)
		tool_die(EXIT_FAILURE_RUN, "permission denied: %s (the role needs session_analytics_reader, or _writer to import)", msg);
	tool_die(EXIT_FAILURE_RUN, "query failed: %s", msg);
}

/*
 * query
 *		Runs sql with text parameters; dies on failure (see die_query). With
 *		--debug the statement and its parameters go to stderr first.
 */
PGresult *
query(const char *sql, int n, const char *const *params, const char *usage_what)
{
	PGresult   *res;

	if (opt.debug)
	{
		debug("SQL: %s", sql);
		for (int i = 0; i < n; i++)
			debug("    $%d = %s", i + 1, params[i] == NULL ? "NULL" :
				  shown(params[i]));
	}
	res = PQexecParams(conn, sql, n, NULL, params, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK && PQresultStatus(res) != PGRES_COMMAND_OK)
		die_query(res, usage_what);
	return res;
}

/* First field of the first row of a one-value query, strdup'ed (NULL for SQL NULL). */
char *
query_value(const char *sql, int n, const char *const *params, const char *usage_what)
{
	PGresult   *res = query(sql, n, params, usage_what);
	char	   *v = NULL;

	if (PQntuples(res) > 0 && !PQgetisnull(res, 0, 0))
		v = strdup(PQgetvalue(res, 0, 0));
	PQclear(res);
	return v;
}

/* Connects (-d), sets UTF8 and the --tz zone; a bad zone exits 2. */
void
connect_db(void)
{
	PGresult   *res;
	const char *p[1];

	conn = tool_connect_dbname(opt.dbname);
	debug("Connected to database \"%s\" on %s as %s", PQdb(conn),
		  PQhost(conn) ? PQhost(conn) : "(socket)", PQuser(conn));
	if (PQsetClientEncoding(conn, "UTF8") != 0)
		tool_die(EXIT_FAILURE_RUN, "cannot set the client encoding to UTF8");
	tool_require_extension(conn);

	/* Times print in the report's zone; a bad zone is a bad flag. */
	p[0] = opt.tz;
	res = query("SELECT pg_catalog.set_config('TimeZone', $1, false)", 1, p, "--tz");
	PQclear(res);
	/* POSIX-style zones such as UTC+99 are accepted but cannot be printed back */
	PQclear(query("SELECT pg_catalog.now()::text::timestamptz", 0, NULL, "--tz"));
}

/*
 * resolve_defaults
 *		The analysis parameters the user did not give (--micro without a
 *		value, --volts) are the server's defaults: the values of
 *		session_analytics.micro_threshold and .volts in force for this
 *		connection, read once through sessions.analytics_setting, the
 *		function the SQL defaults call. This program writes no default of
 *		its own; every statement of the report then passes the same value,
 *		and the output prints the value used.
 */
void
resolve_defaults(void)
{
	PGresult   *res;

	if (opt.micro_kwh && opt.volts)
		return;
	res = query("SELECT sessions.analytics_setting('micro_threshold')::text, "
				"sessions.analytics_setting('volts')::text", 0, NULL, NULL);
	if (opt.micro_kwh == NULL)
		opt.micro_kwh = strdup(PQgetvalue(res, 0, 0));
	if (opt.volts == NULL)
		opt.volts = strdup(PQgetvalue(res, 0, 1));
	PQclear(res);
	debug("Analysis parameters: micro threshold %s kWh, %s V", opt.micro_kwh, opt.volts);
}

/*
 * resolve_range
 *		The report's tstzrange: --from/--to as local days (both inclusive),
 *		else the named range from sessions.date_range (today by default).
 */
void
resolve_range(void)
{
	PGresult   *res;

	if (opt.from)
	{
		const char *p[3] = {opt.from, opt.to ? opt.to : opt.from, opt.tz};
		char	   *ok;

		/* Validate each date on its own so the message names the flag. */
		PQclear(query("SELECT $1::date", 1, p, "--from"));
		if (opt.to)
			PQclear(query("SELECT $1::date", 1, p + 1, "--to"));
		else
		{
			p[1] = query_value("SELECT (pg_catalog.now() AT TIME ZONE $1)::date::text", 1, p + 2, "--tz");
		}
		ok = query_value("SELECT ($1::date <= $2::date)::text", 2, p, NULL);
		if (strcmp(ok, "true") != 0)
			tool_die(EXIT_USAGE, "--from %s is after --to %s", p[0], p[1]);
		range = query_value("SELECT pg_catalog.tstzrange(($1::date)::timestamp AT TIME ZONE $3, "
							"($2::date + 1)::timestamp AT TIME ZONE $3, '[)')::text",
							3, p, "--from/--to");
	}
	else
	{
		const char *p[2] = {opt.range_name ? opt.range_name : "today", opt.tz};

		range = query_value("SELECT sessions.date_range($1, $2)::text", 2, p, "--range");
	}
	{
		const char *p[1] = {range};

		res = query("SELECT pg_catalog.to_char(pg_catalog.lower($1::tstzrange), 'YYYY-MM-DD HH24:MI:SS'), "
					"pg_catalog.to_char(pg_catalog.upper($1::tstzrange), 'YYYY-MM-DD HH24:MI:SS')",
					1, p, NULL);
		range_from = strdup(PQgetvalue(res, 0, 0));
		range_to = strdup(PQgetvalue(res, 0, 1));
		PQclear(res);
	}
	debug("Date range: %s to %s (%s)", range_from, range_to, opt.tz);
}

/*
 * The sessions a report covers, as the store rows s of
 * sessions.report_sessions ($1 range, $2 site, $3 include_active): the
 * function the report functions read too, so the selection is written once,
 * in the extension. The planner inlines it, so with the range known a plan
 * can use the store's started_at index.
 */
#define REPORT_SESSIONS "sessions.report_sessions($1::tstzrange, $2::text, $3::boolean) s"

/* $3 of the selection: --include-active as a boolean literal. */
const char *
include_active_text(void)
{
	return opt.include_active ? "true" : "false";
}

/* The user column as shown: the pseudonym with --anonymize. */
static const char *
user_expr(void)
{
	return opt.anonymize ? "sessions.user_pseudonym(s.user_ref)" : "s.user_ref";
}

/* The session document as shown: user fields pseudonymised with --anonymize. */
static const char *
doc_expr(void)
{
	return opt.anonymize ? "sessions.anonymize_doc(s.doc, s.user_ref)" : "s.doc";
}

/* "ORDER BY ... LIMIT ... OFFSET ..." for session listings ($4 limit, $5 page). */
static void
listing_tail(char *buf, size_t size)
{
	snprintf(buf, size,
			 " ORDER BY %s %s NULLS LAST, s.external_id, s.session_key"
			 " LIMIT NULLIF($4::bigint, 0) OFFSET ($5::bigint - 1) * $4::bigint",
			 sort_expr(opt.sort), opt.order);
}

/* $4 of a listing: --limit, 25 by default. */
static const char *
listing_limit(void)
{
	return opt.limit ? opt.limit : "25";
}

/*
 * sessions_query
 *		The sessions of the report's selection (class: NULL for all, else
 *		'empty' or 'micro' by sessions.classify), as documents (csv: columns).
 */
PGresult *
sessions_query(const char *class)
{
	char		sql[2048];
	char		tail[512];
	const char *p[7] = {range, opt.site, include_active_text(), listing_limit(), opt.page,
	class, opt.micro_kwh};

	listing_tail(tail, sizeof(tail));
	if (opt.format == FMT_CSV)
		snprintf(sql, sizeof(sql),
				 "SELECT s.external_id AS session_id, s.namespace, s.site, %s AS \"user\", s.status, "
				 "s.started_at, s.ended_at, s.kwh%s FROM " REPORT_SESSIONS
				 " WHERE ($6::text IS NULL OR sessions.classify(s.kwh, $7::float8) = $6)%s",
				 user_expr(), class ? ", sessions.classify(s.kwh, $7::float8) AS class" : "", tail);
	else
		snprintf(sql, sizeof(sql),
				 "SELECT %s FROM " REPORT_SESSIONS
				 " WHERE ($6::text IS NULL OR sessions.classify(s.kwh, $7::float8) = $6)%s",
				 doc_expr(), tail);
	return query(sql, 7, p, NULL);
}

/* The number of sessions of the selection in class (NULL: all). */
char *
count_sessions(const char *class)
{
	const char *p[5] = {range, opt.site, include_active_text(), class, opt.micro_kwh};

	return query_value("SELECT count(*) FROM " REPORT_SESSIONS
					   " WHERE ($4::text IS NULL OR sessions.classify(s.kwh, $5::float8) = $4)",
					   5, p, NULL);
}

/* The selection is empty: exit 6 naming the range and site. */
void
die_no_data(void)
{
	tool_die(EXIT_NO_DATA, "no sessions between %s and %s (%s)%s%s%s; try another --range or --from/--to",
			 range_from, range_to, opt.tz, opt.site ? " at site \"" : "", opt.site ? opt.site : "",
			 opt.site ? "\"" : "");
}

/* Report arguments $1..$5 of daily_report / summary_report. */
#define REPORT_ARGS "$1::tstzrange, $2, $3::float8, $4, $5::boolean"

/* sessions.summary_report or daily_report (fn) over the selection. */
PGresult *
report_query(const char *fn)
{
	char		sql[256];
	const char *p[5] = {range, opt.tz, opt.micro_kwh, opt.site, include_active_text()};

	/* summary_report has no normal_pct; SESHIS prints one (of completed). */
	if (strcmp(fn, "daily_report") == 0)
		snprintf(sql, sizeof(sql), "SELECT * FROM sessions.daily_report(" REPORT_ARGS ") ORDER BY day");
	else
		snprintf(sql, sizeof(sql), "SELECT r.*, (100.0 * r.normal / NULLIF(r.completed, 0))::float8 AS normal_pct"
				 " FROM sessions.summary_report(" REPORT_ARGS ") r");
	return query(sql, 5, p, NULL);
}

/* The site line of the combined summary: --site, else the sites seen. */
const char *
site_label(void)
{
	const char *p[3] = {range, NULL, include_active_text()};
	char	   *sites;

	if (opt.site)
		return opt.site;
	sites = query_value("SELECT pg_catalog.string_agg(DISTINCT COALESCE(s.site, '(none)'), ', ' ORDER BY COALESCE(s.site, '(none)'))"
						" FROM " REPORT_SESSIONS, 3, p, NULL);
	return sites ? sites : "(none)";
}

/*
 * resolve_user
 *		--user EMAIL names a user of the selection: matched without regard
 *		to case, or by its pseudonym. Unknown: SESHIS's "User not found".
 */
void
resolve_user(void)
{
	const char *p[4] = {range, opt.site, include_active_text(), opt.user_email};

	if (opt.user_email == NULL)
		return;
	user_ref = query_value("SELECT s.user_ref FROM " REPORT_SESSIONS
						   " WHERE (pg_catalog.lower(s.user_ref) = pg_catalog.lower($4)"
						   " OR sessions.user_pseudonym(s.user_ref) = $4)"
						   " ORDER BY s.user_ref = $4 DESC, s.user_ref LIMIT 1", 4, p, NULL);
	if (user_ref == NULL)
		tool_die(EXIT_NOT_FOUND, "User '%.200s' not found between %s and %s; run --user without an email to see the users",
				 shown(opt.user_email), range_from, range_to);
	debug("User '%s' found", shown(opt.user_email));
}

/*
 * users_query
 *		One row per session of the users on the page: the per-session figures
 *		(local start and end, duration, kWh, average W and A, rating) from
 *		sessions.user_report, narrowed to the report's site and to completed
 *		sessions unless --include-active, numbered in --sort order. --limit N
 *		pages the users and keeps each user's first N sessions.
 */
PGresult *
users_query(char **n_users)
{
	char		sql[4096];
	const char *p[9] = {range, opt.site, include_active_text(), user_ref,
		opt.limit ? opt.limit : "0", opt.page, opt.volts, opt.anonymize ? "true" : "false", opt.tz};

	snprintf(sql, sizeof(sql),
			 "WITH sel AS ("
			 " SELECT u.*, s.started_at, s.ended_at, s.last_updated, s.status, s.user_ref AS ref"
			 " FROM sessions.user_report($4, $1::tstzrange, $9, $7::float8) u"
			 " JOIN " REPORT_SESSIONS " ON s.session_key = u.session_key AND s.namespace = u.namespace),"
			 " users AS (SELECT s.ref, count(*) AS total_sessions FROM sel s GROUP BY s.ref),"
			 " page AS (SELECT u.ref, u.total_sessions, row_number() OVER"
			 " (ORDER BY u.ref IS NOT NULL, u.total_sessions DESC, u.ref) AS user_no FROM users u"
			 " ORDER BY user_no LIMIT NULLIF($5::bigint, 0) OFFSET ($6::bigint - 1) * $5::bigint)"
			 " SELECT * FROM (SELECT p.user_no,"
			 " CASE WHEN $8::boolean THEN sessions.user_pseudonym(p.ref) ELSE p.ref END AS \"user\","
			 " p.total_sessions,"
			 " row_number() OVER (PARTITION BY p.user_no ORDER BY %s %s NULLS LAST, s.external_id) AS session_no,"
			 " s.external_id AS session_id, s.site,"
			 " pg_catalog.to_char(s.started_local, 'YYYY-MM-DD HH24:MI:SS') AS start,"
			 " pg_catalog.to_char(s.ended_local, 'YYYY-MM-DD HH24:MI:SS') AS \"end\","
			 " s.duration,"
			 " pg_catalog.round((EXTRACT(epoch FROM s.duration_interval) / 3600)::numeric, 2) AS hours,"
			 " s.kwh, s.average_w, s.average_a, s.rating"
			 " FROM page p JOIN sel s ON s.ref IS NOT DISTINCT FROM p.ref) x"
			 " WHERE NULLIF($5::bigint, 0) IS NULL OR x.session_no <= $5::bigint"
			 " ORDER BY x.user_no, x.session_no",
			 sort_expr(opt.sort), opt.order);
	*n_users = query_value("SELECT count(*) FROM (SELECT DISTINCT s.user_ref FROM " REPORT_SESSIONS
						   " WHERE ($4::text IS NULL OR s.user_ref = $4)) u", 4, p, NULL);
	return query(sql, 9, p, "--volts");
}

/*
 * chart_svg
 *		sessions.daily_chart_svg over the selection, titled title; the SVG
 *		text (malloc'ed), NULL when the server returned none.
 */
char *
chart_svg(const char *title)
{
	const char *p[6] = {range, opt.site, include_active_text(), opt.tz, opt.micro_kwh, title};

	return query_value("SELECT sessions.daily_chart_svg(sessions.session_stats_agg(s.started_at, s.ended_at, s.kwh, $4, $5::float8), $6)"
					   " FROM " REPORT_SESSIONS, 6, p, NULL);
}
