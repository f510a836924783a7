/*
 * session_stats_agg.c
 *		The session_stats_agg and rollup aggregates and the days() / totals()
 *		accessors.
 *
 * The transition state is the sessions.session_stats varlena itself, owned
 * by the aggregate's memory context and updated in place. It only moves when
 * it needs more day slots: then a copy with twice the room is returned and
 * nodeAgg, seeing a new pointer, copies it into the aggregate context and
 * frees the old one. Memory therefore grows with the number of local days.
 *
 * The hot path is the local day of started_at. Instead of the generic
 * timestamptz -> timestamp conversion, the transition function caches (in
 * fn_extra) the UTC offset of the zone together with the UTC interval over
 * which that offset holds (up to the next transition, from pg_next_dst_boundary);
 * a row then costs a range compare, an addition and a division.
 *
 * Dependency rule: session_stats.h (the type), analytics_params.h (the GUC
 * defaults, checks, the current formula) and PostgreSQL; nothing of the
 * scalar functions, the chart or the store. The aggregates read only their
 * arguments, so they work on any table.
 */
#include "postgres.h"

#include <math.h>

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "funcapi.h"
#include "nodes/primnodes.h"
#include "parser/scansup.h"
#include "utils/builtins.h"
#include "utils/date.h"
#include "utils/datetime.h"
#include "utils/timestamp.h"

#include "session_stats.h"

PG_FUNCTION_INFO_V1(sa_session_stats_trans);
PG_FUNCTION_INFO_V1(sa_session_stats_final);
PG_FUNCTION_INFO_V1(sa_session_stats_combine);
PG_FUNCTION_INFO_V1(sa_days);
PG_FUNCTION_INFO_V1(sa_totals);

#define UNIX_TO_PG_SECS	((int64) (POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * SECS_PER_DAY)

/* UTC instants [lo, hi) during which the zone's offset is off. */
typedef struct ZoneSpan
{
	TimestampTz lo;
	TimestampTz hi;
	int64		off;			/* microseconds east of UTC */
} ZoneSpan;

/* Per-call-site cache of the resolved zone and the last lookups. */
typedef struct TransCache
{
	/* the current span: the per-row test */
	TimestampTz cur_lo;
	TimestampTz cur_hi;
	int64		cur_off;
	int32		last_slot;		/* day slot of the previous row */
	/* direct day -> slot hint for the state seen most (checked on use) */
	SessionStats *map_state;
	int32		map_ndays;
	int32		map_lo;
	int32		map_len;
	int32	   *map;
	SessionStats *cand;			/* state that may get a map */
	int32		cand_rows;
	SessionStats *checked;		/* state whose zone and parameters match */
	float8		green_k;		/* kWh per microsecond at good_a (of checked) */
	float8		orange_k;		/* kWh per microsecond at fair_a */
	bool		resolved;
	bool		tz_const;		/* tz argument is a constant */
	pg_tz	   *zone;			/* NULL for a fixed offset */
	bool		dynamic;		/* zone abbreviation of changing meaning */
	int			nspans;
	int			maxspans;
	ZoneSpan   *spans;			/* sorted, disjoint */
	int			arglen;			/* the tz argument as given (change test) */
	char		argname[TZ_STRLEN_MAX + 1];
	int			tzlen;			/* its canonical spelling (stored in the state) */
	char		tzname[TZ_STRLEN_MAX + 1];
} TransCache;

/*
 * zone_resolve
 *		Resolves the tz argument with ss_zone_lookup (as AT TIME ZONE reads
 *		it) and resets the per-zone caches. The state records the canonical
 *		spelling, so 'utc' and 'UTC' make the same summary.
 */
