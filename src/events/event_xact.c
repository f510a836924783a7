/*
 * events/event_xact.c
 *		Delivery at the end of the transaction: the notifications a
 *		transaction owes per channel, taken back with a rolled-back
 *		subtransaction, coalesced past notify_coalesce_after, and queued with
 *		Async_Notify just before commit in seq order -- or left to the
 *		notifier, which the transaction then wakes. Owns the GUCs
 *		session_analytics.notify and .notify_coalesce_after.
 *
 * The writer's side of the hand-off (events/notify_handoff.c states the whole
 * contract, the notifier's side included):
 * - A transaction's delivery mode is chosen at its first logged event
 *   (sa_event_xact_logged): DELIVERY_NOTIFIER when sa_notifier_selected(),
 *   else DELIVERY_COMMIT; DELIVERY_NONE while nothing was logged or
 *   session_analytics.notify is off.
 * - At XACT_EVENT_PRE_COMMIT (before PreCommit_Notify moves NOTIFYs into the
 *   queue) a commit-mode transaction asks sa_notifier_selected() again and,
 *   when the notifier has started delivering meanwhile, leaves its events to
 *   it instead of queuing them; never the other way.
 * - A notifier-mode transaction queues nothing and calls sa_notifier_wake()
 *   after COMMIT and after ABORT (its open transaction may have held back
 *   later events). A prepared transaction cannot NOTIFY: its events reach
 *   readers through sessions.events_since, and the notifier's next round
 *   after COMMIT PREPARED.
 * - Pending state lives in TopTransactionContext and is forgotten at the end
 *   of every transaction, so a transaction that rolls back sends nothing.
 *
 * The notifier announces the rows it delivers with sa_events_announce, in
 * its own transaction: the same channels, payloads, coalescing and order as
 * a writer in commit mode (its own transaction logs nothing, so it is in
 * DELIVERY_NONE and flushes what it announced).
 *
 * Layering: over events/event_payload.h (payloads, channel names), events/event_log.h (the
 * fields, reading a log row) and events/notify_handoff.h (selected?, wake); knows
 * nothing of the trigger or the notifier worker.
 */
#include "postgres.h"

#include "access/xact.h"
#include "commands/async.h"
#include "lib/stringinfo.h"
#include "utils/guc.h"
#include "utils/hsearch.h"
#include "utils/memutils.h"

#include "session_analytics.h"
#include "events/event_log.h"
#include "events/event_payload.h"
#include "events/event_xact.h"
#include "events/notify_handoff.h"

/* GUCs */
static bool notify_enabled = true;
static int	notify_coalesce_after = 100;

/*
 * Notifications owed to one channel by the current transaction. Counts are
 * kept per subtransaction level (innermost last) so a rolled-back
 * subtransaction's events can be taken back; per-event payloads are kept
 * until the channel passes notify_coalesce_after, then only the range.
 */
typedef struct ChannelSeg
{
	int			level;
	int64		count;
	int64		first;
	int64		last;
} ChannelSeg;

typedef struct ChannelItem
{
	int			level;
	int64		seq;
	char	   *payload;
} ChannelItem;

typedef struct ChannelState
{
	char		name[NAMEDATALEN];	/* hash key */
	EventType	event;
	char	   *namespace;		/* NULL for the all-namespaces channel */
	int			nsegs,
				maxsegs;
	ChannelSeg *segs;
	int			nitems,
				maxitems;
	ChannelItem *items;
	bool		coalesced;		/* items dropped: send one range */
	struct ChannelState *next;	/* creation order */
} ChannelState;

/* Transaction-lifetime state, in TopTransactionContext; NULL when idle. */
static HTAB *pending_channels = NULL;
static ChannelState *pending_first = NULL;
static ChannelState *pending_last = NULL;

/*
 * How this transaction's logged events reach listeners, chosen at its first
 * event: queued here (commit mode) or by the notifier, which this
 * transaction wakes once it has ended.
 */
typedef enum XactDelivery
{
	DELIVERY_NONE,				/* no event logged (or notify = off) */
	DELIVERY_COMMIT,
	DELIVERY_NOTIFIER
} XactDelivery;
static XactDelivery xact_delivery = DELIVERY_NONE;

