/*
 * session_stats.h
 *		The sessions.session_stats type: a flat varlena summarising charging
 *		sessions per local day, and the helpers shared by the type's I/O
 *		(session_stats.c) and the aggregates (session_stats_agg.c).
 *
 * Dependency rule: session_stats*.c build on this file and on
 * analytics_params.h (the GUC defaults, the parameter and kWh checks, the
 * current formula), and PostgreSQL. They know nothing of the scalar
 * functions (session_math.c), the chart (chart_svg.c reads the type only
 * through sessions.days()), the store, the events or the workers: the
 * aggregates work on any table.
 *
 * Layout (all fields native-endian in memory; the binary send/recv form is
 * network order, see session_stats.c):
 *
 *	 offset  size  field
 *	 0       4     varlena header
 *	 4       1     version (SS_VERSION)
 *	 5       1     flags (0)
 *	 6       2     tzlen: bytes of the time-zone name
 *	 8       4     ndays: day slots in use
 *	 12      4     capacity: day slots allocated (>= ndays; spare slots let
 *	               the aggregate grow in place; stored values have none)
 *	 16      4     reserved (0)
 *	 20      4     padding
 *	 24      8     micro_threshold (kWh)
 *	 32      8     volts
 *	 40      8     good_a (amperes for 'green')
 *	 48      8     fair_a (amperes for 'orange')
 *	 56      tzlen+1  zone name, NUL-terminated, then zero padding to MAXALIGN
 *	 ...     capacity * sizeof(SessionStatsDay), sorted by day, days unique
 *
 * The state therefore grows with the number of distinct local days, never
 * with the number of rows.
 *
 * LAYOUT CONTRACT. Four forms of one value must change together, and only
 * together with a new SS_VERSION whose readers still accept version 1:
 *	 - the stored form, the structs below (on disk in tables since 0.1.0;
 *	   ss_check and the aggregates read it in place);
 *	 - the binary form, session_stats_send / _recv: per day SS_WIRE_DAY
 *	   bytes (the stored day without its reserved field), the parameters
 *	   SS_WIRE_PARAMS bytes;
 *	 - the text form, session_stats_out / _in: per day SS_TEXT_DAY_FIELDS
 *	   blank-separated fields;
 *	 - the order of the day counters, ss_day_counters[] in session_stats.c,
 *	   which all four I/O functions walk (add_day and the days() / totals()
 *	   columns in session_stats_agg.c name each counter too).
 * The static assertions below tie the struct offsets and sizes to these
 * constants: changing a field breaks the build here first.
 */
#ifndef SESSION_STATS_H
#define SESSION_STATS_H

#include "postgres.h"

#include <math.h>

#include "common/int.h"
#include "datatype/timestamp.h"
#include "fmgr.h"
#include "pgtime.h"
#include "utils/memutils.h"

#include "analytics_params.h"

#define SS_VERSION		1

/* Counters of one local day. */
typedef struct SessionStatsDay
{
	int32		day;			/* local date as DateADT (days from 2000-01-01) */
	int32		reserved;		/* zero */
	int64		active;			/* ended_at IS NULL */
	int64		completed;		/* ended_at IS NOT NULL */
	int64		empty;			/* completed, kwh = 0 */
	int64		micro;			/* completed, 0 < kwh < micro_threshold */
	int64		normal;			/* completed, kwh >= micro_threshold */
	int64		green;			/* completed, average current >= good_a */
	int64		orange;			/* completed, fair_a <= current < good_a */
	int64		red;			/* completed, current < fair_a */
	float8		kwh;			/* energy of completed sessions */
	int64		duration;		/* summed completed duration, microseconds, >= 0 */
} SessionStatsDay;

typedef struct SessionStats
{
	int32		vl_len_;
	uint8		version;
	uint8		flags;
	uint16		tzlen;
	int32		ndays;
	int32		capacity;
	int32		reserved;
	float8		micro_threshold;
	float8		volts;
	float8		good_a;
	float8		fair_a;
	char		tz[FLEXIBLE_ARRAY_MEMBER];
} SessionStats;

#define SS_HEADER_SIZE		offsetof(SessionStats, tz)
#define SS_DAYS_OFFSET(tzlen)	MAXALIGN(SS_HEADER_SIZE + (Size) (tzlen) + 1)
#define SS_SIZE(tzlen, cap)	(SS_DAYS_OFFSET(tzlen) + (Size) (cap) * sizeof(SessionStatsDay))
#define SS_DAYS(s)			((SessionStatsDay *) ((char *) (s) + SS_DAYS_OFFSET((s)->tzlen)))
#define SS_MAX_DAYS			((int32) ((MaxAllocSize - 1024) / sizeof(SessionStatsDay)))

/* The analysis parameters a summary was computed with. */
typedef struct SessionParams
{
	float8		micro_threshold;
	float8		volts;
	float8		good_a;
	float8		fair_a;
} SessionParams;

/*
 * Field counts and wire sizes of the layout contract (see the top of this
 * file). The day counters are the int64 fields active .. red.
 */
#define SS_DAY_COUNTERS		8	/* active completed empty micro normal green orange red */
#define SS_N_PARAMS			4	/* micro_threshold volts good_a fair_a */
#define SS_TEXT_DAY_FIELDS	(1 + SS_DAY_COUNTERS + 2)	/* date, counters, kwh, duration */
#define SS_WIRE_DAY			(4 + SS_DAY_COUNTERS * 8 + 8 + 8)	/* date, counters, kwh, duration */
#define SS_WIRE_PARAMS		(SS_N_PARAMS * 8)	/* the parameters as float8 */

