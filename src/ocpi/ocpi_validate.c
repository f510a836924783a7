/*
 * ocpi/ocpi_validate.c
 *		OCPI 2.2.1 / 2.3.0 Sessions: validation of Session and
 *		ChargingPreferences objects on jsonb, and the SQL functions
 *		sessions.ocpi_validate / sessions.ocpi_validate_charging_preferences.
 *
 * This is the validation layer: it reads documents and raises errors, it
 * never writes and never runs SQL (no SPI here). The write paths are in
 * ocpi/ocpi_store.c, which calls this file through ocpi/ocpi_validate.h; nothing here
 * knows of the store. Below it is only jsonb_access.
 *
 * Validation walks each object once, member by member, against a static
 * table of its fields, and records every problem (SQLSTATE, JSON path and
 * its document position, text, hint) rather than raising at once: one
 * error lists them all, in the order of the sender's text when it is known,
 * and PATCH can try a document against more than one version before
 * reporting.
 *
 * Contracts of the field tables (checked by the compiler where it can):
 *	- Objects whose slots are read by name (CdrDimension, Session) list
 *	  their fields with designated indexes from an enum (DimensionField,
 *	  OcpiSessionField in ocpi/ocpi_validate.h), so the order cannot drift; a
 *	  StaticAssertDecl ties each table's length to its enum's count, and a
 *	  duplicate index is an error under -Wextra -Werror (-Woverride-init).
 *	  An entry left out in the middle stays zeroed (no name); field_order()
 *	  asserts against that in assert-enabled builds, and any test crashes.
 *	  The table order is also the order in which missing fields are named.
 *	- Every table fits the OCPI_MAX_FIELDS slots a caller provides.
 *	- version_names[] is indexed by OcpiVersion.
 *	- A field's position has no meaning for SQL: the store maps slots to its
 *	  statement parameters itself (ocpi/ocpi_store.c, Param_ocpi_row_*).
 */
#include "postgres.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "common/jsonapi.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/jsonfuncs.h"
#include "utils/lsyscache.h"
#include "utils/numeric.h"

#include "ocpi/jsonb_access.h"
#include "ocpi/ocpi_validate.h"

static const char *const version_names[] = {"2.2.1", "2.3.0"};

StaticAssertDecl(lengthof(version_names) == OCPI_NVERSIONS,
				 "version_names[] must name every OcpiVersion");

typedef enum FieldKind
{
	F_CISTRING,					/* CiString(n): printable ASCII */
	F_STRING,					/* string(n): printable UTF-8, n chars */
	F_DATETIME,
	F_NUMBER,
	F_ENUM,
	F_BOOL,
	F_OBJECT,
	F_ARRAY,					/* array of objects */
	F_NOT_221					/* a later version's field: refused, with a hint */
} FieldKind;

typedef struct ObjectSpec ObjectSpec;

typedef struct FieldSpec
{
	const char *name;
	FieldKind	kind;
	bool		required;
	int			maxlen;			/* strings; 0 = unbounded */
	bool		nonempty;		/* strings */
	bool		nonneg;			/* numbers */
	const char *enum_name;
	const char *const *values;	/* NULL-terminated */
	bool		open_enum;		/* other values of enum shape allowed */
	const ObjectSpec *sub;		/* object / array element */
	int			min_items;		/* arrays */
} FieldSpec;

struct ObjectSpec
{
	const char *name;
	const FieldSpec *fields;
	int			nfields;
	bool		open;			/* unknown members allowed in every version */
	bool		(*post) (OcpiCheck *c, const ObjectSpec *spec, OcpiSlot *slots);
};

/*
 * name_is
 *		Whether the NUL-terminated name equals the counted string s. Stops at
 *		the first difference instead of taking the strlen() of every
 *		candidate: enum values are matched for every document.
 */
static inline bool
name_is(const char *name, const char *s, int len)
{
	return strncmp(name, s, len) == 0 && name[len] == '\0';
}

/* ---- enumerations ------------------------------------------------------- */

static const char *const session_status_values[] =
{"ACTIVE", "COMPLETED", "INVALID", "PENDING", "RESERVATION", NULL};
static const char *const auth_method_values[] =
{"AUTH_REQUEST", "COMMAND", "WHITELIST", NULL};
static const char *const token_type_221[] =
{"AD_HOC_USER", "APP_USER", "OTHER", "RFID", NULL};
static const char *const token_type_230[] =
{"AD_HOC_USER", "APP_USER", "EMAID", "OTHER", "RFID", NULL};
static const char *const dimension_type_values[] =
{"CURRENT", "ENERGY", "ENERGY_EXPORT", "ENERGY_IMPORT", "MAX_CURRENT",
	"MIN_CURRENT", "MAX_POWER", "MIN_POWER", "PARKING_TIME", "POWER",
"RESERVATION_TIME", "STATE_OF_CHARGE", "TIME", NULL};
static const char *const profile_type_values[] =
{"CHEAP", "FAST", "GREEN", "REGULAR", NULL};

/* ---- object specifications ---------------------------------------------- */

static bool dimension_post(OcpiCheck *c, const ObjectSpec *spec, OcpiSlot *slots);
static bool session_post(OcpiCheck *c, const ObjectSpec *spec, OcpiSlot *slots);

#define CISTR(n, len, req) {n, F_CISTRING, req, len, false, false, NULL, NULL, false, NULL, 0}
#define KEYSTR(n, len) {n, F_CISTRING, true, len, true, false, NULL, NULL, false, NULL, 0}
#define STR(n, len, req) {n, F_STRING, req, len, false, false, NULL, NULL, false, NULL, 0}
#define DATETIME(n, req) {n, F_DATETIME, req, 0, false, false, NULL, NULL, false, NULL, 0}
#define NUMBER(n, req, nonneg) {n, F_NUMBER, req, 0, false, nonneg, NULL, NULL, false, NULL, 0}
#define ENUM(n, req, ename, vals, open) {n, F_ENUM, req, 0, false, false, ename, vals, open, NULL, 0}
#define BOOL(n, req) {n, F_BOOL, req, 0, false, false, NULL, NULL, false, NULL, 0}
#define OBJECT(n, req, spec) {n, F_OBJECT, req, 0, false, false, NULL, NULL, false, spec, 0}
#define ARRAY(n, req, spec, min) {n, F_ARRAY, req, 0, false, false, NULL, NULL, false, spec, min}
#define NOT221(n) {n, F_NOT_221, false, 0, false, false, NULL, NULL, false, NULL, 0}
#define SPEC(name, fields, open, post) {name, fields, lengthof(fields), open, post}

/* CdrDimension; dimension_post() reads its slots by DimensionField. */
typedef enum DimensionField
{
	D_TYPE,
	D_VOLUME,
	D_NFIELDS
} DimensionField;

static const FieldSpec dimension_fields[] = {
	[D_TYPE] = ENUM("type", true, "CdrDimensionType", dimension_type_values, false),
	[D_VOLUME] = NUMBER("volume", true, false),
};

StaticAssertDecl(lengthof(dimension_fields) == D_NFIELDS,
				 "dimension_fields[] must have one entry per DimensionField");

static const ObjectSpec dimension_spec = SPEC("CdrDimension", dimension_fields, false, dimension_post);

/* ChargingPeriod */
static const FieldSpec period_fields[] = {
	DATETIME("start_date_time", true),
	ARRAY("dimensions", true, &dimension_spec, 1),
	CISTR("tariff_id", 36, false),
};
static const ObjectSpec period_spec = SPEC("ChargingPeriod", period_fields, false, NULL);

