/*
 * json_split.c
 *		Cuts whole JSON values out of a stream, following only brackets and
 *		strings; json_split.h states the contract.
 */
#include "json_split.h"
#include "tool_common.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* Doubles the buffer (64 kB first); js_buf_add keeps a spare byte for a NUL. */
void
js_buf_grow(JsonBuf *b)
{
	b->cap = b->cap ? b->cap * 2 : 65536;
	b->data = realloc(b->data, b->cap);
	if (b->data == NULL)
		tool_die(EXIT_FAILURE_RUN, "out of memory");
}

/* Refills the read buffer when it is used up; 0 at the end of the input. */
int
js_fill(JsonReader *rd)
{
	if (rd->pos < rd->len)
		return 1;
	rd->consumed += rd->len;
	rd->len = fread(rd->buf, 1, sizeof(rd->buf), rd->f);
	rd->pos = 0;
	if (rd->len == 0 && ferror(rd->f))
		tool_die(EXIT_BAD_INPUT, "cannot read %s: %s", rd->name, strerror(errno));
	return rd->len > 0;
}

/* A syntax error at the current line: fatal, nothing is kept. */
void
js_fail(JsonReader *rd, const char *what)
{
	tool_die(EXIT_BAD_INPUT, "%s: line %lld: %s; nothing imported", rd->name, rd->line, what);
}

/* Skips JSON white space (RFC 8259: space, tab, LF, CR). */
void
js_skip_ws(JsonReader *rd)
{
	int			c;

	while ((c = js_peek(rd)) == ' ' || c == '\t' || c == '\n' || c == '\r')
		js_get(rd);
}

/*
 * js_copy_value
 *		Cuts one JSON value from the stream into out (NULL: discards it).
 *		Only the structure is followed: brackets outside strings, string
 *		escapes. The server parses the text and rejects invalid JSON.
 */
void
js_copy_value(JsonReader *rd, JsonBuf *out)
{
	int			c = js_peek(rd);
	long		depth = 0;
	size_t		start = out ? out->len : 0;
	bool		in_string = false;

	if (c == EOF)
		js_fail(rd, "unexpected end of file");
	if (c == ',' || c == ']' || c == '}' || c == ':')
		js_fail(rd, "a value is missing");
	for (;;)
	{
		c = js_get(rd);
		if (c == EOF)
			js_fail(rd, "unexpected end of file inside a value");
		if (out)
		{
			js_buf_add(out, (char) c);
			if (out->len - start > JS_MAX_VALUE)
				js_fail(rd, "a row is larger than 64 MB");
		}
		if (in_string)
		{
			if (c == '\\')
			{
				c = js_get(rd);
				if (c == EOF)
					js_fail(rd, "unexpected end of file inside a string");
				if (out)
					js_buf_add(out, (char) c);
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
			if (++depth > JS_MAX_DEPTH)
				js_fail(rd, "a row is nested more than 64 levels deep");
		}
		else if (c == '}' || c == ']')
		{
			if (--depth < 0)
				js_fail(rd, "unbalanced brackets");
			if (depth == 0)
				return;
		}
		else if (depth == 0)
		{
			/* a scalar: ends before a delimiter or white space */
			int			n = js_peek(rd);

			if (n == EOF || n == ',' || n == ']' || n == '}' || n == ' ' || n == '\t' || n == '\n' || n == '\r')
				return;
		}
	}
}

/* Key of an object member, quotes stripped (short keys only matter: "rows"). */
void
js_read_key(JsonReader *rd, char *key, size_t size)
{
	JsonBuf		b = {0};

	if (js_peek(rd) != '"')
		js_fail(rd, "expected a member name in double quotes");
	js_copy_value(rd, &b);
	b.data[b.len] = '\0';
	/* strip the quotes; escapes are irrelevant for the names we look for */
	snprintf(key, size, "%.*s", (int) (b.len >= 2 ? b.len - 2 : 0), b.data + 1);
	free(b.data);
}
