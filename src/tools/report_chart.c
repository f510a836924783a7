/*
 * report_chart.c
 *		--graph: the chart of the daily empty and micro percentages, drawn by
 *		the server as SVG (sessions.daily_chart_svg) and written to a file:
 *		as it is for FILE.svg, rendered to PNG by librsvg's rsvg-convert for
 *		FILE.png (report_args.c refuses any other name before a query runs).
 *
 * Why rsvg-convert and not librsvg linked in: the program stays a libpq
 * client with no glib/cairo/pango link chain (librsvg2-dev would add dozens
 * of -dev packages to the build), PNG support is optional at run time (only
 * --graph FILE.png needs librsvg2-bin), and the renderer runs in its own
 * process, so a failure there ends no report half-written.
 */
#include "session_report.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

/*
 * write_png
 *		Pipes svg into `rsvg-convert -f png -o file`; on any failure the
 *		half-written file is removed and the run exits 1 saying what to do.
 */
static void
write_png(const char *svg, const char *file)
{
	int			fds[2];
	pid_t		pid;
	int			status;
	size_t		len = strlen(svg);
	size_t		done = 0;
	bool		write_failed = false;
	void		(*old_pipe) (int);

	if (pipe(fds) != 0)
		tool_die(EXIT_FAILURE_RUN, "cannot render %s: %s", file, strerror(errno));
	pid = fork();
	if (pid < 0)
		tool_die(EXIT_FAILURE_RUN, "cannot render %s: %s", file, strerror(errno));
	if (pid == 0)
	{
		char	   *const argv[] = {"rsvg-convert", "-f", "png", "-o", (char *) file, NULL};

		close(fds[1]);
		if (dup2(fds[0], 0) < 0)
			_exit(126);
		close(fds[0]);
		execvp(argv[0], argv);
		_exit(errno == ENOENT ? 127 : 126);
	}
	close(fds[0]);
	/* A renderer that dies early must not kill this process with SIGPIPE. */
	old_pipe = signal(SIGPIPE, SIG_IGN);
	while (done < len)
	{
		ssize_t		n = write(fds[1], svg + done, len - done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
		{
			write_failed = true;
			break;
		}
		done += (size_t) n;
	}
	close(fds[1]);
	signal(SIGPIPE, old_pipe);
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			tool_die(EXIT_FAILURE_RUN, "cannot render %s: %s", file, strerror(errno));
	if (WIFEXITED(status) && WEXITSTATUS(status) == 127)
	{
		unlink(file);
		tool_die(EXIT_FAILURE_RUN, "--graph %s: PNG needs rsvg-convert from librsvg (Debian: apt-get install librsvg2-bin), or give a .svg file", file);
	}
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 || write_failed)
	{
		unlink(file);
		tool_die(EXIT_FAILURE_RUN, "--graph %s: rsvg-convert could not render the chart (exit %d); a .svg file works without it",
				 file, WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
	}
}

/*
 * write_chart
 *		The chart of the report's selection, titled with the threshold and
 *		the site, written to the --graph file; failures exit 1.
 */
void
write_chart(void)
{
	const char *fmt = "Empty and micro (< %s kWh) sessions per day, %s";
	const char *kwh = kwh_label(opt.micro_kwh);
	const char *where = sites_shown ? sites_shown : "all sites";
	/* Sized to fit: a fixed buffer would cut a long site name mid-character. */
	int			len = snprintf(NULL, 0, fmt, kwh, where);
	char	   *title = malloc((size_t) len + 1);
	char	   *svg;
	FILE	   *f;

	if (title == NULL)
		tool_die(EXIT_FAILURE_RUN, "out of memory");
	snprintf(title, (size_t) len + 1, fmt, kwh, where);
	svg = chart_svg(title);
	if (svg == NULL)
		tool_die(EXIT_FAILURE_RUN, "the chart came back empty");
	if (opt.graph_png)
	{
		write_png(svg, opt.graph_file);
		debug("Chart: %zu bytes of SVG rendered to PNG in %s", strlen(svg), opt.graph_file);
	}
	else
	{
		f = fopen(opt.graph_file, "w");
		if (f == NULL || fputs(svg, f) == EOF || fclose(f) != 0)
			tool_die(EXIT_FAILURE_RUN, "cannot write the chart to %s: %s", opt.graph_file, strerror(errno));
		debug("Chart: %zu bytes written to %s", strlen(svg), opt.graph_file);
	}
	free(svg);
	free(title);
}
