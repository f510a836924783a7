/*
 * report_print.c
 *		session-report's writers: the text report as SESHIS prints it, JSON
 *		and CSV, and the --debug lines on stderr.
 *
 * Output only: nothing here sends a statement; every figure arrives in a
 * PGresult and is printed as the server wrote it.
 */
#include "session_report.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

/*
 * Where the text report goes: stdout, or stderr when stdout carries the
 * --printsessions JSON document (report_main.c decides).
 */
FILE	   *text_out;

/* Debug line on stderr, SESHIS style. */
void
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

/* An e-mail given on the command line, as messages may echo it. */
const char *
shown(const char *s)
{
	return opt.anonymize && s && strchr(s, '@') ? "(redacted)" : s;
}

/* Column name of row r (NULL for SQL NULL); a missing column exits 4. */
const char *
field(PGresult *res, int r, const char *name)
{
	int			i = PQfnumber(res, name);

	if (i < 0)
		tool_die(EXIT_NO_EXTENSION, "the installed session_analytics returns no column \"%s\"; run ALTER EXTENSION session_analytics UPDATE", name);
	return PQgetisnull(res, r, i) ? NULL : PQgetvalue(res, r, i);
}

/* A figure from SQL as printed: "0" for NULL counts. */
const char *
fig(PGresult *res, int r, const char *name)
{
	const char *v = field(res, r, name);

	return v ? v : "0";
}

/* A percentage from SQL with one decimal, as SESHIS prints it. */
const char *
pct(PGresult *res, int r, const char *name)
{
	static char bufs[4][32];
	static int	k;
	const char *v = field(res, r, name);
	char	   *b = bufs[k++ % 4];

	if (v == NULL || !tool_is_number(v))
		return "n/a";
	snprintf(b, 32, "%.1f", strtod(v, NULL));
	return b;
}

/* A threshold as SESHIS shows a float: "1.0", "0.5", "2.25". */
const char *
kwh_label(const char *v)
{
	static char buf[48];

	snprintf(buf, sizeof(buf), "%.10g", strtod(v, NULL));
	if (strpbrk(buf, ".e") == NULL)
		strcat(buf, ".0");
	return buf;
}

/*
 * pct_shown
 *		Field i of row r when it is a percentage (a column named *_pct with a
 *		finite value): one decimal, the way pct() prints it in the text
 *		report, so every format rounds the same (docs/session-report.md,
 *		"Formats"); NULL for any other field, printed as the server wrote it.
 */
static const char *
pct_shown(PGresult *res, int r, int i)
{
	static char buf[32];
	const char *name = PQfname(res, i);
	size_t		n = strlen(name);
	const char *v;

	if (n < 4 || strcmp(name + n - 4, "_pct") != 0 || PQgetisnull(res, r, i))
		return NULL;
	v = PQgetvalue(res, r, i);
	if (!tool_is_number(v))
		return NULL;
	snprintf(buf, sizeof(buf), "%.1f", strtod(v, NULL));
	return buf;
}

/* Row r of res as one JSON object on one line. */
static void
json_object(FILE *out, PGresult *res, int r)
{
	fputc('{', out);
	for (int i = 0; i < PQnfields(res); i++)
	{
		const char *p = pct_shown(res, r, i);

		if (i)
			fputs(", ", out);
		tool_json_string(out, PQfname(res, i));
		fputs(": ", out);
		if (p)
			fputs(p, out);
		else
			tool_json_field(out, res, r, i);
	}
	fputc('}', out);
}

/* A report table as CSV: a header line, then the rows, percentages as pct_shown. */
void
csv_report(FILE *out, PGresult *res)
{
	int			nf = PQnfields(res);

	for (int i = 0; i < nf; i++)
	{
		if (i)
			fputc(',', out);
		tool_csv_field(out, PQfname(res, i));
	}
	fputc('\n', out);
	for (int r = 0; r < PQntuples(res); r++)
	{
		for (int i = 0; i < nf; i++)
		{
			const char *p = pct_shown(res, r, i);

			if (i)
				fputc(',', out);
			if (p)
				fputs(p, out);
			else if (!PQgetisnull(res, r, i))
				tool_csv_field(out, PQgetvalue(res, r, i));
		}
		fputc('\n', out);
	}
}