/* CdrToken: TokenType is closed in 2.2.1, open (with EMAID) in 2.3.0. */
#define TOKEN_FIELDS(types, open) { \
	CISTR("country_code", 2, true), \
	CISTR("party_id", 3, true), \
	CISTR("uid", 36, true), \
	ENUM("type", true, "TokenType", types, open), \
	CISTR("contract_id", 36, true), \
}
static const FieldSpec token_fields_221[] = TOKEN_FIELDS(token_type_221, false);
static const FieldSpec token_fields_230[] = TOKEN_FIELDS(token_type_230, true);
static const ObjectSpec token_spec_221 = SPEC("CdrToken", token_fields_221, false, NULL);
static const ObjectSpec token_spec_230 = SPEC("CdrToken", token_fields_230, false, NULL);

/* Price: 2.2.1 {excl_vat, incl_vat}; 2.3.0 {before_taxes, taxes[TaxAmount]} */
static const FieldSpec price_fields_221[] = {
	NUMBER("excl_vat", true, false),
	NUMBER("incl_vat", false, false),
};
static const ObjectSpec price_spec_221 = SPEC("Price", price_fields_221, false, NULL);

static const FieldSpec tax_fields[] = {
	STR("name", 0, true),
	STR("account_number", 0, false),
	NUMBER("percentage", false, false),
	NUMBER("amount", true, false),
};
static const ObjectSpec tax_spec = SPEC("TaxAmount", tax_fields, false, NULL);

static const FieldSpec price_fields_230[] = {
	NUMBER("before_taxes", true, false),
	ARRAY("taxes", false, &tax_spec, 0),
};
static const ObjectSpec price_spec_230 = SPEC("Price", price_fields_230, false, NULL);

/* ChargingPreferences (same in both versions); the policy on profile types
 * lives in SQL, so any enum-shaped value passes here. */
static const FieldSpec preferences_fields[] = {
	ENUM("profile_type", true, "ProfileType", profile_type_values, true),
	DATETIME("departure_time", false),
	NUMBER("energy_need", false, true),
	BOOL("discharge_allowed", false),
};
static const ObjectSpec preferences_spec = SPEC("ChargingPreferences", preferences_fields, true, NULL);

/*
 * Session; OcpiSessionField (ocpi/ocpi_validate.h) indexes its slots, for
 * session_post() here and for the store's typed columns. Missing required
 * fields are reported in this order, which is the enum's.
 */
#define SESSION_FIELDS(token_spec, price_spec, preferences) { \
	[OCPI_S_COUNTRY_CODE] = KEYSTR("country_code", 2), \
	[OCPI_S_PARTY_ID] = KEYSTR("party_id", 3), \
	[OCPI_S_ID] = KEYSTR("id", 36), \
	[OCPI_S_START] = DATETIME("start_date_time", true), \
	[OCPI_S_END] = DATETIME("end_date_time", false), \
	[OCPI_S_KWH] = NUMBER("kwh", true, true), \
	[OCPI_S_CDR_TOKEN] = OBJECT("cdr_token", true, token_spec), \
	[OCPI_S_AUTH_METHOD] = ENUM("auth_method", true, "AuthMethod", auth_method_values, false), \
	[OCPI_S_AUTH_REF] = CISTR("authorization_reference", 36, false), \
	[OCPI_S_LOCATION] = CISTR("location_id", 36, true), \
	[OCPI_S_EVSE] = CISTR("evse_uid", 36, true), \
	[OCPI_S_CONNECTOR] = CISTR("connector_id", 36, true), \
	[OCPI_S_METER] = STR("meter_id", 255, false), \
	[OCPI_S_CURRENCY] = STR("currency", 3, true), \
	[OCPI_S_PERIODS] = ARRAY("charging_periods", false, &period_spec, 0), \
	[OCPI_S_TOTAL_COST] = OBJECT("total_cost", false, price_spec), \
	[OCPI_S_STATUS] = ENUM("status", true, "SessionStatus", session_status_values, false), \
	[OCPI_S_PREFERENCES] = preferences, \
	[OCPI_S_LAST_UPDATED] = DATETIME("last_updated", true), \
}
static const FieldSpec session_fields_221[] =
SESSION_FIELDS(&token_spec_221, &price_spec_221, NOT221("charging_preferences"));
static const FieldSpec session_fields_230[] =
SESSION_FIELDS(&token_spec_230, &price_spec_230, OBJECT("charging_preferences", false, &preferences_spec));

StaticAssertDecl(lengthof(session_fields_221) == OCPI_SESSION_NFIELDS &&
				 lengthof(session_fields_230) == OCPI_SESSION_NFIELDS,
				 "session_fields_*[] must have one entry per OcpiSessionField");

static const ObjectSpec session_spec_221 = SPEC("Session", session_fields_221, false, session_post);
static const ObjectSpec session_spec_230 = SPEC("Session", session_fields_230, false, session_post);

