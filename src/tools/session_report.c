/*
 * session_report.c
 *		session-report: charging-session quality reports (empty and micro
 *		sessions, daily breakdowns, per-user sessions, a daily chart) read from
 *		the session store, and the PowerFlex export import.
 *
 * Every figure comes from the extension's SQL functions; this program only
 * validates flags, runs the queries and formats their results as text, JSON
 * or CSV.
 */
#include "tool_common.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#ifndef SA_VERSION
#define SA_VERSION "dev"
#endif

const char *tool_name = "session-report";

typedef enum
{
	FMT_TEXT,
	FMT_JSON,
	FMT_CSV
} Format;

typedef struct Options
{
	bool		empty;
	bool		micro;
	bool		user;
	bool		graph;
	bool		printsessions;
	bool		debug;
	bool		advanced;
	bool		include_active;
	bool		anonymize;
	bool		no_color;
	const char *micro_kwh;		/* threshold as given, validated */
	const char *user_email;		/* NULL: every user */
	const char *graph_file;
	const char *range_name;
	const char *from;
	const char *to;
	const char *tz;
	const char *site;
	const char *sort;
	const char *order;
	const char *limit;			/* NULL: the mode's default */
	const char *page;
	const char *volts;
	const char *dbname;
	Format		format;
	/* import powerflex FILE */
	bool		import;
	const char *import_file;
} Options;

static Options opt;
static PGconn *conn;
static bool color;

/* ---------------------------------------------------------------------
 * Messages
 * --------------------------------------------------------------------- */

