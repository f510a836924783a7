/*
 * analytics/analytics_params.h
 *		The analysis parameters every analytics function shares: the GUCs
 *		that are their defaults, the checks of a parameter and of a kWh
 *		figure, the one overflow error, and the power / current formula.
 *
 * Dependency rule: this is the bottom of the analytics. It depends on
 * PostgreSQL alone (analytics/analytics_params.c includes session_analytics.h only for
 * SA_GUC_PREFIX and the _PG_init hook's prototype). The scalar functions
 * (analytics/session_math.c) and the session_stats type and aggregates
 * (session_stats*.c) build on it, side by side and without knowing each
 * other; this file knows none of them, nor the store, the events or the
 * workers.
 */
#ifndef ANALYTICS_PARAMS_H
#define ANALYTICS_PARAMS_H

#include "postgres.h"

#include <math.h>

#include "datatype/timestamp.h"
#include "utils/float.h"

/* GUC defaults (session_analytics.micro_threshold, .volts, .good_amps, .fair_amps) */
#define SA_DEFAULT_MICRO_THRESHOLD	1.0
#define SA_DEFAULT_VOLTS			208.0
#define SA_DEFAULT_GOOD_AMPS		16.0
#define SA_DEFAULT_FAIR_AMPS		8.0

/* GUCs (analytics/analytics_params.c) */
extern double sa_micro_threshold;
extern double sa_volts;
extern double sa_good_amps;
extern double sa_fair_amps;

/* analytics/analytics_params.c */
extern void sa_check_positive(const char *field, float8 v);
extern void sa_check_amp_limits(float8 good_a, float8 fair_a);
extern void sa_check_params(float8 micro_threshold, float8 volts, float8 good_a, float8 fair_a);
extern void sa_out_of_range(const char *field) pg_attribute_noreturn();

/*
 * sa_positive_ok
 *		The limit of every analysis parameter: finite and > 0.
 */
static inline bool
sa_positive_ok(float8 v)
{
	return !(isnan(v) || isinf(v) || v <= 0);
}

/*
 * sa_params_ok
 *		Whether a set of analysis parameters is valid: all positive, fair_a
 *		<= good_a. The test sa_check_params raises errors for; the
 *		session_stats validation reports it in its own terms.
 */
static inline bool
sa_params_ok(float8 micro_threshold, float8 volts, float8 good_a, float8 fair_a)
{
	return sa_positive_ok(micro_threshold) && sa_positive_ok(volts) &&
		sa_positive_ok(good_a) && sa_positive_ok(fair_a) && fair_a <= good_a;
}

/*
 * sa_check_kwh
 *		Errors unless kwh is finite and >= 0; for the scalar functions and
 *		the aggregate's per-row path.
 */
static inline void
sa_check_kwh(float8 kwh)
{
	if (!(kwh >= 0) || isinf(kwh))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("kwh must be a finite number >= 0, got %g", kwh)));
}

/*
 * sa_power_w
 *		Average power in watts of kwh delivered over dur_us (> 0)
 *		microseconds.
 */
static inline float8
sa_power_w(float8 kwh, int64 dur_us)
{
	return kwh / ((float8) dur_us / (float8) USECS_PER_HOUR) * 1000.0;
}

/*
 * sa_current_a
 *		Average current in amperes of kwh delivered over dur_us microseconds
 *		at volts; NaN when the duration is not positive. One formula for the
 *		scalar functions and the aggregates, so ratings agree exactly.
 */
static inline float8
sa_current_a(float8 kwh, int64 dur_us, float8 volts)
{
	if (dur_us <= 0)
		return get_float8_nan();
	return sa_power_w(kwh, dur_us) / volts;
}

#endif							/* ANALYTICS_PARAMS_H */
