/*
 * report_queries.c
 *		The connection and every statement session-report sends for a report:
 *		the selection (range, site, active sessions), the listings, the
 *		summary and daily reports, the per-user figures, the chart and which
 *		path (live summaries or scan) the figures per site and day take.
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
const char *report_tz = "UTC";
const char *report_tz_source = "default";
char	   *sites_param;
char	   *sites_shown;

static char *user_ref;			/* the resolved --user EMAIL */
static char *env_pgtz;			/* PGTZ as found (hidden from libpq) */

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

/*
 * die_zone
 *		A zone the server refused: exit 2 with its message, hint and, for a
 *		zone from the environment, what to do about that variable.
 */
static void
die_zone(PGresult *res, const char *src)
{
	const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
	const char *primary = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
	const char *hint = PQresultErrorField(res, PG_DIAG_MESSAGE_HINT);

	if (state == NULL || strcmp(state, "22023") != 0 || primary == NULL)
		die_query(res, src);
	tool_die(EXIT_USAGE, "%s%s%s%s", primary,
			 strcmp(src, "--tz") == 0 ? "" : " (from the environment: unset it or pass --tz)",
			 hint ? ". " : "", hint ? hint : "");
}

/*
 * env_tz
 *		The zone the TZ variable names, as PostgreSQL would read it: a
 *		leading ':' dropped, a path under a zoneinfo directory turned into
 *		the zone's name; NULL when unset, empty or another path.
 */
static const char *
env_tz(void)
{
	const char *tz = getenv("TZ");
	const char *z;

	if (tz == NULL)
		return NULL;
	if (*tz == ':')
		tz++;
	if (*tz == '/')
	{
		z = strstr(tz, "/zoneinfo/");
		tz = z ? z + strlen("/zoneinfo/") : NULL;
	}
	return tz && *tz ? tz : NULL;
}

/*
 * set_time_zone
 *		Times print in the report's zone. TimeZone takes the zone names and
 *		POSIX zones but no abbreviation, which AT TIME ZONE (and so every
 *		report function) accepts: for one of those the session gets the
 *		POSIX zone of the same offset, <PST>+08:00:00 for PST.
 */
static void
set_time_zone(const char *tz, const char *src)
{
	const char *p[1] = {tz};
	PGresult   *res;

	res = PQexecParams(conn, "SELECT pg_catalog.set_config('TimeZone', $1, false)", 1, NULL, p, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK)
	{
		char	   *posix;

		PQclear(res);
		posix = query_value("SELECT pg_catalog.format('<%s>%s%s', pg_catalog.upper(a.abbrev),"
							" CASE WHEN a.utc_offset > '0' THEN '-' ELSE '+' END,"
							" pg_catalog.to_char(CASE WHEN a.utc_offset > '0' THEN a.utc_offset ELSE -a.utc_offset END, 'HH24:MI:SS'))"
							" FROM pg_catalog.pg_timezone_abbrevs a WHERE pg_catalog.lower(a.abbrev) = pg_catalog.lower($1)",
							1, p, src);
		if (posix == NULL)
			tool_die(EXIT_USAGE, "%s \"%s\": the server takes it in AT TIME ZONE but not as TimeZone; use a zone name such as America/Los_Angeles", src, tz);
		p[0] = posix;
		debug("Time zone %s is an abbreviation: times print in the POSIX zone %s", tz, posix);
		res = query("SELECT pg_catalog.set_config('TimeZone', $1, false)", 1, p, src);
	}
	PQclear(res);
	/* POSIX-style zones such as UTC+99 are accepted but cannot be printed back */
	PQclear(query("SELECT pg_catalog.now()::text::timestamptz", 0, NULL, src));
}

/* The --site names as a text[] literal: each quoted, " and \ escaped. */
static char *
sites_literal(void)
{
	size_t		len = 3;
	char	   *lit;
	char	   *o;

	for (int i = 0; i < opt.nsites; i++)
		len += 2 * strlen(opt.sites[i]) + 3;
	o = lit = malloc(len);
	if (lit == NULL)
		tool_die(EXIT_FAILURE_RUN, "out of memory");
	*o++ = '{';
	for (int i = 0; i < opt.nsites; i++)
	{
		if (i > 0)
			*o++ = ',';
		*o++ = '"';
		for (const char *c = opt.sites[i]; *c; c++)
		{
			if (*c == '"' || *c == '\\')
				*o++ = '\\';
			*o++ = *c;
		}
		*o++ = '"';
	}
	*o++ = '}';
	*o = '\0';
	return lit;
}

