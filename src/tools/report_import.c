/*
 * report_import.c
 *		session-report import powerflex FILE: streams the export, cuts its
 *		rows array into batches for sessions.import_powerflex and shows
 *		progress, all in one transaction (a broken file imports nothing).
 *
 * The JSON is only split here (json_split.c); the server parses each row.
 * One batch is in flight while the next is cut: the client's reading and
 * splitting overlap the server's work on the batch before (libpq has the
 * sent batch in its own buffer, so one batch buffer is enough).
 */
#include "session_report.h"
#include "json_split.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define IMPORT_BATCH_ROWS	2000
#define IMPORT_BATCH_BYTES	(8 * 1024 * 1024)
#define IMPORT_SHOWN_REJECTS 20

typedef struct Import
{
	JsonReader	rd;
	JsonBuf		batch;
	long long	rows;			/* rows seen in the file */
	long long	batch_first;	/* file row number of the batch's first row */
	int			batch_rows;
	bool		in_flight;		/* a sent batch's result is still to be read */
	long long	sent_first;		/* the in-flight batch's first and last rows */
	long long	sent_last;
	long long	imported;
	long long	updated;
	long long	skipped;
	long long	shown;
	bool		progress;
} Import;

static Import imp;

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

/* The progress line on a terminal (done: erased). */
static void
progress(bool done)
{
	long long	at = js_offset(&imp.rd);

	if (!imp.progress)
		return;
	if (done)
	{
		fputs("\r\033[K", stderr);
		return;
	}
	if (imp.rd.size > 0)
		fprintf(stderr, "\r\033[K\xE2\x8F\xB3 importing %s: %.1f / %.1f MB (%d%%), %lld rows",
				opt.import_file, at / 1048576.0, imp.rd.size / 1048576.0,
				(int) (100.0 * at / imp.rd.size), imp.rows);
	else
		fprintf(stderr, "\r\033[K\xE2\x8F\xB3 importing %s: %.1f MB, %lld rows",
				opt.import_file, at / 1048576.0, imp.rows);
	fflush(stderr);
}

/*
 * finish_batch
 *		Waits for the in-flight batch's result and adds its counts; a batch
 *		the server refused ends the import (nothing is committed).
 */
static void
finish_batch(void)
{
	PGresult   *res;
	PGresult   *extra;

	if (!imp.in_flight)
		return;
	imp.in_flight = false;
	res = PQgetResult(conn);
	while ((extra = PQgetResult(conn)) != NULL)
		PQclear(extra);
	if (PQresultStatus(res) != PGRES_TUPLES_OK)
	{
		const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);

		progress(true);
		/* the text is not JSON (22P02, 2203x) or not UTF-8 (22021): bad input */
		if (state && (strcmp(state, "22P02") == 0 || strncmp(state, "2203", 4) == 0 ||
					  strcmp(state, "22021") == 0))
		{
			const char *m = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
			const char *d = PQresultErrorField(res, PG_DIAG_MESSAGE_DETAIL);

			tool_die(EXIT_BAD_INPUT, "%s: rows %lld to %lld: %s%s%s%s; nothing imported", opt.import_file,
					 imp.sent_first, imp.sent_last,
					 m ? m : "invalid JSON", d ? " (" : "", d ? d : "", d ? ")" : "");
		}
		die_query(res, NULL);
	}
	imp.imported += atoll(PQgetvalue(res, 0, 0));
	imp.updated += atoll(PQgetvalue(res, 0, 1));
	imp.skipped += atoll(PQgetvalue(res, 0, 2));
	PQclear(res);
	progress(false);
}

/*
 * flush_batch
 *		Sends the batch {"offset":K,"rows":[row,...]} to
 *		sessions.import_powerflex, after the result of the one before.
 */
static void
flush_batch(void)
{
	const char *p[2];
	const char *sql = "SELECT imported, updated, skipped FROM sessions.import_powerflex($1::jsonb, $2)";

	if (imp.batch_rows == 0)
		return;
	js_buf_add(&imp.batch, ']');
	js_buf_add(&imp.batch, '}');
	imp.batch.data[imp.batch.len] = '\0';
	finish_batch();
	p[0] = imp.batch.data;
	p[1] = opt.site;
	if (opt.debug)
		debug("SQL: %s  -- rows %lld..%lld, %zu bytes, site %s", sql, imp.batch_first,
			  imp.batch_first + imp.batch_rows - 1, imp.batch.len, opt.site ? opt.site : "NULL");
	/* A blocking connection: the whole message is written before this returns. */
	if (!PQsendQueryParams(conn, sql, 2, NULL, p, NULL, NULL, 0))
		die_query(NULL, NULL);
	imp.in_flight = true;
	imp.sent_first = imp.batch_first;
	imp.sent_last = imp.batch_first + imp.batch_rows - 1;
	imp.batch.len = 0;
	imp.batch_rows = 0;
}