static void
zone_resolve(TransCache *tc, const char *name, int len)
{
	SSZone		zone;

	if (len < 1 || len > TZ_STRLEN_MAX || memchr(name, '\0', len) != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("time zone name must have 1 to %d characters", TZ_STRLEN_MAX)));
	if (!ss_zone_lookup(name, len, &zone))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("time zone \"%.*s\" not recognized", len, name),
				 errhint("Use a name from pg_timezone_names, an abbreviation from pg_timezone_abbrevs or a POSIX zone.")));

	tc->nspans = 0;
	tc->checked = NULL;
	tc->dynamic = zone.kind == SS_ZONE_DYNAMIC;
	tc->zone = zone.tz;
	if (zone.kind == SS_ZONE_FIXED)
	{
		if ((int64) Abs(zone.offset) * USECS_PER_SEC > SS_MAX_ZONE_OFFSET)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("offset of time zone \"%s\" out of range", zone.name)));
		tc->cur_lo = PG_INT64_MIN;
		tc->cur_hi = PG_INT64_MAX;
		tc->cur_off = (int64) zone.offset * USECS_PER_SEC;
	}
	else
	{
		/* empty span: the first row looks the offset up */
		tc->cur_lo = 0;
		tc->cur_hi = 0;
	}
	memcpy(tc->argname, name, len);
	tc->argname[len] = '\0';
	tc->arglen = len;
	memcpy(tc->tzname, zone.name, zone.len + 1);
	tc->tzlen = zone.len;
	tc->resolved = true;
}

/* Errors unless a zone offset (microseconds) is within SS_MAX_ZONE_OFFSET. */
static inline int64
check_offset(int64 off)
{
	if (off > SS_MAX_ZONE_OFFSET || off < -SS_MAX_ZONE_OFFSET)
		ereport(ERROR,
				(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
				 errmsg("offset of the time zone out of range")));
	return off;
}

/*
 * zone_offset_slow
 *		Offset of the zone at t, and the span where it holds. Spans end at a
 *		transition; a span's start is the earliest instant seen in it, so
 *		rows in any order converge on few spans (about two per year).
 */
static int64
zone_offset_slow(TransCache *tc, TimestampTz t)
{
	int			lo = 0,
				hi = tc->nspans;
	pg_time_t	secs,
				boundary;
	long int	before_off,
				after_off;
	int			before_dst,
				after_dst,
				r;
	TimestampTz span_hi;
	ZoneSpan   *sp;

	if (tc->dynamic)
	{
		int			isdst;

		return check_offset(-(int64) DetermineTimeZoneAbbrevOffsetTS(t, tc->tzname, tc->zone, &isdst) *
							USECS_PER_SEC);
	}

	/* binary search for the first span whose hi > t */
	while (lo < hi)
	{
		int			mid = (lo + hi) / 2;

		if (tc->spans[mid].hi <= t)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo < tc->nspans && tc->spans[lo].lo <= t)
	{
		sp = &tc->spans[lo];
		goto found;
	}

	/* floor to whole seconds, as timestamp2tm does, then ask the zone */
	secs = t / USECS_PER_SEC - ((t % USECS_PER_SEC) < 0 ? 1 : 0) + UNIX_TO_PG_SECS;
	r = pg_next_dst_boundary(&secs, &before_off, &before_dst, &boundary,
							 &after_off, &after_dst, tc->zone);
	if (r < 0)
	{
		struct pg_tm *tm = pg_localtime(&secs, tc->zone);

		if (tm == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
					 errmsg("started_at is out of the time zone's range")));
		before_off = tm->tm_gmtoff;
		span_hi = (secs + 1 - UNIX_TO_PG_SECS) * USECS_PER_SEC;
	}
	else if (r == 0 || boundary - UNIX_TO_PG_SECS > PG_INT64_MAX / USECS_PER_SEC)
		span_hi = PG_INT64_MAX;
	else
		span_hi = (boundary - UNIX_TO_PG_SECS) * USECS_PER_SEC;

	if (lo < tc->nspans && tc->spans[lo].hi == span_hi)
	{
		sp = &tc->spans[lo];
		sp->lo = t;				/* same span, seen earlier: extend it down */
	}
	else
	{
		if (tc->nspans == tc->maxspans)
		{
			tc->maxspans *= 2;
			tc->spans = repalloc(tc->spans, sizeof(ZoneSpan) * tc->maxspans);
		}
		memmove(&tc->spans[lo + 1], &tc->spans[lo], sizeof(ZoneSpan) * (tc->nspans - lo));
		tc->nspans++;
		sp = &tc->spans[lo];
		sp->lo = t;
		sp->hi = span_hi;
		sp->off = check_offset((int64) before_off * USECS_PER_SEC);
	}
