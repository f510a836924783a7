/*
 * report_args.c
 *		session-report's flags: SESHIS-style parsing, validation of each
 *		value (a bad one exits 2 naming the flag), the help text, and the
 *		--debug echo of what was parsed.
 */
#include "session_report.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#ifndef SA_VERSION
#define SA_VERSION "dev"
#endif

Options		opt;
bool		color;

/* The --help text (stdout) or the usage on a bad call. */
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
			"  session-report --file FILE.json --empty --micro --graph [OPTIONS]\n"
			"                        the same report on FILE, no database needed\n"
			"\n"
			"Analyses:\n"
			"  --empty               sessions with 0 kWh, total and per day\n"
			"  --micro [KWH]         sessions with 0 < kWh < KWH, total and per day (default: the\n"
			"                        server's session_analytics.micro_threshold, 1.0 unless\n"
			"                        configured)\n"
			"  --user [EMAIL]        sessions per user with duration, kWh and rating; one user with EMAIL\n"
			"  --graph [FILE]        chart of the daily empty and micro percentages: SVG for\n"
			"                        FILE.svg (default sessions-daily.svg), PNG for FILE.png\n"
			"  --printsessions       also print the matching sessions (empty / micro) as JSON\n"
			"  --debug               SQL and per-session calculations on stderr\n"
			"  --advanced            accepted for SESHIS compatibility; use the flags below\n"
			"\n"
			"Selection:\n"
			"  --range NAME          today (default), yesterday, last_week, last_month, this_month\n"
			"  --from DATE --to DATE local days, both inclusive (YYYY-MM-DD); --to defaults to today\n"
			"  --tz ZONE             time zone of days and times: any zone PostgreSQL knows\n"
			"                        (America/Los_Angeles, PST, PST8PDT); default: PGTZ, TZ,\n"
			"                        the sites' zone (sessions.site), else UTC\n"
			"  --site NAME[,NAME]    only these sites (repeatable; any case)\n"
			"  --include-active      count sessions still charging too\n"
			"  --anonymize           show users as stable pseudonyms (user-xxxxxxxxxx)\n"
			"  --sort FIELD          session_start_time (default), session_end_time, session_kwh,\n"
			"                        duration, user, site, status, session_id, updated_at\n"
			"  --order asc|desc      default desc\n"
			"  --limit N             sessions per page (raw and --printsessions: default 25);\n"
			"                        with --user: users per page and sessions per user\n"
			"                        (default all); 0 = all\n"
			"  --page N              page number, from 1\n"
			"  --volts V             voltage for the average current (default: the server's\n"
			"                        session_analytics.volts, 208 unless configured)\n"
			"\n"
			"Output and connection:\n"
			"  --format text|json|csv  default text\n"
			"  --no-color            no colours even on a terminal (also NO_COLOR=1)\n"
			"  -d, --dbname CONN     database name or connection string (default: PG* variables)\n"
			"  --file FILE.json      no database: import FILE into a throwaway cluster, report,\n"
			"                        remove it (range: the file's days unless --range/--from)\n"
			"  -h, --help            this help\n"
			"  -V, --version         version\n"
			"\n"
			"Exit statuses: 0 ok, 1 query failed, 2 bad flag or value, 3 cannot connect,\n"
			"4 extension missing, 5 user, site or file not found, 6 no sessions in the range,\n"
			"7 input file not valid JSON or not a PowerFlex export.\n");
}

/* --range names; sessions.date_range knows each. */
static const char *const range_names[] = {"today", "yesterday", "last_week", "last_month", "this_month", NULL};

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

/* The flag a switch name sets, NULL when name is not a switch. */
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
 * report_parse_args
 *		SESHIS-style flags: --flag, --flag VALUE, --flag=VALUE; the optional
 *		values of --micro, --user and --graph are taken from the next word
 *		when it looks like one (a number for --micro, not a flag otherwise).
 */
