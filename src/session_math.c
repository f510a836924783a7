/*
 * session_math.c
 *		Analytics GUCs and the scalar functions: classification, average
 *		power and current, rating, duration text and named date ranges.
 */
#include "postgres.h"

#include <math.h>

#include "common/int.h"
#include "datatype/timestamp.h"
#include "utils/builtins.h"
#include "utils/fmgrprotos.h"
#include "utils/guc.h"
#include "utils/rangetypes.h"
#include "utils/timestamp.h"
#include "utils/typcache.h"
#include "catalog/pg_type.h"

#include "session_analytics.h"
#include "session_stats.h"

double		sa_micro_threshold = 1.0;
double		sa_volts = 208.0;
double		sa_good_amps = 16.0;
double		sa_fair_amps = 8.0;

PG_FUNCTION_INFO_V1(sa_classify);
PG_FUNCTION_INFO_V1(sa_average_power_w);
PG_FUNCTION_INFO_V1(sa_average_current_a);
PG_FUNCTION_INFO_V1(sa_charge_rating);
PG_FUNCTION_INFO_V1(sa_format_duration);
PG_FUNCTION_INFO_V1(sa_date_range);

/*
 * sa_analytics_init
 *		Registers the analytics GUCs; called from _PG_init. They are the
 *		defaults of the scalar functions, the aggregates and the reports.
 */
void
sa_analytics_init(void)
{
	DefineCustomRealVariable(SA_GUC_PREFIX ".micro_threshold",
							 "Energy (kWh) below which a non-empty session is a microsession.",
							 NULL, &sa_micro_threshold, 1.0, 1e-9, 1e9,
							 PGC_USERSET, 0, NULL, NULL, NULL);
	DefineCustomRealVariable(SA_GUC_PREFIX ".volts",
							 "Supply voltage used to turn average power into average current.",
							 NULL, &sa_volts, 208.0, 1.0, 1e6,
							 PGC_USERSET, 0, NULL, NULL, NULL);
	DefineCustomRealVariable(SA_GUC_PREFIX ".good_amps",
							 "Average current (A) from which a session is rated green.",
							 NULL, &sa_good_amps, 16.0, 1e-9, 1e6,
							 PGC_USERSET, 0, NULL, NULL, NULL);
	DefineCustomRealVariable(SA_GUC_PREFIX ".fair_amps",
							 "Average current (A) from which a session is rated orange.",
							 NULL, &sa_fair_amps, 8.0, 1e-9, 1e6,
							 PGC_USERSET, 0, NULL, NULL, NULL);
}

/*
 * check_positive
 *		A threshold, a voltage or a current limit must be finite and > 0.
 */
static void
check_positive(const char *field, float8 v)
{
	if (isnan(v) || isinf(v) || v <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must be a finite number > 0, got %g", field, v)));
}

/*
 * check_amp_limits
 *		The rating limits: both positive, fair_a <= good_a.
 */
static void
check_amp_limits(float8 good_a, float8 fair_a)
{
	check_positive("good_a", good_a);
	check_positive("fair_a", fair_a);
	if (fair_a > good_a)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("fair_a (%g) must not exceed good_a (%g)", fair_a, good_a)));
}

/*
 * sa_out_of_range
 *		The one overflow error of the analytics (22003), naming the field:
 *		the scalar functions, the aggregate, combine, rollup and totals all
 *		raise it rather than wrapping around or returning Infinity.
 */
void
sa_out_of_range(const char *field)
{
	ereport(ERROR,
			(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
			 errmsg("value out of range: %s", field)));
}

/*
 * ss_check_params
 *		Validates the analysis parameters of a summary (and of the scalar
 *		functions): all positive, fair_a <= good_a.
 */
void
ss_check_params(float8 micro_threshold, float8 volts, float8 good_a, float8 fair_a)
{
	check_positive("micro_threshold", micro_threshold);
	check_positive("volts", volts);
	check_amp_limits(good_a, fair_a);
}

/*
 * sa_classify
 *		'empty' (kwh = 0), 'micro' (0 < kwh < threshold), 'normal'.
 */
