/*
 * analytics/chart_svg.c
 *		sessions.daily_chart_svg: a standalone SVG line chart of the daily
 *		empty and micro percentages of a sessions.session_stats summary.
 *
 * The per-day figures are read through SPI from sessions.days(), so the
 * chart depends only on that function's columns, not on the state's binary
 * layout. The picture: a title, then two panels sharing one dated x axis
 * whose labels thin out with the span (days, weeks, months): empty % on
 * top, micro % below, each with its own percentage scale and grid (micro
 * sessions are often a few percent where empty ones are 60 %: on one
 * shared axis the micro line would lie flat at the bottom), one line with
 * a marker per day in each, and a legend.
 *
 * Dependency rule: the top of the analytics. It reads a summary only
 * through the SQL function sessions.days() and includes no header of this
 * module: nothing of analytics/session_stats.h, the store, the events or the workers.
 */
#include "postgres.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "utils/builtins.h"
#include "utils/date.h"
#include "utils/datetime.h"
#include "utils/lsyscache.h"

PG_FUNCTION_INFO_V1(sa_daily_chart_svg);

/* Canvas and plot area, in SVG user units. */
#define CH_W		960
#define CH_H		640
#define CH_LEFT		72.0
#define CH_RIGHT	(CH_W - 28.0)
#define CH_TOP		64.0		/* the top panel's top */
#define CH_BOTTOM	(CH_H - 104.0)	/* the bottom panel's bottom: the x axis */
#define CH_GAP		40.0		/* between the panels: the lower one's heading */
#define CH_PANEL_H	((CH_BOTTOM - CH_TOP - CH_GAP) / 2)
#define CH_PAD		14.0
#define CH_MAX_TICKS 14

#define COLOR_EMPTY "#1f77b4"
#define COLOR_MICRO "#ff7f0e"

typedef struct ChartDay
{
	DateADT		day;
	bool		has_empty;
	bool		has_micro;
	double		empty_pct;
	double		micro_pct;
	int64		empty;
	int64		micro;
	int64		completed;
} ChartDay;

/* One panel: its vertical extent and its percentage scale. */
typedef struct ChartPanel
{
	bool		micro;			/* the series it draws */
	double		top;			/* y of 100 % of the scale */
	double		bottom;			/* y of 0 % */
	double		ytop;			/* the scale's top, in percent */
	double		ystep;			/* its grid step */
} ChartPanel;

/*
 * xml_escape
 *		Appends s with the five XML specials escaped and the characters XML
 *		1.0 forbids (C0 controls other than tab, newline, CR) dropped.
 */
static void
xml_escape(StringInfo buf, const char *s)
{
	const unsigned char *p;

	for (p = (const unsigned char *) s; *p; p++)
	{
		switch (*p)
		{
			case '&':
				appendStringInfoString(buf, "&amp;");
				break;
			case '<':
				appendStringInfoString(buf, "&lt;");
				break;
			case '>':
				appendStringInfoString(buf, "&gt;");
				break;
			case '"':
				appendStringInfoString(buf, "&quot;");
				break;
			case '\'':
				appendStringInfoString(buf, "&apos;");
				break;
			default:
				if (*p < 0x20 && *p != '\t' && *p != '\n' && *p != '\r')
					continue;
				appendStringInfoChar(buf, (char) *p);
		}
	}
}

/*
 * format_day
 *		"YYYY-MM-DD" (or "YYYY-MM") of a date as PostgreSQL prints dates in
 *		ISO style: years before 1 AD as the BC year with " BC" appended
 *		("0100-01-01 BC"), never a negative year. buf holds at least 24 bytes.
 */
static void
format_day(DateADT d, char *buf, bool month_only)
{
	int			y,
				m,
				dd;
	bool		bc;

	j2date(d + POSTGRES_EPOCH_JDATE, &y, &m, &dd);
	/* j2date counts astronomically: year 0 is 1 BC. */
	bc = y <= 0;
	if (bc)
		y = 1 - y;
	if (month_only)
		snprintf(buf, 24, "%04d-%02d%s", y, m, bc ? " BC" : "");
	else
		snprintf(buf, 24, "%04d-%02d-%02d%s", y, m, dd, bc ? " BC" : "");
}