/* Every object fits the slots its caller provides (validate_object). */
#define FITS_SLOTS(fields) \
	StaticAssertDecl(lengthof(fields) <= OCPI_MAX_FIELDS, \
					 #fields "[] has more fields than OCPI_MAX_FIELDS slots")
FITS_SLOTS(dimension_fields);
FITS_SLOTS(period_fields);
FITS_SLOTS(token_fields_221);
FITS_SLOTS(token_fields_230);
FITS_SLOTS(price_fields_221);
FITS_SLOTS(tax_fields);
FITS_SLOTS(price_fields_230);
FITS_SLOTS(session_fields_221);
FITS_SLOTS(session_fields_230);
FITS_SLOTS(preferences_fields);

/* ---- problems ----------------------------------------------------------- */

/*
 * problem_cmp
 *		Document order of two problems: their paths' positions step by step,
 *		a path before the paths below it, then the order of discovery.
 */
static int
problem_cmp(const OcpiProblem *a, const OcpiProblem *b)
{
	int			n = Min(a->depth, b->depth);

	n = Min(n, SA_JSON_PATH_MAX);
	for (int i = 0; i < n; i++)
		if (a->ord[i] != b->ord[i])
			return a->ord[i] < b->ord[i] ? -1 : 1;
	if (a->depth != b->depth)
		return a->depth < b->depth ? -1 : 1;
	return a->seq < b->seq ? -1 : (a->seq > b->seq ? 1 : 0);
}

/*
 * record_problem
 *		Count a problem at the current path and keep it when it is among the
 *		first OCPI_LIST_PROBLEMS in document order. Its text is formatted
 *		only when kept, so a document with very many problems costs a
 *		comparison per problem, not a message. Returns false.
 */
static bool pg_attribute_printf(4, 0)
record_problem(OcpiCheck *c, const char *hint, int sqlstate, const char *fmt, va_list ap)
{
	OcpiProblem cand;
	StringInfoData problem;
	char	   *path;
	int			pos;

	cand.sqlstate = sqlstate;
	cand.hint = hint;
	cand.depth = c->path.depth;
	memcpy(cand.ord, c->ord, sizeof(cand.ord));
	cand.seq = c->nproblems;
	c->failed = true;
	c->nproblems++;

	if (c->kept == NULL)
		c->kept = palloc(sizeof(OcpiProblem) * OCPI_LIST_PROBLEMS);
	pos = c->nkept;
	while (pos > 0 && problem_cmp(&cand, &c->kept[pos - 1]) < 0)
		pos--;
	if (pos >= OCPI_LIST_PROBLEMS)
		return false;

	initStringInfo(&problem);
	for (;;)
	{
		va_list		args;
		int			needed;

		va_copy(args, ap);
		needed = appendStringInfoVA(&problem, fmt, args);
		va_end(args);
		if (needed == 0)
			break;
		enlargeStringInfo(&problem, needed);
	}
	path = sa_path_string(&c->path);
	cand.text = psprintf("%s%s%s", path, *path ? " " : "", problem.data);

	if (c->nkept == OCPI_LIST_PROBLEMS)
		c->nkept--;				/* the last one drops out */
	memmove(&c->kept[pos + 1], &c->kept[pos], sizeof(OcpiProblem) * (c->nkept - pos));
	c->kept[pos] = cand;
	c->nkept++;
	return false;
}

/*
 * sa_ocpi_fail
 *		Record a problem: SQLSTATE and a text naming the JSON path being
 *		looked at. Returns false so checks can "return sa_ocpi_fail(..)".
 */
bool
sa_ocpi_fail(OcpiCheck *c, int sqlstate, const char *fmt,...)
{
	va_list		ap;

	va_start(ap, fmt);
	record_problem(c, NULL, sqlstate, fmt, ap);
	va_end(ap);
	return false;
}

/* sa_ocpi_fail with a hint for the sender (a static string). */
static bool pg_attribute_printf(4, 5)
fail_hint(OcpiCheck *c, const char *hint, int sqlstate, const char *fmt,...)
{
	va_list		ap;

	va_start(ap, fmt);
	record_problem(c, hint, sqlstate, fmt, ap);
	va_end(ap);
	return false;
}

/* The errdetail of a refusal lists problems up to this many bytes. */
#define OCPI_DETAIL_BUDGET 800

/*
 * sa_ocpi_check_report
 *		The refusal of the recorded problems, as sa_ocpi_raise_check() raises
 *		it: errmsg names the first in document order (its SQLSTATE is the
 *		error's), errdetail carries the OCPI status code a backend answers
 *		with and lists the problems, errhint the hints of the listed
 *		problems. Every part stays within OCPI_DETAIL_BUDGET plus one
 *		problem, so no document floods a message. For callers that report
 *		per document (ocpi_put_many) instead of raising.
 */
void
sa_ocpi_check_report(const OcpiCheck *c, OcpiReport *r)
{
	StringInfoData detail,
				hint;
	const OcpiProblem *first = &c->kept[0];
	int			listed = 0;

	Assert(c->failed && c->nkept > 0);
	initStringInfo(&detail);
	appendStringInfo(&detail, "OCPI status code 2001 (Invalid or missing parameters). %d problem%s: ",
					 c->nproblems, c->nproblems == 1 ? "" : "s");
	for (int i = 0; i < c->nkept; i++)
	{
		if (i > 0 && detail.len + strlen(c->kept[i].text) > OCPI_DETAIL_BUDGET)
			break;
		appendStringInfo(&detail, "%s%s", i ? "; " : "", c->kept[i].text);
		listed++;
	}
	if (listed < c->nproblems)
		appendStringInfo(&detail, "; and %d more", c->nproblems - listed);
	appendStringInfoChar(&detail, '.');

	initStringInfo(&hint);
	for (int i = 0; i < listed; i++)
	{
		bool		seen = false;

		if (c->kept[i].hint == NULL)
			continue;
		for (int j = 0; j < i; j++)
			seen |= c->kept[j].hint == c->kept[i].hint;
		if (!seen)
			appendStringInfo(&hint, "%s ", c->kept[i].hint);
	}
	appendStringInfoString(&hint, first->sqlstate == ERRCODE_CHECK_VIOLATION && c->nproblems == 1 ?
						   "Send a consistent object; nothing was stored." :
						   "Correct the object and send it again; nothing was stored.");

	r->sqlstate = first->sqlstate;
	r->message = psprintf("invalid OCPI %s%s%s: %s",
						  c->versioned ? version_names[c->version] : "",
						  c->versioned ? " " : "", c->object, first->text);
	r->detail = detail.data;
	r->hint = hint.data;
}

/* Raise the recorded problems (sa_ocpi_check_report()). */
void
sa_ocpi_raise_check(OcpiCheck *c)
{
	OcpiReport	r;

	sa_ocpi_check_report(c, &r);
	ereport(ERROR,
			(errcode(r.sqlstate),
			 errmsg("%s", r.message),
			 errdetail("%s", r.detail),
			 errhint("%s", r.hint)));
	pg_unreachable();
}

/* A fresh check of one object of one version. */
void
sa_ocpi_check_init(OcpiCheck *c, OcpiVersion version, const char *object)
{
	memset(c, 0, sizeof(*c));
	c->version = version;
	c->object = object;
	c->versioned = true;
}

/* Descend into a member (ordinal: its position) or an array element. */
static void
push_key(OcpiCheck *c, const char *key, int keylen, int ord)
{
	if (c->path.depth < SA_JSON_PATH_MAX)
		c->ord[c->path.depth] = ord;
	sa_path_push_key(&c->path, key, keylen);
}

static void
push_index(OcpiCheck *c, int index)
{
	if (c->path.depth < SA_JSON_PATH_MAX)
		c->ord[c->path.depth] = index;
	sa_path_push_index(&c->path, index);
}

/* ---- the sender's member order ------------------------------------------ */

/*
 * The member order of a JSON text: one node per object or array (down to
 * ORDER_MAX_DEPTH, deeper than any Session field), an object's keys in text
 * order. A jsonb object iterates its keys sorted (shorter first, then
 * bytewise) with duplicates resolved to the last; sorted[] lists the keys
 * the same way, so the i-th jsonb member is the node's sorted[i].
 */
#define ORDER_MAX_DEPTH 8

struct OcpiOrder
{
	bool		is_array;
	int			n;
	int			cap;
	char	  **keys;			/* objects: keys in text order */
	int		   *keylens;
	struct OcpiOrder **child;	/* child[i]: node of member / element i */
	int		   *sorted;			/* objects: text positions in jsonb order */
	int			nsorted;
};

typedef struct OrderBuild
{
	int			depth;
	OcpiOrder  *stack[ORDER_MAX_DEPTH + 1];
	OcpiOrder  *root;
} OrderBuild;

/* A new slot (member or element) in node o; returns its position. */
static int
order_add(OcpiOrder *o, char *key)
{
	if (o->n == o->cap)
	{
		o->cap = o->cap ? o->cap * 2 : 8;
		o->keys = o->keys ? repalloc(o->keys, sizeof(char *) * o->cap) : palloc(sizeof(char *) * o->cap);
		o->keylens = o->keylens ? repalloc(o->keylens, sizeof(int) * o->cap) : palloc(sizeof(int) * o->cap);
		o->child = o->child ? repalloc(o->child, sizeof(OcpiOrder *) * o->cap) : palloc(sizeof(OcpiOrder *) * o->cap);
	}
	o->keys[o->n] = key;
	o->keylens[o->n] = key ? strlen(key) : 0;
	o->child[o->n] = NULL;
	return o->n++;
}

/* A container starts: a node below the current slot, while shallow enough. */
static void
order_container_start(OrderBuild *b, bool is_array)
{
	b->depth++;
	if (b->depth <= ORDER_MAX_DEPTH && (b->depth == 1 || b->stack[b->depth - 1] != NULL))
	{
		OcpiOrder  *o = palloc0(sizeof(OcpiOrder));
		OcpiOrder  *parent = b->depth > 1 ? b->stack[b->depth - 1] : NULL;

		o->is_array = is_array;
		if (parent == NULL)
			b->root = o;
		else if (parent->n > 0)
			parent->child[parent->n - 1] = o;
		b->stack[b->depth] = o;
	}
	else if (b->depth <= ORDER_MAX_DEPTH)
		b->stack[b->depth] = NULL;
}

/* The parser's callbacks (PostgreSQL 15: they return nothing). */
static void
order_object_start(void *state)
{
	order_container_start(state, false);
}

static void
order_array_start(void *state)
{
	order_container_start(state, true);
}

/* jsonb's key order (shorter first, then bytewise), then text position. */
static int
order_key_cmp(const void *a, const void *b, void *arg)
{
	const OcpiOrder *o = arg;
	int			x = *(const int *) a,
				y = *(const int *) b;

	if (o->keylens[x] != o->keylens[y])
		return o->keylens[x] < o->keylens[y] ? -1 : 1;
	if (o->keylens[x] > 0)
	{
		int			r = memcmp(o->keys[x], o->keys[y], o->keylens[x]);

		if (r != 0)
			return r;
	}
	return x < y ? -1 : (x > y ? 1 : 0);
}

/* An object ends: list its keys as jsonb iterates them (last duplicate wins). */
static void
order_container_end(void *state)
{
	OrderBuild *b = state;

	if (b->depth <= ORDER_MAX_DEPTH && b->stack[b->depth] != NULL && !b->stack[b->depth]->is_array)
	{
		OcpiOrder  *o = b->stack[b->depth];
		int		   *idx = palloc(sizeof(int) * Max(o->n, 1));
		int			n = 0;

		for (int i = 0; i < o->n; i++)
			idx[i] = i;
		qsort_arg(idx, o->n, sizeof(int), order_key_cmp, o);
		for (int i = 0; i < o->n; i++)
		{
			if (n > 0 && o->keylens[idx[n - 1]] == o->keylens[idx[i]] &&
				memcmp(o->keys[idx[n - 1]], o->keys[idx[i]], o->keylens[idx[i]]) == 0)
				n--;			/* a duplicate key: jsonb keeps the last */
			idx[n++] = idx[i];
		}
		o->sorted = idx;
		o->nsorted = n;
	}
	b->depth--;
}

/*
 * order_member
 *		The text position and node of the j-th member (in jsonb order) of an
 *		object whose node is o; false when o does not describe it.
 */
static bool
order_member(const OcpiOrder *o, int j, const JsonbValue *key, int *pos, const OcpiOrder **child)
{
	int			t;

	if (o == NULL || o->is_array || j >= o->nsorted)
		return false;
	t = o->sorted[j];
	if (o->keylens[t] != key->val.string.len ||
		memcmp(o->keys[t], key->val.string.val, key->val.string.len) != 0)
		return false;
	*pos = t;
	*child = o->child[t];
	return true;
}

static void
order_field_start(void *state, char *fname, bool isnull)
{
	OrderBuild *b = state;

	if (b->depth <= ORDER_MAX_DEPTH && b->stack[b->depth] != NULL)
		order_add(b->stack[b->depth], fname);
}

static void
order_element_start(void *state, bool isnull)
{
	OrderBuild *b = state;

	if (b->depth <= ORDER_MAX_DEPTH && b->stack[b->depth] != NULL)
		order_add(b->stack[b->depth], NULL);
}

/*
 * sa_ocpi_text_order
 *		The member order of a JSON text the caller has already parsed into
 *		jsonb (so it is valid JSON); NULL for a scalar document.
 */
const OcpiOrder *
sa_ocpi_text_order(const char *json, int len)
{
	OrderBuild	b;
	JsonSemAction sem;
	JsonLexContext *lex;
	JsonParseErrorType rc;

	memset(&b, 0, sizeof(b));
	memset(&sem, 0, sizeof(sem));
	sem.semstate = &b;
	sem.object_start = order_object_start;
	sem.object_end = order_container_end;
	sem.array_start = order_array_start;
	sem.array_end = order_container_end;
	sem.object_field_start = order_field_start;
	sem.array_element_start = order_element_start;
	lex = makeJsonLexContextCstringLen(unconstify(char *, json), len, GetDatabaseEncoding(), true);
	rc = pg_parse_json(lex, &sem);
	if (rc != JSON_SUCCESS)
		json_ereport_error(rc, lex);
	return b.root;
}

/* ---- field checks ------------------------------------------------------- */

static bool validate_object(OcpiCheck *c, const ObjectSpec *spec,
							JsonbContainer *cont, OcpiSlot *slots, const OcpiOrder *order);

/* A list of enum values for a message: "A, B, C". */
static char *
enum_list(const char *const *values)
{
	StringInfoData buf;

	initStringInfo(&buf);
	for (int i = 0; values[i]; i++)
		appendStringInfo(&buf, "%s%s", i ? ", " : "", values[i]);
	return buf.data;
}

/* Enum values are spelled in upper case letters, digits and underscores. */
static bool
enum_shaped(const char *s, int len)
{
	if (len < 1 || len > 255)
		return false;
	for (int i = 0; i < len; i++)
		if (!((s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '_'))
			return false;
	return true;
}

/* Hints a sender needs beyond the rule itself. */
static const char hint_new_in_221[] =
"cdr_token.country_code and cdr_token.party_id are new in OCPI 2.2.1 (a 2.2 CdrToken has neither): add the country_code and party_id of the eMSP that issued the token.";
static const char hint_preferences_221[] =
"OCPI 2.2.1 sends charging preferences apart from the Session: PUT them with sessions.ocpi_put_charging_preferences(country_code, party_id, session_id, preferences).";
static const char hint_meter_value[] =
"meter_value is not an OCPI Session field: send meter readings as charging_periods with CdrDimensions (e.g. ENERGY, POWER, STATE_OF_CHARGE); a 2.3.0 Session keeps unknown members as received.";

static const int days_in_month[2][12] = {
	{31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31},
	{31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31}
};

/* Whether s[0..n-1] are ASCII digits; their value in *out. */
static bool
digits_at(const char *s, int len, int at, int n, int *out)
{
	int			v = 0;

	if (at + n > len)
		return false;
	for (int i = at; i < at + n; i++)
	{
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (s[i] - '0');
	}
	*out = v;
	return true;
}

/*
 * datetime_reason
 *		Why a string is not an OCPI DateTime, in the sender's terms: its
 *		length, a UTC offset, a missing 'T', a date or time that does not
 *		exist, else the form. Echoes at most six characters of the value.
 */
static char *
datetime_reason(const char *s, int len)
{
	int			y,
				mo,
				d,
				h,
				mi,
				sec,
				off,
				i;
	bool		shaped;

	if (len > 25)
		return psprintf("%d characters, at most 25", len);
	shaped = digits_at(s, len, 0, 4, &y) && len > 4 && s[4] == '-' &&
		digits_at(s, len, 5, 2, &mo) && len > 7 && s[7] == '-' &&
		digits_at(s, len, 8, 2, &d) && len > 10;
	if (shaped && s[10] != 'T')
		return pstrdup(s[10] == ' ' || s[10] == 't' ?
					   "date and time must be separated by an upper-case 'T'" :
					   "the date must be followed by 'T' and the time");
	shaped = shaped && digits_at(s, len, 11, 2, &h) && len > 13 && s[13] == ':' &&
		digits_at(s, len, 14, 2, &mi) && len > 16 && s[16] == ':' &&
		digits_at(s, len, 17, 2, &sec);
	if (!shaped)
		return pstrdup("it does not have the form YYYY-MM-DDThh:mm:ss[.fraction][Z]");
	i = 19;
	if (i < len && s[i] == '.')
	{
		int			start = ++i;

		while (i < len && s[i] >= '0' && s[i] <= '9')
			i++;
		if (i == start)
			return pstrdup("'.' must be followed by the digits of a fraction of a second");
	}
	if (len - i == 6 && (s[i] == '+' || s[i] == '-') &&
		digits_at(s, len, i + 1, 2, &off) && s[i + 3] == ':' && digits_at(s, len, i + 4, 2, &off))
		return psprintf("it has the UTC offset %.6s, but OCPI DateTimes are UTC: end in 'Z' or in nothing%s",
						s + i, memcmp(s + i, "+00:00", 6) == 0 ? " (\"+00:00 is not the same as UTC\")" : "");
	if (i < len && s[i] == 'z')
		return pstrdup("the UTC designator is an upper-case 'Z'");
	if (i < len && !(s[i] == 'Z' && i + 1 == len))
		return pstrdup("after the seconds only a fraction and 'Z' may follow");
	if (mo < 1 || mo > 12)
		return psprintf("month %02d does not exist", mo);
	if (y < 1)
		return pstrdup("year 0000 does not exist");
	if (d < 1 || d > days_in_month[(y % 4 == 0 && y % 100 != 0) || y % 400 == 0][mo - 1])
		return psprintf("day %02d does not exist in %04d-%02d", d, y, mo);
	if (h > 23)
		return psprintf("hour %02d does not exist (00 to 23)", h);
	if (mi > 59)
		return psprintf("minute %02d does not exist (00 to 59)", mi);
	if (sec > 59)
		return psprintf("second %02d is not accepted (00 to 59, no leap seconds)", sec);
	return pstrdup("it is not a valid date and time");
}

/* Record that a member has the wrong JSON type. */
bool
sa_ocpi_wrong_type(OcpiCheck *c, const char *want, const JsonbValue *v)
{
	return sa_ocpi_fail(c, ERRCODE_INVALID_PARAMETER_VALUE, "must be %s, not %s", want, sa_jsonb_kind(v));
}

/*
 * validate_value
 *		Check one present, non-null member against its field specification;
 *		order is the node of the value in the sender's text, or NULL. Nested
 *		objects report all their problems; returns whether there was none.
 */
static bool
validate_value(OcpiCheck *c, const FieldSpec *f, const JsonbValue *v, OcpiSlot *slot,
			   const OcpiOrder *order)
{
	switch (f->kind)
	{
		case F_CISTRING:
			if (v->type != jbvString)
				return sa_ocpi_wrong_type(c, "a string", v);
			if (f->maxlen > 0 && v->val.string.len > f->maxlen)
				return sa_ocpi_fail(c, ERRCODE_STRING_DATA_RIGHT_TRUNCATION,
									"is longer than %d characters (CiString(%d))", f->maxlen, f->maxlen);
			if (!sa_printable_ascii(v->val.string.val, v->val.string.len))
				return sa_ocpi_fail(c, ERRCODE_CHARACTER_NOT_IN_REPERTOIRE,
									"must hold printable ASCII characters only (CiString)");
			if (f->nonempty && v->val.string.len == 0)
				return sa_ocpi_fail(c, ERRCODE_INVALID_PARAMETER_VALUE, "must not be empty");
			break;

		case F_STRING:
			{
				int			n;

				if (v->type != jbvString)
					return sa_ocpi_wrong_type(c, "a string", v);
				n = sa_printable_utf8_chars(v->val.string.val, v->val.string.len);
				if (n < 0)
					return sa_ocpi_fail(c, ERRCODE_CHARACTER_NOT_IN_REPERTOIRE,
										"must not hold control characters (string)");
				if (f->maxlen > 0 && n > f->maxlen)
					return sa_ocpi_fail(c, ERRCODE_STRING_DATA_RIGHT_TRUNCATION,
										"is longer than %d characters (string(%d))", f->maxlen, f->maxlen);
				break;
			}

		case F_DATETIME:
			if (v->type != jbvString)
				return sa_ocpi_wrong_type(c, "a DateTime string", v);
			if (v->val.string.len > 25 ||
				!sa_parse_rfc3339_utc(v->val.string.val, v->val.string.len, &slot->ts))
				return sa_ocpi_fail(c, ERRCODE_INVALID_DATETIME_FORMAT,
									"%s is not an OCPI DateTime: %s (RFC 3339 in UTC, at most 25 characters, e.g. 2015-06-29T20:39:09Z)",
									sa_jsonb_brief(v), datetime_reason(v->val.string.val, v->val.string.len));
			break;

		case F_NUMBER:
			if (v->type != jbvNumeric)
				return sa_ocpi_wrong_type(c, "a number", v);
			if (numeric_is_nan(v->val.numeric) || numeric_is_inf(v->val.numeric))
				return sa_ocpi_fail(c, ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE, "must be a finite number");
			if (f->nonneg && sa_jsonb_numeric_sign(v) < 0)
				return sa_ocpi_fail(c, ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE, "must not be negative");
			break;

		case F_ENUM:
			if (v->type != jbvString)
				return sa_ocpi_wrong_type(c, "a string", v);
			for (int i = 0; f->values[i]; i++)
				if (name_is(f->values[i], v->val.string.val, v->val.string.len))
					return true;
			if (f->open_enum && enum_shaped(v->val.string.val, v->val.string.len))
				return true;
			return sa_ocpi_fail(c, ERRCODE_INVALID_PARAMETER_VALUE, "%s is not a valid %s (%s%s)",
								sa_jsonb_brief(v), f->enum_name, enum_list(f->values),
								f->open_enum ? ", or another upper-case enum value" : "");

		case F_BOOL:
			if (v->type != jbvBool)
				return sa_ocpi_wrong_type(c, "a boolean", v);
			break;

		case F_OBJECT:
			{
				OcpiSlot	sub[OCPI_MAX_FIELDS];

				if (!sa_jsonb_is_object(v))
					return sa_ocpi_wrong_type(c, "an object", v);
				return validate_object(c, f->sub, v->val.binary.data, sub, order);
			}

		case F_ARRAY:
			{
				int			n;

				if (!sa_jsonb_is_array(v))
					return sa_ocpi_wrong_type(c, "an array", v);
				n = sa_jsonb_array_size(v);
				if (n < f->min_items)
					return sa_ocpi_fail(c, ERRCODE_INVALID_PARAMETER_VALUE,
										"must hold at least %d element%s", f->min_items,
										f->min_items == 1 ? "" : "s");
				{
					bool		all_ok = true;

					for (int i = 0; i < n; i++)
					{
						JsonbValue	e;
						OcpiSlot	sub[OCPI_MAX_FIELDS];
						const OcpiOrder *eo = NULL;

						if (order != NULL && order->is_array && i < order->n)
							eo = order->child[i];
						push_index(c, i);
						if (!sa_jsonb_array_elem(v, i, &e))
							elog(ERROR, "array element %d missing", i);
						if (!sa_jsonb_is_object(&e))
							all_ok &= sa_ocpi_fail(c, ERRCODE_INVALID_PARAMETER_VALUE,
												   "must be a %s object, not %s", f->sub->name, sa_jsonb_kind(&e));
						else
							all_ok &= validate_object(c, f->sub, e.val.binary.data, sub, eo);
						sa_path_pop(&c->path);
					}
					return all_ok;
				}
			}

		case F_NOT_221:
			/* validate_object() refuses it before looking at the value */
			break;
	}
	return true;
}

/*
 * A table's fields in jsonb key order: shorter names first, then bytewise,
 * the order in which a jsonb object stores (and sa_object_iter returns) its
 * members. validate_object() then matches the members against the fields in
 * one merge walk (match_field) instead of searching the table for each
 * member. Built once per backend and table (the tables are static).
 */
typedef struct FieldOrder
{
	const FieldSpec *fields;	/* the table it is the order of */
	int			n;
	int			idx[OCPI_MAX_FIELDS];	/* field indexes, in key order */
	int			len[OCPI_MAX_FIELDS];	/* their names' lengths */
} FieldOrder;

#define MAX_FIELD_ORDERS 32		/* more than the field tables above (a fixed set) */
static FieldOrder field_orders[MAX_FIELD_ORDERS];
static int	nfield_orders = 0;

/* jsonb's key order (lengthCompareJsonbStringValue): length, then bytes. */
static int
key_order_cmp(const char *a, int alen, const char *b, int blen)
{
	if (alen != blen)
		return alen < blen ? -1 : 1;
	return memcmp(a, b, alen);
}

/*
 * field_order
 *		The key order of spec's table.
 */
static const FieldOrder *
field_order(const ObjectSpec *spec)
{
	FieldOrder *fo;

	for (int k = 0; k < nfield_orders; k++)
		if (field_orders[k].fields == spec->fields)
			return &field_orders[k];
	if (nfield_orders == MAX_FIELD_ORDERS)
		elog(ERROR, "more OCPI field tables than MAX_FIELD_ORDERS (%d)", MAX_FIELD_ORDERS);
	fo = &field_orders[nfield_orders];
	fo->n = 0;
	for (int i = 0; i < spec->nfields; i++)
	{
		const char *name = spec->fields[i].name;
		int			len;
		int			at;

		Assert(name != NULL);	/* no gap in a designated-index table */
		len = strlen(name);
		/* insertion sort: a dozen fields */
		for (at = fo->n; at > 0 &&
			 key_order_cmp(spec->fields[fo->idx[at - 1]].name, fo->len[at - 1], name, len) > 0; at--)
		{
			fo->idx[at] = fo->idx[at - 1];
			fo->len[at] = fo->len[at - 1];
		}
		fo->idx[at] = i;
		fo->len[at] = len;
		fo->n++;
	}
	fo->fields = spec->fields;	/* last: the entry is complete */
	nfield_orders++;
	return fo;
}

/*
 * match_field
 *		The field of the next member, whose key follows the previous
 *		member's in key order; *next is the walk's position in fo. -1 for a
 *		member that is no field.
 */
static int
match_field(const FieldOrder *fo, const ObjectSpec *spec, int *next, const char *key, int keylen)
{
	while (*next < fo->n)
	{
		int			f = fo->idx[*next];
		int			cmp = key_order_cmp(spec->fields[f].name, fo->len[*next], key, keylen);

		if (cmp > 0)
			return -1;			/* the key sorts before every field left */
		(*next)++;
		if (cmp == 0)
			return f;
	}
	return -1;
}

/*
 * validate_object
 *		Check every member of an object, then the required fields, then the
 *		object's cross-field rules, recording every problem. Fills slots[]
 *		(one per field, with the member's position). order is the object's
 *		node in the sender's text or NULL: positions are then the text's,
 *		missing fields after the members, else the OCPI field order, unknown
 *		members after the known ones. Recursion follows the specification
 *		only, so its depth is bounded (4 levels) whatever the document's
 *		nesting. Returns whether the object had no problem.
 */
static bool
validate_object(OcpiCheck *c, const ObjectSpec *spec, JsonbContainer *cont, OcpiSlot *slots,
				const OcpiOrder *order)
{
	SaObjectIter it;
	JsonbValue	key,
				val;
	int			before = c->nproblems;
	int			j = 0;
	bool		text_order = order != NULL && !order->is_array;
	bool		null_seen[OCPI_MAX_FIELDS] = {0};
	const FieldOrder *fo = field_order(spec);
	int			next = 0;

	check_stack_depth();
	Assert(spec->nfields <= OCPI_MAX_FIELDS);
	memset(slots, 0, sizeof(OcpiSlot) * spec->nfields);

	sa_object_iter_init(&it, cont);
	for (; sa_object_iter_next(&it, &key, &val); j++)
	{
		int			i = match_field(fo, spec, &next, key.val.string.val, key.val.string.len);
		int			ord;
		const OcpiOrder *child = NULL;

		if (!text_order || !order_member(order, j, &key, &ord, &child))
		{
			ord = i >= 0 ? i : spec->nfields + j;
			child = NULL;
		}
		push_key(c, key.val.string.val, key.val.string.len, ord);
		if (i < 0 || spec->fields[i].kind == F_NOT_221)
		{
			if (!spec->open && c->version == OCPI_V221)
				fail_hint(c, i >= 0 ? hint_preferences_221 :
						  (spec->post == session_post && sa_jsonb_str_eq(&key, "meter_value")) ?
						  hint_meter_value : NULL,
						  ERRCODE_INVALID_PARAMETER_VALUE,
						  "is not a field of %s in OCPI 2.2.1 (unknown fields are refused in 2.2.1)",
						  spec->name);
		}
		else
		{
			slots[i].ord = ord;
			if (val.type == jbvNull)
			{
				null_seen[i] = true;
				if (spec->fields[i].required)
					sa_ocpi_fail(c, ERRCODE_NULL_VALUE_NOT_ALLOWED, "is required and must not be null");
			}
			else
			{
				slots[i].present = true;
				slots[i].v = val;
				slots[i].valid = validate_value(c, &spec->fields[i], &val, &slots[i], child);
			}
		}
		sa_path_pop(&c->path);
	}

	for (int i = 0; i < spec->nfields; i++)
	{
		const FieldSpec *f = &spec->fields[i];
		bool		is_new_221;

		if (!f->required || slots[i].present || null_seen[i])
			continue;				/* a null member was named above */
		is_new_221 = spec->fields == token_fields_221 || spec->fields == token_fields_230;
		is_new_221 = is_new_221 && (strcmp(f->name, "country_code") == 0 || strcmp(f->name, "party_id") == 0);
		push_key(c, f->name, strlen(f->name), text_order ? order->n + i : i);
		fail_hint(c, is_new_221 ? hint_new_in_221 : NULL, ERRCODE_NULL_VALUE_NOT_ALLOWED, "is required");
		sa_path_pop(&c->path);
	}

	if (spec->post)
		spec->post(c, spec, slots);
	return c->nproblems == before;
}

/*
 * dimension_post
 *		Volumes are non-negative except where the spec gives a negative value
 *		a meaning (from the EV to the grid): CURRENT, ENERGY, MIN_CURRENT,
 *		MIN_POWER and POWER. STATE_OF_CHARGE is a percentage.
 */
static bool
dimension_post(OcpiCheck *c, const ObjectSpec *spec, OcpiSlot *slots)
{
	static const char *const signed_types[] =
	{"CURRENT", "ENERGY", "MIN_CURRENT", "MIN_POWER", "POWER", NULL};
	const JsonbValue *type = &slots[D_TYPE].v;
	const JsonbValue *vol = &slots[D_VOLUME].v;
	bool		ok = true;
	bool		may_be_negative = false;

	if (!slots[D_TYPE].valid || !slots[D_VOLUME].valid)
		return false;			/* their own problems are recorded */
	for (int i = 0; signed_types[i]; i++)
		may_be_negative |= sa_jsonb_str_eq(type, signed_types[i]);

	push_key(c, "volume", 6, slots[D_VOLUME].ord);
	if (!may_be_negative && sa_jsonb_numeric_sign(vol) < 0)
		ok = sa_ocpi_fail(c, ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE,
						  "must not be negative for dimension type %s", sa_jsonb_brief(type));
	else if (sa_jsonb_str_eq(type, "STATE_OF_CHARGE") && sa_jsonb_numeric_cmp_int(vol, 100) > 0)
		ok = sa_ocpi_fail(c, ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE,
						  "must be a percentage (0 to 100) for STATE_OF_CHARGE");
	sa_path_pop(&c->path);
	return ok;
}

/*
 * session_post
 *		A session cannot end before it starts.
 */
static bool
session_post(OcpiCheck *c, const ObjectSpec *spec, OcpiSlot *slots)
{
	bool		ok = true;

	if (slots[OCPI_S_END].valid && slots[OCPI_S_START].valid &&
		slots[OCPI_S_END].ts < slots[OCPI_S_START].ts)
	{
		push_key(c, "end_date_time", 13, slots[OCPI_S_END].ord);
		ok = sa_ocpi_fail(c, ERRCODE_CHECK_VIOLATION, "is before start_date_time");
		sa_path_pop(&c->path);
	}
	return ok;
}

/*
 * validate_document
 *		Check a whole document against an object specification.
 */
static bool
validate_document(OcpiCheck *c, const ObjectSpec *spec, Jsonb *doc, OcpiSlot *slots)
{
	JsonbValue	root;

	memset(slots, 0, sizeof(OcpiSlot) * spec->nfields);	/* none valid if no object */
	sa_jsonb_root(doc, &root);
	if (!sa_jsonb_is_object(&root))
		return sa_ocpi_fail(c, ERRCODE_INVALID_PARAMETER_VALUE, "must be a JSON object, not %s",
							sa_jsonb_kind(&root));
	return validate_object(c, spec, root.val.binary.data, slots, c->order);
}

/* The Session specification of a version. */
static const ObjectSpec *
session_spec(OcpiVersion v)
{
	return v == OCPI_V221 ? &session_spec_221 : &session_spec_230;
}

/*
 * sa_ocpi_validate_session
 *		Check a whole Session under the check's version; on success slots[]
 *		is indexed by OcpiSessionField.
 */
bool
sa_ocpi_validate_session(OcpiCheck *c, Jsonb *doc, OcpiSlot *slots)
{
	return validate_document(c, session_spec(c->version), doc, slots);
}

/* ---- arguments ---------------------------------------------------------- */

/* A text argument as an error message may echo it (bounded, see ocpi/jsonb_access.h). */
char *
sa_ocpi_clip_text(text *t)
{
	return sa_clip_for_message(VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t), SA_MESSAGE_TEXT_CHARS);
}

/* The version argument: '2.2.1' or '2.3.0', else OCPI 3002. */
OcpiVersion
sa_ocpi_parse_version(text *t)
{
	char	   *s = text_to_cstring(t);

	if (strcmp(s, version_names[OCPI_V221]) == 0)
		return OCPI_V221;
	if (strcmp(s, version_names[OCPI_V230]) == 0)
		return OCPI_V230;
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("unsupported OCPI version \"%s\"", sa_ocpi_clip_text(t)),
			 errdetail("OCPI status code 3002 (Unsupported version)."),
			 errhint("Use '2.2.1' or '2.3.0'.")));
	return OCPI_V221;			/* keep compiler quiet */
}