/*
 * On a Citus worker: this transaction logged events of a shard of the store,
 * which the coordinator's relay copies (events/event_relay.c). At commit one
 * NOTIFY on SA_RELAY_CHANNEL wakes the relay; none at PREPARE (a prepared
 * transaction cannot NOTIFY): the backend's next commit sends it, which is
 * the COMMIT PREPARED Citus sends on the same connection (else the relay's
 * poll finds the events).
 */
static bool relay_pending = false;

/*
 * A prepared transaction of this backend logged such events: the next
 * commit here (Citus sends COMMIT PREPARED on the same connection right
 * after PREPARE) wakes the relay, once the prepared one has committed.
 */
static bool relay_after_prepare = false;

static void events_xact_callback(XactEvent event, void *arg);
static void events_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
									SubTransactionId parentSubid, void *arg);

/*
 * sa_event_xact_init
 *		Registers this file's GUCs and the transaction callbacks that send the
 *		notifications; called from _PG_init.
 */
void
sa_event_xact_init(void)
{
	DefineCustomBoolVariable(SA_GUC_PREFIX ".notify",
							 "Send NOTIFYs for logged events (off: readers poll sessions.events_since).",
							 NULL, &notify_enabled, true,
							 PGC_SUSET, 0, NULL, NULL, NULL);
	DefineCustomIntVariable(SA_GUC_PREFIX ".notify_coalesce_after",
							"Per transaction and channel, events beyond this many are announced by one range notification.",
							"0 always sends a range notification.",
							&notify_coalesce_after, 100, 0, 1000000,
							PGC_SUSET, 0, NULL, NULL, NULL);

	RegisterXactCallback(events_xact_callback, NULL);
	RegisterSubXactCallback(events_subxact_callback, NULL);
}

/*
 * channel_add
 *		Remembers one event for the all-namespaces channel (all) or its
 *		namespace's channel at the current nesting level. The payload is
 *		built on first need (*payload caches it): bulk statements past the
 *		coalescing limit never build one.
 */
static void
channel_add(const EventFields *ev, bool all, char **payload)
{
	EventType	event = ev->event;
	const char *ns = all ? NULL : ev->namespace;
	int64		seq = ev->seq;
	char		name[NAMEDATALEN];
	ChannelState *ch;
	bool		found;
	int			level = GetCurrentTransactionNestLevel();
	MemoryContext old = MemoryContextSwitchTo(TopTransactionContext);

	if (pending_channels == NULL)
	{
		HASHCTL		ctl;

		ctl.keysize = NAMEDATALEN;
		ctl.entrysize = sizeof(ChannelState);
		ctl.hcxt = TopTransactionContext;
		pending_channels = hash_create("session_analytics pending notifications", 16, &ctl,
									   HASH_ELEM | HASH_STRINGS | HASH_CONTEXT);
		pending_first = pending_last = NULL;
	}
	sa_event_channel_name(event, ns, name);
	ch = hash_search(pending_channels, name, HASH_ENTER, &found);
	if (!found)
	{
		ch->event = event;
		ch->namespace = ns ? pstrdup(ns) : NULL;
		ch->nsegs = ch->nitems = 0;
		ch->maxsegs = 4;
		ch->segs = palloc(sizeof(ChannelSeg) * ch->maxsegs);
		ch->maxitems = 8;
		ch->items = palloc(sizeof(ChannelItem) * ch->maxitems);
		ch->coalesced = false;
		ch->next = NULL;
		if (pending_last)
			pending_last->next = ch;
		else
			pending_first = ch;
		pending_last = ch;
	}

	if (ch->nsegs > 0 && ch->segs[ch->nsegs - 1].level == level)
	{
		ch->segs[ch->nsegs - 1].count++;
		ch->segs[ch->nsegs - 1].last = seq;
	}
	else
	{
		if (ch->nsegs == ch->maxsegs)
		{
			ch->maxsegs *= 2;
			ch->segs = repalloc(ch->segs, sizeof(ChannelSeg) * ch->maxsegs);
		}
		ch->segs[ch->nsegs++] = (ChannelSeg) {level, 1, seq, seq};
	}

	if (!ch->coalesced)
	{
		if (ch->nitems >= notify_coalesce_after)
		{
			/* Too many for one notification each: from now on, a range. */
			for (int i = 0; i < ch->nitems; i++)
				pfree(ch->items[i].payload);
			ch->nitems = 0;
			ch->coalesced = true;
		}
		else
		{
			if (ch->nitems == ch->maxitems)
			{
				ch->maxitems *= 2;
				ch->items = repalloc(ch->items, sizeof(ChannelItem) * ch->maxitems);
			}
			if (*payload == NULL)
				*payload = sa_event_payload_build(ev);
			ch->items[ch->nitems++] = (ChannelItem) {level, seq, pstrdup(*payload)};
		}
	}
	MemoryContextSwitchTo(old);
}