/* A stored day is the wire day plus its reserved field, nothing else. */
StaticAssertDecl(sizeof(SessionStatsDay) == SS_WIRE_DAY + sizeof(int32),
				 "SessionStatsDay changed: update SS_WIRE_DAY, send/recv, in/out (session_stats.h contract)");
StaticAssertDecl(sizeof(SessionStatsDay) % MAXIMUM_ALIGNOF == 0,
				 "SessionStatsDay must keep the day array aligned");
StaticAssertDecl(offsetof(SessionStatsDay, day) == 0 &&
				 offsetof(SessionStatsDay, reserved) == 4 &&
				 offsetof(SessionStatsDay, active) == 8 &&
				 offsetof(SessionStatsDay, red) == 8 + (SS_DAY_COUNTERS - 1) * sizeof(int64) &&
				 offsetof(SessionStatsDay, kwh) == 8 + SS_DAY_COUNTERS * sizeof(int64) &&
				 offsetof(SessionStatsDay, duration) == offsetof(SessionStatsDay, kwh) + sizeof(float8),
				 "SessionStatsDay offsets changed: stored values of 0.1.0 would no longer read");
/* The parameters: contiguous float8 in the header, as SessionParams. */
StaticAssertDecl(sizeof(SessionParams) == SS_WIRE_PARAMS,
				 "SessionParams changed: update SS_N_PARAMS, send/recv, in/out");
StaticAssertDecl(offsetof(SessionStats, fair_a) - offsetof(SessionStats, micro_threshold) ==
				 (SS_N_PARAMS - 1) * sizeof(float8) &&
				 SS_HEADER_SIZE == offsetof(SessionStats, fair_a) + sizeof(float8),
				 "SessionStats parameters changed: update SS_N_PARAMS and the contract");
#if ALIGNOF_DOUBLE == 8
/* The header offsets of the table at the top (8-byte aligned doubles). */
StaticAssertDecl(offsetof(SessionStats, version) == 4 && offsetof(SessionStats, flags) == 5 &&
				 offsetof(SessionStats, tzlen) == 6 && offsetof(SessionStats, ndays) == 8 &&
				 offsetof(SessionStats, capacity) == 12 && offsetof(SessionStats, reserved) == 16 &&
				 offsetof(SessionStats, micro_threshold) == 24 && SS_HEADER_SIZE == 56,
				 "SessionStats header offsets changed: stored values of 0.1.0 would no longer read");
#endif

/*
 * A zone name resolved the way AT TIME ZONE reads it. Zone names are
 * case-insensitive (abbreviations are looked up in lower case, pg_tzset
 * folds to upper case), so name holds one canonical spelling: the
 * abbreviation in upper case, else the name pg_tzset reports (the tz
 * database's spelling, or the upper-cased POSIX spec).
 */
typedef enum SSZoneKind
{
	SS_ZONE_FIXED,				/* abbreviation with a fixed offset */
	SS_ZONE_DYNAMIC,			/* abbreviation whose offset changed over time */
	SS_ZONE_TZ					/* tz database zone or POSIX spec */
} SSZoneKind;

typedef struct SSZone
{
	SSZoneKind	kind;
	int			offset;			/* SS_ZONE_FIXED: seconds east of UTC */
	pg_tz	   *tz;				/* SS_ZONE_DYNAMIC, SS_ZONE_TZ */
	int			len;
	char		name[TZ_STRLEN_MAX + 1];	/* canonical, NUL-terminated */
} SSZone;

/*
 * Largest zone offset accepted (8 days; POSIX specs allow up to 167:59:59).
 * With it a local instant (UTC timestamp + offset) cannot overflow int64:
 * END_TIMESTAMP is 8.16 days below PG_INT64_MAX.
 */
#define SS_MAX_ZONE_OFFSET	((int64) 8 * USECS_PER_DAY)

/* session_stats.c */
extern SessionStats *ss_create(const char *tz, int tzlen, const SessionParams *p,
							   int32 capacity, MemoryContext mcxt);
extern SessionStats *ss_resize(const SessionStats *s, int32 capacity, MemoryContext mcxt);
extern void ss_check(const SessionStats *s, int sqlerrcode);
extern SessionStats *ss_get_arg(FunctionCallInfo fcinfo, int argno);
extern bool ss_zone_name_ok(const char *tz, int len);
extern bool ss_zone_lookup(const char *name, int len, SSZone *zone);
extern bool ss_zone_equal(const char *a, int alen, const char *b, int blen);
extern void ss_format_day(int32 day, char *buf, size_t size);

/* SQL-callable, session_stats.c: the type's I/O functions. */
extern Datum sa_session_stats_in(PG_FUNCTION_ARGS);
extern Datum sa_session_stats_out(PG_FUNCTION_ARGS);
extern Datum sa_session_stats_recv(PG_FUNCTION_ARGS);
extern Datum sa_session_stats_send(PG_FUNCTION_ARGS);

/* SQL-callable, session_stats_agg.c: the aggregates' support, the accessors. */
extern Datum sa_session_stats_trans(PG_FUNCTION_ARGS);
extern Datum sa_session_stats_final(PG_FUNCTION_ARGS);
extern Datum sa_session_stats_combine(PG_FUNCTION_ARGS);
extern Datum sa_days(PG_FUNCTION_ARGS);
extern Datum sa_totals(PG_FUNCTION_ARGS);

#endif							/* SESSION_STATS_H */