/* Debug line on stderr, SESHIS style. */
static void
debug(const char *fmt,...) __attribute__((format(printf, 1, 2)));
static void
debug(const char *fmt,...)
{
	va_list		ap;

	if (!opt.debug)
		return;
	fputs("\xF0\x9F\x94\xA7 ", stderr);	/* wrench */
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static void
usage(FILE *out)
{
	fprintf(out,
			"session-report: charging-session quality reports from the session_analytics store.\n"
			"\n"
			"Usage:\n"
			"  session-report [OPTIONS]                       raw sessions as JSON\n"
			"  session-report --empty --micro [KWH] --user [EMAIL] --graph [FILE] [OPTIONS]\n"
			"  session-report import powerflex FILE.json [--site NAME]\n"
			"\n"
			"Analyses:\n"
			"  --empty               sessions with 0 kWh, total and per day\n"
			"  --micro [KWH]         sessions with 0 < kWh < KWH (default 1.0), total and per day\n"
			"  --user [EMAIL]        sessions per user with duration, kWh and rating; one user with EMAIL\n"
			"  --graph [FILE]        SVG chart of the daily empty and micro percentages\n"
			"                        (default sessions-daily.svg)\n"
			"  --printsessions       also print the matching sessions (empty / micro) as JSON\n"
			"  --debug               SQL and per-session calculations on stderr\n"
			"  --advanced            accepted for SESHIS compatibility; use the flags below\n"
			"\n"
			"Selection:\n"
			"  --range NAME          today (default), yesterday, last_week, last_month, this_month\n"
			"  --from DATE --to DATE local days, both inclusive (YYYY-MM-DD); --to defaults to today\n"
			"  --tz ZONE             time zone of days and times (default UTC)\n"
			"  --site NAME           one site only\n"
			"  --include-active      count sessions still charging too\n"
			"  --anonymize           show users as stable pseudonyms (user-xxxxxxxxxx)\n"
			"  --sort FIELD          session_start_time (default), session_end_time, session_kwh,\n"
			"                        duration, user, site, status, session_id, updated_at\n"
			"  --order asc|desc      default desc\n"
			"  --limit N             sessions per page (raw and --printsessions: default 25);\n"
			"                        with --user: users per page and sessions per user\n"
			"                        (default all); 0 = all\n"
			"  --page N              page number, from 1\n"
			"  --volts V             voltage for the average current (default 208)\n"
			"\n"
			"Output and connection:\n"
			"  --format text|json|csv  default text\n"
			"  --no-color            no colours even on a terminal (also NO_COLOR=1)\n"
			"  -d, --dbname CONN     database name or connection string (default: PG* variables)\n"
			"  -h, --help            this help\n"
			"  -V, --version         version\n"
			"\n"
			"Exit statuses: 0 ok, 1 query failed, 2 bad flag or value, 3 cannot connect,\n"
			"4 extension missing, 5 user or file not found, 6 no sessions in the range,\n"
			"7 input file not valid JSON or not a PowerFlex export.\n");
}

/* An e-mail given on the command line, as messages may echo it. */
static const char *
shown(const char *s)
{
	return opt.anonymize && s && strchr(s, '@') ? "(redacted)" : s;
}

/* ---------------------------------------------------------------------
 * Flags
 * --------------------------------------------------------------------- */

/* True when s is a finite decimal number (strtod accepts all of it). */
static bool
is_number(const char *s)
{
	char	   *end;
	double		v;

	if (s == NULL || *s == '\0' || isspace((unsigned char) *s))
		return false;
	errno = 0;
	v = strtod(s, &end);
	return *end == '\0' && errno == 0 && v == v && v < 1e300 && v > -1e300;
}

static const char *const range_names[] = {"today", "yesterday", "last_week", "last_month", "this_month", NULL};

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

static const char *
sort_expr(void)
{
	for (int i = 0; sort_fields[i].name; i++)
		if (strcmp(opt.sort, sort_fields[i].name) == 0)
			return sort_fields[i].expr;
	return NULL;
}

/* Flags that take no value and only switch something on. */
static const struct
{
	const char *name;
	bool	   *set;
}			switches[] =
{
	{"--empty", &opt.empty},
	{"--printsessions", &opt.printsessions},
	{"--debug", &opt.debug},
	{"--advanced", &opt.advanced},
	{"--include-active", &opt.include_active},
	{"--anonymize", &opt.anonymize},
	{"--no-color", &opt.no_color},
	{"--no-colour", &opt.no_color},
	{NULL, NULL}
};

static bool *
switch_flag(const char *name)
{
	for (int i = 0; switches[i].name; i++)
		if (strcmp(name, switches[i].name) == 0)
			return switches[i].set;
	return NULL;
}

/*
 * optional_word
 *		The optional value of --user / --graph: after "=", or the next word
 *		when it is not a flag (nor the import command).
 */
static const char *
optional_word(const char *name, const char *inl, int argc, char **argv, int *i)
{
	const char *val = NULL;

	if (inl)
		val = inl;
	else if (*i + 1 < argc && argv[*i + 1][0] != '-' && argv[*i + 1][0] != '\0' &&
			 strcmp(argv[*i + 1], "import") != 0)
		val = argv[++*i];
	if (val && *val == '\0')
		tool_die(EXIT_USAGE, "%s= needs a value (or none at all)", name);
	return val;
}

/*
 * parse_args
 *		SESHIS-style flags: --flag, --flag VALUE, --flag=VALUE; the optional
 *		values of --micro, --user and --graph are taken from the next word
 *		when it looks like one (a number for --micro, not a flag otherwise).
 */
static void
parse_args(int argc, char **argv)
{
	int			positional = 0;

	opt.tz = "UTC";
	opt.micro_kwh = "1.0";
	opt.graph_file = "sessions-daily.svg";
	opt.sort = "session_start_time";
	opt.order = "desc";
	opt.page = "1";
	opt.volts = "208";
	opt.format = FMT_TEXT;

	for (int i = 1; i < argc; i++)
	{
		char	   *arg = argv[i];
		char		name[64];
		const char *inl = NULL;
		const char *val = NULL;
		const char *next = (i + 1 < argc) ? argv[i + 1] : NULL;
		bool	   *sw;

		if (arg[0] != '-' || strcmp(arg, "-") == 0)
		{
			/* import powerflex FILE */
			if (positional == 0 && strcmp(arg, "import") == 0)
				opt.import = true;
			else if (positional == 1 && opt.import)
			{
				if (strcmp(arg, "powerflex") != 0)
					tool_die(EXIT_USAGE, "unknown import format \"%s\" (supported: powerflex)", arg);
			}
			else if (positional == 2 && opt.import)
				opt.import_file = arg;
			else
				tool_die(EXIT_USAGE, "unexpected argument \"%s\" (see --help)", arg);
			positional++;
			continue;
		}

		if (strcmp(arg, "-h") == 0)
			arg = "--help";
		else if (strcmp(arg, "-V") == 0)
			arg = "--version";
		else if (strcmp(arg, "-d") == 0)
			arg = "--dbname";
		else if (strncmp(arg, "-d", 2) == 0 && arg[2] != '-')
		{
			opt.dbname = arg + 2;
			continue;
		}
		if (strncmp(arg, "--", 2) != 0)
			tool_die(EXIT_USAGE, "unknown option \"%s\" (see --help)", arg);

		/* Split --name=value. */
		{
			const char *eq = strchr(arg, '=');
			size_t		len = eq ? (size_t) (eq - arg) : strlen(arg);

			if (len >= sizeof(name))
				tool_die(EXIT_USAGE, "unknown option \"%.40s...\" (see --help)", arg);
			memcpy(name, arg, len);
			name[len] = '\0';
			inl = eq ? eq + 1 : NULL;
		}

#define FLAG(f) (strcmp(name, f) == 0)
#define NO_VALUE() do { if (inl) tool_die(EXIT_USAGE, "%s takes no value", name); } while (0)
#define VALUE() (inl ? inl : (next ? (i++, next) : (tool_die(EXIT_USAGE, "%s needs a value (see --help)", name), "")))

		if (FLAG("--help"))
		{
			usage(stdout);
			exit(EXIT_OK);
		}
		else if (FLAG("--version"))
		{
			printf("session-report (session_analytics) %s\n", SA_VERSION);
			exit(EXIT_OK);
		}
		else if ((sw = switch_flag(name)) != NULL)
		{
			NO_VALUE();
			*sw = true;
		}
		else if (FLAG("--micro"))
		{
			opt.micro = true;
			if (inl)
				val = inl;
			else if (next != NULL && is_number(next))
				val = argv[++i];
			if (val)
			{
				(void) tool_parse_number("--micro", val, 0, 1e9);
				opt.micro_kwh = val;
			}
		}
		else if (FLAG("--user"))
		{
			opt.user = true;
			if ((val = optional_word(name, inl, argc, argv, &i)) != NULL)
				opt.user_email = val;
		}
		else if (FLAG("--graph"))
		{
			opt.graph = true;
			if ((val = optional_word(name, inl, argc, argv, &i)) != NULL)
				opt.graph_file = val;
		}
		else if (FLAG("--range"))
		{
			bool		known = false;

			opt.range_name = VALUE();
			for (int k = 0; range_names[k]; k++)
				known |= strcmp(opt.range_name, range_names[k]) == 0;
			if (!known)
				tool_die(EXIT_USAGE, "invalid --range \"%s\": expected today, yesterday, last_week, last_month or this_month",
						 opt.range_name);
		}
		else if (FLAG("--from"))
			opt.from = VALUE();
		else if (FLAG("--to"))
			opt.to = VALUE();
		else if (FLAG("--tz"))
			opt.tz = VALUE();
		else if (FLAG("--site"))
		{
			opt.site = VALUE();
			if (*opt.site == '\0')
				tool_die(EXIT_USAGE, "--site needs a site name");
		}
		else if (FLAG("--sort"))
		{
			opt.sort = VALUE();
			if (sort_expr() == NULL)
				tool_die(EXIT_USAGE, "invalid --sort \"%s\": expected session_start_time, session_end_time, session_kwh, duration, user, site, status, session_id or updated_at",
						 opt.sort);
		}
		else if (FLAG("--order"))
		{
			opt.order = VALUE();
			if (strcasecmp(opt.order, "asc") == 0)
				opt.order = "asc";
			else if (strcasecmp(opt.order, "desc") == 0)
				opt.order = "desc";
			else
				tool_die(EXIT_USAGE, "invalid --order \"%s\": expected asc or desc", opt.order);
		}
		else if (FLAG("--limit"))
		{
			opt.limit = VALUE();
			(void) tool_parse_int("--limit", opt.limit, 0, 1000000000);	/* 0: all */
		}
		else if (FLAG("--page"))
		{
			opt.page = VALUE();
			(void) tool_parse_int("--page", opt.page, 1, 1000000000);
		}
		else if (FLAG("--volts"))
		{
			opt.volts = VALUE();
			(void) tool_parse_number("--volts", opt.volts, 0, 1e6);
		}
		else if (FLAG("--format"))
		{
			const char *f = VALUE();

			if (strcmp(f, "text") == 0)
				opt.format = FMT_TEXT;
			else if (strcmp(f, "json") == 0)
				opt.format = FMT_JSON;
			else if (strcmp(f, "csv") == 0)
				opt.format = FMT_CSV;
			else
				tool_die(EXIT_USAGE, "invalid --format \"%s\": expected text, json or csv", f);
		}
		else if (FLAG("--dbname"))
			opt.dbname = VALUE();
		else
			tool_die(EXIT_USAGE, "unknown option \"%s\" (see --help)", name);
#undef FLAG
#undef NO_VALUE
#undef VALUE
	}

	if (opt.import && opt.import_file == NULL)
		tool_die(EXIT_USAGE, "usage: session-report import powerflex FILE.json [--site NAME]");
	if (opt.import && (opt.empty || opt.micro || opt.user || opt.graph || opt.printsessions))
		tool_die(EXIT_USAGE, "import takes no analysis flags; run the report afterwards");
	if (opt.range_name && (opt.from || opt.to))
		tool_die(EXIT_USAGE, "--range and --from/--to exclude each other");
	if (opt.to && !opt.from)
		tool_die(EXIT_USAGE, "--to needs --from");
	color = !opt.no_color && opt.format == FMT_TEXT && tool_use_color(stdout);
}

/* ---------------------------------------------------------------------
 * Queries
 * --------------------------------------------------------------------- */

/*
 * die_query
 *		Turns a failed statement into one line and the exit status of its
 *		class: a lost connection, a missing function (an extension without
 *		this release's analytics), a bad value (usage_what names the flag),
 *		anything else.
 */
static void
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
static PGresult *
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
static char *
query_value(const char *sql, int n, const char *const *params, const char *usage_what)
{
	PGresult   *res = query(sql, n, params, usage_what);
	char	   *v = NULL;

	if (PQntuples(res) > 0 && !PQgetisnull(res, 0, 0))
		v = strdup(PQgetvalue(res, 0, 0));
	PQclear(res);
	return v;
}

static const char *
field(PGresult *res, int r, const char *name)
{
	int			i = PQfnumber(res, name);

	if (i < 0)
		tool_die(EXIT_NO_EXTENSION, "the installed session_analytics returns no column \"%s\"; run ALTER EXTENSION session_analytics UPDATE", name);
	return PQgetisnull(res, r, i) ? NULL : PQgetvalue(res, r, i);
}

/* A figure from SQL as printed: "0" for NULL counts. */
static const char *
fig(PGresult *res, int r, const char *name)
{
	const char *v = field(res, r, name);

	return v ? v : "0";
}

/* A percentage from SQL with one decimal, as SESHIS prints it. */
static const char *
pct(PGresult *res, int r, const char *name)
{
	static char bufs[4][32];
	static int	k;
	const char *v = field(res, r, name);
	char	   *b = bufs[k++ % 4];

	if (v == NULL || !is_number(v))
		return "n/a";
	snprintf(b, 32, "%.1f", strtod(v, NULL));
	return b;
}

/* A threshold as SESHIS shows a float: "1.0", "0.5", "2.25". */
static const char *
kwh_label(const char *v)
{
	static char buf[48];

	snprintf(buf, sizeof(buf), "%.10g", strtod(v, NULL));
	if (strpbrk(buf, ".e") == NULL)
		strcat(buf, ".0");
	return buf;
}

/* ---------------------------------------------------------------------
 * Connection and the range
 * --------------------------------------------------------------------- */

static char *range;				/* tstzrange text */
static char *range_from;		/* first local day, YYYY-MM-DD HH:MI:SS */
static char *range_to;

static void
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
 * resolve_range
 *		The report's tstzrange: --from/--to as local days (both inclusive),
 *		else the named range from sessions.date_range (today by default).
 */
static void
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

/* ---------------------------------------------------------------------
 * Output helpers
 * --------------------------------------------------------------------- */

/* Row r of res as one JSON object on one line. */
static void
json_object(FILE *out, PGresult *res, int r)
{
	fputc('{', out);
	for (int i = 0; i < PQnfields(res); i++)
	{
		if (i)
			fputs(", ", out);
		tool_json_string(out, PQfname(res, i));
		fputs(": ", out);
		tool_json_field(out, res, r, i);
	}
	fputc('}', out);
}

/* Rows of res as a JSON array of objects, one object per line. */
static void
json_rows(FILE *out, PGresult *res, const char *indent)
{
	int			nt = PQntuples(res);

	fputc('[', out);
	for (int r = 0; r < nt; r++)
	{
		fprintf(out, "%s\n%s  ", r ? "," : "", indent);
		json_object(out, res, r);
	}
	if (nt)
		fprintf(out, "\n%s", indent);
	fputc(']', out);
}

/* Row 0 of res as one JSON object on one line (null when there is no row). */
static void
json_row(FILE *out, PGresult *res)
{
	if (PQntuples(res) == 0)
		fputs("null", out);
	else
		json_object(out, res, 0);
}

/* A single-column result of JSON documents as a JSON array, one per line. */
static void
json_docs(FILE *out, PGresult *res, const char *indent)
{
	int			nt = PQntuples(res);

	fputc('[', out);
	for (int r = 0; r < nt; r++)
		fprintf(out, "%s\n%s  %s", r ? "," : "", indent, PQgetvalue(res, r, 0));
	if (nt)
		fprintf(out, "\n%s", indent);
	fputc(']', out);
}

/* ---------------------------------------------------------------------
 * Import
 * --------------------------------------------------------------------- */

#define IMPORT_BATCH_ROWS	2000
#define IMPORT_BATCH_BYTES	(8 * 1024 * 1024)
#define IMPORT_MAX_ROW		(64 * 1024 * 1024)
#define IMPORT_SHOWN_REJECTS 20
#define IMPORT_MAX_DEPTH	64

typedef struct Buf
{
	char	   *data;
	size_t		len;
	size_t		cap;
} Buf;

static void
buf_add(Buf *b, char c)
{
	if (b->len + 2 > b->cap)
	{
		b->cap = b->cap ? b->cap * 2 : 65536;
		b->data = realloc(b->data, b->cap);
		if (b->data == NULL)
			tool_die(EXIT_FAILURE_RUN, "out of memory");
	}
	b->data[b->len++] = c;
}

typedef struct Reader
{
	FILE	   *f;
	unsigned char buf[1 << 16];
	size_t		len;
	size_t		pos;
	long long	consumed;		/* bytes before buf */
	long long	size;			/* file size, -1 unknown */
	long long	line;
} Reader;

typedef struct Import
{
	Reader		rd;
	Buf			batch;
	long long	rows;			/* rows seen in the file */
	long long	batch_first;	/* file row number of the batch's first row */
	int			batch_rows;
	long long	imported;
	long long	updated;
	long long	skipped;
	long long	shown;
	bool		progress;
} Import;

static Import imp;

static int
rd_fill(Reader *rd)
{
	if (rd->pos < rd->len)
		return 1;
	rd->consumed += rd->len;
	rd->len = fread(rd->buf, 1, sizeof(rd->buf), rd->f);
	rd->pos = 0;
	if (rd->len == 0 && ferror(rd->f))
		tool_die(EXIT_BAD_INPUT, "cannot read %s: %s", opt.import_file, strerror(errno));
	return rd->len > 0;
}

static inline int
rd_peek(Reader *rd)
{
	return rd_fill(rd) ? rd->buf[rd->pos] : EOF;
}

static inline int
rd_get(Reader *rd)
{
	int			c;

	if (!rd_fill(rd))
		return EOF;
	c = rd->buf[rd->pos++];
	if (c == '\n')
		rd->line++;
	return c;
}

static void
bad_json(const char *what) __attribute__((noreturn));
static void
bad_json(const char *what)
{
	tool_die(EXIT_BAD_INPUT, "%s: line %lld: %s; nothing imported", opt.import_file, imp.rd.line, what);
}

static void
skip_ws(Reader *rd)
{
	int			c;

	while ((c = rd_peek(rd)) == ' ' || c == '\t' || c == '\n' || c == '\r')
		rd_get(rd);
}

/*
 * copy_value
 *		Cuts one JSON value from the stream into out (NULL: discards it).
 *		Only the structure is followed: brackets outside strings, string
 *		escapes. The server parses the text and rejects invalid JSON.
 */
static void
copy_value(Reader *rd, Buf *out)
{
	int			c = rd_peek(rd);
	long		depth = 0;
	size_t		start = out ? out->len : 0;
	bool		in_string = false;

	if (c == EOF)
		bad_json("unexpected end of file");
	if (c == ',' || c == ']' || c == '}' || c == ':')
		bad_json("a value is missing");
	for (;;)
	{
		c = rd_get(rd);
		if (c == EOF)
			bad_json("unexpected end of file inside a value");
		if (out)
		{
			buf_add(out, (char) c);
			if (out->len - start > IMPORT_MAX_ROW)
				bad_json("a row is larger than 64 MB");
		}
		if (in_string)
		{
			if (c == '\\')
			{
				c = rd_get(rd);
				if (c == EOF)
					bad_json("unexpected end of file inside a string");
				if (out)
					buf_add(out, (char) c);
			}
			else if (c == '"')
			{
				in_string = false;
				if (depth == 0)
					return;
			}
			continue;
		}
		if (c == '"')
			in_string = true;
		else if (c == '{' || c == '[')
		{
			if (++depth > IMPORT_MAX_DEPTH)
				bad_json("a row is nested more than 64 levels deep");
		}
		else if (c == '}' || c == ']')
		{
			if (--depth < 0)
				bad_json("unbalanced brackets");
			if (depth == 0)
				return;
		}
		else if (depth == 0)
		{
			/* a scalar: ends before a delimiter or white space */
			int			n = rd_peek(rd);

			if (n == EOF || n == ',' || n == ']' || n == '}' || n == ' ' || n == '\t' || n == '\n' || n == '\r')
				return;
		}
	}
}

/* Key of an object member (short keys only matter: "rows"). */
static void
read_key(Reader *rd, char *key, size_t size)
{
	Buf			b = {0};

	if (rd_peek(rd) != '"')
		bad_json("expected a member name in double quotes");
	copy_value(rd, &b);
	b.data[b.len] = '\0';
	/* strip the quotes; escapes are irrelevant for the names we look for */
	snprintf(key, size, "%.*s", (int) (b.len >= 2 ? b.len - 2 : 0), b.data + 1);
	free(b.data);
}

/*
 * notice_receiver
 *		import_powerflex reports each skipped row by NOTICE "powerflex row N
 *		skipped: REASON", N numbered in the file (batches carry their offset):
 *		the first few are shown, all with --debug.
 */
static void
notice_receiver(void *arg, const PGresult *res)
{
	const char *msg = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
	const char *detail = PQresultErrorField(res, PG_DIAG_MESSAGE_DETAIL);
	long		n;
	int			off = 0;

	if (msg && sscanf(msg, "powerflex row %ld skipped: %n", &n, &off) == 1 && off > 0)
	{
		imp.shown++;
		if (imp.shown <= IMPORT_SHOWN_REJECTS || opt.debug)
		{
			if (imp.progress)
				fputs("\r\033[K", stderr);
			fprintf(stderr, "%s: row %ld skipped: %s%s%s%s\n", tool_name,
					n, msg + off,
					detail ? " (" : "", detail ? detail : "", detail ? ")" : "");
		}
		else if (imp.shown == IMPORT_SHOWN_REJECTS + 1)
			fprintf(stderr, "%s: further skipped rows not shown (--debug shows all)\n", tool_name);
		return;
	}
	fprintf(stderr, "%s: %s", tool_name, PQresultErrorMessage(res));
}

static void
progress(bool done)
{
	if (!imp.progress)
		return;
	if (done)
	{
		fputs("\r\033[K", stderr);
		return;
	}
	if (imp.rd.size > 0)
		fprintf(stderr, "\r\033[K\xE2\x8F\xB3 importing %s: %.1f / %.1f MB (%d%%), %lld rows",
				opt.import_file, (imp.rd.consumed + imp.rd.pos) / 1048576.0, imp.rd.size / 1048576.0,
				(int) (100.0 * (imp.rd.consumed + imp.rd.pos) / imp.rd.size), imp.rows);
	else
		fprintf(stderr, "\r\033[K\xE2\x8F\xB3 importing %s: %.1f MB, %lld rows",
				opt.import_file, (imp.rd.consumed + imp.rd.pos) / 1048576.0, imp.rows);
	fflush(stderr);
}

/* Sends the batch {"offset":K,"rows":[row,...]} to sessions.import_powerflex. */
static void
flush_batch(void)
{
	PGresult   *res;
	const char *p[2];
	const char *sql = "SELECT imported, updated, skipped FROM sessions.import_powerflex($1::jsonb, $2)";

	if (imp.batch_rows == 0)
		return;
	buf_add(&imp.batch, ']');
	buf_add(&imp.batch, '}');
	imp.batch.data[imp.batch.len] = '\0';
	p[0] = imp.batch.data;
	p[1] = opt.site;
	if (opt.debug)
		debug("SQL: %s  -- rows %lld..%lld, %zu bytes, site %s", sql, imp.batch_first,
			  imp.batch_first + imp.batch_rows - 1, imp.batch.len, opt.site ? opt.site : "NULL");
	res = PQexecParams(conn, sql, 2, NULL, p, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK)
	{
		const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);

		progress(true);
		if (state && (strcmp(state, "22P02") == 0 || strncmp(state, "2203", 4) == 0))
		{
			const char *m = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
			const char *d = PQresultErrorField(res, PG_DIAG_MESSAGE_DETAIL);

			tool_die(EXIT_BAD_INPUT, "%s: rows %lld to %lld: %s%s%s%s; nothing imported", opt.import_file,
					 imp.batch_first, imp.batch_first + imp.batch_rows - 1,
					 m ? m : "invalid JSON", d ? " (" : "", d ? d : "", d ? ")" : "");
		}
		die_query(res, NULL);
	}
	imp.imported += atoll(PQgetvalue(res, 0, 0));
	imp.updated += atoll(PQgetvalue(res, 0, 1));
	imp.skipped += atoll(PQgetvalue(res, 0, 2));
	PQclear(res);
	imp.batch.len = 0;
	imp.batch_rows = 0;
	progress(false);
}