/* ---- rules of the write paths ------------------------------------------- */

/*
 * sa_ocpi_check_url_keys
 *		The object's country_code, party_id and id must equal the keys of the
 *		request (CiString: case-insensitive). Records a problem for each that
 *		does not (keys that failed their own checks are not compared);
 *		returns whether all matched. A NULL sid leaves the id unchecked: a
 *		bulk PUT names no session in its request.
 */
bool
sa_ocpi_check_url_keys(OcpiCheck *c, OcpiSlot *s, text *cc, text *pid, text *sid)
{
	static const char *const names[] = {"country_code", "party_id", "id"};
	text	   *url[3] = {cc, pid, sid};
	const int	slot[3] = {OCPI_S_COUNTRY_CODE, OCPI_S_PARTY_ID, OCPI_S_ID};

	bool		ok = true;

	for (int i = 0; i < (sid ? 3 : 2); i++)
	{
		const JsonbValue *v = &s[slot[i]].v;

		if (s[slot[i]].valid &&
			!sa_ascii_equal_ci(v->val.string.val, v->val.string.len,
							   VARDATA_ANY(url[i]), VARSIZE_ANY_EXHDR(url[i])))
		{
			push_key(c, names[i], strlen(names[i]), s[slot[i]].ord);
			ok = sa_ocpi_fail(c, ERRCODE_INVALID_PARAMETER_VALUE,
							  "%s does not match the %s of the request", sa_jsonb_brief(v), names[i]);
			sa_path_pop(&c->path);
		}
	}
	return ok;
}