found:
	tc->cur_lo = sp->lo;
	tc->cur_hi = sp->hi;
	tc->cur_off = sp->off;
	return sp->off;
}

/* The DateADT of local instant l (microseconds), rounding down. */
static inline int32
local_day(int64 l)
{
	int64		d = l / USECS_PER_DAY;

	if (l % USECS_PER_DAY < 0)
		d--;
	return (int32) d;
}

/*
 * day_slot
 *		Index of day in the state, inserting a zeroed slot in order when
 *		missing. May replace *sp by a larger copy (in the current context;
 *		nodeAgg copies a new state pointer into the aggregate context).
 */
static int32
day_slot(SessionStats **sp, int32 day)
{
	SessionStats *s = *sp;
	SessionStatsDay *days = SS_DAYS(s);
	int32		lo = 0,
				hi = s->ndays;

	while (lo < hi)
	{
		int32		mid = (lo + hi) / 2;

		if (days[mid].day < day)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo < s->ndays && days[lo].day == day)
		return lo;
	if (s->ndays == s->capacity)
	{
		if (s->capacity >= SS_MAX_DAYS)
			ereport(ERROR,
					(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
					 errmsg("session_stats cannot hold more than %d days", SS_MAX_DAYS)));
		s = ss_resize(s, Min(Max(s->capacity * 2, 8), SS_MAX_DAYS), CurrentMemoryContext);
		*sp = s;
		days = SS_DAYS(s);
	}
	memmove(&days[lo + 1], &days[lo], sizeof(SessionStatsDay) * (s->ndays - lo));
	memset(&days[lo], 0, sizeof(SessionStatsDay));
	days[lo].day = day;
	s->ndays++;
	return lo;
}

#define SS_MAP_MAX_DAYS		8192	/* widest day range given a direct map */
#define SS_MAP_AFTER_ROWS	64		/* rows on one state before (re)mapping */

/*
 * map_build
 *		Direct day -> slot array for state s when its days span at most
 *		SS_MAP_MAX_DAYS. Rows in random day order then skip the binary search.
 */
static void
map_build(TransCache *tc, SessionStats *s, MemoryContext mcxt)
{
	SessionStatsDay *days = SS_DAYS(s);
	int32		range;

	tc->map_state = NULL;
	if (s->ndays == 0)
		return;
	range = days[s->ndays - 1].day - days[0].day + 1;
	if (range > SS_MAP_MAX_DAYS)
	{
		tc->cand_rows = PG_INT32_MIN;	/* too sparse: stay with the search */
		return;
	}
	if (tc->map == NULL)
		tc->map = MemoryContextAlloc(mcxt, sizeof(int32) * SS_MAP_MAX_DAYS);
	for (int32 i = 0; i < range; i++)
		tc->map[i] = -1;
	for (int32 i = 0; i < s->ndays; i++)
		tc->map[days[i].day - days[0].day] = i;
	tc->map_lo = days[0].day;
	tc->map_len = range;
	tc->map_ndays = s->ndays;
	tc->map_state = s;
}

/*
 * find_slot
 *		Day slot for day: the previous row's slot, the direct map, else the
 *		binary search (inserting the day). Every hint is verified against the
 *		state, so a stale hint costs a compare, never a wrong count.
 */
