/*
 * tool_common.c
 *		Connection, error and output helpers shared by the libpq tools.
 */
#include "tool_common.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/*
 * tool_die
 *		One clear line on stderr, then exit with the class's status.
 */
void
tool_die(int status, const char *fmt,...)
{
	va_list		ap;

	fprintf(stderr, "%s: ", tool_name);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(status);
}

/*
 * tool_require_extension
 *		Refuses to go on in a database where the extension is not installed,
 *		rather than failing later on an unknown function.
 */
void
tool_require_extension(PGconn *conn)
{
	PGresult   *res = PQexec(conn,
							 "SELECT 1 FROM pg_catalog.pg_extension WHERE extname = 'session_analytics'");

	if (PQresultStatus(res) != PGRES_TUPLES_OK)
		tool_die(EXIT_FAILURE_RUN, "%s", PQerrorMessage(conn));
	if (PQntuples(res) == 0)
		tool_die(EXIT_NO_EXTENSION,
				 "the extension session_analytics is not installed in database \"%s\" (run CREATE EXTENSION session_analytics)",
				 PQdb(conn));
	PQclear(res);
}

/*
 * tool_json_string
 *		JSON string literal per RFC 8259: quotes, backslash and control
 *		characters escaped; other bytes (UTF-8) pass through.
 */
void
tool_json_string(FILE *out, const char *s)
{
	const unsigned char *p;

	fputc('"', out);
	for (p = (const unsigned char *) s; *p; p++)
	{
		switch (*p)
		{
			case '"':
				fputs("\\\"", out);
				break;
			case '\\':
				fputs("\\\\", out);
				break;
			case '\n':
				fputs("\\n", out);
				break;
			case '\r':
				fputs("\\r", out);
				break;
			case '\t':
				fputs("\\t", out);
				break;
			default:
				if (*p < 0x20)
					fprintf(out, "\\u%04x", *p);
				else
					fputc(*p, out);
		}
	}
	fputc('"', out);
}

/*
 * tool_use_color
 *		Colour only on a terminal, and never when NO_COLOR is set.
 */
bool
tool_use_color(FILE *out)
{
	const char *nc = getenv("NO_COLOR");

	if (nc != NULL && nc[0] != '\0')
		return false;
	return isatty(fileno(out)) != 0;
}

/*
 * tool_try_connect
 *		One connection attempt to dbname: a bare database name, or a
 *		connection string or URI that libpq expands (NULL: the PG* variables
 *		alone). Does not exit; the caller checks PQstatus.
 */
PGconn *
tool_try_connect(const char *dbname)
{
	const char *keys[] = {"dbname", "fallback_application_name", NULL};
	const char *vals[] = {dbname, tool_name, NULL};

	return dbname ? PQconnectdbParams(keys, vals, 1) : PQconnectdbParams(keys + 1, vals + 1, 1);
}

/*
 * tool_connect_dbname
 *		tool_try_connect, dying with EXIT_CONNECT and libpq's first message
 *		line when the attempt fails.
 */
PGconn *
tool_connect_dbname(const char *dbname)
{
	PGconn	   *conn = tool_try_connect(dbname);
	char	   *msg;

	if (conn != NULL && PQstatus(conn) == CONNECTION_OK)
		return conn;
	msg = strdup(conn ? PQerrorMessage(conn) : "out of memory");
	msg[strcspn(msg, "\n")] = '\0';
	PQfinish(conn);
	tool_die(EXIT_CONNECT, "cannot connect to the database: %s", msg);
}

/*
 * tool_json_field
 *		One result field as JSON, typed by the column's type OID.
 */