Datum
sa_classify(PG_FUNCTION_ARGS)
{
	float8		kwh = PG_GETARG_FLOAT8(0);
	float8		thr = PG_GETARG_FLOAT8(1);

	sa_check_kwh(kwh);
	check_positive("micro_threshold", thr);
	if (kwh == 0)
		PG_RETURN_TEXT_P(cstring_to_text("empty"));
	if (kwh < thr)
		PG_RETURN_TEXT_P(cstring_to_text("micro"));
	PG_RETURN_TEXT_P(cstring_to_text("normal"));
}

/*
 * span_us
 *		ended - started in microseconds; false for an infinite end point.
 *		Two valid timestamps can be further apart than int64 microseconds
 *		hold (4714 BC to 294276 AD): that is an error, like in the aggregate.
 */
static bool
span_us(TimestampTz s, TimestampTz e, int64 *out)
{
	if (TIMESTAMP_NOT_FINITE(s) || TIMESTAMP_NOT_FINITE(e))
		return false;
	if (pg_sub_s64_overflow(e, s, out))
		sa_out_of_range("ended_at - started_at");
	return true;
}

/*
 * sa_average_power_w
 *		kWh / hours * 1000; NULL for an open session or a duration <= 0.
 */
Datum
sa_average_power_w(PG_FUNCTION_ARGS)
{
	float8		kwh;
	int64		us;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1) || PG_ARGISNULL(2))
		PG_RETURN_NULL();
	kwh = PG_GETARG_FLOAT8(0);
	sa_check_kwh(kwh);
	if (!span_us(PG_GETARG_TIMESTAMPTZ(1), PG_GETARG_TIMESTAMPTZ(2), &us) || us <= 0)
		PG_RETURN_NULL();
	PG_RETURN_FLOAT8(sa_power_w(kwh, us));
}

/*
 * sa_average_current_a
 *		Average power divided by volts; NULL like average_power_w.
 */
Datum
sa_average_current_a(PG_FUNCTION_ARGS)
{
	float8		kwh;
	float8		volts;
	int64		us;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1) || PG_ARGISNULL(2) || PG_ARGISNULL(3))
		PG_RETURN_NULL();
	kwh = PG_GETARG_FLOAT8(0);
	volts = PG_GETARG_FLOAT8(3);
	sa_check_kwh(kwh);
	check_positive("volts", volts);
	if (!span_us(PG_GETARG_TIMESTAMPTZ(1), PG_GETARG_TIMESTAMPTZ(2), &us) || us <= 0)
		PG_RETURN_NULL();
	PG_RETURN_FLOAT8(sa_current_a(kwh, us, volts));
}

/*
 * sa_charge_rating
 *		'green' (>= good_a), 'orange' (>= fair_a), 'red' (below).
 */
Datum
sa_charge_rating(PG_FUNCTION_ARGS)
{
	float8		amps = PG_GETARG_FLOAT8(0);
	float8		good = PG_GETARG_FLOAT8(1);
	float8		fair = PG_GETARG_FLOAT8(2);

	if (isnan(amps) || amps < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("amps must be a number >= 0, got %g", amps)));
	check_amp_limits(good, fair);
	if (amps >= good)
		PG_RETURN_TEXT_P(cstring_to_text("green"));
	if (amps >= fair)
		PG_RETURN_TEXT_P(cstring_to_text("orange"));
	PG_RETURN_TEXT_P(cstring_to_text("red"));
}

/*
 * sa_format_duration
 *		SESHIS style, one decimal: seconds below a minute ('46.0s'), minutes
 *		below an hour ('12.5m'), hours below a day ('8.5h'), else days
 *		('3.2d'). The unit is chosen on the rounded value, so 59.96 s reads
 *		'1.0m', not '60.0s'. A month counts 30 days; negative spans get '-'.
 */
