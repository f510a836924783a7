/*
 * analytics/analytics_params.c
 *		The analytics GUCs (the default analysis parameters) and the shared
 *		checks of parameters and the overflow error.
 *
 * Dependency rule: see analytics/analytics_params.h. This file is the bottom of the
 * analytics; it calls nothing of analytics/session_math.c, session_stats*.c or
 * analytics/chart_svg.c, and nothing of the store.
 */
#include "postgres.h"

#include <math.h>

#include "fmgr.h"
#include "utils/builtins.h"
#include "utils/guc.h"

#include "analytics/analytics_params.h"
#include "session_analytics.h"	/* SA_GUC_PREFIX, sa_analytics_init */

double		sa_micro_threshold = SA_DEFAULT_MICRO_THRESHOLD;
double		sa_volts = SA_DEFAULT_VOLTS;
double		sa_good_amps = SA_DEFAULT_GOOD_AMPS;
double		sa_fair_amps = SA_DEFAULT_FAIR_AMPS;

/*
 * The settings sessions.analytics_setting(name) reads, by the name after
 * SA_GUC_PREFIX. The SQL defaults of the scalar functions and the reports
 * call it, so the values above (the GUC definitions below) are the only
 * place a default is written (docs/analytics.md, "Settings").
 */
static const struct
{
	const char *name;
	const double *value;
	double		boot;			/* the GUC's built-in default */
}			sa_settings[] =
{
	{"micro_threshold", &sa_micro_threshold, SA_DEFAULT_MICRO_THRESHOLD},
	{"volts", &sa_volts, SA_DEFAULT_VOLTS},
	{"good_amps", &sa_good_amps, SA_DEFAULT_GOOD_AMPS},
	{"fair_amps", &sa_fair_amps, SA_DEFAULT_FAIR_AMPS},
};

/*
 * session_analytics.report_summaries: the reports read the live summaries
 * when they can answer (sessions.report_path); off forces the scan. Only
 * SQL reads it (current_setting), hence static.
 */
static bool sa_report_summaries = true;

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
							 NULL, &sa_micro_threshold, SA_DEFAULT_MICRO_THRESHOLD, 1e-9, 1e9,
							 PGC_USERSET, 0, NULL, NULL, NULL);
	DefineCustomRealVariable(SA_GUC_PREFIX ".volts",
							 "Supply voltage used to turn average power into average current.",
							 NULL, &sa_volts, SA_DEFAULT_VOLTS, 1.0, 1e6,
							 PGC_USERSET, 0, NULL, NULL, NULL);
	DefineCustomRealVariable(SA_GUC_PREFIX ".good_amps",
							 "Average current (A) from which a session is rated green.",
							 NULL, &sa_good_amps, SA_DEFAULT_GOOD_AMPS, 1e-9, 1e6,
							 PGC_USERSET, 0, NULL, NULL, NULL);
	DefineCustomRealVariable(SA_GUC_PREFIX ".fair_amps",
							 "Average current (A) from which a session is rated orange.",
							 NULL, &sa_fair_amps, SA_DEFAULT_FAIR_AMPS, 1e-9, 1e6,
							 PGC_USERSET, 0, NULL, NULL, NULL);
	DefineCustomBoolVariable(SA_GUC_PREFIX ".report_summaries",
							 "Reports read the live summaries when they answer the question exactly.",
							 "Off: daily_report and summary_report always scan the store.",
							 &sa_report_summaries, true,
							 PGC_USERSET, 0, NULL, NULL, NULL);
}

/*
 * setting_named
 *		The entry of sa_settings[] for name; 22023 naming the argument else.
 */
static const __typeof__(sa_settings[0]) *
setting_named(text *arg)
{
	char	   *name = text_to_cstring(arg);

	for (size_t i = 0; i < lengthof(sa_settings); i++)
		if (strcmp(name, sa_settings[i].name) == 0)
			return &sa_settings[i];
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("name must name an analytics setting, got \"%s\"", name),
			 errhint("Use micro_threshold, volts, good_amps or fair_amps (the settings " SA_GUC_PREFIX ".*).")));
	pg_unreachable();
}

/*
 * sa_analytics_setting
 *		sessions.analytics_setting(name text) -> float8: the value in force
 *		of session_analytics.<name>. Being a C function, its call loads the
 *		library first, so _PG_init has defined the GUCs (taking over a value
 *		SET or configured before the load) and the value is never missing:
 *		current_setting(..., true) would be NULL in a backend that has not
 *		loaded the library yet.
 */
PG_FUNCTION_INFO_V1(sa_analytics_setting);
Datum
sa_analytics_setting(PG_FUNCTION_ARGS)
{
	PG_RETURN_FLOAT8(*setting_named(PG_GETARG_TEXT_PP(0))->value);
}

/*
 * sa_analytics_setting_default
 *		sessions.analytics_setting_default(name text) -> float8: the built-in
 *		default of session_analytics.<name>, whatever is SET or configured.
 *		The live summaries' parameters when none were configured: they must
 *		not follow a session's setting (docs/summaries.md).
 */
PG_FUNCTION_INFO_V1(sa_analytics_setting_default);
Datum
sa_analytics_setting_default(PG_FUNCTION_ARGS)
{
	PG_RETURN_FLOAT8(setting_named(PG_GETARG_TEXT_PP(0))->boot);
}

/*
 * sa_check_positive
 *		A threshold, a voltage or a current limit must be finite and > 0.
 */
void
sa_check_positive(const char *field, float8 v)
{
	if (!sa_positive_ok(v))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must be a finite number > 0, got %g", field, v)));
}

/*
 * sa_check_amp_limits
 *		The rating limits: both positive, fair_a <= good_a.
 */
void
sa_check_amp_limits(float8 good_a, float8 fair_a)
{
	sa_check_positive("good_a", good_a);
	sa_check_positive("fair_a", fair_a);
	if (fair_a > good_a)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("fair_a (%g) must not exceed good_a (%g)", fair_a, good_a)));
}

/*
 * sa_check_params
 *		Validates the analysis parameters of a summary (and of the scalar
 *		functions): all positive, fair_a <= good_a. Raises, naming the
 *		field, exactly when sa_params_ok is false.
 */
void
sa_check_params(float8 micro_threshold, float8 volts, float8 good_a, float8 fair_a)
{
	sa_check_positive("micro_threshold", micro_threshold);
	sa_check_positive("volts", volts);
	sa_check_amp_limits(good_a, fair_a);
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
