/*
 * split_compare.c
 *		Client-side half of `session-report import powerflex`, without a
 *		server: cut a PowerFlex export's rows into the import's batches
 *		({"offset": K, "rows": [...]}, 2000 rows each), either with the
 *		hand-written splitter (src/tools/json_split.c, bytes copied) or with
 *		yajl 2 (parsed, UTF-8 checked, re-generated). Prints rows, batches and
 *		bytes; -o writes the batches to stdout, one per line, to compare them.
 *
 *   cc -O2 -I../../src/tools -I$(pg_config --includedir) split_compare.c \
 *      ../../src/tools/json_split.c ../../src/tools/tool_common.c -lyajl -lpq
 *   ./a.out splitter|yajl FILE [-o]
 *
 * Not part of make bench (it needs libyajl-dev); docs/benchmarks.md quotes it.
 */
#include "json_split.h"
#include "tool_common.h"

#include <stdlib.h>
#include <string.h>
#include <yajl/yajl_gen.h>
#include <yajl/yajl_parse.h>

#define BATCH_ROWS 2000

/* A generator call that must succeed (yajl_gen stops at 128 levels). */
#define G(call) do { if ((call) != yajl_gen_status_ok) \
	tool_die(EXIT_BAD_INPUT, "yajl_gen failed (nesting over 128 levels?)"); } while (0)

const char *tool_name = "split_compare";

static bool dump;
static long long rows, batches, bytes;

/* A finished batch: counted, and printed with -o. */
static void
sink(const char *data, size_t len)
{
	batches++;
	bytes += (long long) len;
	if (dump)
	{
		fwrite(data, 1, len, stdout);
		fputc('\n', stdout);
	}
}

/* ---- the hand-written splitter (as report_import.c uses it) ---- */

/* Cuts the rows array (after "[") into batches. */
static void
split_rows(JsonReader *rd, JsonBuf *b)
{
	int			in_batch = 0;

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
		if (in_batch == 0)
		{
			char		head[64];

			b->len = 0;
			snprintf(head, sizeof(head), "{\"offset\": %lld, \"rows\": [", rows);
			for (char *h = head; *h; h++)
				js_buf_add(b, *h);
		}
		else
			js_buf_add(b, ',');
		js_copy_value(rd, b);
		rows++;
		if (++in_batch >= BATCH_ROWS)
		{
			js_buf_add(b, ']');
			js_buf_add(b, '}');
			sink(b->data, b->len);
			in_batch = 0;
		}
		js_skip_ws(rd);
		c = js_get(rd);
		if (c == ',')
			continue;
		if (c == ']')
			break;
		js_fail(rd, "expected , or ] after a row");
	}
	if (in_batch)
	{
		js_buf_add(b, ']');
		js_buf_add(b, '}');
		sink(b->data, b->len);
	}
}

/* The top level: {"rows": [...], ...} or a bare array. */
static void
run_splitter(FILE *f, const char *name)
{
	static JsonReader rd;
	JsonBuf		b = {0};
	int			c;

	rd.f = f;
	rd.name = name;
	rd.line = 1;
	js_skip_ws(&rd);
	c = js_get(&rd);
	if (c == '[')
		split_rows(&rd, &b);
	else if (c == '{')
		for (;;)
		{
			char		key[32];

			js_skip_ws(&rd);
			js_read_key(&rd, key, sizeof(key));
			js_skip_ws(&rd);
			if (js_get(&rd) != ':')
				js_fail(&rd, "expected :");
			js_skip_ws(&rd);
			if (strcmp(key, "rows") == 0 && js_get(&rd) == '[')
				split_rows(&rd, &b);
			else
				js_copy_value(&rd, NULL);
			js_skip_ws(&rd);
			c = js_get(&rd);
			if (c == '}')
				break;
			if (c != ',')
				js_fail(&rd, "expected , or }");
		}
	else
		js_fail(&rd, "not an export");
	js_skip_ws(&rd);
	if (js_peek(&rd) != EOF)
		js_fail(&rd, "data after the document");
	free(b.data);
}

/* ---- yajl 2: parse, and re-generate each row into the batch ---- */

typedef struct YState
{
	yajl_gen	g;
	int			depth;			/* open containers */
	int			rows_depth;		/* depth of the row values, 0 before "rows" */
	bool		rows_key;		/* the last top-level key was "rows" */
	int			in_batch;		/* rows in the open batch */
	bool		batch_open;
} YState;

/* Starts a batch in the generator when none is open. */
static void
y_open_batch(YState *s)
{
	if (s->batch_open)
		return;
	s->batch_open = true;
	yajl_gen_clear(s->g);
	yajl_gen_reset(s->g, NULL);
	G(yajl_gen_map_open(s->g));
	G(yajl_gen_string(s->g, (const unsigned char *) "offset", 6));
	G(yajl_gen_integer(s->g, rows));
	G(yajl_gen_string(s->g, (const unsigned char *) "rows", 4));
	G(yajl_gen_array_open(s->g));
}

/* Closes and hands on the open batch. */
static void
y_flush(YState *s)
{
	const unsigned char *buf;
	size_t		len;

	if (!s->batch_open)
		return;
	G(yajl_gen_array_close(s->g));
	G(yajl_gen_map_close(s->g));
	yajl_gen_get_buf(s->g, &buf, &len);
	sink((const char *) buf, len);
	s->in_batch = 0;
	s->batch_open = false;
}