static inline int32
find_slot(TransCache *tc, SessionStats **sp, int32 day, MemoryContext mcxt)
{
	SessionStats *s = *sp;
	SessionStatsDay *days = SS_DAYS(s);
	int32		slot = tc->last_slot;

	if (slot < s->ndays && days[slot].day == day)
		return slot;
	if (s == tc->map_state && s->ndays == tc->map_ndays)
	{
		uint32		k = (uint32) (day - tc->map_lo);

		if (k < (uint32) tc->map_len)
		{
			slot = tc->map[k];
			if (slot >= 0 && slot < s->ndays && days[slot].day == day)
			{
				tc->last_slot = slot;
				return slot;
			}
		}
	}
	/* a new day: the only place a day enters the state, so check it here */
	if (!IS_VALID_DATE(day))
		ereport(ERROR,
				(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
				 errmsg("local date of started_at out of range"),
				 errdetail("In time zone \"%s\" the session starts on a day outside the range of type date.",
						   tc->tzname)));
	slot = day_slot(sp, day);
	tc->last_slot = slot;
	if (*sp != s)
		tc->checked = NULL;		/* the copy is re-checked on the next row */
	if (*sp == tc->cand)
	{
		if (++tc->cand_rows >= SS_MAP_AFTER_ROWS)
		{
			map_build(tc, *sp, mcxt);
			tc->cand_rows = 0;
		}
	}
	else
	{
		tc->cand = *sp;
		tc->cand_rows = 0;
	}
	return slot;
}

/*
 * arg_float
 *		Optional float argument argno, or the GUC default when absent.
 */
static float8
arg_float(FunctionCallInfo fcinfo, int argno, float8 dflt, const char *name)
{
	if (PG_NARGS() <= argno)
		return dflt;
	if (PG_ARGISNULL(argno))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%s must not be NULL", name)));
	return PG_GETARG_FLOAT8(argno);
}

/*
 * trans_setup
 *		Resolves the zone argument when it changed, creates the state on the
 *		first row and checks that the state was built with the same zone and
 *		parameters as this row asks for.
 */
static SessionStats *
trans_setup(FunctionCallInfo fcinfo, TransCache *tc, SessionStats *s, MemoryContext aggctx)
{
	SessionParams p;

	if (PG_NARGS() > 4)
	{
		text	   *tz;

		if (PG_ARGISNULL(4))
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("tz must not be NULL")));
		if (!tc->resolved || !tc->tz_const)
		{
			tz = PG_GETARG_TEXT_PP(4);
			if (!tc->resolved || VARSIZE_ANY_EXHDR(tz) != (Size) tc->arglen ||
				memcmp(VARDATA_ANY(tz), tc->argname, tc->arglen) != 0)
				zone_resolve(tc, VARDATA_ANY(tz), VARSIZE_ANY_EXHDR(tz));
		}
	}
	else if (!tc->resolved)
		zone_resolve(tc, "UTC", 3);

	p.micro_threshold = arg_float(fcinfo, 5, sa_micro_threshold, "micro_threshold");
	p.volts = arg_float(fcinfo, 6, sa_volts, "volts");
	if (s != NULL && s == tc->checked &&
		p.micro_threshold == s->micro_threshold && p.volts == s->volts)
		return s;

	p.good_a = sa_good_amps;
	p.fair_a = sa_fair_amps;
	if (s == NULL)
	{
		sa_check_params(p.micro_threshold, p.volts, p.good_a, p.fair_a);
		s = ss_create(tc->tzname, tc->tzlen, &p, 8, CurrentMemoryContext);
	}
	else if (s->tzlen != tc->tzlen || memcmp(s->tz, tc->tzname, tc->tzlen) != 0 ||
			 p.micro_threshold != s->micro_threshold || p.volts != s->volts)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("tz, micro_threshold and volts must be the same for every row of one session_stats_agg")));
	tc->checked = s;
	tc->green_k = s->good_a * s->volts / ((float8) USECS_PER_HOUR * 1000.0);
	tc->orange_k = s->fair_a * s->volts / ((float8) USECS_PER_HOUR * 1000.0);
	return s;
}