/*
 * sa_ocpi_kwh_storable
 *		A finite number beyond float8 (1e400) passes ocpi_validate() but
 *		cannot be stored in the store's float8 column; false records that,
 *		on the write paths only.
 */
bool
sa_ocpi_kwh_storable(OcpiCheck *c, OcpiSlot *s)
{
	if (!isinf(sa_jsonb_float8(&s[OCPI_S_KWH].v)))
		return true;
	push_key(c, "kwh", 3, s[OCPI_S_KWH].ord);
	sa_ocpi_fail(c, ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE, "is out of range");
	sa_path_pop(&c->path);
	return false;
}

/* The validated kwh as float8, the store's column type; raised when not storable. */
double
sa_ocpi_session_kwh(OcpiCheck *c, OcpiSlot *s)
{
	double		kwh = sa_jsonb_float8(&s[OCPI_S_KWH].v);

	if (isinf(kwh) && !sa_ocpi_kwh_storable(c, s))
		sa_ocpi_raise_check(c);
	return kwh;
}

/*
 * sa_ocpi_arg_is_text
 *		Whether argument argno of the running function is declared text (the
 *		overloads that take the sender's JSON text) rather than jsonb.
 */
bool
sa_ocpi_arg_is_text(FunctionCallInfo fcinfo, int argno)
{
	Oid			t = get_fn_expr_argtype(fcinfo->flinfo, argno);

	if (!OidIsValid(t))
	{
		Oid		   *types;
		int			nargs;

		get_func_signature(fcinfo->flinfo->fn_oid, &types, &nargs);
		t = argno < nargs ? types[argno] : InvalidOid;
	}
	return t == TEXTOID;
}