/*
 * fetch_days
 *		Runs sessions.days($1) on the summary and copies the rows into the
 *		caller's memory context. Returns the number of days.
 */
static int
fetch_days(FunctionCallInfo fcinfo, ChartDay **out)
{
	MemoryContext caller = CurrentMemoryContext;
	Oid			argtype = get_fn_expr_argtype(fcinfo->flinfo, 0);
	Datum		arg = PG_GETARG_DATUM(0);
	int			ret;
	int			n;
	ChartDay   *days;

	if (!OidIsValid(argtype))
		elog(ERROR, "daily_chart_svg: cannot determine the argument type");

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "daily_chart_svg: SPI_connect failed");
	ret = SPI_execute_with_args("SELECT day, empty_pct, micro_pct, empty, micro, completed "
								"FROM sessions.days($1) ORDER BY day",
								1, &argtype, &arg, NULL, true, 0);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "daily_chart_svg: sessions.days failed: %s", SPI_result_code_string(ret));

	n = (int) SPI_processed;
	days = MemoryContextAllocZero(caller, sizeof(ChartDay) * Max(n, 1));
	for (int i = 0; i < n; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		isnull;
		Datum		v;

		v = SPI_getbinval(tup, desc, 1, &isnull);
		if (isnull)
			ereport(ERROR,
					(errcode(ERRCODE_DATA_EXCEPTION),
					 errmsg("daily_chart_svg: sessions.days returned a NULL day")));
		days[i].day = DatumGetDateADT(v);
		v = SPI_getbinval(tup, desc, 2, &isnull);
		days[i].has_empty = !isnull && !isnan(DatumGetFloat8(v));
		days[i].empty_pct = days[i].has_empty ? DatumGetFloat8(v) : 0;
		v = SPI_getbinval(tup, desc, 3, &isnull);
		days[i].has_micro = !isnull && !isnan(DatumGetFloat8(v));
		days[i].micro_pct = days[i].has_micro ? DatumGetFloat8(v) : 0;
		v = SPI_getbinval(tup, desc, 4, &isnull);
		days[i].empty = isnull ? 0 : DatumGetInt64(v);
		v = SPI_getbinval(tup, desc, 5, &isnull);
		days[i].micro = isnull ? 0 : DatumGetInt64(v);
		v = SPI_getbinval(tup, desc, 6, &isnull);
		days[i].completed = isnull ? 0 : DatumGetInt64(v);
		if (DATE_NOT_FINITE(days[i].day))
			ereport(ERROR,
					(errcode(ERRCODE_DATA_EXCEPTION),
					 errmsg("daily_chart_svg: sessions.days returned an infinite day")));
	}
	SPI_finish();
	*out = days;
	return n;
}

/*
 * y_scale
 *		A round top for the percentage axis and its grid step: the smallest
 *		step of 1, 2, 5, 10 or 20 giving at most 8 intervals; at most 100.
 */
static void
y_scale(double maxval, double *top, double *step)
{
	static const double steps[] = {1, 2, 5, 10, 20};
	double		m = Max(maxval, 1.0);

	for (int i = 0; i < (int) lengthof(steps); i++)
	{
		*step = steps[i];
		*top = ceil(m / steps[i] - 1e-9) * steps[i];
		if (*top / *step <= 8)
			break;
	}
	if (*top > 100)
		*top = 100;
}

static double
x_of(DateADT d, DateADT first, DateADT last)
{
	if (last == first)
		return (CH_LEFT + CH_RIGHT) / 2;
	return CH_LEFT + CH_PAD +
		(double) (d - first) / (double) (last - first) * (CH_RIGHT - CH_LEFT - 2 * CH_PAD);
}

/* The y of pct in panel p. */
static double
y_of(double pct, const ChartPanel *p)
{
	return p->bottom - pct / p->ytop * (p->bottom - p->top);
}