/*
 * sa_event_xact_logged
 *		Called by the writer for each event it has just logged: chooses the
 *		transaction's delivery mode at its first event and, in commit mode,
 *		remembers the event's notifications.
 */
void
sa_event_xact_logged(const EventFields *ev)
{
	char	   *payload = NULL;

	if (!notify_enabled)
		return;
	if (xact_delivery == DELIVERY_NONE)
		xact_delivery = sa_notifier_selected() ? DELIVERY_NOTIFIER : DELIVERY_COMMIT;
	if (xact_delivery == DELIVERY_COMMIT)
	{
		channel_add(ev, true, &payload);
		channel_add(ev, false, &payload);
	}
	if (payload)
		pfree(payload);
}

/*
 * sa_event_xact_relay
 *		Called by the writer for each event it has logged on a shard of the
 *		store (a Citus worker): the listeners are the coordinator's, reached
 *		through the relay, so no per-event notification; one wake-up of the
 *		relay at commit.
 */
void
sa_event_xact_relay(void)
{
	relay_pending = true;
}

/*
 * sa_events_announce
 *		Remembers the notifications of one logged event (a sessions.event_log
 *		row) in the current transaction, exactly as the trigger does: the
 *		notifier calls it for each event it delivers, so payloads, channels
 *		and coalescing are the same, counted per delivery transaction.
 */
void
sa_events_announce(HeapTupleHeader row)
{
	EventFields ev;
	char	   *payload = NULL;

	sa_event_log_read_row(row, &ev);
	channel_add(&ev, true, &payload);
	channel_add(&ev, false, &payload);
	if (payload)
		pfree(payload);
}

/*
 * events_subxact_callback
 *		A committed subtransaction's events move to its parent; an aborted
 *		one's are forgotten (its log rows are gone with it).
 */
static void
events_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
						SubTransactionId parentSubid, void *arg)
{
	int			level;

	if (pending_first == NULL ||
		(event != SUBXACT_EVENT_COMMIT_SUB && event != SUBXACT_EVENT_ABORT_SUB))
		return;
	level = GetCurrentTransactionNestLevel();
	for (ChannelState *ch = pending_first; ch; ch = ch->next)
	{
		if (event == SUBXACT_EVENT_ABORT_SUB)
		{
			while (ch->nsegs > 0 && ch->segs[ch->nsegs - 1].level >= level)
				ch->nsegs--;
			while (ch->nitems > 0 && ch->items[ch->nitems - 1].level >= level)
				pfree(ch->items[--ch->nitems].payload);
		}
		else
		{
			/* Fold the tail segments at this level or deeper into the parent. */
			while (ch->nsegs > 0 && ch->segs[ch->nsegs - 1].level >= level)
			{
				ChannelSeg *tail = &ch->segs[ch->nsegs - 1];

				if (ch->nsegs > 1 && ch->segs[ch->nsegs - 2].level >= level - 1)
				{
					ChannelSeg *prev = &ch->segs[ch->nsegs - 2];

					prev->count += tail->count;
					prev->first = Min(prev->first, tail->first);
					prev->last = Max(prev->last, tail->last);
					prev->level = Min(prev->level, level - 1);
					ch->nsegs--;
				}
				else
				{
					tail->level = level - 1;
					break;
				}
			}
			for (int i = ch->nitems - 1; i >= 0 && ch->items[i].level >= level; i--)
				ch->items[i].level = level - 1;
		}
	}
}

/* One notification to queue, with its place in the order. */
typedef struct OutNote
{
	int64		seq;			/* the event's, or a range's first_seq */
	int			chan;			/* channel creation order: ties */
	const char *channel;
	const char *payload;
} OutNote;

