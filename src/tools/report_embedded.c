/*
 * report_embedded.c
 *		--file FILE: the report on an export file with no database to set up.
 *		A throwaway cluster is made with PostgreSQL's own initdb and postgres
 *		(from pg_config --bindir) in a private temporary directory, listening
 *		only on a Unix socket there; the extension is created, FILE imported,
 *		and the report then runs as on any database. The server is stopped and
 *		the directory removed on every way out: normal exit, tool_die, and the
 *		signals that end a program (the server also gets SIGQUIT from the
 *		kernel if this process dies without cleaning up: PR_SET_PDEATHSIG).
 *
 * PostgreSQL refuses to run as root: under euid 0 the server runs as the
 * unprivileged "postgres" account (else "nobody"), which owns the directory.
 */
#include "session_report.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef SA_PG_BINDIR
#define SA_PG_BINDIR "/usr/lib/postgresql/15/bin"
#endif

static char dir[PATH_MAX];		/* the private directory, "" when none */
static char bindir[PATH_MAX];
static char conninfo[PATH_MAX + 64];
static volatile sig_atomic_t server_pid;	/* postmaster, 0 when none */
static volatile sig_atomic_t initdb_pid;	/* initdb while it runs, else 0 */
static uid_t run_uid;			/* the server's account */
static gid_t run_gid;
static bool drop_root;
static pid_t owner_pid;			/* this process: forked children never clean up */

/*
 * remove_dir
 *		rm -rf the private directory. Only fork, execve and waitpid: safe in
 *		a signal handler too.
 */
static void
remove_dir(void)
{
	pid_t		pid;

	if (dir[0] == '\0')
		return;
	pid = fork();
	if (pid == 0)
	{
		char	   *const argv[] = {"rm", "-rf", "--", dir, NULL};
		char	   *const envp[] = {NULL};

		execve("/bin/rm", argv, envp);
		_exit(127);
	}
	if (pid > 0)
		while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
			;
	dir[0] = '\0';
}

/*
 * stop_server
 *		Fast shutdown (SIGINT), up to 10 s, then SIGKILL; async-signal-safe.
 *		The cluster is thrown away, so nothing needs a clean checkpoint.
 */
static void
stop_server(void)
{
	pid_t		pid = server_pid;
	struct timespec tick = {0, 50 * 1000 * 1000};

	if (pid <= 0)
		return;
	server_pid = 0;
	kill(pid, SIGINT);
	for (int i = 0; i < 200; i++)
	{
		if (waitpid(pid, NULL, WNOHANG) != 0)
			return;
		nanosleep(&tick, NULL);
	}
	kill(pid, SIGKILL);
	while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
		;
}

/* atexit: the server stopped, the directory gone (only in this process). */
static void
embedded_cleanup(void)
{
	if (getpid() != owner_pid)
		return;
	if (initdb_pid > 0)
		kill(initdb_pid, SIGKILL);	/* its half-made cluster goes with the directory */
	stop_server();
	remove_dir();
}

/* A fatal signal: clean up, then die of it as the caller expects. */
static void
on_signal(int sig)
{
	embedded_cleanup();
	signal(sig, SIG_DFL);
	raise(sig);
}

/*
 * spawn
 *		Starts argv[0] with argv, stdout and stderr to log; as the server
 *		account when this process is root. The child gets SIGQUIT when this
 *		process dies (set after setuid, which would clear it).
 */