/* The rows array: each element cut out and added to the batch. */
static void
import_rows(Reader *rd)
{
	skip_ws(rd);
	if (rd_peek(rd) == ']')
	{
		rd_get(rd);
		return;
	}
	for (;;)
	{
		int			c;

		skip_ws(rd);
		if (imp.batch_rows == 0)
		{
			char		head[64];

			imp.batch.len = 0;
			snprintf(head, sizeof(head), "{\"offset\": %lld, \"rows\": [", imp.rows);
			for (char *h = head; *h; h++)
				buf_add(&imp.batch, *h);
			imp.batch_first = imp.rows + 1;
		}
		else
			buf_add(&imp.batch, ',');
		copy_value(rd, &imp.batch);
		imp.rows++;
		imp.batch_rows++;
		if (imp.batch_rows >= IMPORT_BATCH_ROWS || imp.batch.len >= IMPORT_BATCH_BYTES)
			flush_batch();
		skip_ws(rd);
		c = rd_get(rd);
		if (c == ',')
			continue;
		if (c == ']')
			break;
		bad_json(c == EOF ? "unexpected end of file in the rows array" : "expected , or ] after a row");
	}
	flush_batch();
}

/*
 * run_import
 *		session-report import powerflex FILE: streams the file (the API
 *		response object or a bare array), cutting the rows array into
 *		batches, all in one transaction: a broken file imports nothing.
 */
