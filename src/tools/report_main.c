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
			text_combined(sum, site_label());
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

/* Parses the flags, then imports or reports; exit statuses in tool_common.h. */
int
main(int argc, char **argv)
{
	int			status;

	report_parse_args(argc, argv);
	if (opt.debug)
		debug_args();
	if (opt.import)
		status = run_import();
	else
	{
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
