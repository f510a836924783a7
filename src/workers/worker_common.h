/*
 * workers/worker_common.h
 *		The plumbing the background workers (workers/expiry_worker.c,
 *		workers/notify_worker.c, workers/relay_worker.c) share:
 *		registration, connecting with back-off, the round's transaction
 *		bracket, error recovery, the extension-installed check and the
 *		configuration reload. It knows of neither worker; each worker file keeps only its
 *		own loop and job.
 */
#ifndef WORKER_COMMON_H
#define WORKER_COMMON_H

#include "postgres.h"

/* The database the background workers connect to (one for both). */
extern const char *sa_worker_database(void);
extern void sa_register_worker(const char *function, const char *name,
							   const char *type, int restart_s);
extern void sa_worker_recover(MemoryContext cxt);
extern void sa_worker_round_begin(const char *activity);
extern void sa_worker_round_end(void);
extern bool sa_worker_extension_installed(const char *who, bool *warned);
extern bool sa_worker_reload(const char *connected_db);
extern void sa_worker_restart_for_database(const char *who, const char *connected_db) pg_attribute_noreturn();

/* Which worker a connection back-off counter belongs to. */
#define SA_WORKER_EXPIRY 0
#define SA_WORKER_NOTIFIER 1
#define SA_WORKER_RELAY 2
#define SA_WORKER_COUNT 3
extern void sa_worker_connect(int which, const char *who);

#endif							/* WORKER_COMMON_H */