static int
run_import(void)
{
	Reader	   *rd = &imp.rd;
	struct stat st;
	int			c;
	bool		seen_rows = false;
	char	   *started;

	if (strcmp(opt.import_file, "-") == 0)
		rd->f = stdin;
	else if ((rd->f = fopen(opt.import_file, "rb")) == NULL)
		tool_die(errno == ENOENT ? EXIT_NOT_FOUND : EXIT_BAD_INPUT, "cannot open %s: %s",
				 opt.import_file, strerror(errno));
	rd->size = (fstat(fileno(rd->f), &st) == 0 && S_ISREG(st.st_mode)) ? (long long) st.st_size : -1;
	rd->line = 1;
	imp.progress = isatty(fileno(stderr)) && !opt.debug;

	connect_db();
	PQsetNoticeReceiver(conn, notice_receiver, NULL);
	PQclear(query("BEGIN", 0, NULL, NULL));
	started = query_value("SELECT pg_catalog.now()::text", 0, NULL, NULL);

	/* UTF-8 byte order mark */
	if (rd_peek(rd) == 0xEF)
	{
		if (rd_get(rd) != 0xEF || rd_get(rd) != 0xBB || rd_get(rd) != 0xBF)
			bad_json("not JSON");
	}
	skip_ws(rd);
	c = rd_get(rd);
	if (c == '[')
		import_rows(rd);
	else if (c == '{')
	{
		skip_ws(rd);
		if (rd_peek(rd) == '}')
			rd_get(rd);
		else
			for (;;)
			{
				char		key[32];

				skip_ws(rd);
				read_key(rd, key, sizeof(key));
				skip_ws(rd);
				if (rd_get(rd) != ':')
					bad_json("expected : after a member name");
				skip_ws(rd);
				if (strcmp(key, "rows") == 0 && !seen_rows)
				{
					if (rd_get(rd) != '[')
						tool_die(EXIT_BAD_INPUT, "%s is not a PowerFlex export: \"rows\" is not an array", opt.import_file);
					import_rows(rd);
					seen_rows = true;
				}
				else
					copy_value(rd, NULL);
				skip_ws(rd);
				c = rd_get(rd);
				if (c == '}')
					break;
				if (c != ',')
					bad_json(c == EOF ? "unexpected end of file" : "expected , or } after a member");
			}
		if (!seen_rows)
			tool_die(EXIT_BAD_INPUT, "%s is not a PowerFlex export: the top-level object has no \"rows\" array", opt.import_file);
	}
	else if (c == EOF)
		tool_die(EXIT_BAD_INPUT, "%s is empty", opt.import_file);
	else
		tool_die(EXIT_BAD_INPUT, "%s is not a PowerFlex export: expected a JSON object with \"rows\" or an array of rows", opt.import_file);
	skip_ws(rd);
	if (rd_peek(rd) != EOF)
		bad_json("unexpected data after the end of the JSON document");

	PQclear(query("COMMIT", 0, NULL, NULL));
	progress(true);
	if (rd->f != stdin)
		fclose(rd->f);

	if (opt.format == FMT_JSON)
	{
		printf("{\"file\": ");
		tool_json_string(stdout, opt.import_file);
		printf(", \"rows\": %lld, \"imported\": %lld, \"updated\": %lld, \"skipped\": %lld, \"rejected_at\": ",
			   imp.rows, imp.imported, imp.updated, imp.skipped);
		tool_json_string(stdout, started);
		printf("}\n");
	}
	else if (opt.format == FMT_CSV)
	{
		printf("file,rows,imported,updated,skipped\n");
		tool_csv_field(stdout, opt.import_file);
		printf(",%lld,%lld,%lld,%lld\n", imp.rows, imp.imported, imp.updated, imp.skipped);
	}
	else
	{
		printf("\xF0\x9F\x93\xA5 Imported %s: %lld rows, %lld new, %lld updated, %lld skipped\n",
			   opt.import_file, imp.rows, imp.imported, imp.updated, imp.skipped);
		if (imp.skipped > 0)
			printf("\xE2\x9A\xA0\xEF\xB8\x8F  Skipped rows and their reasons: SELECT position, session_id, reason FROM sessions.import_rejects WHERE rejected_at = '%s';\n",
				   started);
	}
	return EXIT_OK;
}