void
tool_json_field(FILE *out, const PGresult *res, int r, int i)
{
	const char *v;

	if (PQgetisnull(res, r, i))
	{
		fputs("null", out);
		return;
	}
	v = PQgetvalue(res, r, i);
	switch (PQftype(res, i))
	{
		case 20:				/* int8 */
		case 21:				/* int2 */
		case 23:				/* int4 */
		case 700:				/* float4 */
		case 701:				/* float8 */
		case 1700:				/* numeric */
			if (strchr("0123456789-", v[0]) == NULL || strcmp(v, "-Infinity") == 0)
				fputs("null", out);		/* NaN, Infinity */
			else
				fputs(v, out);
			break;
		case 16:				/* bool */
			fputs(v[0] == 't' ? "true" : "false", out);
			break;
		case 114:				/* json */
		case 3802:				/* jsonb */
			fputs(v, out);
			break;
		default:
			tool_json_string(out, v);
	}
}

/*
 * tool_csv_field
 *		Quotes a field when it holds a comma, quote, CR or LF, doubling quotes.
 */
void
tool_csv_field(FILE *out, const char *s)
{
	if (strpbrk(s, ",\"\r\n") == NULL)
	{
		fputs(s, out);
		return;
	}
	fputc('"', out);
	for (; *s; s++)
	{
		if (*s == '"')
			fputc('"', out);
		fputc(*s, out);
	}
	fputc('"', out);
}

/*
 * tool_csv_result
 *		Header from the column names; NULL is an empty field.
 */
void
tool_csv_result(FILE *out, const PGresult *res)
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
			if (i)
				fputc(',', out);
			if (!PQgetisnull(res, r, i))
				tool_csv_field(out, PQgetvalue(res, r, i));
		}
		fputc('\n', out);
	}
}

/*
 * tool_parse_int
 *		Strict: optional '-' only when min < 0, then digits and nothing else;
 *		strtoll's overflow (ERANGE) and the range are checked, so no value
 *		wraps into another (--poll=4294968 must not become 704 ms).
 */
long long
tool_parse_int(const char *option, const char *s, long long min, long long max)
{
	const char *p = s;
	char	   *end;
	long long	v;

	if (*p == '-' && min < 0)
		p++;
	if (!isdigit((unsigned char) *p))
		goto bad;
	for (; *p; p++)
		if (!isdigit((unsigned char) *p))
			goto bad;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < min || v > max)
		goto bad;
	return v;
bad:
	tool_die(EXIT_USAGE, "invalid %s \"%s\": expected a whole number from %lld to %lld", option, s, min, max);
}

/*
 * tool_parse_number
 *		Plain decimal notation only (digits, one point, an exponent): strtod
 *		would also take hex, "inf" and "nan", which no option means.
 */
double
tool_parse_number(const char *option, const char *s, double min, double max)
{
	const char *p = s;
	char	   *end;
	double		v;
	bool		digits = false;

	if (*p == '+' || *p == '-')
		p++;
	while (isdigit((unsigned char) *p))
		p++, digits = true;
	if (*p == '.')
		for (p++; isdigit((unsigned char) *p); p++)
			digits = true;
	if (digits && (*p == 'e' || *p == 'E'))
	{
		p++;
		if (*p == '+' || *p == '-')
			p++;
		if (!isdigit((unsigned char) *p))
			digits = false;
		while (isdigit((unsigned char) *p))
			p++;
	}
	if (!digits || *p != '\0')
		goto bad;
	errno = 0;
	v = strtod(s, &end);
	if (errno != 0 || *end != '\0' || !(v > min && v <= max))
		goto bad;
	return v;
bad:
	tool_die(EXIT_USAGE, "invalid %s \"%s\": expected a number above %g and at most %g", option, s, min, max);
}

/*
 * tool_is_number
 *		A finite decimal number, all of s (strtod accepts all of it).
 */
bool
tool_is_number(const char *s)
{
	char	   *end;
	double		v;

	if (s == NULL || *s == '\0' || isspace((unsigned char) *s))
		return false;
	errno = 0;
	v = strtod(s, &end);
	return *end == '\0' && errno == 0 && v == v && v < 1e300 && v > -1e300;
}
