/*
 * compat_symbols.c
 *		The C symbols of earlier releases, kept for databases still on them.
 *
 * Since 0.3.0 every SQL-callable C function is named sa_ followed by its
 * SQL name (docs/development.md, "Conventions"). The install scripts of
 * 0.1.0 and 0.2.0 are frozen and bind their functions to the names used
 * before (ocpi_put, session_stats_days, lifecycle_rotate_key, ...). A
 * database created by one of them runs its SQL on the current library until
 * ALTER EXTENSION session_analytics UPDATE rebinds each function to its new
 * symbol (src/session_analytics--0.2.0--0.3.0.sql), and pg_upgrade of such
 * a cluster re-creates each function with its old symbol (CREATE FUNCTION
 * looks the symbol up). So each old name stays exported here, a thin wrapper that hands the same call (its
 * fcinfo, flinfo and fn_extra cache included) to the function that replaced
 * it.
 *
 * When it may go: together with support for updating from 0.2.0, i.e. once
 * no supported upgrade path starts at 0.1.0 or 0.2.0 and their install
 * scripts are removed from the tree. Nothing may be added here but old names
 * a frozen script uses: test/cli/naming.t fails on any other symbol, and on
 * a wrapper that calls a function other than sa_ + the SQL name the frozen
 * script gives the old symbol.
 */
#include "postgres.h"

#include "fmgr.h"

#include "lifecycle_sign.h"
#include "ocpi_store.h"
#include "ocpi_validate.h"
#include "session_stats.h"

/* ---- 0.1.0: OCPI (ocpi_validate.c, ocpi_store.c) --------------------------- */

PG_FUNCTION_INFO_V1(ocpi_validate);
PG_FUNCTION_INFO_V1(ocpi_validate_charging_preferences);
PG_FUNCTION_INFO_V1(ocpi_put);
PG_FUNCTION_INFO_V1(ocpi_patch);

/* ocpi_validate: sessions.ocpi_validate before 0.3.0. */
Datum
ocpi_validate(PG_FUNCTION_ARGS)
{
	return sa_ocpi_validate(fcinfo);
}

/* ocpi_validate_charging_preferences: its SQL function before 0.3.0. */
Datum
ocpi_validate_charging_preferences(PG_FUNCTION_ARGS)
{
	return sa_ocpi_validate_charging_preferences(fcinfo);
}

/* ocpi_put: sessions.ocpi_put before 0.3.0. */
Datum
ocpi_put(PG_FUNCTION_ARGS)
{
	return sa_ocpi_put(fcinfo);
}

/* ocpi_patch: sessions.ocpi_patch before 0.3.0. */
Datum
ocpi_patch(PG_FUNCTION_ARGS)
{
	return sa_ocpi_patch(fcinfo);
}

/* ---- 0.1.0: the session_stats type (session_stats.c) ------------------------ */

PG_FUNCTION_INFO_V1(session_stats_in);
PG_FUNCTION_INFO_V1(session_stats_out);
PG_FUNCTION_INFO_V1(session_stats_recv);
PG_FUNCTION_INFO_V1(session_stats_send);

/* session_stats_in: the type's input function before 0.3.0. */
Datum
session_stats_in(PG_FUNCTION_ARGS)
{
	return sa_session_stats_in(fcinfo);
}

/* session_stats_out: the type's output function before 0.3.0. */
Datum
session_stats_out(PG_FUNCTION_ARGS)
{
	return sa_session_stats_out(fcinfo);
}

/* session_stats_recv: the type's receive function before 0.3.0. */
Datum
session_stats_recv(PG_FUNCTION_ARGS)
{
	return sa_session_stats_recv(fcinfo);
}

/* session_stats_send: the type's send function before 0.3.0. */
Datum
session_stats_send(PG_FUNCTION_ARGS)
{
	return sa_session_stats_send(fcinfo);
}

/* ---- 0.1.0: aggregates and accessors (session_stats_agg.c) ------------------ */

PG_FUNCTION_INFO_V1(session_stats_trans);
PG_FUNCTION_INFO_V1(session_stats_final);
PG_FUNCTION_INFO_V1(session_stats_combine);
PG_FUNCTION_INFO_V1(session_stats_days);
PG_FUNCTION_INFO_V1(session_stats_totals);

/* session_stats_trans: every session_stats_trans signature before 0.3.0. */
Datum
session_stats_trans(PG_FUNCTION_ARGS)
{
	return sa_session_stats_trans(fcinfo);
}

/* session_stats_final: sessions.session_stats_final before 0.3.0. */
Datum
session_stats_final(PG_FUNCTION_ARGS)
{
	return sa_session_stats_final(fcinfo);
}

/* session_stats_combine: sessions.session_stats_combine before 0.3.0. */
Datum
session_stats_combine(PG_FUNCTION_ARGS)
{
	return sa_session_stats_combine(fcinfo);
}

/* session_stats_days: sessions.days before 0.3.0. */
Datum
session_stats_days(PG_FUNCTION_ARGS)
{
	return sa_days(fcinfo);
}

/* session_stats_totals: sessions.totals before 0.3.0. */
Datum
session_stats_totals(PG_FUNCTION_ARGS)
{
	return sa_totals(fcinfo);
}

/* ---- 0.2.0: invoice-style lifecycle (lifecycle_sign.c) ---------------------- */

PG_FUNCTION_INFO_V1(lifecycle_rotate_key);
PG_FUNCTION_INFO_V1(lifecycle_key_changed);
PG_FUNCTION_INFO_V1(lifecycle_session_state);
PG_FUNCTION_INFO_V1(lifecycle_resume_session);
PG_FUNCTION_INFO_V1(lifecycle_continuation_token);
PG_FUNCTION_INFO_V1(lifecycle_continuation_cursor);

/* lifecycle_rotate_key: sessions.rotate_lifecycle_key in 0.2.0. */
Datum
lifecycle_rotate_key(PG_FUNCTION_ARGS)
{
	return sa_rotate_lifecycle_key(fcinfo);
}

/* lifecycle_key_changed: the key table's trigger function in 0.2.0. */
Datum
lifecycle_key_changed(PG_FUNCTION_ARGS)
{
	return sa_lifecycle_key_changed(fcinfo);
}

/* lifecycle_session_state: sessions.session_state in 0.2.0. */
Datum
lifecycle_session_state(PG_FUNCTION_ARGS)
{
	return sa_session_state(fcinfo);
}

/* lifecycle_resume_session: sessions.resume_session in 0.2.0. */
Datum
lifecycle_resume_session(PG_FUNCTION_ARGS)
{
	return sa_resume_session(fcinfo);
}

/* lifecycle_continuation_token: sessions.continuation_token in 0.2.0. */
Datum
lifecycle_continuation_token(PG_FUNCTION_ARGS)
{
	return sa_continuation_token(fcinfo);
}

/* lifecycle_continuation_cursor: sessions.continuation_cursor in 0.2.0. */
Datum
lifecycle_continuation_cursor(PG_FUNCTION_ARGS)
{
	return sa_continuation_cursor(fcinfo);
}
