/*
 * report_main.c
 *		session-report: charging-session quality reports (empty and micro
 *		sessions, daily breakdowns, per-user sessions, a daily chart) read from
 *		the session store, and the PowerFlex export import.
 *
 * Every figure comes from the extension's SQL functions; this program only
 * validates flags, runs the queries and formats their results as text, JSON
 * or CSV. This file is the entry point: it dispatches to the import, the raw
 * dump or the report, and composes the report from the queries' results.
 * session_report.h shows which file does what.
 */
#include "session_report.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

const char *tool_name = "session-report";


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

/*
 * json_listings
 *		The --printsessions lists as the members "empty_sessions" /
 *		"micro_sessions" ({"total": N, "sessions": [...]}): inside the JSON
 *		report (indent "  ") or, in text mode with stdout redirected, as a
 *		document of their own (indent "": braces added here).
 */
static void
json_listings(FILE *out, const Listing *lists, int n, const char *indent)
{
	bool		alone = *indent == '\0';

	if (alone)
		fputc('{', out);
	for (int i = 0; i < n; i++)
	{
		fprintf(out, "%s\n%s  \"%s_sessions\": {\"total\": %s, \"sessions\": ",
				i ? "," : "", indent, lists[i].class, lists[i].total);
		json_docs(out, lists[i].res, alone ? "  " : indent);
		fputc('}', out);
	}
	if (alone)
		fputs("\n}\n", out);
}

/*
 * run_report
 *		The analyses asked for, in one read-only snapshot: which path the
 *		figures take (--debug; "figures" in JSON), every query first (so a
 *		failure prints no half report), then the chart, then the output in
 *		the chosen format.
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
	char	   *path;
	char	   *path_reason;

	if (opt.advanced)
		fprintf(stderr, "%s: --advanced: no prompts; use --anonymize, --include-active, --sort, --order, --limit and --page\n",
				tool_name);
	{
		/* The analyses asked for, one space between words (none before "analysis"). */
		char		what[32] = "";

		if (opt.empty)
			strcat(what, " empty");
		if (opt.micro)
			strcat(what, " micro");
		if (opt.user)
			strcat(what, " user");
		if (opt.graph && !classes && !opt.user)
			strcat(what, " chart");
		debug("Starting%s analysis (micro threshold %s kWh, site %s%s)",
			  what, kwh_label(opt.micro_kwh), sites_shown ? sites_shown : "all", opt.include_active ? ", active included" : "");
	}

	/* One snapshot for every statement, the path line included. */
	begin_report();
	figures_path(&path, &path_reason);
	debug("Figures per site and day (summary, daily rows, chart, site line) from %s (%s)",
		  strcmp(path, "summaries") == 0 ? "the live summaries" : "a scan of the store", path_reason);
	if (opt.user || opt.printsessions)
		debug("Per-user figures and session listings: always a scan of the store");

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

		/*
		 * --printsessions > file: stdout must be one JSON document, so it
		 * gets the listings alone and the report goes to stderr, where the
		 * user still sees it. On a terminal both stay together.
		 */
		bool		split = nlists > 0 && !isatty(fileno(stdout));

		if (split)
			text_out = stderr;

		if (opt.empty)
		{
			text_class_block(sum, daily, false);
			any = true;
		}
		if (opt.micro)
		{
			if (any)
				fputc('\n', text_out);
			text_class_block(sum, daily, true);
			any = true;
		}
		if (opt.empty && opt.micro)
			text_combined(sum, site_label());
		if (opt.user)
		{
			if (any)
				fputc('\n', text_out);
			text_users(users, n_users);
			any = true;
		}
		for (int i = 0; i < nlists; i++)
		{
			if (split)
				fprintf(text_out, "\n\xF0\x9F\x93\x8B %s sessions: %d of %s, in the JSON document on stdout\n",
						strcmp(lists[i].class, "empty") == 0 ? "Empty" : "Micro", PQntuples(lists[i].res), lists[i].total);
			else
				text_listing(&lists[i]);
		}
		if (split)
			json_listings(stdout, lists, nlists, "");
		if (opt.graph)
			fprintf(text_out, "%s\xF0\x9F\x93\x88 Chart of the daily empty and micro percentages written to %s\n",
				   any ? "\n" : "", opt.graph_file);
	}
	else if (opt.format == FMT_JSON)
	{
		printf("{\n  \"range\": {\"from\": ");
		tool_json_string(stdout, range_from);
		printf(", \"to\": ");
		tool_json_string(stdout, range_to);
		printf(", \"tz\": ");
		tool_json_string(stdout, report_tz);
		printf("},\n  \"site\": ");
		if (sites_shown)
			tool_json_string(stdout, sites_shown);
		else
			fputs("null", stdout);
		printf(",\n  \"micro_threshold\": %s,\n  \"include_active\": %s", kwh_label(opt.micro_kwh), include_active_text());
		if (classes || opt.graph)
		{
			printf(",\n  \"figures\": {\"path\": ");
			tool_json_string(stdout, path);
			printf(", \"reason\": ");
			tool_json_string(stdout, path_reason);
			putchar('}');
		}
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
		if (nlists)
		{
			fputc(',', stdout);
			json_listings(stdout, lists, nlists, "  ");
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
			csv_report(stdout, daily);
			putchar('\n');
			csv_report(stdout, sum);
			any = true;
		}
		if (opt.user)
		{
			if (any)
				putchar('\n');
			csv_report(stdout, users);
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
	end_report();
	free(path);
	free(path_reason);
	return EXIT_OK;
}

/* Parses the flags, then imports or reports; exit statuses in tool_common.h. */
int
main(int argc, char **argv)
{
	int			status;

	text_out = stdout;
	report_parse_args(argc, argv);
	if (opt.debug)
		debug_args();
	if (opt.import)
		status = run_import();
	else
	{
		if (opt.file)
		{
			embedded_start();
			connect_db();
			import_for_report();
			resolve_scope();
			embedded_range();
		}
		else
			connect_db();
		resolve_defaults();
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