/*
 * resolve_sites
 *		--site names matched, without regard to case, against the sites of
 *		the sessions the role can see that a report can cover, over all
 *		time, active ones too (sessions.report_sites: from the live
 *		summaries when they are kept, else a scan of report_sessions);
 *		sites_param gets every match, the exact names report_sessions takes.
 *		A name that matches none exits 5 listing the sites there are (50 at
 *		most).
 */
static void
resolve_sites(void)
{
	PGresult   *res;
	const char *p[1];

	if (opt.nsites == 0)
		return;
	p[0] = sites_literal();
	res = query("WITH k AS MATERIALIZED (SELECT x.site FROM sessions.report_sites(NULL::tstzrange, micro_threshold => NULL,"
				"  include_active => true) x(site) WHERE x.site IS NOT NULL),"
				" w AS (SELECT u.want, u.n FROM pg_catalog.unnest($1::text[]) WITH ORDINALITY u(want, n)),"
				" m AS (SELECT k.site FROM k WHERE pg_catalog.lower(k.site) IN (SELECT pg_catalog.lower(w.want) FROM w))"
				" SELECT (SELECT pg_catalog.array_agg(m.site ORDER BY m.site) FROM m)::text,"
				" (SELECT pg_catalog.string_agg(m.site, ', ' ORDER BY m.site) FROM m),"
				" (SELECT pg_catalog.string_agg(pg_catalog.format('\"%s\"', w.want), ', ' ORDER BY w.n) FROM w"
				"   WHERE NOT EXISTS (SELECT FROM k WHERE pg_catalog.lower(k.site) = pg_catalog.lower(w.want))),"
				" (SELECT pg_catalog.string_agg(x.site, ', ' ORDER BY x.site) FROM (SELECT k.site FROM k ORDER BY k.site LIMIT 50) x),"
				" (SELECT pg_catalog.count(*) FROM k)",
				1, p, "--site");
	if (!PQgetisnull(res, 0, 2))
	{
		long		n_known = atol(PQgetvalue(res, 0, 4));
		char		more[64] = "";

		if (n_known == 0)
			tool_die(EXIT_NOT_FOUND, "no site named %s: role %s sees no site at all (no sessions, or no namespace mapped to it in sessions.role_namespace)",
					 PQgetvalue(res, 0, 2), PQuser(conn));
		if (n_known > 50)
			snprintf(more, sizeof(more), " and %ld more", n_known - 50);
		tool_die(EXIT_NOT_FOUND, "no site named %s; the sites you can see: %s%s", PQgetvalue(res, 0, 2),
				 PQgetvalue(res, 0, 3), more);
	}
	sites_param = strdup(PQgetvalue(res, 0, 0));
	sites_shown = strdup(PQgetvalue(res, 0, 1));
	PQclear(res);
	debug("Sites: %s", sites_shown);
}

/*
 * resolve_zone
 *		The report's zone, in this order: --tz, PGTZ, TZ, then what
 *		sessions.report_time_zone gives for the report's sites (a TimeZone
 *		set for the role or database, the zone the sites share, else UTC;
 *		sites of different zones: UTC, said on stderr). Each is checked by
 *		the server with the one rule of sessions.check_time_zone. The sites
 *		are those of the sessions within a day of the range in UTC: the
 *		range itself needs the zone.
 */