/*
 * sa_ocpi_parse_text
 *		The sender's JSON text as jsonb (jsonb_in's errors for invalid JSON),
 *		with the text's member order kept in the check, so its problems are
 *		listed in the order the sender wrote them.
 */
Jsonb *
sa_ocpi_parse_text(OcpiCheck *c, text *t)
{
	char	   *s = text_to_cstring(t);
	Jsonb	   *doc = DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(s)));

	c->order = sa_ocpi_text_order(s, strlen(s));
	return doc;
}

/*
 * sa_ocpi_raise_party_not_mapped
 *		A write into a party (namespace) the calling role is not mapped to:
 *		refused before anything is looked at, with the mapping that allows it.
 */
void
sa_ocpi_raise_party_not_mapped(text *cc, text *pid)
{
	char	   *role = GetUserNameFromId(GetUserId(), false);
	char	   *ucc = sa_ocpi_clip_text(cc);
	char	   *upid = sa_ocpi_clip_text(pid);

	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("OCPI party country_code \"%s\", party_id \"%s\" is not mapped to role \"%s\"",
					ucc, upid, role),
			 errdetail("OCPI status code 2000 (Generic client error), HTTP 403."),
			 errhint("The extension's owner maps it: INSERT INTO sessions.role_namespace (role_name, namespace) VALUES (%s, %s); nothing was stored.",
					 quote_literal_cstr(role),
					 quote_literal_cstr(psprintf("%s-%s", sa_ascii_upper(ucc, strlen(ucc)),
												 sa_ascii_upper(upid, strlen(upid)))))));
	pg_unreachable();
}