/* One x tick: a vertical grid line in each panel and a label below both. */
static void
x_tick(StringInfo svg, double x, const char *label, bool rotate)
{
	appendStringInfo(svg, "<line class=\"grid\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>"
					 "<line class=\"grid\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>\n",
					 x, CH_TOP, x, CH_TOP + CH_PANEL_H, x, CH_BOTTOM - CH_PANEL_H, x, CH_BOTTOM);
	if (rotate)
		appendStringInfo(svg, "<text class=\"xlabel\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\" "
						 "transform=\"rotate(-40 %.1f %.1f)\">%s</text>\n",
						 x, CH_BOTTOM + 16, x, CH_BOTTOM + 16, label);
	else
		appendStringInfo(svg, "<text class=\"xlabel\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%s</text>\n",
						 x, CH_BOTTOM + 18, label);
}

/* Floor division: month indexes of BC dates are negative. */
static int
floor_div(int a, int b)
{
	return a / b - (a % b != 0 && (a < 0) != (b < 0));
}

/*
 * x_axis
 *		Date ticks thinned to at most CH_MAX_TICKS for any span the date
 *		type holds: every 1, 2, 7 or 14 days for spans up to 92 days, else
 *		the first of every 1, 2, 3 or 6 months or 1, 2, 5, 10, 20, 50 ...
 *		years, the smallest step that gives at most CH_MAX_TICKS ticks.
 */
static void
x_axis(StringInfo svg, DateADT first, DateADT last)
{
	char		label[24];
	int			span = last - first;

	if (span <= 92)
	{
		static const int dsteps[] = {1, 2, 7, 14, 28};
		int			step = 28;

		for (int i = 0; i < (int) lengthof(dsteps); i++)
			if (span / dsteps[i] + 1 <= CH_MAX_TICKS)
			{
				step = dsteps[i];
				break;
			}
		for (DateADT d = first; d <= last; d += step)
		{
			format_day(d, label, false);
			x_tick(svg, x_of(d, first, last), label, span > 0);
		}
	}
	else
	{
		int			y0,
					m0,
					d0,
					y1,
					m1,
					d1;
		int			mfirst,
					mlast,
					step = 0,
					ticks = 0;

		j2date(first + POSTGRES_EPOCH_JDATE, &y0, &m0, &d0);
		j2date(last + POSTGRES_EPOCH_JDATE, &y1, &m1, &d1);
		/* Months since 0000-01 (1 BC), fits in int for every date. */
		mfirst = y0 * 12 + (m0 - 1) + (d0 > 1 ? 1 : 0);
		mlast = y1 * 12 + (m1 - 1);
		/* 1, 2, 3, 6 months, then 1, 2, 5 times powers of ten years. */
		{
			static const int msteps[] = {1, 2, 3, 6};
			int			years = 1;

			for (int i = 0; i < (int) lengthof(msteps) && step == 0; i++)
				if ((mlast - mfirst) / msteps[i] + 1 <= CH_MAX_TICKS)
					step = msteps[i];
			while (step == 0)
			{
				static const int mult[] = {1, 2, 5};

				for (int i = 0; i < (int) lengthof(mult) && step == 0; i++)
					if ((mlast - mfirst) / (12 * mult[i] * years) + 1 <= CH_MAX_TICKS)
						step = 12 * mult[i] * years;
				years *= 10;	/* 10^7 years * 12 months exceeds no int step needed */
			}
		}
		/* The first multiple of step at or after mfirst, then every step. */
		for (int mi = floor_div(mfirst + step - 1, step) * step; mi <= mlast && ticks < CH_MAX_TICKS;
			 mi += step, ticks++)
		{
			DateADT		d;
			int			yy = floor_div(mi, 12);

			d = date2j(yy, mi - yy * 12 + 1, 1) - POSTGRES_EPOCH_JDATE;
			format_day(d, label, true);
			x_tick(svg, x_of(d, first, last), label, true);
		}
	}
}

/*
 * series
 *		One line (broken where a day has no completed sessions) and one
 *		marker per day with a tooltip.
 */