/*
 * rate
 *		Counts a completed session with kwh over dur_us (> 0) as green,
 *		orange or red. amps >= limit is tested as kwh >= k * dur (no
 *		division); within 1e-9 of a limit the exact formula of
 *		average_current_a decides, so ratings agree with the scalar functions.
 */
static inline void
rate(const TransCache *tc, const SessionStats *s, SessionStatsDay *d, float8 kwh, int64 dur_us)
{
	float8		g = tc->green_k * (float8) dur_us;
	float8		f = tc->orange_k * (float8) dur_us;
	float8		amps;

	if (kwh > g * (1 + 1e-9))
		d->green++;
	else if (kwh < g * (1 - 1e-9) && kwh > f * (1 + 1e-9))
		d->orange++;
	else if (kwh < f * (1 - 1e-9))
		d->red++;
	else
	{
		amps = sa_current_a(kwh, dur_us, s->volts);
		if (amps >= s->good_a)
			d->green++;
		else if (amps >= s->fair_a)
			d->orange++;
		else
			d->red++;
	}
}

/*
 * sa_session_stats_trans
 *		Transition: session_stats_agg(started_at, ended_at, kwh [, tz
 *		[, micro_threshold [, volts]]]). Rows without started_at are ignored.
 */
Datum
sa_session_stats_trans(PG_FUNCTION_ARGS)
{
	MemoryContext aggctx;
	TransCache *tc = (TransCache *) fcinfo->flinfo->fn_extra;
	SessionStats *s;
	SessionStatsDay *d;
	TimestampTz start,
				end;
	int64		off,
				dur;
	int32		day,
				slot;

	if (!AggCheckCallContext(fcinfo, &aggctx))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("session_stats_agg transition called outside an aggregate")));

	if (tc == NULL)
	{
		Aggref	   *agg = AggGetAggref(fcinfo);

		tc = MemoryContextAllocZero(fcinfo->flinfo->fn_mcxt, sizeof(TransCache));
		tc->maxspans = 8;
		tc->spans = MemoryContextAlloc(fcinfo->flinfo->fn_mcxt, sizeof(ZoneSpan) * tc->maxspans);
		if (agg != NULL && list_length(agg->args) >= 4)
		{
			TargetEntry *te = (TargetEntry *) list_nth(agg->args, 3);

			tc->tz_const = IsA(te->expr, Const);
		}
		fcinfo->flinfo->fn_extra = tc;
	}

	s = PG_ARGISNULL(0) ? NULL : (SessionStats *) PG_GETARG_POINTER(0);
	s = trans_setup(fcinfo, tc, s, aggctx);

	if (PG_ARGISNULL(1))
		PG_RETURN_POINTER(s);
	start = PG_GETARG_TIMESTAMPTZ(1);
	if (TIMESTAMP_NOT_FINITE(start))
		ereport(ERROR,
				(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
				 errmsg("started_at must be finite")));

	/*
	 * local day: the cached span covers almost every row. start + off cannot
	 * overflow: start is a finite timestamptz, |off| <= SS_MAX_ZONE_OFFSET.
	 */
	if (start >= tc->cur_lo && start < tc->cur_hi)
		off = tc->cur_off;
	else
		off = zone_offset_slow(tc, start);
	day = local_day(start + off);

	slot = find_slot(tc, &s, day, fcinfo->flinfo->fn_mcxt);
	d = &SS_DAYS(s)[slot];

	if (PG_ARGISNULL(2))
	{
		d->active++;
		PG_RETURN_POINTER(s);
	}
	end = PG_GETARG_TIMESTAMPTZ(2);
	if (TIMESTAMP_NOT_FINITE(end))
		ereport(ERROR,
				(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
				 errmsg("ended_at must be finite")));
	if (pg_sub_s64_overflow(end, start, &dur))
		sa_out_of_range("ended_at - started_at");
	if (dur < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("ended_at must not be before started_at"),
				 errhint("Leave such rows out (WHERE ended_at >= started_at) or correct them.")));
	/* counters of rows cannot overflow: at most one increment per row */
	d->completed++;
	if (pg_add_s64_overflow(d->duration, dur, &d->duration))
		sa_out_of_range("duration total of a day");

	if (!PG_ARGISNULL(3))
	{
		float8		kwh = PG_GETARG_FLOAT8(3);

		sa_check_kwh(kwh);
		d->kwh += kwh;
		if (unlikely(isinf(d->kwh)))
			sa_out_of_range("kwh total of a day");
		if (kwh == 0)
			d->empty++;
		else if (kwh < s->micro_threshold)
			d->micro++;
		else
			d->normal++;
		if (dur > 0)
			rate(tc, s, d, kwh, dur);
	}
	PG_RETURN_POINTER(s);
}