/*
 * sa_ocpi_raise_preferences_refused
 *		The charging_preferences of a 2.3.0 Session that
 *		ocpi_put_charging_preferences would not accept (its response).
 */
void
sa_ocpi_raise_preferences_refused(const char *response)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("invalid OCPI 2.3.0 Session: charging_preferences are not accepted (%s)", response),
			 errdetail("OCPI status code 2001 (Invalid or missing parameters)."),
			 errhint("sessions.ocpi_put_charging_preferences() answers %s to these preferences (see docs/ocpi.md, Charging preferences); send the Session without them or with preferences it accepts; nothing was stored.",
					 response)));
	pg_unreachable();
}

/*
 * sa_ocpi_completed_to_active_report
 *		The one status transition OCPI forbids, as a refusal for callers
 *		that report per document; sa_ocpi_raise_completed_to_active() raises
 *		the same.
 */
void
sa_ocpi_completed_to_active_report(OcpiReport *r)
{
	r->sqlstate = ERRCODE_CHECK_VIOLATION;
	r->message = pstrdup("invalid OCPI Session: status cannot change from COMPLETED back to ACTIVE");
	r->detail = pstrdup("OCPI status code 2001 (Invalid or missing parameters).");
	r->hint = pstrdup("Nothing was stored.");
}