Datum
sa_format_duration(PG_FUNCTION_ARGS)
{
	Interval   *iv = PG_GETARG_INTERVAL_P(0);
	float8		secs;
	const char *sign = "";
	char		buf[64];

	secs = (float8) iv->time / USECS_PER_SEC +
		((float8) iv->day + (float8) iv->month * DAYS_PER_MONTH) * SECS_PER_DAY;
	if (secs < 0)
	{
		sign = "-";
		secs = -secs;
	}
	if (secs < 59.95)
		snprintf(buf, sizeof(buf), "%s%.1fs", sign, secs);
	else if (secs / 60 < 59.95)
		snprintf(buf, sizeof(buf), "%s%.1fm", sign, secs / 60);
	else if (secs / 3600 < 23.95)
		snprintf(buf, sizeof(buf), "%s%.1fh", sign, secs / 3600);
	else
		snprintf(buf, sizeof(buf), "%s%.1fd", sign, secs / SECS_PER_DAY);
	PG_RETURN_TEXT_P(cstring_to_text(buf));
}

/*
 * local_midnight
 *		The instant local midnight of (local date of at) + shift_days falls,
 *		in zone tz, month-truncated first when month is true.
 */
static TimestampTz
local_midnight(text *tz, TimestampTz at, int shift_days, int shift_months, bool month)
{
	Datum		local;
	Interval	iv;

	local = DirectFunctionCall2(timestamptz_zone, PointerGetDatum(tz), TimestampTzGetDatum(at));
	local = DirectFunctionCall2(timestamp_trunc,
								PointerGetDatum(cstring_to_text(month ? "month" : "day")), local);
	iv.time = 0;
	iv.day = shift_days;
	iv.month = shift_months;
	local = DirectFunctionCall2(timestamp_pl_interval, local, PointerGetDatum(&iv));
	return DatumGetTimestampTz(DirectFunctionCall2(timestamp_zone, PointerGetDatum(tz), local));
}

/*
 * sa_date_range
 *		Named ranges in local time: today, yesterday, last_week (the 7 days
 *		before today), last_month (the 30 days before today), this_month.
 *		Lower bound inclusive, upper exclusive.
 */
Datum
sa_date_range(PG_FUNCTION_ARGS)
{
	char	   *name = text_to_cstring(PG_GETARG_TEXT_PP(0));
	text	   *tz = PG_GETARG_TEXT_PP(1);
	TimestampTz at = PG_GETARG_TIMESTAMPTZ(2);
	TimestampTz lo,
				hi;
	RangeBound	lb,
				ub;
	TypeCacheEntry *typcache;

	if (TIMESTAMP_NOT_FINITE(at))
		ereport(ERROR,
				(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
				 errmsg("at must be a finite timestamp")));
	if (strcmp(name, "today") == 0)
	{
		lo = local_midnight(tz, at, 0, 0, false);
		hi = local_midnight(tz, at, 1, 0, false);
	}
	else if (strcmp(name, "yesterday") == 0)
	{
		lo = local_midnight(tz, at, -1, 0, false);
		hi = local_midnight(tz, at, 0, 0, false);
	}
	else if (strcmp(name, "last_week") == 0)
	{
		lo = local_midnight(tz, at, -7, 0, false);
		hi = local_midnight(tz, at, 0, 0, false);
	}
	else if (strcmp(name, "last_month") == 0)
	{
		lo = local_midnight(tz, at, -30, 0, false);
		hi = local_midnight(tz, at, 0, 0, false);
	}
	else if (strcmp(name, "this_month") == 0)
	{
		lo = local_midnight(tz, at, 0, 0, true);
		hi = local_midnight(tz, at, 0, 1, true);
	}
	else
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("unknown date range name \"%s\"", name),
				 errhint("Use today, yesterday, last_week, last_month or this_month.")));

	typcache = lookup_type_cache(TSTZRANGEOID, TYPECACHE_RANGE_INFO);
	lb.val = TimestampTzGetDatum(lo);
	lb.infinite = false;
	lb.inclusive = true;
	lb.lower = true;
	ub.val = TimestampTzGetDatum(hi);
	ub.infinite = false;
	ub.inclusive = false;
	ub.lower = false;
	PG_RETURN_RANGE_P(make_range(typcache, &lb, &ub, false));
}