static void
series(StringInfo svg, ChartDay *days, int n, const ChartPanel *p)
{
	bool		micro = p->micro;
	const char *cls = micro ? "micro" : "empty";
	const char *color = micro ? COLOR_MICRO : COLOR_EMPTY;
	double		r = n <= 60 ? 3.5 : (n <= 200 ? 2.5 : 1.5);
	double		w = n <= 200 ? 2.0 : (n <= 500 ? 1.2 : 0.8);
	bool		pen = false;
	char		label[24];

	appendStringInfo(svg, "<path class=\"line-%s\" fill=\"none\" stroke=\"%s\" stroke-width=\"%.1f\" "
					 "stroke-linejoin=\"round\" d=\"", cls, color, w);
	for (int i = 0; i < n; i++)
	{
		bool		has = micro ? days[i].has_micro : days[i].has_empty;
		double		v = micro ? days[i].micro_pct : days[i].empty_pct;

		if (!has)
		{
			pen = false;
			continue;
		}
		appendStringInfo(svg, "%s%.1f %.1f ", pen ? "L" : "M",
						 x_of(days[i].day, days[0].day, days[n - 1].day), y_of(v, p));
		pen = true;
	}
	appendStringInfoString(svg, "\"/>\n");

	appendStringInfo(svg, "<g fill=\"%s\" stroke=\"#ffffff\" stroke-width=\"%.1f\">\n", color, r > 2 ? 1.0 : 0.4);
	for (int i = 0; i < n; i++)
	{
		bool		has = micro ? days[i].has_micro : days[i].has_empty;
		double		v = micro ? days[i].micro_pct : days[i].empty_pct;

		if (!has)
			continue;
		format_day(days[i].day, label, false);
		appendStringInfo(svg, "<circle class=\"%s\" cx=\"%.1f\" cy=\"%.1f\" r=\"%.1f\">"
						 "<title>%s: %.1f%% %s (" INT64_FORMAT " of " INT64_FORMAT ")</title></circle>\n",
						 cls, x_of(days[i].day, days[0].day, days[n - 1].day), y_of(v, p), r,
						 label, v, cls, micro ? days[i].micro : days[i].empty, days[i].completed);
	}
	appendStringInfoString(svg, "</g>\n");
}

/*
 * panel_frame
 *		A panel's heading, y grid with labels, y axis title and axis lines,
 *		in a group of class panel-empty / panel-micro.
 */
static void
panel_frame(StringInfo svg, const ChartPanel *p)
{
	const char *cls = p->micro ? "micro" : "empty";
	double		mid = (p->top + p->bottom) / 2;

	appendStringInfo(svg, "<g class=\"panel-%s\">\n<text class=\"panel\" x=\"%.1f\" y=\"%.1f\">%s sessions (%% of completed)</text>\n",
					 cls, CH_LEFT, p->top - 8, p->micro ? "Micro" : "Empty");
	for (double v = 0; v <= p->ytop + 1e-9; v += p->ystep)
		appendStringInfo(svg,
						 "<line class=\"grid\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>"
						 "<text class=\"ylabel\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">%g%%</text>\n",
						 CH_LEFT, y_of(v, p), CH_RIGHT, y_of(v, p), CH_LEFT - 6, y_of(v, p) + 4, v);
	appendStringInfo(svg,
					 "<text class=\"ylabel\" x=\"18\" y=\"%.1f\" text-anchor=\"middle\" "
					 "transform=\"rotate(-90 18 %.1f)\">%s (%%)</text>\n",
					 mid, mid, p->micro ? "Micro" : "Empty");
	appendStringInfo(svg,
					 "<line class=\"axis\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>"
					 "<line class=\"axis\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>\n</g>\n",
					 CH_LEFT, p->bottom, CH_RIGHT, p->bottom, CH_LEFT, p->top, CH_LEFT, p->bottom);
}

/* Legend below the axis: a line with a marker and a name per series. */
static void
legend(StringInfo svg)
{
	double		y = CH_H - 22;
	double		x = CH_W / 2.0 - 240;

	for (int i = 0; i < 2; i++)
	{
		const char *color = i ? COLOR_MICRO : COLOR_EMPTY;
		const char *name = i ? "Micro sessions (% of completed)" : "Empty sessions (% of completed)";
		double		lx = x + i * 260;

		appendStringInfo(svg, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" stroke-width=\"2\"/>"
						 "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3.5\" fill=\"%s\"/>"
						 "<text class=\"legend\" x=\"%.1f\" y=\"%.1f\">%s</text>\n",
						 lx, y, lx + 24, y, color, lx + 12, y, color, lx + 30, y + 4, name);
	}
}