/* The rows array (after its "["): each element cut out and added to the batch. */
static void
import_rows(JsonReader *rd)
{
	js_skip_ws(rd);
	if (js_peek(rd) == ']')
	{
		js_get(rd);
		return;
	}
	for (;;)
	{
		int			c;

		js_skip_ws(rd);
		if (imp.batch_rows == 0)
		{
			char		head[64];

			imp.batch.len = 0;
			snprintf(head, sizeof(head), "{\"offset\": %lld, \"rows\": [", imp.rows);
			for (char *h = head; *h; h++)
				js_buf_add(&imp.batch, *h);
			imp.batch_first = imp.rows + 1;
		}
		else
			js_buf_add(&imp.batch, ',');
		js_copy_value(rd, &imp.batch);
		imp.rows++;
		imp.batch_rows++;
		if (imp.batch_rows >= IMPORT_BATCH_ROWS || imp.batch.len >= IMPORT_BATCH_BYTES)
			flush_batch();
		js_skip_ws(rd);
		c = js_get(rd);
		if (c == ',')
			continue;
		if (c == ']')
			break;
		js_fail(rd, c == EOF ? "unexpected end of file in the rows array" : "expected , or ] after a row");
	}
	flush_batch();
	finish_batch();
}

/*
 * import_document
 *		The top level: the API response object (its "rows" member imported,
 *		the other members skipped) or a bare array of rows.
 */
static void
import_document(JsonReader *rd)
{
	int			c;
	bool		seen_rows = false;

	/* UTF-8 byte order mark */
	if (js_peek(rd) == 0xEF)
	{
		if (js_get(rd) != 0xEF || js_get(rd) != 0xBB || js_get(rd) != 0xBF)
			js_fail(rd, "not JSON");
	}
	js_skip_ws(rd);
	c = js_get(rd);
	if (c == '[')
		import_rows(rd);
	else if (c == '{')
	{
		js_skip_ws(rd);
		if (js_peek(rd) == '}')
			js_get(rd);
		else
			for (;;)
			{
				char		key[32];

				js_skip_ws(rd);
				js_read_key(rd, key, sizeof(key));
				js_skip_ws(rd);
				if (js_get(rd) != ':')
					js_fail(rd, "expected : after a member name");
				js_skip_ws(rd);
				if (strcmp(key, "rows") == 0 && !seen_rows)
				{
					if (js_get(rd) != '[')
						tool_die(EXIT_BAD_INPUT, "%s is not a PowerFlex export: \"rows\" is not an array", opt.import_file);
					import_rows(rd);
					seen_rows = true;
				}
				else
					js_copy_value(rd, NULL);
				js_skip_ws(rd);
				c = js_get(rd);
				if (c == '}')
					break;
				if (c != ',')
					js_fail(rd, c == EOF ? "unexpected end of file" : "expected , or } after a member");
			}
		if (!seen_rows)
			tool_die(EXIT_BAD_INPUT, "%s is not a PowerFlex export: the top-level object has no \"rows\" array", opt.import_file);
	}
	else if (c == EOF)
		tool_die(EXIT_BAD_INPUT, "%s is empty", opt.import_file);
	else
		tool_die(EXIT_BAD_INPUT, "%s is not a PowerFlex export: expected a JSON object with \"rows\" or an array of rows", opt.import_file);
	js_skip_ws(rd);
	if (js_peek(rd) != EOF)
		js_fail(rd, "unexpected data after the end of the JSON document");
}

/*
 * import_into
 *		Opens the file (- for stdin), imports it in one transaction and
 *		fills result. connect: open the connection (after the file, so a
 *		missing file is reported first); else conn is already open (--file).
 */
void
import_into(ImportResult *result, bool connect)
{
	JsonReader *rd = &imp.rd;
	struct stat st;
	char	   *started;

	rd->name = opt.import_file;
	if (strcmp(opt.import_file, "-") == 0)
		rd->f = stdin;
	else if ((rd->f = fopen(opt.import_file, "rb")) == NULL)
		tool_die(errno == ENOENT ? EXIT_NOT_FOUND : EXIT_BAD_INPUT, "cannot open %s: %s",
				 opt.import_file, strerror(errno));
	rd->size = (fstat(fileno(rd->f), &st) == 0 && S_ISREG(st.st_mode)) ? (long long) st.st_size : -1;
	rd->line = 1;
	imp.progress = isatty(fileno(stderr)) && !opt.debug;

	if (connect)
		connect_db();
	PQsetNoticeReceiver(conn, notice_receiver, NULL);
	PQclear(query("BEGIN", 0, NULL, NULL));
	started = query_value("SELECT pg_catalog.now()::text", 0, NULL, NULL);

	import_document(rd);

	PQclear(query("COMMIT", 0, NULL, NULL));
	progress(true);
	if (rd->f != stdin)
		fclose(rd->f);

	*result = (ImportResult) {imp.rows, imp.imported, imp.updated, imp.skipped, started};
}

/* import powerflex FILE: the import, then its totals. */
int
run_import(void)
{
	ImportResult result;

	import_into(&result, true);
	print_import_result(&result);
	return EXIT_OK;
}

/*
 * import_for_report
 *		--file: the file imported on the open connection, silently (the
 *		report follows). --site selects in the report; the rows keep the
 *		site they carry.
 */
void
import_for_report(void)
{
	ImportResult r;
	const char *site = opt.site;

	opt.site = NULL;
	opt.import_file = opt.file;
	import_into(&r, false);
	opt.site = site;
	debug("Imported %s: %lld rows, %lld new, %lld skipped", opt.file, r.rows, r.imported, r.skipped);
}
