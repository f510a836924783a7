/*
 * analytics/session_math.c
 *		The scalar functions: classification, average power and current,
 *		rating, duration text and named date ranges.
 *
 * Dependency rule: built on analytics/analytics_params.h (parameter checks, kWh check,
 * the power / current formula) and PostgreSQL alone. It knows nothing of the
 * session_stats type (which shares the same base rather than calling this
 * file), nor of the store, the events or the workers.
 */
#include "postgres.h"

#include <math.h>

#include "common/int.h"
#include "datatype/timestamp.h"
#include "utils/builtins.h"
#include "utils/fmgrprotos.h"
#include "utils/rangetypes.h"
#include "utils/timestamp.h"
#include "utils/typcache.h"
#include "catalog/pg_type.h"

#include "analytics/analytics_params.h"

PG_FUNCTION_INFO_V1(sa_classify);
PG_FUNCTION_INFO_V1(sa_average_power_w);
PG_FUNCTION_INFO_V1(sa_average_current_a);
PG_FUNCTION_INFO_V1(sa_charge_rating);
PG_FUNCTION_INFO_V1(sa_format_duration);
PG_FUNCTION_INFO_V1(sa_date_range);

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
	sa_check_positive("micro_threshold", thr);
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
	sa_check_positive("volts", volts);
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
	sa_check_amp_limits(good, fair);
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