/* ---------------------------------------------------------------------
 * Reports
 * --------------------------------------------------------------------- */

/*
 * The sessions a report covers, as a WHERE clause over sessions.store s:
 * $1 range, $2 site, $3 include_active -- the same selection the analytics
 * report functions make.
 */
#define STORE_FILTER \
	"s.kind IN ('ocpi', 'powerflex') " \
	"AND s.started_at OPERATOR(pg_catalog.<@) $1::tstzrange " \
	"AND ($2::text IS NULL OR s.site = $2) " \
	"AND ($3::boolean OR s.ended_at IS NOT NULL)"

static const char *
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
			 sort_expr(), opt.order);
}

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
static PGresult *
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
				 "s.started_at, s.ended_at, s.kwh%s FROM sessions.store s WHERE " STORE_FILTER
				 " AND ($6::text IS NULL OR sessions.classify(s.kwh, $7::float8) = $6)%s",
				 user_expr(), class ? ", sessions.classify(s.kwh, $7::float8) AS class" : "", tail);
	else
		snprintf(sql, sizeof(sql),
				 "SELECT %s FROM sessions.store s WHERE " STORE_FILTER
				 " AND ($6::text IS NULL OR sessions.classify(s.kwh, $7::float8) = $6)%s",
				 doc_expr(), tail);
	return query(sql, 7, p, NULL);
}

