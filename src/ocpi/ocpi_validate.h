/*
 * ocpi/ocpi_validate.h
 *		The OCPI validation layer: checks Session and ChargingPreferences
 *		objects on jsonb and reports the first problem. It never writes and
 *		never runs SQL; the store access (ocpi/ocpi_store.c) calls it, never the
 *		other way round. Below it is only jsonb_access.
 *
 * Contracts with callers:
 *	- A check (OcpiCheck) collects every problem of a document; nothing is
 *	  raised until sa_ocpi_raise_check(), so a document can be tried against
 *	  more than one version before its problems are reported. The problems
 *	  are ordered by their place in the document (OcpiOrder when the
 *	  sender's JSON text is known, else the OCPI field order) and the first
 *	  OCPI_LIST_PROBLEMS of them are kept; the rest are only counted.
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

#include "ocpi/jsonb_access.h"

/* The OCPI versions understood; ocpi/ocpi_validate.c names them in this order. */
typedef enum OcpiVersion
{
	OCPI_V221,
	OCPI_V230,
	OCPI_NVERSIONS
} OcpiVersion;

/* Problems listed in one error (errdetail); more are counted. */
#define OCPI_LIST_PROBLEMS 10

/* One problem: where (path and its document position), what, and a hint. */
typedef struct OcpiProblem
{
	int			sqlstate;
	char	   *text;			/* "path rule", as errmsg shows it */
	const char *hint;			/* static; NULL when the rule says it all */
	int			depth;
	int			ord[SA_JSON_PATH_MAX];	/* position of each path step */
	int			seq;			/* order of discovery, breaks ties */
} OcpiProblem;

/*
 * The order of the members of the sender's JSON text (jsonb keeps its own),
 * built by sa_ocpi_text_order(); opaque to callers.
 */
typedef struct OcpiOrder OcpiOrder;

/* The problems found, raised later by sa_ocpi_raise_check(). */
typedef struct OcpiCheck
{
	OcpiVersion version;
	const char *object;			/* "Session", "ChargingPreferences" */
	bool		versioned;		/* messages name the version */
	SaJsonPath	path;
	int			ord[SA_JSON_PATH_MAX];	/* document position of each path step */
	const OcpiOrder *order;		/* the text's member order, or NULL */
	bool		failed;
	int			nproblems;		/* all found */
	int			nkept;			/* kept[0..nkept-1], in document order */
	OcpiProblem *kept;			/* OCPI_LIST_PROBLEMS, allocated on the first */
} OcpiCheck;

/*
 * A refusal as an error would carry it (sa_ocpi_check_report()), for
 * callers that report per document instead of raising.
 */
typedef struct OcpiReport
{
	int			sqlstate;
	char	   *message;
	char	   *detail;
	char	   *hint;
} OcpiReport;

/* What validation found for one field of an object. */
typedef struct OcpiSlot
{
	bool		present;		/* present and not null */
	bool		valid;			/* present and passed its own checks */
	int			ord;			/* position in the object (see OcpiCheck.ord) */
	JsonbValue	v;
	TimestampTz ts;				/* DateTime fields */
} OcpiSlot;

/* Slots of the largest object; each field table is checked against it. */
#define OCPI_MAX_FIELDS 24

/*
 * The fields of a Session, indexing its slots. The Session field tables in
 * ocpi/ocpi_validate.c are built with these as designated indexes and their
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
	OCPI_S_PREFERENCES,			/* 2.3.0 only; 2.2.1 points to the module call */
	OCPI_S_LAST_UPDATED,
	OCPI_SESSION_NFIELDS
} OcpiSessionField;

/* Checks and problems. */
extern void sa_ocpi_check_init(OcpiCheck *c, OcpiVersion version, const char *object);
extern bool sa_ocpi_fail(OcpiCheck *c, int sqlstate, const char *fmt,...) pg_attribute_printf(3, 4);
extern bool sa_ocpi_wrong_type(OcpiCheck *c, const char *want, const JsonbValue *v);
extern void sa_ocpi_check_report(const OcpiCheck *c, OcpiReport *r);
extern void sa_ocpi_raise_check(OcpiCheck *c) pg_attribute_noreturn();
extern const OcpiOrder *sa_ocpi_text_order(const char *json, int len);

/* Arguments: the version, echoed text, the sender's JSON text. */
extern bool sa_ocpi_arg_is_text(FunctionCallInfo fcinfo, int argno);
extern Jsonb *sa_ocpi_parse_text(OcpiCheck *c, text *t);
extern OcpiVersion sa_ocpi_parse_version(text *t);
extern char *sa_ocpi_clip_text(text *t);

/* Sessions. */
extern bool sa_ocpi_validate_session(OcpiCheck *c, Jsonb *doc, OcpiSlot *slots);
extern bool sa_ocpi_check_url_keys(OcpiCheck *c, OcpiSlot *slots,
								   text *cc, text *pid, text *sid);
extern bool sa_ocpi_kwh_storable(OcpiCheck *c, OcpiSlot *slots);
extern double sa_ocpi_session_kwh(OcpiCheck *c, OcpiSlot *slots);
extern void sa_ocpi_completed_to_active_report(OcpiReport *r);
extern void sa_ocpi_raise_completed_to_active(void) pg_attribute_noreturn();

/* PATCH: the patch document, and the merged Session against the stored one. */
extern void sa_ocpi_check_patch(OcpiCheck *c, Jsonb *patch);
extern void sa_ocpi_validate_patched(Jsonb *stored, Jsonb *merged, OcpiSlot *slots);

/* SQL-callable: sessions.ocpi_validate, sessions.ocpi_validate_charging_preferences. */
extern Datum sa_ocpi_validate(PG_FUNCTION_ARGS);
extern Datum sa_ocpi_validate_charging_preferences(PG_FUNCTION_ARGS);

/* The refusal of a write into a party the calling role is not mapped to. */
extern void sa_ocpi_raise_party_not_mapped(text *cc, text *pid) pg_attribute_noreturn();
extern void sa_ocpi_raise_preferences_refused(const char *response) pg_attribute_noreturn();

#endif							/* OCPI_VALIDATE_H */
