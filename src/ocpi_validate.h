/*
 * ocpi_validate.h
 *		The OCPI validation layer: checks Session and ChargingPreferences
 *		objects on jsonb and reports the first problem. It never writes and
 *		never runs SQL; the store access (ocpi_store.c) calls it, never the
 *		other way round. Below it is only jsonb_access.
 *
 * Contracts with callers:
 *	- A check (OcpiCheck) keeps the first problem found; nothing is raised
 *	  until sa_ocpi_raise_check(), so a document can be tried against more
 *	  than one version before one problem is reported.
 *	- After a successful sa_ocpi_validate_session(), slots[OCPI_S_x] hold the
 *	  Session's fields in the order of OcpiSessionField. The JsonbValues
 *	  point into the validated document: they live as long as it does.
 */
#ifndef OCPI_VALIDATE_H
#define OCPI_VALIDATE_H

#include "postgres.h"

#include "fmgr.h"
#include "utils/jsonb.h"
#include "utils/timestamp.h"

#include "jsonb_access.h"

/* The OCPI versions understood; ocpi_validate.c names them in this order. */
typedef enum OcpiVersion
{
	OCPI_V221,
	OCPI_V230,
	OCPI_NVERSIONS
} OcpiVersion;

/* The first problem found, raised later by sa_ocpi_raise_check(). */
typedef struct OcpiCheck
{
	OcpiVersion version;
	const char *object;			/* "Session", "ChargingPreferences" */
	bool		versioned;		/* messages name the version */
	SaJsonPath	path;
	bool		failed;
	int			sqlstate;
	char	   *message;
} OcpiCheck;

/* What validation found for one field of an object. */
typedef struct OcpiSlot
{
	bool		present;		/* present and not null */
	JsonbValue	v;
	TimestampTz ts;				/* DateTime fields */
} OcpiSlot;

/* Slots of the largest object; each field table is checked against it. */
#define OCPI_MAX_FIELDS 24

/*
 * The fields of a Session, indexing its slots. The Session field tables in
 * ocpi_validate.c are built with these as designated indexes and their
 * length is asserted against OCPI_SESSION_NFIELDS.
 */
typedef enum OcpiSessionField
{
	OCPI_S_COUNTRY_CODE,
	OCPI_S_PARTY_ID,
	OCPI_S_ID,
	OCPI_S_START,
	OCPI_S_END,
	OCPI_S_KWH,
	OCPI_S_CDR_TOKEN,
	OCPI_S_AUTH_METHOD,
	OCPI_S_AUTH_REF,
	OCPI_S_LOCATION,
	OCPI_S_EVSE,
	OCPI_S_CONNECTOR,
	OCPI_S_METER,
	OCPI_S_CURRENCY,
	OCPI_S_PERIODS,
	OCPI_S_TOTAL_COST,
	OCPI_S_STATUS,
	OCPI_S_LAST_UPDATED,
	OCPI_SESSION_NFIELDS
} OcpiSessionField;

/* Checks and problems. */
extern void sa_ocpi_check_init(OcpiCheck *c, OcpiVersion version, const char *object);
extern bool sa_ocpi_fail(OcpiCheck *c, int sqlstate, const char *fmt,...) pg_attribute_printf(3, 4);
extern bool sa_ocpi_wrong_type(OcpiCheck *c, const char *want, const JsonbValue *v);
extern void sa_ocpi_raise_check(OcpiCheck *c) pg_attribute_noreturn();

/* Arguments. */
extern OcpiVersion sa_ocpi_parse_version(text *t);
extern char *sa_ocpi_clip_text(text *t);

/* Sessions. */
extern bool sa_ocpi_validate_session(OcpiCheck *c, Jsonb *doc, OcpiSlot *slots);
extern void sa_ocpi_check_url_keys(OcpiCheck *c, OcpiSlot *slots,
								   text *cc, text *pid, text *sid);
extern double sa_ocpi_session_kwh(OcpiCheck *c, OcpiSlot *slots);
extern void sa_ocpi_raise_completed_to_active(void) pg_attribute_noreturn();

/* PATCH: the patch document, and the merged Session against the stored one. */
extern void sa_ocpi_check_patch(OcpiCheck *c, Jsonb *patch);
extern void sa_ocpi_validate_patched(Jsonb *stored, Jsonb *merged, OcpiSlot *slots);

/* SQL-callable: sessions.ocpi_validate, sessions.ocpi_validate_charging_preferences. */
extern Datum sa_ocpi_validate(PG_FUNCTION_ARGS);
extern Datum sa_ocpi_validate_charging_preferences(PG_FUNCTION_ARGS);

#endif							/* OCPI_VALIDATE_H */