/* Rows of res as a JSON array of objects, one object per line. */
void
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
void
json_row(FILE *out, PGresult *res)
{
	if (PQntuples(res) == 0)
		fputs("null", out);
	else
		json_object(out, res, 0);
}

/* A single-column result of JSON documents as a JSON array, one per line. */
void
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

/* SESHIS's empty / micro blocks: totals line, class line, daily breakdown. */
void
text_class_block(PGresult *sum, PGresult *daily, bool micro)
{
	fprintf(text_out, "\xF0\x9F\x93\x8A Total sessions returned: %s (filtered from %s)\n",
		   fig(sum, 0, "completed"), fig(sum, 0, "sessions"));
	if (micro)
		fprintf(text_out, "\xF0\x9F\x94\xAC Microsessions (0 < kWh < %s): %s (%s%% of total)\n",
			   kwh_label(opt.micro_kwh), fig(sum, 0, "micro"), pct(sum, 0, "micro_pct"));
	else
		fprintf(text_out, "\xE2\x9A\xA1 Sessions with 0 kWh delivered: %s (%s%% of total)\n",
			   fig(sum, 0, "empty"), pct(sum, 0, "empty_pct"));
	fprintf(text_out, "\n\xF0\x9F\x93\x85 Daily breakdown:\n");
	for (int r = 0; r < PQntuples(daily); r++)
		fprintf(text_out, "- %s: %s %s / %s total (%s%%)\n", fig(daily, r, "day"),
			   fig(daily, r, micro ? "micro" : "empty"), micro ? "micro" : "empty",
			   fig(daily, r, "completed"), pct(daily, r, micro ? "micro_pct" : "empty_pct"));
}

/* SESHIS's combined summary of --empty --micro; site from site_label. */
void
text_combined(PGresult *sum, const char *site)
{
	const char *rule = "==================================================";
	const char *thr = kwh_label(opt.micro_kwh);

	fprintf(text_out, "\n%s\n\xF0\x9F\x94\x8D COMBINED SUMMARY\n%s\n", rule, rule);
	fprintf(text_out, "\xF0\x9F\x8F\xA2 Site: %s\n", site);
	fprintf(text_out, "\xF0\x9F\x93\x8A Total sessions analyzed: %s\n", fig(sum, 0, "completed"));
	fprintf(text_out, "\xE2\x9A\xA1 Empty sessions (0 kWh): %s (%s%%)\n", fig(sum, 0, "empty"), pct(sum, 0, "empty_pct"));
	fprintf(text_out, "\xF0\x9F\x94\xAC Microsessions (0 < kWh < %s): %s (%s%%)\n", thr, fig(sum, 0, "micro"), pct(sum, 0, "micro_pct"));
	fprintf(text_out, "\xF0\x9F\x8E\xAF Combined (empty + micro): %s (%s%%)\n", fig(sum, 0, "combined"), pct(sum, 0, "combined_pct"));
	fprintf(text_out, "\xE2\x9C\x85 Normal sessions (>= %s kWh): %s (%s%%)\n", thr, fig(sum, 0, "normal"), pct(sum, 0, "normal_pct"));
}

/* A session id as SESHIS shows it: long ids cut to 21 characters and "...". */
static void
print_session_id(const char *id)
{
	size_t		n = strlen(id);

	if (n <= 24)
	{
		fputs(id, text_out);
		return;
	}
	n = 21;
	while (n > 0 && ((unsigned char) id[n] & 0xC0) == 0x80)
		n--;					/* not inside a UTF-8 character */
	fprintf(text_out, "%.*s...", (int) n, id);
}

/* The ANSI colour of a rating on a terminal, NULL for none. */
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

/* --debug: one session's hours, average W and A and rating. */
static void
debug_session(PGresult *res, int r)
{
	const char *h = field(res, r, "hours");
	const char *w = field(res, r, "average_w");
	const char *a = field(res, r, "average_a");

	/*
	 * SESHIS's line, then whose it is: the numbers restart at 1 for every
	 * user, so "Session 2" alone does not say which session it was.
	 */
	const char *user = field(res, r, "user");
	const char *id = fig(res, r, "session_id");

	if (!opt.debug)
		return;
	if (h == NULL || w == NULL || a == NULL)
		debug("Session %s calculations: (no average: %s) [user %s, session %s]", fig(res, r, "session_no"),
			  h == NULL ? "still active" : "no duration", user ? user : "null", id);
	else
		debug("Session %s calculations: %.2fh, %.1fW, %.2fA (%s) [user %s, session %s]", fig(res, r, "session_no"),
			  strtod(h, NULL), strtod(w, NULL), strtod(a, NULL), fig(res, r, "rating"),
			  user ? user : "null", id);
}