static void
resolve_zone(void)
{
	const char *tz = NULL;
	const char *src = NULL;

	if (opt.tz)
		tz = opt.tz, src = "--tz";
	else if (env_pgtz && *env_pgtz)
		tz = env_pgtz, src = "PGTZ";
	else if ((tz = env_tz()) != NULL)
		src = "TZ";
	if (tz)
	{
		const char *p[2] = {tz, src};
		PGresult   *res = PQexecParams(conn, "SELECT sessions.check_time_zone($1, $2)", 2, NULL, p, NULL, NULL, 0);

		if (PQresultStatus(res) != PGRES_TUPLES_OK)
			die_zone(res, src);
		PQclear(res);
		report_tz = tz;
		report_tz_source = src;
	}
	else
	{
		const char *p[2] = {NULL, sites_param};
		const char *m[1];
		const char *how;
		PGresult   *res;

		if (opt.from)
		{
			const char *d[2] = {opt.from, opt.to};

			PQclear(query("SELECT $1::date", 1, d, "--from"));
			if (opt.to)
				PQclear(query("SELECT $1::date", 1, d + 1, "--to"));
			p[0] = query_value("SELECT pg_catalog.tstzrange(($1::date - 1)::timestamp AT TIME ZONE 'UTC',"
							   " (COALESCE($2::date, (pg_catalog.now() AT TIME ZONE 'UTC')::date) + 2)::timestamp AT TIME ZONE 'UTC')::text",
							   2, d, "--from/--to");
		}
		else
		{
			const char *r[1] = {opt.range_name ? opt.range_name : "today"};

			p[0] = query_value("SELECT pg_catalog.tstzrange(pg_catalog.lower(r) - interval '1 day', pg_catalog.upper(r) + interval '1 day')::text"
							   " FROM sessions.date_range($1, 'UTC') r", 1, r, "--range");
		}
		/* its NOTICE on mixed zones is said below, in this program's words */
		m[0] = query_value("SELECT pg_catalog.current_setting('client_min_messages')", 0, NULL, NULL);
		PQclear(query("SELECT pg_catalog.set_config('client_min_messages', 'warning', false)", 0, NULL, NULL));
		res = query("SELECT z.time_zone, z.source, z.site_zones FROM sessions.report_time_zone($1::tstzrange, NULL, $2::text[]) z",
					2, p, NULL);
		PQclear(query("SELECT pg_catalog.set_config('client_min_messages', $1, false)", 1, m, NULL));
		report_tz = strdup(PQgetvalue(res, 0, 0));
		how = PQgetvalue(res, 0, 1);
		report_tz_source = strcmp(how, "site") == 0 ? "the sites' zone" :
			strcmp(how, "TimeZone") == 0 ? "TimeZone set for the role or database" :
			strcmp(how, "mixed") == 0 ? "UTC: the sites have different zones" : "default";
		if (strcmp(how, "mixed") == 0)
			fprintf(stderr, "%s: the sites of this report do not share one time zone (%s): days are UTC days; "
					"pass --tz ZONE, or one --site, or give each site its zone (sessions.set_site)\n",
					tool_name, PQgetvalue(res, 0, 2));
		PQclear(res);
	}
	debug("Time zone: %s (%s)", report_tz, report_tz_source);
	set_time_zone(report_tz, src ? src : "time zone of the sites");
}

/*
 * connect_db
 *		Connects (-d), sets UTF8; for a report resolves --site and the
 *		zone (resolve_zone), for an import takes --tz or UTC. A bad zone
 *		exits 2. PGTZ is read here, not by libpq: libpq would send it as
 *		TimeZone, which refuses the abbreviations every other zone takes.
 */
void
connect_db(void)
{
	const char *pgtz = getenv("PGTZ");

	if (pgtz)
	{
		env_pgtz = strdup(pgtz);
		unsetenv("PGTZ");
	}
	conn = tool_connect_dbname(opt.dbname);
	debug("Connected to database \"%s\" on %s as %s", PQdb(conn),
		  PQhost(conn) ? PQhost(conn) : "(socket)", PQuser(conn));
	if (PQsetClientEncoding(conn, "UTF8") != 0)
		tool_die(EXIT_FAILURE_RUN, "cannot set the client encoding to UTF8");
	tool_require_extension(conn);

	if (opt.import || opt.file)
	{
		/* --file: the sites and the zone are resolved once it is imported */
		report_tz = opt.tz ? opt.tz : "UTC";
		set_time_zone(report_tz, "--tz");
		return;
	}
	resolve_scope();
}

/*
 * resolve_scope
 *		A report's sites (--site) and zone, from what the database holds.
 */
void
resolve_scope(void)
{
	resolve_sites();
	resolve_zone();
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
		const char *p[3] = {opt.from, opt.to ? opt.to : opt.from, report_tz};
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
		const char *p[2] = {opt.range_name ? opt.range_name : "today", report_tz};

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
	debug("Date range: %s to %s (%s)", range_from, range_to, report_tz);
}

/*
 * The sessions a report covers, as the store rows s of
 * sessions.report_sessions ($1 range, $3 include_active, $2 the resolved
 * --site names as text[]): the function the report functions read too, so
 * the selection is written once, in the extension. The planner inlines it,
 * so with the range known a plan can use the store's started_at index.
 */
#define REPORT_SESSIONS "sessions.report_sessions($1::tstzrange, NULL, $3::boolean, $2::text[]) s"

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
	const char *p[7] = {range, sites_param, include_active_text(), listing_limit(), opt.page,
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
	const char *p[5] = {range, sites_param, include_active_text(), class, opt.micro_kwh};

	return query_value("SELECT count(*) FROM " REPORT_SESSIONS
					   " WHERE ($4::text IS NULL OR sessions.classify(s.kwh, $5::float8) = $4)",
					   5, p, NULL);
}

