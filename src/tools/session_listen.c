/*
 * session_listen.c
 *		session-listen: prints session start/stop events as JSON lines, live
 *		and without gaps.
 *
 * LISTENs on the channels of the chosen events and namespace; a notification
 * only wakes it. Every line printed comes from sessions.events_page(), read
 * from the last position, so the output is in seq order and holds each
 * event once, across lost connections (reconnect with backoff, then catch
 * up) and, with --state FILE, across restarts.
 */
#include "tool_common.h"

#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

const char *tool_name = "session-listen";

#define PAGE_ROWS "1000"
#define PAGE_ROWS_N 1000
#define PAGE_STMT "session_listen_page"

static const char *conninfo = NULL;
static char *namespace = NULL;
static bool want[3] = {true, true, false};	/* start, stop, update */
static const char *const event_names[] = {"start", "stop", "update"};
static const char *state_file = NULL;
static const char *exec_cmd = NULL;
static long long from_seq = -1;
static long long max_events = -1;
static int	idle_poll_ms = 10000;

static PGconn *conn = NULL;
static bool page_prepared = false;	/* PAGE_STMT exists on conn */
static long long cursor_seq = -1;	/* position: last row or bound events_page returned */
static long long announced = 0;	/* highest seq a notification mentioned */
static long long printed = 0;
static bool verbose = false;

/*
 * Namespaces whose events this role can read, when row-level security limits
 * it (see_all false): a notification of another namespace on the
 * all-namespaces channel (any role may LISTEN there) is not waited for.
 */
static bool see_all = true;
static char **visible = NULL;
static int	nvisible = 0;
static volatile sig_atomic_t stop_requested = 0;

/*
 * usage
 *		Help text on stdout.
 */
static void
usage(void)
{
	printf("%s prints session start/stop events as JSON lines, in order, each once.\n\n"
		   "Usage: %s [OPTION]...\n\n"
		   "  -d, --dbname=CONNINFO   connection string or URI (default: PG* variables)\n"
		   "      --data-source=NAME  only this data source (any namespace)\n"
		   "      --party=CC-PID      only this OCPI party, e.g. NL-TNM\n"
		   "      --event=LIST        start, stop, update, comma-separated (default start,stop)\n"
		   "      --state=FILE        keep the last printed seq here; resume from it\n"
		   "      --from=SEQ          start after SEQ (default: the state file, else now)\n"
		   "      --exec=CMD          run CMD (sh -c) per event, payload on stdin\n"
		   "      --poll=SECONDS      catch up at least this often when idle, 1..86400 (default 10)\n"
		   "      --count=N           exit after N events\n"
		   "  -v, --verbose           log each catch-up query on stderr\n"
		   "  -h, --help              this help\n"
		   "  -V, --version           version\n",
		   tool_name, tool_name);
}

/*
 * parse_events
 *		The --event list into want[].
 */
static void
parse_events(const char *list)
{
	char	   *copy = strdup(list);
	char	   *save = NULL;

	memset(want, 0, sizeof(want));
	for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save))
	{
		int			i;

		for (i = 0; i < 3; i++)
			if (strcmp(tok, event_names[i]) == 0)
				break;
		if (i == 3)
			tool_die(EXIT_USAGE, "--event takes start, stop or update, got \"%s\"", tok);
		want[i] = true;
	}
	free(copy);
	if (!want[0] && !want[1] && !want[2])
		tool_die(EXIT_USAGE, "--event needs at least one of start, stop, update");
}

/*
 * debug
 *		With --verbose, one line on stderr per query and per decision.
 */