static pid_t
spawn(char *const argv[], const char *log)
{
	pid_t		parent = getpid();
	pid_t		pid = fork();

	if (pid < 0)
		tool_die(EXIT_FAILURE_RUN, "--file: cannot start %s: %s", argv[0], strerror(errno));
	if (pid == 0)
	{
		int			fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0600);
		int			null = open("/dev/null", O_RDONLY);

		if (fd < 0 || null < 0 || dup2(null, 0) < 0 || dup2(fd, 1) < 0 || dup2(fd, 2) < 0)
			_exit(126);
		if (drop_root &&
			(setgroups(0, NULL) != 0 || setgid(run_gid) != 0 || setuid(run_uid) != 0))
		{
			dprintf(2, "cannot switch to uid %d: %s\n", (int) run_uid, strerror(errno));
			_exit(126);
		}
		if (prctl(PR_SET_PDEATHSIG, SIGQUIT) != 0 || getppid() != parent)
			_exit(126);
		signal(SIGINT, SIG_DFL);
		signal(SIGTERM, SIG_DFL);
		signal(SIGHUP, SIG_DFL);
		signal(SIGPIPE, SIG_DFL);
		execv(argv[0], argv);
		dprintf(2, "cannot run %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	return pid;
}

/* The last lines of a log, for an error message: at most 400 bytes. */
static const char *
log_tail(const char *path)
{
	static char buf[401];
	FILE	   *f = fopen(path, "r");
	long		size;
	size_t		n;

	buf[0] = '\0';
	if (f == NULL)
		return "(no log)";
	fseek(f, 0, SEEK_END);
	size = ftell(f);
	fseek(f, size > 400 ? size - 400 : 0, SEEK_SET);
	n = fread(buf, 1, 400, f);
	buf[n] = '\0';
	fclose(f);
	for (char *p = buf; *p; p++)
		if (*p == '\n')
			*p = ' ';
	return buf;
}

/*
 * find_bindir
 *		PostgreSQL's programs: `$PG_CONFIG --bindir` (pg_config on PATH by
 *		default), else the directory this program was built against.
 */
static void
find_bindir(void)
{
	const char *pgc = getenv("PG_CONFIG");
	char		cmd[PATH_MAX + 32];
	FILE	   *p;

	snprintf(cmd, sizeof(cmd), "'%s' --bindir 2>/dev/null", pgc && *pgc && !strchr(pgc, '\'') ? pgc : "pg_config");
	bindir[0] = '\0';
	if ((p = popen(cmd, "r")) != NULL)
	{
		if (fgets(bindir, sizeof(bindir), p) == NULL)
			bindir[0] = '\0';
		bindir[strcspn(bindir, "\n")] = '\0';
		if (pclose(p) != 0)
			bindir[0] = '\0';
	}
	if (bindir[0] == '\0')
		snprintf(bindir, sizeof(bindir), "%s", SA_PG_BINDIR);
	snprintf(cmd, sizeof(cmd), "%s/postgres", bindir);
	if (access(cmd, X_OK) != 0)
		tool_die(EXIT_FAILURE_RUN, "--file needs PostgreSQL's server programs: no %s (install postgresql-15, or put its pg_config on PATH or in PG_CONFIG)", cmd);
}

/* Under root: the unprivileged account the server runs as. */
static void
pick_account(void)
{
	struct passwd *pw;

	drop_root = geteuid() == 0;
	if (!drop_root)
		return;
	if ((pw = getpwnam("postgres")) == NULL && (pw = getpwnam("nobody")) == NULL)
		tool_die(EXIT_FAILURE_RUN, "--file as root: PostgreSQL refuses to run as root and there is no \"postgres\" or \"nobody\" account to run it as");
	run_uid = pw->pw_uid;
	run_gid = pw->pw_gid;
	debug("Running as root: the throwaway server runs as %s (uid %d)", pw->pw_name, (int) run_uid);
}

/*
 * embedded_start
 *		Makes and starts the throwaway cluster; points opt.dbname at it.
 */
void
embedded_start(void)
{
	const char *tmp = getenv("TMPDIR");
	char		data[PATH_MAX + 8];
	char		log[PATH_MAX + 16];
	char		prog[PATH_MAX + 16];
	char		sockopt[PATH_MAX + 32];
	int			status;
	pid_t		pid;
	struct sigaction sa;

	find_bindir();
	pick_account();

	owner_pid = getpid();
	atexit(embedded_cleanup);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	sigaction(SIGPIPE, &sa, NULL);

	/*
	 * Root's TMPDIR may be closed to the server account: /tmp then. A quote
	 * or backslash would need escaping in the connection string: /tmp too.
	 */
	if (tmp == NULL || *tmp == '\0' || drop_root || strpbrk(tmp, "'\\") != NULL)
		tmp = "/tmp";
	snprintf(dir, sizeof(dir), "%s/session-report.XXXXXX", tmp);
	if (strlen(dir) > 80)		/* a socket path holds 107 bytes */
		tool_die(EXIT_FAILURE_RUN, "--file: TMPDIR %s is too long for a Unix socket path; set a shorter TMPDIR", tmp);
	if (mkdtemp(dir) == NULL)
	{
		int			e = errno;

		dir[0] = '\0';
		tool_die(EXIT_FAILURE_RUN, "--file: cannot create a temporary directory in %s: %s", tmp, strerror(e));
	}
	if (drop_root && chown(dir, run_uid, run_gid) != 0)
		tool_die(EXIT_FAILURE_RUN, "--file: cannot give %s to uid %d: %s", dir, (int) run_uid, strerror(errno));
	snprintf(data, sizeof(data), "%s/data", dir);
	snprintf(log, sizeof(log), "%s/server.log", dir);
	debug("Throwaway cluster in %s (PostgreSQL from %s)", dir, bindir);

	snprintf(prog, sizeof(prog), "%s/initdb", bindir);
	{
		char	   *const argv[] = {prog, "-D", data, "-U", "postgres", "-A", "trust", "-E", "UTF8",
		"--locale=C.UTF-8", "--no-sync", NULL};

		pid = spawn(argv, log);
		initdb_pid = pid;
		while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
			;
		initdb_pid = 0;
		if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
			tool_die(EXIT_FAILURE_RUN, "--file: initdb failed: %s", log_tail(log));
	}

	snprintf(prog, sizeof(prog), "%s/postgres", bindir);
	snprintf(sockopt, sizeof(sockopt), "unix_socket_directories=%s", dir);
	{
		char	   *const argv[] = {prog, "-D", data, "-c", "listen_addresses=", "-c", sockopt,
			"-c", "port=5432", "-c", "fsync=off", "-c", "synchronous_commit=off",
			"-c", "full_page_writes=off", "-c", "autovacuum=off", "-c", "max_connections=10",
			"-c", "shared_preload_libraries=", "-c", "log_min_messages=warning", NULL};

		server_pid = spawn(argv, log);
	}

	snprintf(conninfo, sizeof(conninfo), "host='%s' port=5432 user=postgres dbname=postgres", dir);
	for (int i = 0;; i++)
	{
		struct timespec tick = {0, 50 * 1000 * 1000};

		if (PQping(conninfo) == PQPING_OK)
			break;
		if (waitpid(server_pid, &status, WNOHANG) != 0)
		{
			server_pid = 0;
			tool_die(EXIT_FAILURE_RUN, "--file: the throwaway server did not start: %s", log_tail(log));
		}
		if (i >= 1200)			/* 60 s */
			tool_die(EXIT_FAILURE_RUN, "--file: the throwaway server did not start within 60 s: %s", log_tail(log));
		nanosleep(&tick, NULL);
	}
	debug("Throwaway server ready (pid %d)", (int) server_pid);

	{
		PGconn	   *c = tool_connect_dbname(conninfo);
		PGresult   *res = PQexec(c, "CREATE EXTENSION session_analytics");

		if (PQresultStatus(res) != PGRES_COMMAND_OK)
			tool_die(EXIT_NO_EXTENSION, "--file: cannot create the extension in the throwaway cluster (is session_analytics installed for the PostgreSQL in %s?): %s",
					 bindir, PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY));
		PQclear(res);
		PQfinish(c);
	}
	opt.dbname = conninfo;
}

/*
 * embedded_range
 *		With no --range or --from, sets --from/--to to the local days the
 *		imported file covers in the report's zone, so a one-off report shows
 *		the whole export.
 */
void
embedded_range(void)
{
	const char *p[1] = {report_tz};
	PGresult   *res;

	if (opt.range_name || opt.from)
		return;
	res = query("SELECT (pg_catalog.min(s.started_at) AT TIME ZONE $1)::date::text,"
				" (pg_catalog.max(s.started_at) AT TIME ZONE $1)::date::text"
				" FROM sessions.report_sessions(NULL, NULL, true) s", 1, p, "--tz");
	if (PQgetisnull(res, 0, 0))
		tool_die(EXIT_NO_DATA, "%s holds no session with a start time", opt.file);
	opt.from = strdup(PQgetvalue(res, 0, 0));
	opt.to = strdup(PQgetvalue(res, 0, 1));
	PQclear(res);
	debug("--file without --range or --from: the days of the file, %s to %s", opt.from, opt.to);
}
