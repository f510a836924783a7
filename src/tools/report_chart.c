/*
 * report_chart.c
 *		--graph: the SVG chart of the daily empty and micro percentages,
 *		drawn by the server (sessions.daily_chart_svg), written to a file.
 */
#include "session_report.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

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
	f = fopen(opt.graph_file, "w");
	if (f == NULL || fputs(svg, f) == EOF || fclose(f) != 0)
		tool_die(EXIT_FAILURE_RUN, "cannot write the chart to %s: %s", opt.graph_file, strerror(errno));
	debug("Chart: %zu bytes written to %s", strlen(svg), opt.graph_file);
	free(svg);
	free(title);
}