/* The selection is empty: exit 6 naming the range and site. */
void
die_no_data(void)
{
	tool_die(EXIT_NO_DATA, "no sessions between %s and %s (%s)%s%s%s; try another --range or --from/--to",
			 range_from, range_to, report_tz, sites_shown ? " at site \"" : "", sites_shown ? sites_shown : "",
			 sites_shown ? "\"" : "");
}

/* Report arguments $1..$5 of daily_report / summary_report. */
#define REPORT_ARGS "$1::tstzrange, $2, $3::float8, $4, $5::boolean, $6::text[]"

/* sessions.summary_report or daily_report (fn) over the selection. */
PGresult *
report_query(const char *fn)
{
	char		sql[256];
	const char *p[6] = {range, report_tz, opt.micro_kwh, NULL, include_active_text(), sites_param};

	/* summary_report has no normal_pct; SESHIS prints one (of completed). */
	if (strcmp(fn, "daily_report") == 0)
		snprintf(sql, sizeof(sql), "SELECT * FROM sessions.daily_report(" REPORT_ARGS ") ORDER BY day");
	else
		snprintf(sql, sizeof(sql), "SELECT r.*, (100.0 * r.normal / NULLIF(r.completed, 0))::float8 AS normal_pct"
				 " FROM sessions.summary_report(" REPORT_ARGS ") r");
	return query(sql, 6, p, NULL);
}

/*
 * site_label
 *		The site line of the combined summary: --site, else the sites of the
 *		selection from sessions.report_sites, which reads them by the same
 *		path as the figures (the summaries, else the scan).
 */
const char *
site_label(void)
{
	const char *p[4] = {range, report_tz, opt.micro_kwh, include_active_text()};
	char	   *sites;

	if (sites_shown)
		return sites_shown;
	sites = query_value("SELECT pg_catalog.string_agg(DISTINCT COALESCE(x.site, '(none)'), ', ' ORDER BY COALESCE(x.site, '(none)'))"
						" FROM sessions.report_sites($1::tstzrange, $2, $3::float8, NULL, $4::boolean) AS x(site)",
						4, p, NULL);
	return sites ? sites : "(none)";
}

/*
 * begin_report
 *		The statements of a report run in one REPEATABLE READ READ ONLY
 *		transaction: every figure, and the path report_path says they took,
 *		come from one snapshot (a write, a rebuild of the summaries or a
 *		zone change between two statements cannot make them disagree).
 */
void
begin_report(void)
{
	PQclear(query("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", 0, NULL, NULL));
}

/* Ends the report's transaction (it wrote nothing). */
void
end_report(void)
{
	PQclear(query("COMMIT", 0, NULL, NULL));
}

/*
 * figures_path
 *		Which path the report's figures per site and day (summary, daily
 *		rows, chart, the combined summary's site line) take:
 *		sessions.report_path with the arguments those statements pass.
 *		*path gets "summaries" or "scan", *reason why (both malloc'ed).
 */
void
figures_path(char **path, char **reason)
{
	const char *p[5] = {range, report_tz, opt.micro_kwh, include_active_text(), sites_param};
	PGresult   *res = query("SELECT p.path, p.reason FROM sessions.report_path($1::tstzrange, $2, $3::float8, NULL,"
							" $4::boolean, $5::text[]) p", 5, p, NULL);

	*path = strdup(PQgetvalue(res, 0, 0));
	*reason = strdup(PQgetisnull(res, 0, 1) ? "" : PQgetvalue(res, 0, 1));
	PQclear(res);
}

/*
 * resolve_user
 *		--user EMAIL names a user of the selection: matched without regard
 *		to case, or by its pseudonym. Unknown: SESHIS's "User not found".
 */
void
resolve_user(void)
{
	const char *p[4] = {range, sites_param, include_active_text(), opt.user_email};

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
	const char *p[9] = {range, sites_param, include_active_text(), user_ref,
		opt.limit ? opt.limit : "0", opt.page, opt.volts, opt.anonymize ? "true" : "false", report_tz};

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
 *		sessions.daily_chart_svg over the selection, titled title: its
 *		session_stats from sessions.report_stats, the value daily_report
 *		reads (the summaries when report_path says so, else the scan), with
 *		the report's arguments. The SVG text (malloc'ed), NULL when the
 *		server returned none.
 */
char *
chart_svg(const char *title)
{
	const char *p[6] = {range, report_tz, opt.micro_kwh, include_active_text(), sites_param, title};

	return query_value("SELECT sessions.daily_chart_svg(sessions.report_stats($1::tstzrange, $2, $3::float8, NULL,"
					   " $4::boolean, $5::text[]), $6)", 6, p, NULL);
}