/* A value ended at depth: a row when it is an element of the rows array. */
static void
y_value_done(YState *s)
{
	if (s->rows_depth > 0 && s->depth == s->rows_depth)
	{
		rows++;
		if (++s->in_batch >= BATCH_ROWS)
			y_flush(s);
	}
}

/* True when the event belongs to a row (forwarded to the generator). */
static bool
y_in_row(YState *s)
{
	if (s->rows_depth > 0 && s->depth >= s->rows_depth)
	{
		if (s->depth == s->rows_depth)
			y_open_batch(s);
		return true;
	}
	return false;
}

/* yajl callbacks: each event inside a row goes to the generator. */
static int
y_null(void *ctx)
{
	YState	   *s = ctx;

	if (y_in_row(s))
		G(yajl_gen_null(s->g));
	y_value_done(s);
	return 1;
}

/* A boolean. */
static int
y_bool(void *ctx, int v)
{
	YState	   *s = ctx;

	if (y_in_row(s))
		G(yajl_gen_bool(s->g, v));
	y_value_done(s);
	return 1;
}

/* A number, its digits kept as written. */
static int
y_number(void *ctx, const char *v, size_t len)
{
	YState	   *s = ctx;

	if (y_in_row(s))
		G(yajl_gen_number(s->g, v, len));
	y_value_done(s);
	return 1;
}

/* A string (unescaped by yajl, escaped again by yajl_gen). */
static int
y_string(void *ctx, const unsigned char *v, size_t len)
{
	YState	   *s = ctx;

	if (y_in_row(s))
		G(yajl_gen_string(s->g, v, len));
	y_value_done(s);
	return 1;
}

/* A member name: notes the top-level "rows", else forwards it. */
static int
y_key(void *ctx, const unsigned char *v, size_t len)
{
	YState	   *s = ctx;

	if (s->depth == 1 && s->rows_depth == 0)
		s->rows_key = len == 4 && memcmp(v, "rows", 4) == 0;
	else if (s->rows_depth > 0 && s->depth > s->rows_depth)
		G(yajl_gen_string(s->g, v, len));
	return 1;
}

/* An object or array opens; the rows array fixes rows_depth. */
static int
y_open(void *ctx, bool array)
{
	YState	   *s = ctx;

	if (y_in_row(s))
		G(array ? yajl_gen_array_open(s->g) : yajl_gen_map_open(s->g));
	s->depth++;
	if (array && s->rows_depth == 0 && (s->depth == 1 || (s->depth == 2 && s->rows_key)))
		s->rows_depth = s->depth;
	return 1;
}

/* An object opens. */
static int
y_start_map(void *ctx)
{
	return y_open(ctx, false);
}

/* An array opens. */
static int
y_start_array(void *ctx)
{
	return y_open(ctx, true);
}

/* An object or array closes; the rows array's end flushes. */
static int
y_close(void *ctx, bool array)
{
	YState	   *s = ctx;

	if (s->rows_depth > 0 && s->depth == s->rows_depth)
	{
		/* the rows array itself ends */
		y_flush(s);
		s->rows_depth = -1;		/* no second rows array */
		s->depth--;
		return 1;
	}
	s->depth--;
	if (y_in_row(s))
		G(array ? yajl_gen_array_close(s->g) : yajl_gen_map_close(s->g));
	y_value_done(s);
	return 1;
}

/* An object closes. */
static int
y_end_map(void *ctx)
{
	return y_close(ctx, false);
}

/* An array closes. */
static int
y_end_array(void *ctx)
{
	return y_close(ctx, true);
}

static const yajl_callbacks ycb = {
	y_null, y_bool, NULL, NULL, y_number, y_string,
	y_start_map, y_key, y_end_map, y_start_array, y_end_array
};

/* Streams f through yajl in 64 kB chunks; a parse error exits 7. */
static void
run_yajl(FILE *f, const char *name)
{
	static unsigned char buf[1 << 16];
	YState		s = {0};
	yajl_handle h;
	yajl_status st = yajl_status_ok;
	size_t		n;

	s.g = yajl_gen_alloc(NULL);
	h = yajl_alloc(&ycb, NULL, &s);
	while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
		if ((st = yajl_parse(h, buf, n)) != yajl_status_ok)
			break;
	if (st == yajl_status_ok)
		st = yajl_complete_parse(h);
	if (st != yajl_status_ok)
	{
		unsigned char *e = yajl_get_error(h, 0, buf, n);

		tool_die(EXIT_BAD_INPUT, "%s: %s", name, (char *) e);
	}
	yajl_free(h);
	yajl_gen_free(s.g);
}

/* split_compare MODE FILE [-o] */
int
main(int argc, char **argv)
{
	FILE	   *f;

	if (argc < 3)
		tool_die(EXIT_USAGE, "usage: split_compare splitter|yajl FILE [-o]");
	dump = argc > 3 && strcmp(argv[3], "-o") == 0;
	if ((f = fopen(argv[2], "rb")) == NULL)
		tool_die(EXIT_NOT_FOUND, "cannot open %s", argv[2]);
	if (strcmp(argv[1], "splitter") == 0)
		run_splitter(f, argv[2]);
	else if (strcmp(argv[1], "yajl") == 0)
		run_yajl(f, argv[2]);
	else
		tool_die(EXIT_USAGE, "unknown mode %s", argv[1]);
	fprintf(stderr, "%s: %lld rows, %lld batches, %lld bytes\n", argv[1], rows, batches, bytes);
	return 0;
}