/* The one status transition OCPI forbids, raised. */
void
sa_ocpi_raise_completed_to_active(void)
{
	OcpiReport	r;

	sa_ocpi_completed_to_active_report(&r);
	ereport(ERROR,
			(errcode(r.sqlstate),
			 errmsg("%s", r.message),
			 errdetail("%s", r.detail),
			 errhint("%s", r.hint)));
	pg_unreachable();
}

/*
 * sa_ocpi_check_patch
 *		Start the check of a PATCH document (its messages name no version)
 *		and raise unless it is an object with a non-null last_updated. The
 *		caller keeps using the check for the merged Session's URL keys.
 */
void
sa_ocpi_check_patch(OcpiCheck *c, Jsonb *patch)
{
	JsonbValue	root,
				lu;

	sa_ocpi_check_init(c, OCPI_V221, "Session PATCH");
	c->versioned = false;
	sa_jsonb_root(patch, &root);
	if (!sa_jsonb_is_object(&root))
	{
		sa_ocpi_fail(c, ERRCODE_INVALID_PARAMETER_VALUE, "must be a JSON object, not %s", sa_jsonb_kind(&root));
		sa_ocpi_raise_check(c);
	}
	if (!sa_jsonb_get(&patch->root, "last_updated", &lu) || lu.type == jbvNull)
	{
		sa_path_push_key(&c->path, "last_updated", 12);
		sa_ocpi_fail(c, ERRCODE_NULL_VALUE_NOT_ALLOWED, "is required in every PATCH");
		sa_ocpi_raise_check(c);
	}
}

/* Whether a Price in the document is spelled the 2.3.0 way. */
static bool
has_230_price(Jsonb *doc)
{
	JsonbValue	tc,
				x;

	return sa_jsonb_get(&doc->root, "total_cost", &tc) && sa_jsonb_is_object(&tc) &&
		(sa_jsonb_get(tc.val.binary.data, "before_taxes", &x) ||
		 sa_jsonb_get(tc.val.binary.data, "taxes", &x));
}

/*
 * sa_ocpi_validate_patched
 *		A PATCH names no version: the merged Session must be valid under a
 *		version the stored one is valid under (2.2.1 and 2.3.0 differ in
 *		Price, TokenType and unknown fields, so the stored object shows it;
 *		both if it is valid under neither). Raises the problem of the likelier
 *		version; on success slots[] describe the merged Session.
 */
void
sa_ocpi_validate_patched(Jsonb *stored, Jsonb *merged, OcpiSlot *slots)
{
	OcpiCheck	c221,
				c230;
	bool		ok221,
				ok230,
				valid;

	sa_ocpi_check_init(&c221, OCPI_V221, "Session");
	sa_ocpi_check_init(&c230, OCPI_V230, "Session");
	ok221 = validate_document(&c221, &session_spec_221, stored, slots);
	ok230 = validate_document(&c230, &session_spec_230, stored, slots);
	if (!ok221 && !ok230)
		ok221 = ok230 = true;

	valid = false;
	if (ok221)
	{
		sa_ocpi_check_init(&c221, OCPI_V221, "Session");
		valid = validate_document(&c221, &session_spec_221, merged, slots);
	}
	if (!valid && ok230)
	{
		sa_ocpi_check_init(&c230, OCPI_V230, "Session");
		valid = validate_document(&c230, &session_spec_230, merged, slots);
	}
	if (!valid)
		sa_ocpi_raise_check(ok221 && (!ok230 || !has_230_price(merged)) ? &c221 : &c230);
}

/* ---- SQL functions ------------------------------------------------------ */

PG_FUNCTION_INFO_V1(sa_ocpi_validate);
PG_FUNCTION_INFO_V1(sa_ocpi_validate_charging_preferences);

/*
 * sa_ocpi_validate(session jsonb|text, version text) RETURNS boolean
 *		True for a valid Session, else the error listing its problems (in
 *		the text's member order when given the sender's text).
 */
Datum
sa_ocpi_validate(PG_FUNCTION_ARGS)
{
	Jsonb	   *doc;
	OcpiCheck	c;
	OcpiSlot	slots[OCPI_MAX_FIELDS];

	sa_ocpi_check_init(&c, sa_ocpi_parse_version(PG_GETARG_TEXT_PP(1)), "Session");
	doc = sa_ocpi_arg_is_text(fcinfo, 0) ? sa_ocpi_parse_text(&c, PG_GETARG_TEXT_PP(0)) : PG_GETARG_JSONB_P(0);
	if (!sa_ocpi_validate_session(&c, doc, slots))
		sa_ocpi_raise_check(&c);
	PG_RETURN_BOOL(true);
}

/*
 * sa_ocpi_validate_charging_preferences(preferences jsonb) RETURNS boolean
 *		True for a well-formed ChargingPreferences object; whether its
 *		profile type is supported is the caller's policy.
 */
Datum
sa_ocpi_validate_charging_preferences(PG_FUNCTION_ARGS)
{
	Jsonb	   *doc = PG_GETARG_JSONB_P(0);
	OcpiCheck	c;
	OcpiSlot	slots[OCPI_MAX_FIELDS];

	sa_ocpi_check_init(&c, OCPI_V230, "ChargingPreferences");
	c.versioned = false;		/* the same object in both versions */
	if (!validate_document(&c, &preferences_spec, doc, slots))
		sa_ocpi_raise_check(&c);
	PG_RETURN_BOOL(true);
}