void
report_parse_args(int argc, char **argv)
{
	int			positional = 0;
	bool		site_flags_repeated = false;

	opt.tz = NULL;				/* resolve_zone: PGTZ, TZ, the sites' zone, UTC */
	opt.graph_file = "sessions-daily.svg";
	opt.sort = "session_start_time";
	opt.order = "desc";
	opt.page = "1";
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
			else if (next != NULL && tool_is_number(next))
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
			/*
			 * Reports: repeated or comma-separated, blanks around names
			 * dropped. The import keeps its one value whole (a namespace
			 * may hold a comma).
			 */
			const char *raw = VALUE();
			char	   *list = strdup(raw);
			char	   *save = NULL;
			int			before = opt.nsites;

			if (list == NULL)
				tool_die(EXIT_FAILURE_RUN, "out of memory");
			if (opt.site != NULL)
				site_flags_repeated = true;
			else
				opt.site = raw;

			for (char *tok = strtok_r(list, ",", &save); tok; tok = strtok_r(NULL, ",", &save))
			{
				char	   *end;

				while (*tok == ' ' || *tok == '\t')
					tok++;
				end = tok + strlen(tok);
				while (end > tok && (end[-1] == ' ' || end[-1] == '\t'))
					*--end = '\0';
				if (*tok == '\0')
					continue;
				opt.sites = realloc(opt.sites, sizeof(char *) * (opt.nsites + 1));
				if (opt.sites == NULL)
					tool_die(EXIT_FAILURE_RUN, "out of memory");
				opt.sites[opt.nsites++] = tok;
			}
			if (opt.nsites == before)
				tool_die(EXIT_USAGE, "--site needs a site name");
		}
		else if (FLAG("--sort"))
		{
			opt.sort = VALUE();
			if (sort_expr(opt.sort) == NULL)
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
		else if (FLAG("--file"))
		{
			opt.file = VALUE();
			if (*opt.file == '\0')
				tool_die(EXIT_USAGE, "--file needs a file name");
		}
		else
			tool_die(EXIT_USAGE, "unknown option \"%s\" (see --help)", name);
#undef FLAG
#undef NO_VALUE
#undef VALUE
	}

	if (opt.import && opt.import_file == NULL)
		tool_die(EXIT_USAGE, "usage: session-report import powerflex FILE.json [--site NAME]");
	if (opt.import && site_flags_repeated)
		tool_die(EXIT_USAGE, "import takes one --site (the namespace the rows go to)");
	if (opt.import && (opt.empty || opt.micro || opt.user || opt.graph || opt.printsessions))
		tool_die(EXIT_USAGE, "import takes no analysis flags; run the report afterwards");
	if (opt.file && opt.import)
		tool_die(EXIT_USAGE, "--file imports into a throwaway cluster; import powerflex imports into a database: use one");
	if (opt.file && opt.dbname)
		tool_die(EXIT_USAGE, "--file runs its own throwaway server: drop -d/--dbname");
	if (opt.range_name && (opt.from || opt.to))
		tool_die(EXIT_USAGE, "--range and --from/--to exclude each other");
	if (opt.to && !opt.from)
		tool_die(EXIT_USAGE, "--to needs --from");
	if (opt.graph)
	{
		/* The name picks the format: .svg or .png, refused before any query. */
		const char *dot = strrchr(opt.graph_file, '.');
		const char *slash = strrchr(opt.graph_file, '/');
		bool		ext = dot && (slash == NULL || dot > slash);

		opt.graph_png = ext && strcasecmp(dot, ".png") == 0;
		if (!opt.graph_png && !(ext && strcasecmp(dot, ".svg") == 0))
			tool_die(EXIT_USAGE, "--graph %s: the file name must end in .svg (SVG) or .png (PNG rendered from the SVG)",
					 opt.graph_file);
	}
	color = !opt.no_color && opt.format == FMT_TEXT && tool_use_color(stdout);
}

/* --debug: the flags as SESHIS echoes them, then the options in force. */
void
debug_args(void)
{
	debug("Debug mode enabled");
	debug("Arguments parsed: {'user': %s%s%s, 'empty': %s, 'micro': %s%s%s, 'advanced': %s, 'graph': %s%s%s, "
		  "'printsessions': %s, 'debug': True}",
		  opt.user ? "'" : "", opt.user ? (opt.user_email ? shown(opt.user_email) : "all") : "None", opt.user ? "'" : "",
		  opt.empty ? "True" : "False",
		  opt.micro ? "'" : "", opt.micro ? (opt.micro_kwh ? opt.micro_kwh : "server default") : "False", opt.micro ? "'" : "",
		  opt.advanced ? "True" : "False",
		  opt.graph ? "'" : "", opt.graph ? opt.graph_file : "False", opt.graph ? "'" : "",
		  opt.printsessions ? "True" : "False");
	debug("Options: anonymize=%s, include_active=%s, sort_by=%s, sort_order=%s, limit=%s, page=%s, tz=%s, volts=%s, site=%s, format=%s",
		  opt.anonymize ? "true" : "false", include_active_text(), opt.sort, opt.order,
		  opt.limit ? opt.limit : "default", opt.page, opt.tz ? opt.tz : "default", opt.volts ? opt.volts : "server default", opt.site ? opt.site : "all",
		  opt.format == FMT_JSON ? "json" : opt.format == FMT_CSV ? "csv" : "text");
}