/* qsort order of OutNotes: by seq, then by channel creation order. */
static int
outnote_cmp(const void *a, const void *b)
{
	const OutNote *x = a,
			   *y = b;

	if (x->seq != y->seq)
		return x->seq < y->seq ? -1 : 1;
	return x->chan - y->chan;
}

/*
 * flush_notifications
 *		Queues the transaction's notifications in seq order across channels
 *		(for one event: the all-namespaces channel first): one per event, or
 *		for a channel that passed notify_coalesce_after one range
 *		{"first_seq","last_seq","count","event","namespace"}, placed at its
 *		first_seq. A listener on several channels thus never gets an event
 *		after a higher-numbered one, whether a writer or the notifier sends.
 */
static void
flush_notifications(void)
{
	OutNote    *notes;
	int			nnotes = 0,
				maxnotes = 0,
				chan = 0;

	for (ChannelState *ch = pending_first; ch; ch = ch->next)
		maxnotes += ch->coalesced ? 1 : ch->nitems;
	if (maxnotes == 0)
		return;
	notes = palloc(sizeof(OutNote) * maxnotes);
	for (ChannelState *ch = pending_first; ch; ch = ch->next, chan++)
	{
		int64		count = 0,
					first = PG_INT64_MAX,
					last = 0;

		for (int i = 0; i < ch->nsegs; i++)
		{
			count += ch->segs[i].count;
			first = Min(first, ch->segs[i].first);
			last = Max(last, ch->segs[i].last);
		}
		if (count == 0)
			continue;
		if (!ch->coalesced)
		{
			for (int i = 0; i < ch->nitems; i++)
				notes[nnotes++] = (OutNote) {ch->items[i].seq, chan, ch->name, ch->items[i].payload};
		}
		else
			notes[nnotes++] = (OutNote) {first, chan, ch->name,
				sa_event_range_payload(ch->event, ch->namespace, first, last, count)};
	}
	qsort(notes, nnotes, sizeof(OutNote), outnote_cmp);
	for (int i = 0; i < nnotes; i++)
		Async_Notify(notes[i].channel, notes[i].payload);
	pfree(notes);
}

/*
 * events_xact_callback
 *		Sends the pending notifications just before commit (before
 *		PreCommit_Notify moves NOTIFYs into the queue); forgets them at the end
 *		of every transaction. A transaction that chose commit mode but finds
 *		the notifier delivering by now leaves its events to the notifier too
 *		(they commit after the notifier's start position, so it announces
 *		them). A transaction whose events the notifier delivers wakes it once
 *		the commit is visible -- a SetLatch, no lock -- and also after an
 *		abort, since its open transaction may have held back later events. A
 *		prepared transaction cannot NOTIFY: its events reach readers through
 *		sessions.events_since, and the notifier's next round announces them
 *		after COMMIT PREPARED.
 */
static void
events_xact_callback(XactEvent event, void *arg)
{
	switch (event)
	{
		case XACT_EVENT_PRE_COMMIT:
			if (relay_pending || relay_after_prepare)
				Async_Notify(SA_RELAY_CHANNEL, NULL);
			relay_after_prepare = false;
			if (xact_delivery == DELIVERY_COMMIT && sa_notifier_selected())
				xact_delivery = DELIVERY_NOTIFIER;
			else if (pending_first && xact_delivery != DELIVERY_NOTIFIER)
				flush_notifications();
			break;
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PREPARE:
		case XACT_EVENT_PARALLEL_COMMIT:
		case XACT_EVENT_PARALLEL_ABORT:
			if (xact_delivery == DELIVERY_NOTIFIER &&
				(event == XACT_EVENT_COMMIT || event == XACT_EVENT_ABORT))
				sa_notifier_wake();
			if (event == XACT_EVENT_PREPARE && relay_pending)
				relay_after_prepare = true;
			/* The memory goes with TopTransactionContext. */
			pending_channels = NULL;
			pending_first = pending_last = NULL;
			xact_delivery = DELIVERY_NONE;
			relay_pending = false;
			break;
		default:
			break;
	}
}

/*
 * sa_notify_enabled
 *		session_analytics.notify, for the notifier.
 */
bool
sa_notify_enabled(void)
{
	return notify_enabled;
}