/*
 * sa_session_stats_final
 *		The result without spare day slots (the state keeps them to grow in
 *		place). Does not modify the state. Only an aggregate may call it: its
 *		argument is then a state this module built, never a stored value.
 */
Datum
sa_session_stats_final(PG_FUNCTION_ARGS)
{
	SessionStats *s;

	if (!AggCheckCallContext(fcinfo, NULL))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("session_stats final function called outside an aggregate")));
	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	s = (SessionStats *) PG_GETARG_POINTER(0);
	PG_RETURN_POINTER(ss_resize(s, s->ndays, CurrentMemoryContext));
}

/* *a += b for the counter named field, raising 22003 on overflow. */
static inline void
add_count(int64 *a, int64 b, const char *field)
{
	if (pg_add_s64_overflow(*a, b, a))
		sa_out_of_range(field);
}

/* *a += b for a kWh total, raising 22003 when it is no longer finite. */
static inline void
add_kwh(float8 *a, float8 b, const char *field)
{
	*a += b;
	if (isinf(*a))
		sa_out_of_range(field);
}

/*
 * add_day
 *		Adds day b's counters to a, checked: every counter, the kWh and the
 *		day's session count (active + completed) stay in range.
 */
static void
add_day(SessionStatsDay *a, const SessionStatsDay *b)
{
	int64		sessions;

	add_count(&a->active, b->active, "active count of a day");
	add_count(&a->completed, b->completed, "completed count of a day");
	add_count(&a->empty, b->empty, "empty count of a day");
	add_count(&a->micro, b->micro, "micro count of a day");
	add_count(&a->normal, b->normal, "normal count of a day");
	add_count(&a->green, b->green, "green count of a day");
	add_count(&a->orange, b->orange, "orange count of a day");
	add_count(&a->red, b->red, "red count of a day");
	add_count(&a->duration, b->duration, "duration total of a day");
	add_kwh(&a->kwh, b->kwh, "kwh total of a day");
	if (pg_add_s64_overflow(a->active, a->completed, &sessions))
		sa_out_of_range("session count of a day");
}

/*
 * check_compatible
 *		Summaries merge only when computed with the same zone and parameters.
 *		Zones compare as AT TIME ZONE reads them (letter case does not
 *		matter): values of 0.1.0 kept the spelling they were given.
 */
static void
check_compatible(const SessionStats *a, const SessionStats *b)
{
	if (!ss_zone_equal(a->tz, a->tzlen, b->tz, b->tzlen))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("cannot merge session_stats of different time zones (\"%s\" and \"%s\")",
						a->tz, b->tz),
				 errhint("Summaries are per local day; aggregate again with one zone.")));
	if (a->micro_threshold != b->micro_threshold || a->volts != b->volts ||
		a->good_a != b->good_a || a->fair_a != b->fair_a)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("cannot merge session_stats with different parameters"),
				 errdetail("micro_threshold %g/%g, volts %g/%g, good_a %g/%g, fair_a %g/%g.",
						   a->micro_threshold, b->micro_threshold, a->volts, b->volts,
						   a->good_a, b->good_a, a->fair_a, b->fair_a)));
}

