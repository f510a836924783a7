/*
 * session_listen.c
 *		session-listen: prints session start/stop events as JSON lines, live
 *		and without gaps.
 *
 * LISTENs on the channels of the chosen events and namespace; a notification
 * only wakes it. Every line printed comes from sessions.events_since(), read
 * from the last seq printed, so the output is in seq order and holds each
 * event once, across lost connections (reconnect with backoff, then catch
 * up) and, with --state FILE, across restarts.
 */
#include "tool_common.h"

#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

const char *tool_name = "session-listen";

#define PAGE_ROWS "1000"
#define PAGE_ROWS_N 1000

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
static long long cursor_seq = -1;	/* last seq printed (or skipped as caught up) */
static long long announced = 0;	/* highest seq a notification mentioned */
static long long printed = 0;
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
		   "      --poll=SECONDS      catch up at least this often when idle (default 10)\n"
		   "      --count=N           exit after N events\n"
		   "  -h, --help              this help\n"
		   "  -V, --version           version\n",
		   tool_name, tool_name);
}

/*
 * parse_int
 *		A non-negative decimal number for flag name; dies with EXIT_USAGE.
 */
static long long
parse_int(const char *name, const char *s)
{
	char	   *end;
	long long	v;

	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v < 0)
		tool_die(EXIT_USAGE, "--%s must be a non-negative integer, got \"%s\"", name, s);
	return v;
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
 *		Prints every event after cursor_seq that events_since returns, page by
 *		page. With with_head, also reads events_head() in the same statement
 *		and, when a page is not full, moves the position up to it (nothing at
 *		or below it can still appear): that keeps a filtered listener's scans
 *		short and gets past events its role cannot read. Returns false when
 *		the connection is gone.
 */
static bool
catch_up(bool with_head)
{
	for (;;)
	{
		char		after[32];
		const char *params[3];
		PGresult   *res;
		int			n,
					rows = 0;
		long long	head = 0;

		snprintf(after, sizeof(after), "%lld", cursor_seq);
		params[0] = after;
		params[1] = namespace;
		params[2] = PAGE_ROWS;
		res = PQexecParams(conn, with_head ?
						   "SELECT h.head, e.seq, e.event, sessions.event_payload(e) "
						   "FROM sessions.events_head() AS h(head) "
						   "LEFT JOIN LATERAL sessions.events_since($1::bigint, $2::text, $3::int) AS e ON true "
						   "ORDER BY e.seq" :
						   "SELECT 0, e.seq, e.event, sessions.event_payload(e) "
						   "FROM sessions.events_since($1::bigint, $2::text, $3::int) AS e "
						   "ORDER BY e.seq",
						   3, NULL, params, NULL, NULL, 0);
		if (!result_ok(res, PGRES_TUPLES_OK))
			return false;
		n = PQntuples(res);
		for (int i = 0; i < n; i++)
		{
			long long	seq;
			const char *ev;

			head = strtoll(PQgetvalue(res, i, 0), NULL, 10);
			if (PQgetisnull(res, i, 1))
				continue;
			rows++;
			seq = strtoll(PQgetvalue(res, i, 1), NULL, 10);
			ev = PQgetvalue(res, i, 2);
			if ((want[0] && strcmp(ev, "start") == 0) || (want[1] && strcmp(ev, "stop") == 0) ||
				(want[2] && strcmp(ev, "update") == 0))
				emit(PQgetvalue(res, i, 3), seq);
			else
				cursor_seq = seq;
			if ((max_events >= 0 && printed >= max_events) || stop_requested)
				finish();
		}
		PQclear(res);
		if (rows < PAGE_ROWS_N && head > cursor_seq)
			cursor_seq = head;
		fflush(stdout);
		save_state();
		if (rows < PAGE_ROWS_N)
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
 *		committed in between is missed.
 */
static bool
session_setup(void)
{
	if (!listen_channels())
		return false;
	if (cursor_seq < 0 && !start_position())
		return false;
	return catch_up(true);
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
		if (PQstatus(conn) == CONNECTION_OK && session_setup())
		{
			fprintf(stderr, "%s: reconnected, resumed after seq %lld\n", tool_name, cursor_seq);
			return;
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
		{"help", no_argument, NULL, 'h'},
		{"version", no_argument, NULL, 'V'},
		{NULL, 0, NULL, 0}
	};
	int			c;
	int			wait_ms = 1;

	while ((c = getopt_long(argc, argv, "d:hV", opts, NULL)) != -1)
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
				from_seq = parse_int("from", optarg);
				break;
			case 6:
				exec_cmd = optarg;
				break;
			case 7:
				idle_poll_ms = (int) (parse_int("poll", optarg) * 1000);
				if (idle_poll_ms <= 0)
					tool_die(EXIT_USAGE, "--poll must be at least 1 second");
				break;
			case 8:
				max_events = parse_int("count", optarg);
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

	for (;;)
	{
		struct pollfd pfd = {PQsocket(conn), POLLIN, 0};
		int			rc;
		PGnotify   *note;

		/* Announced events not readable yet: an older transaction is open. */
		rc = poll(&pfd, 1, announced > cursor_seq ? wait_ms : idle_poll_ms);
		if (stop_requested)
			finish();
		if (rc < 0 && errno != EINTR)
			tool_die(EXIT_FAILURE_RUN, "poll failed: %s", strerror(errno));
		if (rc > 0 && (!PQconsumeInput(conn) || connection_lost()))
		{
			reconnect();
			continue;
		}
		while ((note = PQnotifies(conn)) != NULL)
		{
			long long	s = payload_seq(note->extra);

			if (s > announced)
				announced = s;
			PQfreemem(note);
		}
		{
			long long	before = cursor_seq;

			/* The exact head only when idle or when waiting got nowhere. */
			if (!catch_up(rc == 0 && (announced <= cursor_seq || wait_ms >= 16)))
			{
				reconnect();
				continue;
			}
			if (cursor_seq > before || announced <= cursor_seq)
				wait_ms = 1;
			else
				wait_ms = wait_ms * 2 > 200 ? 200 : wait_ms * 2;
		}
	}
}