static char *
count_sessions(const char *class)
{
	const char *p[5] = {range, opt.site, include_active_text(), class, opt.micro_kwh};

	return query_value("SELECT count(*) FROM sessions.store s WHERE " STORE_FILTER
					   " AND ($4::text IS NULL OR sessions.classify(s.kwh, $5::float8) = $4)",
					   5, p, NULL);
}

static void
die_no_data(void)
{
	tool_die(EXIT_NO_DATA, "no sessions between %s and %s (%s)%s%s%s; try another --range or --from/--to",
			 range_from, range_to, opt.tz, opt.site ? " at site \"" : "", opt.site ? opt.site : "",
			 opt.site ? "\"" : "");
}

/*
 * run_raw
 *		No analysis flag: the sessions themselves, like SESHIS's raw dump
 *		(JSON documents; csv: the store's columns).
 */
static int
run_raw(void)
{
	char	   *n = count_sessions(NULL);
	PGresult   *res;

	debug("Raw session dump: %s sessions in the range", n);
	if (strcmp(n, "0") == 0)
		die_no_data();
	res = sessions_query(NULL);
	if (PQntuples(res) == 0)
		tool_die(EXIT_NO_DATA, "page %s is past the last of %s sessions", opt.page, n);
	if (opt.format == FMT_CSV)
		tool_csv_result(stdout, res);
	else
	{
		json_docs(stdout, res, "");
		putchar('\n');
	}
	PQclear(res);
	return EXIT_OK;
}

/* Report arguments $1..$5 of daily_report / summary_report. */
#define REPORT_ARGS "$1::tstzrange, $2, $3::float8, $4, $5::boolean"

static PGresult *
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

static const char *
site_label(void)
{
	const char *p[3] = {range, NULL, include_active_text()};
	char	   *sites;

	if (opt.site)
		return opt.site;
	sites = query_value("SELECT pg_catalog.string_agg(DISTINCT COALESCE(s.site, '(none)'), ', ' ORDER BY COALESCE(s.site, '(none)'))"
						" FROM sessions.store s WHERE " STORE_FILTER, 3, p, NULL);
	return sites ? sites : "(none)";
}

/* SESHIS's empty / micro blocks: totals line, class line, daily breakdown. */
static void
text_class_block(PGresult *sum, PGresult *daily, bool micro)
{
	printf("\xF0\x9F\x93\x8A Total sessions returned: %s (filtered from %s)\n",
		   fig(sum, 0, "completed"), fig(sum, 0, "sessions"));
	if (micro)
		printf("\xF0\x9F\x94\xAC Microsessions (0 < kWh < %s): %s (%s%% of total)\n",
			   kwh_label(opt.micro_kwh), fig(sum, 0, "micro"), pct(sum, 0, "micro_pct"));
	else
		printf("\xE2\x9A\xA1 Sessions with 0 kWh delivered: %s (%s%% of total)\n",
			   fig(sum, 0, "empty"), pct(sum, 0, "empty_pct"));
	printf("\n\xF0\x9F\x93\x85 Daily breakdown:\n");
	for (int r = 0; r < PQntuples(daily); r++)
		printf("- %s: %s %s / %s total (%s%%)\n", fig(daily, r, "day"),
			   fig(daily, r, micro ? "micro" : "empty"), micro ? "micro" : "empty",
			   fig(daily, r, "completed"), pct(daily, r, micro ? "micro_pct" : "empty_pct"));
}

static void
text_combined(PGresult *sum)
{
	const char *rule = "==================================================";
	const char *thr = kwh_label(opt.micro_kwh);

	printf("\n%s\n\xF0\x9F\x94\x8D COMBINED SUMMARY\n%s\n", rule, rule);
	printf("\xF0\x9F\x8F\xA2 Site: %s\n", site_label());
	printf("\xF0\x9F\x93\x8A Total sessions analyzed: %s\n", fig(sum, 0, "completed"));
	printf("\xE2\x9A\xA1 Empty sessions (0 kWh): %s (%s%%)\n", fig(sum, 0, "empty"), pct(sum, 0, "empty_pct"));
	printf("\xF0\x9F\x94\xAC Microsessions (0 < kWh < %s): %s (%s%%)\n", thr, fig(sum, 0, "micro"), pct(sum, 0, "micro_pct"));
	printf("\xF0\x9F\x8E\xAF Combined (empty + micro): %s (%s%%)\n", fig(sum, 0, "combined"), pct(sum, 0, "combined_pct"));
	printf("\xE2\x9C\x85 Normal sessions (>= %s kWh): %s (%s%%)\n", thr, fig(sum, 0, "normal"), pct(sum, 0, "normal_pct"));
}

/* ---------------------------------------------------------------------
 * Per-user sessions
 * --------------------------------------------------------------------- */

static char *user_ref;			/* the resolved --user EMAIL */

/*
 * resolve_user
 *		--user EMAIL names a user of the selection: matched without regard
 *		to case, or by its pseudonym. Unknown: SESHIS's "User not found".
 */