/*
 * sa_session_stats_combine
 *		Combine function of session_stats_agg and transition and combine
 *		function of rollup: merges the second summary into the first, in
 *		place when the first is the state and every day already has a slot.
 *		Both are validated (the second may come from a table).
 */
Datum
sa_session_stats_combine(PG_FUNCTION_ARGS)
{
	MemoryContext aggctx;
	SessionStats *a,
			   *b,
			   *r;
	SessionStatsDay *ad,
			   *bd,
			   *rd;
	int32		i,
				j,
				n,
				missing = 0;

	if (!AggCheckCallContext(fcinfo, &aggctx))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("session_stats combine called outside an aggregate")));
	if (PG_ARGISNULL(1))
	{
		if (PG_ARGISNULL(0))
			PG_RETURN_NULL();
		PG_RETURN_DATUM(PG_GETARG_DATUM(0));
	}
	b = ss_get_arg(fcinfo, 1);
	if (PG_ARGISNULL(0))
	{
		SSZone		zone;

		/* the first summary: a copy with room to grow, zone spelt canonically */
		r = ss_resize(b, Max(b->ndays, 8), CurrentMemoryContext);
		if (ss_zone_lookup(r->tz, r->tzlen, &zone) && zone.len == r->tzlen)
			memcpy(r->tz, zone.name, zone.len);
		fcinfo->flinfo->fn_extra = NULL;
		PG_RETURN_POINTER(r);
	}

	a = (SessionStats *) PG_GETARG_POINTER(0);
	if (VARATT_IS_EXTENDED(a) || (((uintptr_t) a) & (MAXIMUM_ALIGNOF - 1)) != 0)
		a = ss_get_arg(fcinfo, 0);	/* not in our own form: work on a copy */
	else if (a != (SessionStats *) fcinfo->flinfo->fn_extra)
	{
		/* not the value this function just returned */
		ss_check(a, ERRCODE_INVALID_BINARY_REPRESENTATION);
	}
	check_compatible(a, b);

	ad = SS_DAYS(a);
	bd = SS_DAYS(b);
	for (i = 0, j = 0; j < b->ndays; j++)
	{
		while (i < a->ndays && ad[i].day < bd[j].day)
			i++;
		if (i >= a->ndays || ad[i].day != bd[j].day)
			missing++;
	}
	if (missing == 0 && a == (SessionStats *) PG_GETARG_POINTER(0))
	{
		for (i = 0, j = 0; j < b->ndays; j++)
		{
			while (ad[i].day < bd[j].day)
				i++;
			add_day(&ad[i], &bd[j]);
		}
		fcinfo->flinfo->fn_extra = a;
		PG_RETURN_POINTER(a);
	}

	/* merge into a new value with room for both */
	if ((int64) a->ndays + missing > SS_MAX_DAYS)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("session_stats cannot hold more than %d days", SS_MAX_DAYS)));
	r = ss_resize(a, a->ndays + missing, CurrentMemoryContext);
	rd = SS_DAYS(r);
	for (i = 0, j = 0, n = 0; i < a->ndays || j < b->ndays; n++)
	{
		if (j >= b->ndays || (i < a->ndays && ad[i].day < bd[j].day))
			rd[n] = ad[i++];
		else if (i >= a->ndays || bd[j].day < ad[i].day)
			rd[n] = bd[j++];
		else
		{
			rd[n] = ad[i++];
			add_day(&rd[n], &bd[j++]);
		}
	}
	r->ndays = n;
	fcinfo->flinfo->fn_extra = NULL;	/* nodeAgg copies r: validate the copy once */
	PG_RETURN_POINTER(r);
}