static void
__attribute__((format(printf, 1, 2)))
debug(const char *fmt,...)
{
	va_list		ap;

	if (!verbose)
		return;
	fprintf(stderr, "%s: ", tool_name);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/*
 * now_ms
 *		Monotonic clock in milliseconds, for the poll deadlines.
 */
static long long
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * sleep_ms
 *		Sleeps, ignoring interruptions.
 */
static void
sleep_ms(int ms)
{
	struct timespec ts = {ms / 1000, (long) (ms % 1000) * 1000000L};

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

/*
 * load_state / save_state
 *		The state file holds the last seq printed, one number. It is replaced
 *		atomically (write, rename), so a crash leaves the old or the new value.
 */
static bool
load_state(long long *seq)
{
	FILE	   *f = fopen(state_file, "r");
	long long	v;

	if (f == NULL)
	{
		if (errno == ENOENT)
			return false;
		tool_die(EXIT_FAILURE_RUN, "cannot read state file \"%s\": %s", state_file, strerror(errno));
	}
	switch (fscanf(f, "%lld", &v))
	{
		case EOF:
			/* An empty file (e.g. from mktemp) holds no position yet. */
			fclose(f);
			return false;
		case 1:
			if (v >= 0)
				break;
			/* FALLTHROUGH */
		default:
			tool_die(EXIT_FAILURE_RUN, "state file \"%s\" does not hold a sequence number", state_file);
	}
	fclose(f);
	*seq = v;
	return true;
}

static void
save_state(void)
{
	static long long saved = -1;
	char	   *tmp;
	FILE	   *f;

	if (state_file == NULL || cursor_seq == saved)
		return;
	saved = cursor_seq;
	tmp = malloc(strlen(state_file) + 5);
	sprintf(tmp, "%s.tmp", state_file);
	f = fopen(tmp, "w");
	if (f == NULL || fprintf(f, "%lld\n", cursor_seq) < 0 || fclose(f) != 0 ||
		rename(tmp, state_file) != 0)
		tool_die(EXIT_FAILURE_RUN, "cannot write state file \"%s\": %s", state_file, strerror(errno));
	free(tmp);
}

/*
 * run_exec
 *		Runs --exec with the payload on stdin. A failing command stops the
 *		listener before its position moves, so a restart with --state runs it
 *		again for the same event.
 */
static void
run_exec(const char *payload, long long seq)
{
	FILE	   *p;
	int			status;

	fflush(stdout);
	p = popen(exec_cmd, "w");
	if (p == NULL)
		tool_die(EXIT_FAILURE_RUN, "cannot run --exec command: %s", strerror(errno));
	fputs(payload, p);
	fputc('\n', p);
	status = pclose(p);
	if (status != 0)
		tool_die(EXIT_FAILURE_RUN, "--exec command failed (status %d) for event seq %lld", status, seq);
}

/*
 * finish
 *		Clean exit: complete lines out, then the position they reached.
 */
static void
finish(void)
{
	fflush(stdout);
	save_state();
	exit(EXIT_OK);
}

/*
 * on_signal
 *		SIGINT/SIGTERM: stop after the current event.
 */
static void
on_signal(int sig)
{
	stop_requested = 1;
}

/*
 * emit
 *		One event: the line, the command, the new position. The state file is
 *		written per page (catch_up), or per event when a command runs.
 */
static void
emit(const char *payload, long long seq)
{
	fputs(payload, stdout);
	fputc('\n', stdout);
	cursor_seq = seq;
	printed++;
	if (exec_cmd)
	{
		run_exec(payload, seq);
		save_state();
	}
}

/*
 * connection_lost
 *		True when the last failure was the connection, not the query.
 */
static bool
connection_lost(void)
{
	return PQstatus(conn) != CONNECTION_OK;
}

/*
 * result_ok
 *		True when res has status want. A failure clears res and returns false
 *		when the connection is gone (the caller reconnects); any other failure
 *		is fatal.
 */
static bool
result_ok(PGresult *res, ExecStatusType want)
{
	if (PQresultStatus(res) == want)
		return true;
	if (!connection_lost())
		tool_die(EXIT_FAILURE_RUN, "%s", PQerrorMessage(conn));
	PQclear(res);
	return false;
}

/*
 * catch_up
 *		Prints every event after cursor_seq that events_page returns, page by
 *		page. The position moves to each row's seq and, at the end of a page,
 *		to the page's bound (its last row, ev NULL): the server guarantees
 *		that no event this role could still read lies at or below it (it
 *		stops below any event a still-open transaction may precede), so the
 *		position never passes an event not printed yet, yet moves past other
 *		tenants' events instead of reading them again on every catch-up.
 *		Sets *advanced when the position moved. Returns false when the
 *		connection is gone.
 */
static bool
catch_up(bool *advanced)
{
	*advanced = false;
	for (;;)
	{
		char		after[32];
		const char *params[3];
		PGresult   *res;
		int			n,
					nev = 0;
		long long	from = cursor_seq;

		snprintf(after, sizeof(after), "%lld", cursor_seq);
		params[0] = after;
		params[1] = namespace;
		params[2] = PAGE_ROWS;
		if (!page_prepared)
		{
			/* Parsed and planned once per connection, not on every wake-up. */
			res = PQprepare(conn, PAGE_STMT,
							"SELECT (p.ev).seq, (p.ev).event, "
							"CASE WHEN (p.ev).seq IS NOT NULL THEN sessions.event_payload(p.ev) END, p.through "
							"FROM sessions.events_page($1::bigint, $2::text, $3::int) WITH ORDINALITY AS p(ev, through, i) "
							"ORDER BY p.i",
							3, NULL);
			if (!result_ok(res, PGRES_COMMAND_OK))
				return false;
			PQclear(res);
			page_prepared = true;
		}
		res = PQexecPrepared(conn, PAGE_STMT, 3, params, NULL, NULL, 0);
		if (!result_ok(res, PGRES_TUPLES_OK))
			return false;
		n = PQntuples(res);
		for (int i = 0; i < n; i++)
		{
			long long	through = strtoll(PQgetvalue(res, i, 3), NULL, 10);
			const char *ev = PQgetvalue(res, i, 1);

			if (PQgetisnull(res, i, 0))
			{
				/* The page's bound: never below a row it returned. */
				if (through > cursor_seq)
					cursor_seq = through;
				continue;
			}
			nev++;
			if ((want[0] && strcmp(ev, "start") == 0) || (want[1] && strcmp(ev, "stop") == 0) ||
				(want[2] && strcmp(ev, "update") == 0))
				emit(PQgetvalue(res, i, 2), through);
			else
				cursor_seq = through;	/* returned, so final: an event not asked for */
			if ((max_events >= 0 && printed >= max_events) || stop_requested)
				finish();
		}
		PQclear(res);
		debug("catch-up after seq %lld: %d event(s), position %lld", from, nev, cursor_seq);
		if (cursor_seq != from)
			*advanced = true;
		fflush(stdout);
		save_state();
		if (nev < PAGE_ROWS_N)
			return true;
	}
}

/*
 * payload_seq
 *		The highest seq a notification payload announces ("seq" of one event,
 *		"last_seq" of a range); 0 if it has neither.
 */
static long long
payload_seq(const char *payload)
{
	const char *p = strstr(payload, "\"last_seq\":");

	if (p)
		return strtoll(p + 11, NULL, 10);
	p = strstr(payload, "\"seq\":");
	return p ? strtoll(p + 6, NULL, 10) : 0;
}

/*
 * listen_channels
 *		LISTEN on the channel of each chosen event for the namespace (or all),
 *		names from sessions.channel_for, quoted as identifiers.
 */
static bool
listen_channels(void)
{
	for (int i = 0; i < 3; i++)
	{
		const char *params[2] = {event_names[i], namespace};
		PGresult   *res;
		char	   *ident;
		char	   *sql;

		if (!want[i])
			continue;
		res = PQexecParams(conn, "SELECT sessions.channel_for($1, $2)", 2, NULL, params, NULL, NULL, 0);
		if (!result_ok(res, PGRES_TUPLES_OK))
			return false;
		ident = PQescapeIdentifier(conn, PQgetvalue(res, 0, 0), strlen(PQgetvalue(res, 0, 0)));
		PQclear(res);
		sql = malloc(strlen(ident) + 8);
		sprintf(sql, "LISTEN %s", ident);
		PQfreemem(ident);
		res = PQexec(conn, sql);
		free(sql);
		if (!result_ok(res, PGRES_COMMAND_OK))
			return false;
		PQclear(res);
	}
	return true;
}

/*
 * load_visibility
 *		Whether RLS limits this role's view of the log and, if so, the
 *		namespaces it sees. Any doubt (a query refused) means see_all, which
 *		only costs catch-ups. Returns false when the connection is gone.
 */
static bool
load_visibility(void)
{
	PGresult   *res;

	for (int i = 0; i < nvisible; i++)
		free(visible[i]);
	free(visible);
	visible = NULL;
	nvisible = 0;
	see_all = true;
	if (namespace != NULL)
		return true;			/* the channel is already the namespace's */
	res = PQexec(conn, "SELECT pg_catalog.row_security_active('sessions.event_log'::pg_catalog.regclass)");
	if (PQresultStatus(res) != PGRES_TUPLES_OK || strcmp(PQgetvalue(res, 0, 0), "t") != 0)
	{
		PQclear(res);
		return !connection_lost();
	}
	PQclear(res);
	res = PQexec(conn, "SELECT pg_catalog.unnest(sessions.visible_namespaces())");
	if (PQresultStatus(res) != PGRES_TUPLES_OK)
	{
		PQclear(res);
		return !connection_lost();
	}
	visible = calloc(PQntuples(res) + 1, sizeof(char *));
	for (int i = 0; i < PQntuples(res); i++)
	{
		if (strcmp(PQgetvalue(res, i, 0), "*") == 0)
		{
			PQclear(res);
			return true;
		}
		visible[nvisible++] = strdup(PQgetvalue(res, i, 0));
	}
	PQclear(res);
	see_all = false;
	debug("row-level security: %d namespace(s) visible", nvisible);
	return true;
}

/*
 * note_relevant
 *		False only for a notification that surely names a namespace this
 *		role cannot read: its "namespace" member, plain (no escapes, not
 *		truncated), is none of the visible ones. Ranges (namespace null) and
 *		anything unusual count as relevant.
 */
static bool
note_relevant(const char *payload)
{
	const char *p,
			   *end;

	if (see_all || strstr(payload, "\"truncated\":true") != NULL)
		return true;
	p = strstr(payload, "\"namespace\":\"");
	if (p == NULL)
		return true;
	p += strlen("\"namespace\":\"");
	end = strchr(p, '"');
	if (end == NULL || memchr(p, '\\', end - p) != NULL)
		return true;
	for (int i = 0; i < nvisible; i++)
		if (strlen(visible[i]) == (size_t) (end - p) && memcmp(visible[i], p, end - p) == 0)
			return true;
	return false;
}

/*
 * start_position
 *		Where to begin when neither --from nor a state file says: the current
 *		head, so only events from now on are printed.
 */
static bool
start_position(void)
{
	PGresult   *res = PQexec(conn, "SELECT sessions.events_head()");

	if (!result_ok(res, PGRES_TUPLES_OK))
		return false;
	cursor_seq = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	PQclear(res);
	save_state();
	return true;
}

/*
 * session_setup
 *		After (re)connecting: LISTEN first, then catch up, so nothing
 *		committed in between is missed. The catch-up is repeated until it
 *		brings nothing: events_page may stop early at the first bound it
 *		finds cheaply, and no notification will come for history.
 */
static bool
session_setup(void)
{
	bool		advanced;

	if (!listen_channels() || !load_visibility())
		return false;
	if (cursor_seq < 0 && !start_position())
		return false;
	do
	{
		if (!catch_up(&advanced))
			return false;
	} while (advanced);
	return true;
}

/*
 * reconnect
 *		Reconnects with exponential backoff (0.1 s doubling to 5 s) until the
 *		server answers and the catch-up succeeds.
 */
static void
reconnect(void)
{
	int			delay = 100;

	for (;;)
	{
		if (conn)
			PQfinish(conn);
		fprintf(stderr, "%s: connection lost, reconnecting in %d ms\n", tool_name, delay);
		sleep_ms(delay);
		if (stop_requested)
			finish();
		delay = delay * 2 > 5000 ? 5000 : delay * 2;
		conn = tool_try_connect(conninfo);
		page_prepared = false;
		if (PQstatus(conn) == CONNECTION_OK && session_setup())
		{
			fprintf(stderr, "%s: reconnected, resumed after seq %lld\n", tool_name, cursor_seq);
			return;
		}
	}
}

/*
 * listen_loop
 *		Waits for notifications and catches up. A notification announcing a
 *		seq past the position asks for a catch-up at once. One that brings
 *		nothing (an older writing transaction is still open, or the NOTIFY
 *		was forged: any role may send one) is retried after 1, 2, 4 ... ms,
 *		at most every second, until the wait has lasted a --poll interval;
 *		then the listener gives up on that seq and idles: the catch-up every
 *		--poll seconds delivers whatever was held back. Having given up, it
 *		serves further notifications at most once per --poll interval until
 *		a catch-up moves the position or an interval passes quietly, so a
 *		stream of forged notifications costs about a dozen queries, then one
 *		per --poll interval.
 *
 *		While it waits, a notification of a seq between the position and the
 *		highest one announced (or given up on) is the commit of an older
 *		transaction, usually the one holding the announced events back: it
 *		makes the catch-up due at once, not at the next retry or poll, so no
 *		event whose notification has arrived waits for the back-off once the
 *		transaction before it has ended and said so. Forged notifications
 *		announce seqs at or above the ones already announced, which never
 *		cut a wait short; a forger who counts down pays one NOTIFY per query.
 */
static void
listen_loop(void)
{
	const int	retry_cap = idle_poll_ms < 1000 ? idle_poll_ms : 1000;
	long long	last_check = now_ms();
	long long	stall_since = -1;	/* first fruitless retry of this wait */
	long long	gave_up = 0;	/* the announced seq given up on (penalty) */
	int			backoff_ms = 0;
	bool		pending = false;	/* a notification asks for a catch-up */
	bool		penalty = false;	/* gave up: notifications wait a --poll */
	bool		older = false;	/* an older transaction's commit was heard */

	for (;;)
	{
		struct pollfd pfd = {PQsocket(conn), POLLIN, 0};
		long long	due,
					now;
		int			rc;
		PGnotify   *note;
		bool		was_pending,
					advanced;

		/*
		 * Notifications libpq has already read (during a catch-up query, or
		 * a reconnect's) wait in its queue, where poll() cannot see them:
		 * take in what the socket holds and drain the queue before blocking.
		 */
		if (!PQconsumeInput(conn) || connection_lost())
		{
			reconnect();
			last_check = now_ms();
			pending = penalty = older = false;
			backoff_ms = 0;
			stall_since = -1;
			gave_up = 0;
			continue;
		}
		while ((note = PQnotifies(conn)) != NULL)
		{
			long long	s = payload_seq(note->extra);

			if (!note_relevant(note->extra))
				debug("notification on %s: seq %lld of a namespace this role cannot read", note->relname, s);
			else
			{
				debug("notification on %s announces seq %lld", note->relname, s);
				if (s > cursor_seq && (s < announced || s < gave_up))
				{
					debug("seq %lld is older than the awaited %lld: catching up now", s,
						  announced > gave_up ? announced : gave_up);
					older = true;
				}
				if (s > announced)
					announced = s;
			}
			PQfreemem(note);
		}
		if (older && gave_up > announced)
			announced = gave_up;	/* what was given up on may be readable now */
		if (announced > cursor_seq)
			pending = true;
		if (pending && older)
			due = last_check + 1;	/* at most one query a millisecond */
		else
			due = last_check + (pending ? backoff_ms : idle_poll_ms);
		now = now_ms();
		if (now < due)
		{
			rc = poll(&pfd, 1, (int) (due - now));
			if (stop_requested)
				finish();
			if (rc < 0 && errno != EINTR)
				tool_die(EXIT_FAILURE_RUN, "poll failed: %s", strerror(errno));
			continue;			/* read and drain at the top, then decide */
		}
		was_pending = pending;
		older = false;
		if (!catch_up(&advanced))
		{
			reconnect();
			last_check = now_ms();
			pending = penalty = false;
			backoff_ms = 0;
			stall_since = -1;
			gave_up = 0;
			continue;
		}
		last_check = now_ms();
		if (advanced || !was_pending)
		{
			/* Progress, or a quiet interval: serve notifications at once. */
			backoff_ms = 0;
			stall_since = -1;
			penalty = false;
			if (gave_up <= cursor_seq)
				gave_up = 0;
		}
		else if (!penalty)
		{
			if (stall_since < 0)
				stall_since = last_check;
			backoff_ms = backoff_ms == 0 ? 1 : (backoff_ms * 2 > retry_cap ? retry_cap : backoff_ms * 2);
			if (last_check - stall_since >= idle_poll_ms)
				penalty = true;
		}
		if (announced <= cursor_seq)
			pending = false;
		else if (penalty)
		{
			debug("announced seq %lld not readable; back to idle polling", announced);
			if (announced > gave_up)
				gave_up = announced;
			announced = cursor_seq;
			pending = false;
			backoff_ms = idle_poll_ms;
			stall_since = -1;
		}
	}
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"dbname", required_argument, NULL, 'd'},
		{"data-source", required_argument, NULL, 1},
		{"party", required_argument, NULL, 2},
		{"event", required_argument, NULL, 3},
		{"state", required_argument, NULL, 4},
		{"from", required_argument, NULL, 5},
		{"exec", required_argument, NULL, 6},
		{"poll", required_argument, NULL, 7},
		{"count", required_argument, NULL, 8},
		{"verbose", no_argument, NULL, 'v'},
		{"help", no_argument, NULL, 'h'},
		{"version", no_argument, NULL, 'V'},
		{NULL, 0, NULL, 0}
	};
	int			c;

	while ((c = getopt_long(argc, argv, "d:vhV", opts, NULL)) != -1)
	{
		switch (c)
		{
			case 'd':
				conninfo = optarg;
				break;
			case 1:
			case 2:
				if (namespace)
					tool_die(EXIT_USAGE, "give one of --data-source and --party, once");
				if (optarg[0] == '\0')
					tool_die(EXIT_USAGE, "--%s must not be empty", c == 1 ? "data-source" : "party");
				namespace = strdup(optarg);
				if (c == 2)
				{
					/* OCPI parties are stored as upper(country_code)-upper(party_id). */
					if (strlen(namespace) != 6 || !isalpha((unsigned char) namespace[0]) ||
						!isalpha((unsigned char) namespace[1]) || namespace[2] != '-' ||
						!isalnum((unsigned char) namespace[3]) || !isalnum((unsigned char) namespace[4]) ||
						!isalnum((unsigned char) namespace[5]))
						tool_die(EXIT_USAGE, "--party must look like CC-PID (e.g. NL-TNM), got \"%s\"", optarg);
					for (char *p = namespace; *p; p++)
						*p = toupper((unsigned char) *p);
				}
				break;
			case 3:
				parse_events(optarg);
				break;
			case 4:
				state_file = optarg;
				break;
			case 5:
				from_seq = tool_parse_int("--from", optarg, 0, INT64_MAX);
				break;
			case 6:
				exec_cmd = optarg;
				break;
			case 7:
				idle_poll_ms = (int) tool_parse_int("--poll", optarg, 1, 86400) * 1000;
				break;
			case 8:
				max_events = tool_parse_int("--count", optarg, 0, INT64_MAX);
				break;
			case 'v':
				verbose = true;
				break;
			case 'h':
				usage();
				return EXIT_OK;
			case 'V':
				printf("%s %s\n", tool_name, SA_VERSION);
				return EXIT_OK;
			default:
				fprintf(stderr, "Try \"%s --help\".\n", tool_name);
				return EXIT_USAGE;
		}
	}
	if (optind < argc)
		tool_die(EXIT_USAGE, "unexpected argument \"%s\"", argv[optind]);
	if (max_events == 0)
		return EXIT_OK;
	{
		struct sigaction sa;

		memset(&sa, 0, sizeof(sa));
		sa.sa_handler = on_signal;
		sigaction(SIGINT, &sa, NULL);
		sigaction(SIGTERM, &sa, NULL);
	}

	if (from_seq >= 0)
		cursor_seq = from_seq;
	else if (state_file)
	{
		long long	saved;

		if (load_state(&saved))
			cursor_seq = saved;
	}

	conn = tool_connect_dbname(conninfo);
	tool_require_extension(conn);
	if (!session_setup())
		reconnect();
	listen_loop();
	return EXIT_OK;
}
