/*
 * events/event_payload.c
 *		Notification payloads and channel names, and the SQL functions that
 *		give them to readers: sessions.event_payload(sessions.event_log) and
 *		sessions.channel_for(event, namespace). The writers (events/event_xact.c)
 *		and the notifier announce through the same functions, so catch-up
 *		and live output match byte for byte.
 *
 * A payload carries identifiers and times only, never the user reference or
 * the document, since LISTEN has no permission check; each text field is
 * cut to PAYLOAD_FIELD_MAX escaped bytes so a payload stays under NOTIFY's
 * 8000 bytes (docs/notifications.md).
 *
 * Layering: over events/event_log.h (the fields, event names, reading a log row);
 * knows nothing of transactions, the trigger or the notifier.
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "common/cryptohash.h"
#include "common/sha2.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "mb/pg_wchar.h"
#include "utils/builtins.h"
#include "utils/datetime.h"
#include "utils/json.h"
#include "utils/timestamp.h"
#include "utils/uuid.h"

#include "events/event_log.h"
#include "events/event_payload.h"

PG_FUNCTION_INFO_V1(sa_channel_for);
PG_FUNCTION_INFO_V1(sa_event_payload);

/* Longest JSON-escaped text field in a payload; keeps payloads < 8000 bytes. */
#define PAYLOAD_FIELD_MAX 1024

/*
 * append_json_text
 *		Appends s as a JSON string, cut at a character boundary so the escaped
 *		text stays within PAYLOAD_FIELD_MAX bytes; returns true when cut.
 */
static bool
append_json_text(StringInfo buf, const char *s)
{
	StringInfoData tmp;
	int			len = strlen(s);
	int			keep = len;

	initStringInfo(&tmp);
	for (;;)
	{
		char	   *part = pnstrdup(s, keep);

		resetStringInfo(&tmp);
		escape_json(&tmp, part);
		pfree(part);
		if (tmp.len <= PAYLOAD_FIELD_MAX)
			break;
		/* Escapes expand at most 6x: shrink in proportion, then re-check. */
		keep = pg_mbcliplen(s, keep, Min(keep - 1, (int) ((int64) keep * PAYLOAD_FIELD_MAX / tmp.len)));
	}
	appendBinaryStringInfo(buf, tmp.data, tmp.len);
	pfree(tmp.data);
	return keep < len;
}

/*
 * sa_event_payload_build
 *		The JSON payload of one event. Only identifiers and times: never the
 *		user reference or the document, since LISTEN has no permission check.
 */
char *
sa_event_payload_build(const EventFields *ev)
{
	StringInfoData buf;
	bool		cut = false;

	initStringInfo(&buf);
	appendStringInfo(&buf, "{\"seq\":" INT64_FORMAT ",\"event\":\"%s\",\"kind\":",
					 ev->seq, sa_event_name(ev->event));
	cut |= append_json_text(&buf, ev->kind);
	appendStringInfoString(&buf, ",\"namespace\":");
	cut |= append_json_text(&buf, ev->namespace);
	appendStringInfoString(&buf, ",\"session_key\":\"");
	appendStringInfoString(&buf, DatumGetCString(DirectFunctionCall1(uuid_out,
																	 UUIDPGetDatum(&ev->session_key))));
	appendStringInfoString(&buf, "\",\"external_id\":");
	if (ev->external_id)
		cut |= append_json_text(&buf, ev->external_id);
	else
		appendStringInfoString(&buf, "null");
	appendStringInfoString(&buf, ",\"status\":");
	cut |= append_json_text(&buf, ev->status);
	appendStringInfoString(&buf, ",\"time\":");
	if (ev->has_time)
	{
		char		ts[MAXDATELEN + 1];
		int			utc = 0;

		/* ISO 8601 in UTC whatever the session's TimeZone. */
		JsonEncodeDateTime(ts, TimestampTzGetDatum(ev->time), TIMESTAMPTZOID, &utc);
		appendStringInfo(&buf, "\"%s\"", ts);
	}
	else
		appendStringInfoString(&buf, "null");
	if (cut)
		appendStringInfoString(&buf, ",\"truncated\":true");
	appendStringInfoChar(&buf, '}');
	return buf.data;
}

/*
 * sa_event_range_payload
 *		The payload of a coalesced range of one channel:
 *		{"first_seq","last_seq","count","event","namespace"}, namespace null
 *		for the all-namespaces channel.
 */