/*
 * fill_values
 *		sessions .. red columns from t, starting at values[k]; returns the
 *		next column. Percentages are of completed sessions (NULL when none);
 *		avg_duration is the mean completed duration, hours justified into
 *		days like timestamptz subtraction.
 */
static int
fill_values(const SessionStatsDay *t, Datum *values, bool *nulls, int k)
{
	values[k++] = Int64GetDatum(t->active + t->completed);
	values[k++] = Int64GetDatum(t->active);
	values[k++] = Int64GetDatum(t->completed);
	values[k++] = Int64GetDatum(t->empty);
	values[k++] = Int64GetDatum(t->micro);
	values[k++] = Int64GetDatum(t->normal);
	if (t->completed > 0)
	{
		Interval   *iv = palloc0(sizeof(Interval));

		values[k++] = Float8GetDatum(100.0 * t->empty / t->completed);
		values[k++] = Float8GetDatum(100.0 * t->micro / t->completed);
		values[k++] = Float8GetDatum(t->kwh);
		iv->time = t->duration / t->completed;
		values[k++] = DirectFunctionCall1(interval_justify_hours, PointerGetDatum(iv));
	}
	else
	{
		nulls[k++] = true;
		nulls[k++] = true;
		values[k++] = Float8GetDatum(0.0);
		nulls[k++] = true;
	}
	values[k++] = Int64GetDatum(t->green);
	values[k++] = Int64GetDatum(t->orange);
	values[k++] = Int64GetDatum(t->red);
	return k;
}

/*
 * sa_days
 *		One row per local day, ascending.
 */
Datum
sa_days(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	SessionStats *s = ss_get_arg(fcinfo, 0);
	SessionStatsDay *days = SS_DAYS(s);

	InitMaterializedSRF(fcinfo, 0);
	for (int i = 0; i < s->ndays; i++)
	{
		Datum		values[15];
		bool		nulls[15] = {0};

		values[0] = DateADTGetDatum(days[i].day);
		fill_values(&days[i], values, nulls, 1);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}

/*
 * sa_totals
 *		The whole range in one row, plus combined = empty + micro and its
 *		percentage of completed sessions.
 */
Datum
sa_totals(PG_FUNCTION_ARGS)
{
	SessionStats *s = ss_get_arg(fcinfo, 0);
	SessionStatsDay *days = SS_DAYS(s);
	TupleDesc	desc;
	SessionStatsDay t = {0};
	Datum		values[16];
	bool		nulls[16] = {0};
	int			k;

	if (get_call_result_type(fcinfo, NULL, &desc) != TYPEFUNC_COMPOSITE)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("totals must be called in a context that accepts a row")));
	for (int i = 0; i < s->ndays; i++)
	{
		add_count(&t.active, days[i].active, "active total");
		add_count(&t.completed, days[i].completed, "completed total");
		add_count(&t.empty, days[i].empty, "empty total");
		add_count(&t.micro, days[i].micro, "micro total");
		add_count(&t.normal, days[i].normal, "normal total");
		add_count(&t.green, days[i].green, "green total");
		add_count(&t.orange, days[i].orange, "orange total");
		add_count(&t.red, days[i].red, "red total");
		add_count(&t.duration, days[i].duration, "duration total");
		add_kwh(&t.kwh, days[i].kwh, "kwh total");
	}
	/* sessions = active + completed; combined = empty + micro <= completed */
	if (t.active > PG_INT64_MAX - t.completed)
		sa_out_of_range("sessions total");
	k = fill_values(&t, values, nulls, 0);
	values[k] = Int64GetDatum(t.empty + t.micro);
	values[k + 1] = Float8GetDatum(t.completed > 0 ? 100.0 * (t.empty + t.micro) / t.completed : 0);
	nulls[k + 1] = t.completed == 0;
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(BlessTupleDesc(desc), values, nulls)));
}