/* After a user's last shown session: how many --limit left out. */
static void
text_more(PGresult *res, int last)
{
	long long	more;

	if (last < 0 || !opt.limit || strcmp(opt.limit, "0") == 0)
		return;
	/* both are bigint counts from the server, session_no <= total */
	more = strtoll(fig(res, last, "total_sessions"), NULL, 10) - strtoll(fig(res, last, "session_no"), NULL, 10);
	if (more != 0)
		fprintf(text_out, "    ... %lld more session%s (--limit 0 shows all)\n", more, more == 1 ? "" : "s");
}

/* SESHIS's user session summary: per user its sessions, coloured by rating. */
void
text_users(PGresult *res, const char *n_users)
{
	const char *prev = NULL;

	fprintf(text_out, "\xF0\x9F\x91\xA5 User Session Summary:\n");
	fprintf(text_out, "\xF0\x9F\x93\x8A Total unique users: %s\n", n_users);
	if (opt.limit && strcmp(opt.limit, "0") != 0)
		fprintf(text_out, "\xF0\x9F\x93\x84 Page %s: up to %s users, %s sessions each (--limit/--page)\n", opt.page, opt.limit, opt.limit);
	for (int r = 0; r < PQntuples(res); r++)
	{
		const char *no = fig(res, r, "user_no");
		const char *user = field(res, r, "user");
		const char *end = field(res, r, "end");
		const char *c;

		if (prev == NULL || strcmp(prev, no) != 0)
		{
			text_more(res, r - 1);
			fprintf(text_out, "\nUser: %s\n    Total sessions: %s\n", user ? user : "null", fig(res, r, "total_sessions"));
			prev = no;
		}
		debug_session(res, r);
		c = rating_color(field(res, r, "rating"));
		if (c)
			fputs(c, text_out);
		fprintf(text_out, "    Session %s: START: %s / END: %s / DURATION: %s / %s kWh / ",
			   fig(res, r, "session_no"), fig(res, r, "start"), end ? end : "(active)",
			   end ? fig(res, r, "duration") : "(active)", fig(res, r, "kwh"));
		print_session_id(fig(res, r, "session_id"));
		if (c)
			fputs("\033[0m", text_out);
		fputc('\n', text_out);
	}
	text_more(res, PQntuples(res) - 1);
}

/* Users as JSON: [{"user", "total_sessions", "sessions": [...]}, ...]. */
void
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

/* A --printsessions listing in the text report: a heading, then the documents. */
void
text_listing(const Listing *l)
{
	fprintf(text_out, "\n\xF0\x9F\x93\x8B %s sessions (%d of %s, --limit/--page for more):\n",
		   strcmp(l->class, "empty") == 0 ? "Empty" : "Micro", PQntuples(l->res), l->total);
	json_docs(text_out, l->res, "");
	fputc('\n', text_out);
}

/* The totals of an import in the chosen format. */
void
print_import_result(const ImportResult *r)
{
	if (opt.format == FMT_JSON)
	{
		printf("{\"file\": ");
		tool_json_string(stdout, opt.import_file);
		printf(", \"rows\": %lld, \"imported\": %lld, \"updated\": %lld, \"skipped\": %lld, \"rejected_at\": ",
			   r->rows, r->imported, r->updated, r->skipped);
		tool_json_string(stdout, r->started);
		printf("}\n");
	}
	else if (opt.format == FMT_CSV)
	{
		printf("file,rows,imported,updated,skipped\n");
		tool_csv_field(stdout, opt.import_file);
		printf(",%lld,%lld,%lld,%lld\n", r->rows, r->imported, r->updated, r->skipped);
	}
	else
	{
		printf("\xF0\x9F\x93\xA5 Imported %s: %lld rows, %lld new, %lld updated, %lld skipped\n",
			   opt.import_file, r->rows, r->imported, r->updated, r->skipped);
		if (r->skipped > 0)
			printf("\xE2\x9A\xA0\xEF\xB8\x8F  Skipped rows and their reasons: SELECT position, session_id, reason FROM sessions.import_rejects WHERE rejected_at = '%s';\n",
				   r->started);
	}
}
