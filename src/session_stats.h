/*
 * session_stats.h
 *		The sessions.session_stats type: a flat varlena summarising charging
 *		sessions per local day, and helpers shared by the scalar functions,
 *		the type's I/O and the aggregates.
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
 */
#ifndef SESSION_STATS_H
#define SESSION_STATS_H

#include "postgres.h"

#include <math.h>

#include "common/int.h"
#include "datatype/timestamp.h"
#include "fmgr.h"
#include "pgtime.h"
#include "utils/float.h"
#include "utils/memutils.h"

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

/* GUCs (session_math.c) */
extern double sa_micro_threshold;
extern double sa_volts;
extern double sa_good_amps;
extern double sa_fair_amps;

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
extern void ss_check_params(float8 micro_threshold, float8 volts, float8 good_a, float8 fair_a);
extern void sa_out_of_range(const char *field) pg_attribute_noreturn();

/*
 * Errors unless kwh is finite and >= 0; for the scalar functions and the
 * aggregate's per-row path.
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
 * Average power in watts of kwh delivered over dur_us (> 0) microseconds.
 */
static inline float8
sa_power_w(float8 kwh, int64 dur_us)
{
	return kwh / ((float8) dur_us / (float8) USECS_PER_HOUR) * 1000.0;
}

/*
 * Average current in amperes of kwh delivered over dur_us microseconds at
 * volts; NaN when the duration is not positive. One formula for the scalar
 * functions and the aggregates, so ratings agree exactly.
 */
static inline float8
sa_current_a(float8 kwh, int64 dur_us, float8 volts)
{
	if (dur_us <= 0)
		return get_float8_nan();
	return sa_power_w(kwh, dur_us) / volts;
}

#endif							/* SESSION_STATS_H */
