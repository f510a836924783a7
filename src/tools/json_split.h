/*
 * json_split.h
 *		A streaming splitter that cuts whole JSON values out of a file
 *		without parsing them.
 *
 * Contract:
 * - It follows the structure only: brackets outside strings and string
 *   escapes. A value is copied byte for byte (numbers, escapes and UTF-8
 *   untouched); it is not validated. The consumer (here the server's jsonb
 *   input) must parse every value cut and reject what is not JSON.
 * - Memory is bounded by one value: at most JS_MAX_VALUE bytes and
 *   JS_MAX_DEPTH levels of nesting, plus the 64 kB read buffer.
 * - Every error (truncated input, a missing value, unbalanced brackets, a
 *   value too large or too deep, a read error) ends the program with
 *   EXIT_BAD_INPUT and "NAME: line N: WHAT; nothing imported": the caller
 *   must hold its work in one transaction that an exit rolls back.
 * - Depends on tool_common only (tool_die).
 */
#ifndef JSON_SPLIT_H
#define JSON_SPLIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#define JS_MAX_VALUE	(64 * 1024 * 1024)	/* bytes of one value */
#define JS_MAX_DEPTH	64				/* nesting of one value */

/* A growing byte buffer; data is NUL-terminable (one spare byte). */
typedef struct JsonBuf
{
	char	   *data;
	size_t		len;
	size_t		cap;
} JsonBuf;

/* The input stream and where it stands. */
typedef struct JsonReader
{
	FILE	   *f;
	const char *name;			/* for messages */
	unsigned char buf[1 << 16];
	size_t		len;
	size_t		pos;
	long long	consumed;		/* bytes before buf */
	long long	size;			/* file size, -1 unknown */
	long long	line;
} JsonReader;

extern void js_buf_grow(JsonBuf *b);
extern int	js_fill(JsonReader *rd);
extern void js_fail(JsonReader *rd, const char *what) __attribute__((noreturn));
extern void js_skip_ws(JsonReader *rd);
extern void js_copy_value(JsonReader *rd, JsonBuf *out);
extern void js_read_key(JsonReader *rd, char *key, size_t size);

/* Appends c (called per byte: the growth is out of line). */
static inline void
js_buf_add(JsonBuf *b, char c)
{
	if (b->len + 2 > b->cap)
		js_buf_grow(b);
	b->data[b->len++] = c;
}

/* Bytes read so far (for progress). */
static inline long long
js_offset(const JsonReader *rd)
{
	return rd->consumed + (long long) rd->pos;
}

/* The next byte without taking it, EOF at the end. */
static inline int
js_peek(JsonReader *rd)
{
	return js_fill(rd) ? rd->buf[rd->pos] : EOF;
}

/* The next byte, EOF at the end; counts lines. */
static inline int
js_get(JsonReader *rd)
{
	int			c;

	if (!js_fill(rd))
		return EOF;
	c = rd->buf[rd->pos++];
	if (c == '\n')
		rd->line++;
	return c;
}

#endif							/* JSON_SPLIT_H */