/*
 * sa_daily_chart_svg
 *		daily_chart_svg(stats session_stats, title text DEFAULT NULL) -> text.
 *		NULL stats give NULL; a summary without days gives a chart saying so.
 */
Datum
sa_daily_chart_svg(PG_FUNCTION_ARGS)
{
	ChartDay   *days;
	int			n;
	double		max_empty = 0,
				max_micro = 0;
	ChartPanel	panels[2] = {
		{false, CH_TOP, CH_TOP + CH_PANEL_H, 0, 0},
		{true, CH_BOTTOM - CH_PANEL_H, CH_BOTTOM, 0, 0}
	};
	StringInfoData svg;
	char		first[24],
				last[24];

	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	n = fetch_days(fcinfo, &days);

	for (int i = 0; i < n; i++)
	{
		if (days[i].has_empty)
			max_empty = Max(max_empty, days[i].empty_pct);
		if (days[i].has_micro)
			max_micro = Max(max_micro, days[i].micro_pct);
	}
	/* Each panel its own scale, so a few percent still fill the panel. */
	y_scale(max_empty, &panels[0].ytop, &panels[0].ystep);
	y_scale(max_micro, &panels[1].ytop, &panels[1].ystep);

	initStringInfo(&svg);
	appendStringInfo(&svg,
					 "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"no\"?>\n"
					 "<svg xmlns=\"http://www.w3.org/2000/svg\" version=\"1.1\" width=\"%d\" height=\"%d\" "
					 "viewBox=\"0 0 %d %d\" font-family=\"DejaVu Sans, Helvetica, Arial, sans-serif\">\n"
					 "<style>.grid{stroke:#e0e0e0;stroke-width:1}.axis{stroke:#333333;stroke-width:1}"
					 ".xlabel,.ylabel{font-size:11px;fill:#333333}.legend{font-size:12px;fill:#333333}"
					 ".title{font-size:17px;font-weight:bold;fill:#222222}.note{font-size:14px;fill:#777777}"
					 ".panel{font-size:13px;font-weight:bold;fill:#333333}</style>\n"
					 "<rect width=\"100%%\" height=\"100%%\" fill=\"#ffffff\"/>\n",
					 CH_W, CH_H, CH_W, CH_H);

	/* Title: the caller's, escaped, else one naming the range. */
	appendStringInfo(&svg, "<text class=\"title\" x=\"%.1f\" y=\"32\" text-anchor=\"middle\">", CH_W / 2.0);
	if (!PG_ARGISNULL(1))
		xml_escape(&svg, text_to_cstring(PG_GETARG_TEXT_PP(1)));
	else if (n > 0)
	{
		format_day(days[0].day, first, false);
		format_day(days[n - 1].day, last, false);
		if (n == 1)
			appendStringInfo(&svg, "Empty and micro sessions, %s", first);
		else
			appendStringInfo(&svg, "Daily empty and micro sessions, %s to %s", first, last);
	}
	else
		appendStringInfoString(&svg, "Daily empty and micro sessions");
	appendStringInfoString(&svg, "</text>\n");

	panel_frame(&svg, &panels[0]);
	panel_frame(&svg, &panels[1]);

	if (n > 0)
		x_axis(&svg, days[0].day, days[n - 1].day);
	else
		appendStringInfo(&svg, "<text class=\"note\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">No sessions in this range</text>\n",
						 (CH_LEFT + CH_RIGHT) / 2, (CH_TOP + CH_BOTTOM) / 2);

	if (n > 0)
	{
		series(&svg, days, n, &panels[0]);
		series(&svg, days, n, &panels[1]);
	}
	legend(&svg);
	appendStringInfoString(&svg, "</svg>\n");

	PG_RETURN_TEXT_P(cstring_to_text_with_len(svg.data, svg.len));
}
