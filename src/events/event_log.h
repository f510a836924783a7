/*
 * events/event_log.h
 *		The event log's row: its columns by position (the column order of
 *		src/sql/60_events.sql), the event kinds of its "event" column, one
 *		event's fields, and the log writer (events/event_log.c, whose top states the
 *		lock-before-seq rule).
 *
 * Layering: this is the bottom of the events files. It knows nothing of
 * payloads, channels, transactions, the trigger or the notifier; every
 * other events file may include it (docs/architecture.md).
 */
#ifndef EVENT_LOG_H
#define EVENT_LOG_H

#include "postgres.h"

#include "access/htup.h"
#include "datatype/timestamp.h"
#include "utils/uuid.h"

/*
 * sessions.event_log, column by column, as pg_cron names cron.job's
 * (include/cron_job.h). The order is the one CREATE TABLE gives in
 * src/sql/60_events.sql: change both together (and the column table in
 * events/event_log.c, which the build checks against Natts_event_log).
 * test/cli/events_columns.t fails when the catalog disagrees with these.
 */
#define Natts_event_log					10
#define Anum_event_log_seq				1
#define Anum_event_log_event			2
#define Anum_event_log_kind				3
#define Anum_event_log_namespace		4
#define Anum_event_log_session_key		5
#define Anum_event_log_external_id		6
#define Anum_event_log_status			7
#define Anum_event_log_event_time		8
#define Anum_event_log_logged_at		9
#define Anum_event_log_horizon			10

/* The values of the "event" column (its CHECK constraint), in this order. */
typedef enum EventType
{
	EV_START,
	EV_STOP,
	EV_UPDATE
} EventType;

#define EV_COUNT (EV_UPDATE + 1)

/*
 * The fields of one event, as logged and as put in its payload. Strings
 * point into the trigger's tuples or the caller's memory.
 */
typedef struct EventFields
{
	int64		seq;
	EventType	event;
	const char *kind;
	const char *namespace;
	pg_uuid_t	session_key;
	const char *external_id;	/* NULL when the session has none */
	const char *status;
	bool		has_time;
	TimestampTz time;
	TimestampTz logged_at;		/* 0: the writing transaction's start */
} EventFields;

/* events/event_log.c */
extern void sa_event_log_resolve(void);
extern void sa_event_log_append(EventFields *ev);
extern void sa_event_log_read_row(HeapTupleHeader row, EventFields *ev);
extern const char *sa_event_name(EventType event);
extern EventType sa_event_parse(const char *name);
extern Oid	sa_event_log_oid(Oid *seqid);

#endif							/* EVENT_LOG_H */
