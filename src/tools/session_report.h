/*
 * session_report.h
 *		Types and functions shared by the files of session-report.
 *
 * The program is split by concern, as psql is (command.c / describe.c /
 * print.c / help.c), in layers; a file calls only files of lower layers:
 *
 *   4  report_main.c     entry point: dispatch to import, raw dump or report
 *   3  report_args.c     flags, their validation, the help text
 *      report_import.c   import powerflex: batching, progress, one transaction
 *      report_chart.c    the --graph SVG (or PNG) file
 *      report_embedded.c --file: the throwaway cluster (import: report_import.c)
 *   2  report_queries.c  the connection and every statement sent
 *      json_split.c      streaming JSON splitter (json_split.h; import only)
 *   1  report_print.c    text / JSON / CSV writers, --debug lines
 *   0  tool_common.c     shared with session-listen; libpq only
 *
 * No file includes another's .c or calls report_main.c; json_split.c knows
 * nothing of session-report (it includes tool_common.h only).
 *
 * The one datum all of them read is opt: defined in report_args.c, written
 * by report_parse_args and, for the analysis parameters the user left to
 * the server, by resolve_defaults; read-only afterwards.
 */
#ifndef SESSION_REPORT_H
#define SESSION_REPORT_H

#include "tool_common.h"

typedef enum
{
	FMT_TEXT,
	FMT_JSON,
	FMT_CSV
} Format;

typedef struct Options
{
	bool		empty;
	bool		micro;
	bool		user;
	bool		graph;
	bool		printsessions;
	bool		debug;
	bool		advanced;
	bool		include_active;
	bool		anonymize;
	bool		no_color;
	const char *micro_kwh;		/* threshold as given, validated; NULL: the
								 * server's (resolve_defaults) */
	const char *user_email;		/* NULL: every user */
	const char *graph_file;
	bool		graph_png;		/* graph_file ends in .png (else .svg) */
	const char *range_name;
	const char *from;
	const char *to;
	const char *tz;				/* --tz; NULL: PGTZ, TZ, the sites' zone, UTC */
	const char *site;			/* the first --site as given (import: the only one) */
	const char **sites;			/* every --site name, comma lists split (reports) */
	int			nsites;
	const char *sort;
	const char *order;
	const char *limit;			/* NULL: the mode's default */
	const char *page;
	const char *volts;			/* NULL: the server's (resolve_defaults) */
	const char *dbname;
	Format		format;
	/* import powerflex FILE */
	bool		import;
	const char *import_file;
	/* --file FILE: report on FILE in a throwaway cluster (report_embedded.c) */
	const char *file;
} Options;

/* The --empty / --micro session listings of --printsessions. */
typedef struct Listing
{
	const char *class;			/* "empty" or "micro" */
	PGresult   *res;
	char	   *total;
} Listing;

/* Totals of one import run, for the summary line. */
typedef struct ImportResult
{
	long long	rows;			/* rows seen in the file */
	long long	imported;
	long long	updated;
	long long	skipped;
	const char *started;		/* transaction start: the rejects' rejected_at */
} ImportResult;

/* report_args.c */
extern Options opt;
extern bool color;				/* ANSI colours on stdout */
extern void report_parse_args(int argc, char **argv);
extern void debug_args(void);

/* report_import.c */
extern int	run_import(void);
extern void import_into(ImportResult *result, bool connect);
extern void import_for_report(void);

/* report_embedded.c: --file, the throwaway cluster */
extern void embedded_start(void);
extern void embedded_range(void);

/* report_chart.c */
extern void write_chart(void);

/* report_queries.c: the connection, the selection and its statements */
extern PGconn *conn;
extern char *range;				/* tstzrange text of the selection */
extern char *range_from;		/* its bounds, YYYY-MM-DD HH:MI:SS */
extern char *range_to;
extern const char *report_tz;	/* the zone in force (resolve_zone) */
extern const char *report_tz_source;	/* --tz, PGTZ, TZ, site, ... */
extern char *sites_param;		/* text[] literal of the matched sites, NULL: all */
extern char *sites_shown;		/* the matched sites, comma-separated */
extern const char *sort_expr(const char *sort);
extern void die_query(PGresult *res, const char *usage_what) __attribute__((noreturn));
extern PGresult *query(const char *sql, int n, const char *const *params, const char *usage_what);
extern char *query_value(const char *sql, int n, const char *const *params, const char *usage_what);
extern void connect_db(void);
extern void resolve_scope(void);	/* --site and the zone, after a --file import */
extern void resolve_defaults(void);
extern void resolve_range(void);
extern void die_no_data(void) __attribute__((noreturn));
extern const char *include_active_text(void);
extern PGresult *sessions_query(const char *class);
extern char *count_sessions(const char *class);
extern PGresult *report_query(const char *fn);
extern const char *site_label(void);
extern void resolve_user(void);
extern PGresult *users_query(char **n_users);
extern char *chart_svg(const char *title);
extern void begin_report(void);
extern void end_report(void);
extern void figures_path(char **path, char **reason);

/* report_print.c: output only, never a statement */
extern FILE *text_out;
extern void debug(const char *fmt,...) __attribute__((format(printf, 1, 2)));
extern const char *shown(const char *s);
extern const char *field(PGresult *res, int r, const char *name);
extern const char *fig(PGresult *res, int r, const char *name);
extern const char *pct(PGresult *res, int r, const char *name);
extern const char *kwh_label(const char *v);
extern void json_rows(FILE *out, PGresult *res, const char *indent);
extern void json_row(FILE *out, PGresult *res);
extern void json_docs(FILE *out, PGresult *res, const char *indent);
extern void csv_report(FILE *out, PGresult *res);
extern void text_class_block(PGresult *sum, PGresult *daily, bool micro);
extern void text_combined(PGresult *sum, const char *site);
extern void text_users(PGresult *res, const char *n_users);
extern void json_users(PGresult *res);
extern void text_listing(const Listing *l);
extern void print_import_result(const ImportResult *r);

#endif							/* SESSION_REPORT_H */
