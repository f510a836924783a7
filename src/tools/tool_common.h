/*
 * tool_common.h
 *		Helpers shared by the libpq command-line tools.
 */
#ifndef TOOL_COMMON_H
#define TOOL_COMMON_H

#include <stdbool.h>
#include <stdio.h>
#include <libpq-fe.h>

/* Exit statuses shared by the tools; docs/session-report.md lists them. */
#define EXIT_OK			0
#define EXIT_FAILURE_RUN	1	/* a query failed, an unexpected server error */
#define EXIT_USAGE		2	/* bad flag or flag value */
#define EXIT_CONNECT	3	/* server unreachable or authentication failed */
#define EXIT_NO_EXTENSION 4	/* the database lacks the session_analytics extension */
#define EXIT_NOT_FOUND	5	/* the thing asked for does not exist (user, file) */
#define EXIT_NO_DATA	6	/* the range holds no sessions */
#define EXIT_BAD_INPUT	7	/* an input file is not valid JSON or not of the expected shape */

extern const char *tool_name;

/* Prints "tool_name: message" to stderr and exits with status. */
extern void tool_die(int status, const char *fmt,...) __attribute__((format(printf, 2, 3), noreturn));

/* Dies with EXIT_NO_EXTENSION unless the extension is installed. */
extern void tool_require_extension(PGconn *conn);

/* Writes s as a JSON string literal (with quotes) to out. */
extern void tool_json_string(FILE *out, const char *s);

/* True when colour may be used on out (a terminal, NO_COLOR unset). */
extern bool tool_use_color(FILE *out);

/* One attempt to connect to dbname (see below); never exits. */
extern PGconn *tool_try_connect(const char *dbname);

/*
 * Connects to dbname, which may be a database name, a key=value connection
 * string or a URI (NULL: PG* variables only); dies with EXIT_CONNECT.
 */
extern PGconn *tool_connect_dbname(const char *dbname);

/* Writes field i of row r as a JSON value: numbers and booleans bare,
 * json/jsonb verbatim, NULL and non-finite floats as null, else a string. */
extern void tool_json_field(FILE *out, const PGresult *res, int r, int i);

/* Writes s as one CSV field (RFC 4180 quoting when needed). */
extern void tool_csv_field(FILE *out, const char *s);

/* Writes a whole result as CSV: a header line, then one line per row. */
extern void tool_csv_result(FILE *out, const PGresult *res);

/*
 * Parses s as a whole decimal integer in [min, max] for option (e.g.
 * "--poll"); anything else (sign where min >= 0, spaces, trailing text,
 * overflow) dies with EXIT_USAGE naming the option and the range.
 */
extern long long tool_parse_int(const char *option, const char *s, long long min, long long max);

/*
 * Parses s as a finite decimal number (no hex, inf or nan) with
 * min < value <= max; dies with EXIT_USAGE naming the option and the range.
 */
extern double tool_parse_number(const char *option, const char *s, double min, double max);

/*
 * True when s is a whole finite decimal number as strtod reads it (no
 * leading space); never exits. For optional flag values that may be absent.
 */
extern bool tool_is_number(const char *s);

#endif							/* TOOL_COMMON_H */