char *
sa_event_range_payload(EventType event, const char *ns, int64 first, int64 last, int64 count)
{
	StringInfoData buf;

	initStringInfo(&buf);
	appendStringInfo(&buf, "{\"first_seq\":" INT64_FORMAT ",\"last_seq\":" INT64_FORMAT
					 ",\"count\":" INT64_FORMAT ",\"event\":\"%s\",\"namespace\":",
					 first, last, count, sa_event_name(event));
	if (ns)
		append_json_text(&buf, ns);
	else
		appendStringInfoString(&buf, "null");
	appendStringInfoChar(&buf, '}');
	return buf.data;
}

/*
 * sa_event_channel_name
 *		The naming rule: "sessions_<event>" for every namespace; for one
 *		namespace "sessions_<event>_<ns>" when ns is made of [a-z0-9_] only
 *		(a plain identifier, LISTEN needs no quotes), else
 *		"sessions_<event>:<ns>" with ns verbatim (quote it in LISTEN). A name
 *		over 63 bytes, or a namespace holding '#' or a control character,
 *		keeps a prefix of ns cut at a character boundary (control characters
 *		shown as '?') and ends with '#' and the first 16 hex digits of
 *		sha256(ns). A verbatim name thus never holds '#' and a hashed one
 *		always does: two namespaces never share a channel unless their
 *		64-bit hash prefixes collide.
 */
void
sa_event_channel_name(EventType event, const char *ns, char *out)
{
	bool		plain = true;
	bool		verbatim = true;
	int			nslen,
				baselen;

	if (ns == NULL)
	{
		snprintf(out, NAMEDATALEN, "sessions_%s", sa_event_name(event));
		return;
	}
	for (const char *p = ns; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_'))
		{
			plain = false;
			break;
		}
	for (const unsigned char *p = (const unsigned char *) ns; *p; p++)
		if (*p == '#' || *p < 0x20 || *p == 0x7f)
		{
			verbatim = false;
			break;
		}
	baselen = snprintf(out, NAMEDATALEN, "sessions_%s%c", sa_event_name(event), plain ? '_' : ':');
	nslen = strlen(ns);
	if (verbatim && baselen + nslen <= NAMEDATALEN - 1)
		memcpy(out + baselen, ns, nslen + 1);
	else
	{
		pg_cryptohash_ctx *ctx = pg_cryptohash_create(PG_SHA256);
		uint8		digest[PG_SHA256_DIGEST_LENGTH];
		int			keep;

		if (ctx == NULL || pg_cryptohash_init(ctx) < 0 ||
			pg_cryptohash_update(ctx, (const uint8 *) ns, nslen) < 0 ||
			pg_cryptohash_final(ctx, digest, sizeof(digest)) < 0)
			elog(ERROR, "could not compute SHA-256 of a namespace");
		pg_cryptohash_free(ctx);
		keep = pg_mbcliplen(ns, nslen, NAMEDATALEN - 1 - baselen - 17);
		memcpy(out + baselen, ns, keep);
		for (int i = 0; i < keep; i++)
		{
			unsigned char c = (unsigned char) out[baselen + i];

			if (c < 0x20 || c == 0x7f)
				out[baselen + i] = '?';
		}
		out[baselen + keep] = '#';
		for (int i = 0; i < 8; i++)
			snprintf(out + baselen + keep + 1 + 2 * i, 3, "%02x", digest[i]);
	}
}

/*
 * sa_channel_for
 *		SQL: sessions.channel_for(event, namespace): the channel to LISTEN on.
 */
Datum
sa_channel_for(PG_FUNCTION_ARGS)
{
	char		name[NAMEDATALEN];
	char	   *ns = NULL;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("event must not be NULL"),
				 errhint("Use start, stop or update.")));
	if (!PG_ARGISNULL(1))
	{
		ns = text_to_cstring(PG_GETARG_TEXT_PP(1));
		if (ns[0] == '\0')
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("namespace must not be empty"),
					 errhint("Pass NULL for the channel of every namespace.")));
	}
	sa_event_channel_name(sa_event_parse(text_to_cstring(PG_GETARG_TEXT_PP(0))), ns, name);
	PG_RETURN_TEXT_P(cstring_to_text(name));
}

/*
 * sa_event_payload
 *		SQL: sessions.event_payload(sessions.event_log): the notification
 *		payload of a logged event, so catch-up and live output match.
 */
Datum
sa_event_payload(PG_FUNCTION_ARGS)
{
	EventFields ev;

	sa_event_log_read_row(PG_GETARG_HEAPTUPLEHEADER(0), &ev);
	PG_RETURN_TEXT_P(cstring_to_text(sa_event_payload_build(&ev)));
}