static void
resolve_user(void)
{
	const char *p[4] = {range, opt.site, include_active_text(), opt.user_email};

	if (opt.user_email == NULL)
		return;
	user_ref = query_value("SELECT s.user_ref FROM sessions.store s WHERE " STORE_FILTER
						   " AND (pg_catalog.lower(s.user_ref) = pg_catalog.lower($4)"
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
static PGresult *
users_query(char **n_users)
{
	char		sql[4096];
	const char *p[9] = {range, opt.site, include_active_text(), user_ref,
		opt.limit ? opt.limit : "0", opt.page, opt.volts, opt.anonymize ? "true" : "false", opt.tz};

	snprintf(sql, sizeof(sql),
			 "WITH sel AS ("
			 " SELECT u.*, s.started_at, s.ended_at, s.last_updated, s.status, s.user_ref AS ref"
			 " FROM sessions.user_report($4, $1::tstzrange, $9, $7::float8) u"
			 " JOIN sessions.store s ON s.session_key = u.session_key AND s.namespace = u.namespace"
			 " WHERE " STORE_FILTER "),"
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
			 sort_expr(), opt.order);
	*n_users = query_value("SELECT count(*) FROM (SELECT DISTINCT s.user_ref FROM sessions.store s WHERE "
						   STORE_FILTER " AND ($4::text IS NULL OR s.user_ref = $4)) u", 4, p, NULL);
	return query(sql, 9, p, "--volts");
}

/* A session id as SESHIS shows it: long ids cut to 21 characters and "...". */
static void
print_session_id(const char *id)
{
	size_t		n = strlen(id);

	if (n <= 24)
	{
		fputs(id, stdout);
		return;
	}
	n = 21;
	while (n > 0 && ((unsigned char) id[n] & 0xC0) == 0x80)
		n--;					/* not inside a UTF-8 character */
	printf("%.*s...", (int) n, id);
}

static const char *
rating_color(const char *rating)
{
	if (!color || rating == NULL)
		return NULL;
	if (strcmp(rating, "green") == 0)
		return "\033[32m";
	if (strcmp(rating, "orange") == 0)
		return "\033[38;5;208m";
	if (strcmp(rating, "red") == 0)
		return "\033[31m";
	return NULL;
}

static void
debug_session(PGresult *res, int r)
{
	const char *h = field(res, r, "hours");
	const char *w = field(res, r, "average_w");
	const char *a = field(res, r, "average_a");

	if (!opt.debug)
		return;
	if (h == NULL || w == NULL || a == NULL)
		debug("Session %s calculations: %s (no average: %s)", fig(res, r, "session_no"),
			  fig(res, r, "session_id"), h == NULL ? "still active" : "no duration");
	else
		debug("Session %s calculations: %.2fh, %.1fW, %.2fA (%s)", fig(res, r, "session_no"),
			  strtod(h, NULL), strtod(w, NULL), strtod(a, NULL), fig(res, r, "rating"));
}

/* After a user's last shown session: how many --limit left out. */
static void
text_more(PGresult *res, int last)
{
	const char *p[2];
	char	   *more;

	if (last < 0 || !opt.limit || strcmp(opt.limit, "0") == 0)
		return;
	p[0] = fig(res, last, "total_sessions");
	p[1] = fig(res, last, "session_no");
	more = query_value("SELECT ($1::bigint - $2::bigint)::text", 2, p, NULL);
	if (strcmp(more, "0") != 0)
		printf("    ... %s more session%s (--limit 0 shows all)\n", more, strcmp(more, "1") == 0 ? "" : "s");
	free(more);
}

static void
text_users(PGresult *res, const char *n_users)
{
	const char *prev = NULL;

	printf("\xF0\x9F\x91\xA5 User Session Summary:\n");
	printf("\xF0\x9F\x93\x8A Total unique users: %s\n", n_users);
	if (opt.limit && strcmp(opt.limit, "0") != 0)
		printf("\xF0\x9F\x93\x84 Page %s: up to %s users, %s sessions each (--limit/--page)\n", opt.page, opt.limit, opt.limit);
	for (int r = 0; r < PQntuples(res); r++)
	{
		const char *no = fig(res, r, "user_no");
		const char *user = field(res, r, "user");
		const char *end = field(res, r, "end");
		const char *c;

		if (prev == NULL || strcmp(prev, no) != 0)
		{
			text_more(res, r - 1);
			printf("\nUser: %s\n    Total sessions: %s\n", user ? user : "null", fig(res, r, "total_sessions"));
			prev = no;
		}
		debug_session(res, r);
		c = rating_color(field(res, r, "rating"));
		if (c)
			fputs(c, stdout);
		printf("    Session %s: START: %s / END: %s / DURATION: %s / %s kWh / ",
			   fig(res, r, "session_no"), fig(res, r, "start"), end ? end : "(active)",
			   end ? fig(res, r, "duration") : "(active)", fig(res, r, "kwh"));
		print_session_id(fig(res, r, "session_id"));
		if (c)
			fputs("\033[0m", stdout);
		fputc('\n', stdout);
	}
	text_more(res, PQntuples(res) - 1);
}

/* Users as JSON: [{"user", "total_sessions", "sessions": [...]}, ...]. */
static void
json_users(PGresult *res)
{
	const char *prev = NULL;
	int			nf = PQnfields(res);

	fputc('[', stdout);
	for (int r = 0; r < PQntuples(res); r++)
	{
		const char *no = fig(res, r, "user_no");

		debug_session(res, r);
		if (prev == NULL || strcmp(prev, no) != 0)
		{
			if (prev)
				fputs("\n    ]},", stdout);
			fputs("\n    {\"user\": ", stdout);
			tool_json_field(stdout, res, r, PQfnumber(res, "user"));
			printf(", \"total_sessions\": %s, \"sessions\": [", fig(res, r, "total_sessions"));
			prev = no;
		}
		else
			fputc(',', stdout);
		fputs("\n      {", stdout);
		for (int i = 0, k = 0; i < nf; i++)
		{
			const char *name = PQfname(res, i);

			if (strcmp(name, "user_no") == 0 || strcmp(name, "user") == 0 || strcmp(name, "total_sessions") == 0)
				continue;
			if (k++)
				fputs(", ", stdout);
			tool_json_string(stdout, name);
			fputs(": ", stdout);
			tool_json_field(stdout, res, r, i);
		}
		fputc('}', stdout);
	}
	fputs(prev ? "\n    ]}\n  ]" : "]", stdout);
}

/* ---------------------------------------------------------------------
 * Chart
 * --------------------------------------------------------------------- */

/*
 * write_chart
 *		sessions.daily_chart_svg over the report's selection, written to
 *		the --graph file.
 */
static void
write_chart(void)
{
	const char *fmt = "Empty and micro (< %s kWh) sessions per day, %s";
	const char *kwh = kwh_label(opt.micro_kwh);
	const char *where = opt.site ? opt.site : "all sites";
	/* Sized to fit: a fixed buffer would cut a long site name mid-character. */
	int			len = snprintf(NULL, 0, fmt, kwh, where);
	char	   *title = malloc((size_t) len + 1);
	const char *p[6] = {range, opt.site, include_active_text(), opt.tz, opt.micro_kwh, title};
	char	   *svg;
	FILE	   *f;

	if (title == NULL)
		tool_die(EXIT_FAILURE_RUN, "out of memory");
	snprintf(title, (size_t) len + 1, fmt, kwh, where);
	svg = query_value("SELECT sessions.daily_chart_svg(sessions.session_stats_agg(s.started_at, s.ended_at, s.kwh, $4, $5::float8), $6)"
					  " FROM sessions.store s WHERE " STORE_FILTER, 6, p, NULL);
	if (svg == NULL)
		tool_die(EXIT_FAILURE_RUN, "the chart came back empty");
	f = fopen(opt.graph_file, "w");
	if (f == NULL || fputs(svg, f) == EOF || fclose(f) != 0)
		tool_die(EXIT_FAILURE_RUN, "cannot write the chart to %s: %s", opt.graph_file, strerror(errno));
	debug("Chart: %zu bytes written to %s", strlen(svg), opt.graph_file);
	free(svg);
	free(title);
}

/* ---------------------------------------------------------------------
 * The report
 * --------------------------------------------------------------------- */

typedef struct Listing
{
	const char *class;			/* "empty" or "micro" */
	PGresult   *res;
	char	   *total;
} Listing;

static void
text_listing(Listing *l)
{
	printf("\n\xF0\x9F\x93\x8B %s sessions (%d of %s, --limit/--page for more):\n",
		   strcmp(l->class, "empty") == 0 ? "Empty" : "Micro", PQntuples(l->res), l->total);
	json_docs(stdout, l->res, "");
	putchar('\n');
}

/*
 * run_report
 *		The analyses asked for: every query first (so a failure prints no
 *		half report), then the chart, then the output in the chosen format.
 */
static int
run_report(void)
{
	bool		classes = opt.empty || opt.micro;
	PGresult   *sum;
	PGresult   *daily = NULL;
	PGresult   *users = NULL;
	char	   *n_users = NULL;
	Listing		lists[2];
	int			nlists = 0;

	if (opt.advanced)
		fprintf(stderr, "%s: --advanced: no prompts; use --anonymize, --include-active, --sort, --order, --limit and --page\n",
				tool_name);
	debug("Starting %s%s%s analysis (micro threshold %s kWh, site %s%s)",
		  opt.empty ? "empty " : "", opt.micro ? "micro " : "", opt.user ? "user " : "",
		  kwh_label(opt.micro_kwh), opt.site ? opt.site : "all", opt.include_active ? ", active included" : "");

	sum = report_query("summary_report");
	if (PQntuples(sum) == 0 || strcmp(fig(sum, 0, "sessions"), "0") == 0)
		die_no_data();
	if (classes)
		daily = report_query("daily_report");
	if (opt.user)
	{
		debug("Starting user session analysis (filter: %s)...", opt.user_email ? shown(opt.user_email) : "all");
		resolve_user();
		users = users_query(&n_users);
	}
	if (opt.printsessions)
	{
		if (opt.empty)
			lists[nlists++] = (Listing) {"empty", sessions_query("empty"), count_sessions("empty")};
		if (opt.micro)
			lists[nlists++] = (Listing) {"micro", sessions_query("micro"), count_sessions("micro")};
	}
	if (opt.graph)
		write_chart();

	if (opt.format == FMT_TEXT)
	{
		bool		any = false;

		if (opt.empty)
		{
			text_class_block(sum, daily, false);
			any = true;
		}
		if (opt.micro)
		{
			if (any)
				putchar('\n');
			text_class_block(sum, daily, true);
			any = true;
		}
		if (opt.empty && opt.micro)
			text_combined(sum);
		if (opt.user)
		{
			if (any)
				putchar('\n');
			text_users(users, n_users);
			any = true;
		}
		for (int i = 0; i < nlists; i++)
			text_listing(&lists[i]);
		if (opt.graph)
			printf("%s\xF0\x9F\x93\x88 Chart of the daily empty and micro percentages written to %s\n",
				   any ? "\n" : "", opt.graph_file);
	}
	else if (opt.format == FMT_JSON)
	{
		printf("{\n  \"range\": {\"from\": ");
		tool_json_string(stdout, range_from);
		printf(", \"to\": ");
		tool_json_string(stdout, range_to);
		printf(", \"tz\": ");
		tool_json_string(stdout, opt.tz);
		printf("},\n  \"site\": ");
		if (opt.site)
			tool_json_string(stdout, opt.site);
		else
			fputs("null", stdout);
		printf(",\n  \"micro_threshold\": %s,\n  \"include_active\": %s", kwh_label(opt.micro_kwh), include_active_text());
		if (classes)
		{
			printf(",\n  \"summary\": ");
			json_row(stdout, sum);
			printf(",\n  \"daily\": ");
			json_rows(stdout, daily, "  ");
		}
		if (opt.user)
		{
			printf(",\n  \"total_users\": %s,\n  \"users\": ", n_users);
			json_users(users);
		}
		for (int i = 0; i < nlists; i++)
		{
			printf(",\n  \"%s_sessions\": {\"total\": %s, \"sessions\": ", lists[i].class, lists[i].total);
			json_docs(stdout, lists[i].res, "  ");
			printf("}");
		}
		if (opt.graph)
		{
			printf(",\n  \"chart\": ");
			tool_json_string(stdout, opt.graph_file);
		}
		printf("\n}\n");
	}
	else
	{
		bool		any = false;

		if (classes)
		{
			tool_csv_result(stdout, daily);
			putchar('\n');
			tool_csv_result(stdout, sum);
			any = true;
		}
		if (opt.user)
		{
			if (any)
				putchar('\n');
			tool_csv_result(stdout, users);
			any = true;
		}
		for (int i = 0; i < nlists; i++)
		{
			if (any)
				putchar('\n');
			tool_csv_result(stdout, lists[i].res);
			any = true;
		}
	}
	return EXIT_OK;
}

static void
debug_args(void)
{
	debug("Debug mode enabled");
	debug("Arguments parsed: {'user': %s%s%s, 'empty': %s, 'micro': %s%s%s, 'advanced': %s, 'graph': %s%s%s, "
		  "'printsessions': %s, 'debug': True}",
		  opt.user ? "'" : "", opt.user ? (opt.user_email ? shown(opt.user_email) : "all") : "None", opt.user ? "'" : "",
		  opt.empty ? "True" : "False",
		  opt.micro ? "'" : "", opt.micro ? opt.micro_kwh : "False", opt.micro ? "'" : "",
		  opt.advanced ? "True" : "False",
		  opt.graph ? "'" : "", opt.graph ? opt.graph_file : "False", opt.graph ? "'" : "",
		  opt.printsessions ? "True" : "False");
	debug("Options: anonymize=%s, include_active=%s, sort_by=%s, sort_order=%s, limit=%s, page=%s, tz=%s, volts=%s, site=%s, format=%s",
		  opt.anonymize ? "true" : "false", include_active_text(), opt.sort, opt.order,
		  opt.limit ? opt.limit : "default", opt.page, opt.tz, opt.volts, opt.site ? opt.site : "all",
		  opt.format == FMT_JSON ? "json" : opt.format == FMT_CSV ? "csv" : "text");
}

int
main(int argc, char **argv)
{
	int			status;

	parse_args(argc, argv);
	if (opt.debug)
		debug_args();
	if (opt.import)
		status = run_import();
	else
	{
		connect_db();
		resolve_range();
		if (!opt.empty && !opt.micro && !opt.user && !opt.graph)
			status = run_raw();
		else
			status = run_report();
	}
	if (fflush(stdout) != 0 || ferror(stdout))
		tool_die(EXIT_FAILURE_RUN, "cannot write the output: %s", strerror(errno));
	PQfinish(conn);
	return status;
}
