/*
 * events/event_relay.h
 *		The relay of a Citus cluster's events into the coordinator's log
 *		(events/event_relay.c): one round per worker, and what the relay
 *		worker (workers/relay_worker.c) waits on.
 *
 * Layering: over events/event_log.h and events/event_xact.h; called by the
 * relay worker only.
 */
#ifndef EVENT_RELAY_H
#define EVENT_RELAY_H

#include "postgres.h"

extern bool sa_relay_wanted(const char **why);
extern int	sa_relay_nodes(char ***hosts, int **ports);
extern int64 sa_relay_node(const char *host, int port, int max_rows);
extern int	sa_relay_sockets(pgsocket *socks, int max, bool *woken);

#endif							/* EVENT_RELAY_H */
