/*
 * tool_common.c
 *		Connection, error and output helpers shared by the libpq tools.
 */
#include "tool_common.h"

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
 * tool_connect
 *		Opens a connection from a connection string or URI (or, when NULL, the
 *		PG* environment variables alone).
 */
PGconn *
tool_connect(const char *conninfo)
{
	PGconn	   *conn = PQconnectdb(conninfo ? conninfo : "");
	char	   *msg;
	size_t		len;

	if (PQstatus(conn) == CONNECTION_OK)
		return conn;
	/* libpq's message may span lines; keep the first one. */
	msg = strdup(PQerrorMessage(conn));
	len = strcspn(msg, "\n");
	msg[len] = '\0';
	PQfinish(conn);
	tool_die(EXIT_CONNECT, "cannot connect to the database: %s", msg);
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
 * tool_connect_params
 *		Starts a connection from a connection string or URI (NULL: PG*
 *		variables only) with fallback_application_name set, so the tool is
 *		named in pg_stat_activity unless the user names it. Does not wait for
 *		the result: check PQstatus.
 */
PGconn *
tool_connect_params(const char *conninfo, const char *app_name)
{
	const char *keys[] = {"dbname", "fallback_application_name", NULL};
	const char *values[] = {conninfo, app_name, NULL};

	/* With no conninfo, dbname stays unset and PGDATABASE applies. */
	if (conninfo == NULL)
	{
		keys[0] = "fallback_application_name";
		values[0] = app_name;
		keys[1] = values[1] = NULL;
	}
	return PQconnectdbParams(keys, values, 1);
}
