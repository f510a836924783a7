/*
 * ocpi_validate.c
 *		OCPI 2.2.1 / 2.3.0 Sessions: validation of Session and
 *		ChargingPreferences objects on jsonb, and the SQL functions
 *		sessions.ocpi_validate / sessions.ocpi_validate_charging_preferences.
 *
 * This is the validation layer: it reads documents and raises errors, it
 * never writes and never runs SQL (no SPI here). The write paths are in
 * ocpi_store.c, which calls this file through ocpi_validate.h; nothing here
 * knows of the store. Below it is only jsonb_access.
 *
 * Validation walks each object once, member by member, against a static
 * table of its fields, and stops at the first problem. The problem is kept
 * (SQLSTATE, JSON path, text) rather than raised at once, so PATCH can try
 * a document against more than one version before reporting.
 *
 * Contracts of the field tables (checked by the compiler where it can):
 *	- Objects whose slots are read by name (CdrDimension, Session) list
 *	  their fields with designated indexes from an enum (DimensionField,
 *	  OcpiSessionField in ocpi_validate.h), so the order cannot drift; a
 *	  StaticAssertDecl ties each table's length to its enum's count, and a
 *	  duplicate index is an error under -Wextra -Werror (-Woverride-init).
 *	  An entry left out in the middle stays zeroed (no name); find_field()
 *	  asserts against that in assert-enabled builds, and any test crashes.
 *	  The table order is also the order in which missing fields are named.
 *	- Every table fits the OCPI_MAX_FIELDS slots a caller provides.
 *	- version_names[] is indexed by OcpiVersion.
 *	- A field's position has no meaning for SQL: the store maps slots to its
 *	  statement parameters itself (ocpi_store.c, Param_ocpi_row_*).
 */
#include "postgres.h"

#include <math.h>

#include "fmgr.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/numeric.h"

#include "jsonb_access.h"
#include "ocpi_validate.h"

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
	F_ARRAY						/* array of objects */
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

/*
 * Session; OcpiSessionField (ocpi_validate.h) indexes its slots, for
 * session_post() here and for the store's typed columns. Missing required
 * fields are reported in this order, which is the enum's.
 */
#define SESSION_FIELDS(token_spec, price_spec) { \
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
	[OCPI_S_LAST_UPDATED] = DATETIME("last_updated", true), \
}
static const FieldSpec session_fields_221[] = SESSION_FIELDS(&token_spec_221, &price_spec_221);
static const FieldSpec session_fields_230[] = SESSION_FIELDS(&token_spec_230, &price_spec_230);

StaticAssertDecl(lengthof(session_fields_221) == OCPI_SESSION_NFIELDS &&
				 lengthof(session_fields_230) == OCPI_SESSION_NFIELDS,
				 "session_fields_*[] must have one entry per OcpiSessionField");

static const ObjectSpec session_spec_221 = SPEC("Session", session_fields_221, false, session_post);
static const ObjectSpec session_spec_230 = SPEC("Session", session_fields_230, false, session_post);

/* ChargingPreferences (same in both versions); the policy on profile types
 * lives in SQL, so any enum-shaped value passes here. */
static const FieldSpec preferences_fields[] = {
	ENUM("profile_type", true, "ProfileType", profile_type_values, true),
	DATETIME("departure_time", false),
	NUMBER("energy_need", false, true),
	BOOL("discharge_allowed", false),
};
static const ObjectSpec preferences_spec = SPEC("ChargingPreferences", preferences_fields, true, NULL);

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
 * sa_ocpi_fail
 *		Record the first problem: SQLSTATE and a message naming the JSON path
 *		being looked at. Returns false so checks can "return sa_ocpi_fail(..)".
 */
bool
sa_ocpi_fail(OcpiCheck *c, int sqlstate, const char *fmt,...)
{
	StringInfoData problem;
	char	   *path;

	if (c->failed)
		return false;

	initStringInfo(&problem);
	for (;;)
	{
		va_list		args;
		int			needed;

		va_start(args, fmt);
		needed = appendStringInfoVA(&problem, fmt, args);
		va_end(args);
		if (needed == 0)
			break;
		enlargeStringInfo(&problem, needed);
	}

	path = sa_path_string(&c->path);
	c->failed = true;
	c->sqlstate = sqlstate;
	c->message = psprintf("invalid OCPI %s%s%s: %s%s%s",
						  c->versioned ? version_names[c->version] : "",
						  c->versioned ? " " : "", c->object,
						  path, *path ? " " : "", problem.data);
	return false;
}

/*
 * sa_ocpi_raise_check
 *		Raise the recorded problem. The detail carries the OCPI status code a
 *		backend should answer with.
 */
void
sa_ocpi_raise_check(OcpiCheck *c)
{
	ereport(ERROR,
			(errcode(c->sqlstate),
			 errmsg("%s", c->message),
			 errdetail("OCPI status code 2001 (Invalid or missing parameters)."),
			 c->sqlstate == ERRCODE_CHECK_VIOLATION ?
			 errhint("Send a consistent object; nothing was stored.") :
			 errhint("Correct the object and send it again; nothing was stored.")));
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

/* ---- field checks ------------------------------------------------------- */

static bool validate_object(OcpiCheck *c, const ObjectSpec *spec,
							JsonbContainer *cont, OcpiSlot *slots);

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

/* Record that a member has the wrong JSON type. */
bool
sa_ocpi_wrong_type(OcpiCheck *c, const char *want, const JsonbValue *v)
{
	return sa_ocpi_fail(c, ERRCODE_INVALID_PARAMETER_VALUE, "must be %s, not %s", want, sa_jsonb_kind(v));
}

/*
 * validate_value
 *		Check one present, non-null member against its field specification.
 */
static bool
validate_value(OcpiCheck *c, const FieldSpec *f, const JsonbValue *v, OcpiSlot *slot)
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
									"%s is not an OCPI DateTime (RFC 3339 in UTC, at most 25 characters, e.g. 2015-06-29T20:39:09Z)",
									sa_jsonb_brief(v));
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
				if (v->val.string.len == (int) strlen(f->values[i]) &&
					memcmp(v->val.string.val, f->values[i], v->val.string.len) == 0)
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
				return validate_object(c, f->sub, v->val.binary.data, sub);
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
				for (int i = 0; i < n; i++)
				{
					JsonbValue	e;
					OcpiSlot	sub[OCPI_MAX_FIELDS];
					bool		ok;

					sa_path_push_index(&c->path, i);
					if (!sa_jsonb_array_elem(v, i, &e))
						elog(ERROR, "array element %d missing", i);
					if (!sa_jsonb_is_object(&e))
						ok = sa_ocpi_fail(c, ERRCODE_INVALID_PARAMETER_VALUE,
										  "must be a %s object, not %s", f->sub->name, sa_jsonb_kind(&e));
					else
						ok = validate_object(c, f->sub, e.val.binary.data, sub);
					sa_path_pop(&c->path);
					if (!ok)
						return false;
				}
				break;
			}
	}
	return true;
}

/*
 * find_field
 *		The field specification for a member name, or NULL.
 */
static int
find_field(const ObjectSpec *spec, const char *key, int keylen)
{
	for (int i = 0; i < spec->nfields; i++)
	{
		const char *name = spec->fields[i].name;

		Assert(name != NULL);	/* no gap in a designated-index table */
		if ((int) strlen(name) == keylen && memcmp(name, key, keylen) == 0)
			return i;
	}
	return -1;
}

/*
 * validate_object
 *		Check every member of an object, then the required fields, then the
 *		object's cross-field rules. Fills slots[] (one per field). Recursion
 *		follows the specification only, so its depth is bounded (4 levels)
 *		whatever the document's nesting.
 */
static bool
validate_object(OcpiCheck *c, const ObjectSpec *spec, JsonbContainer *cont, OcpiSlot *slots)
{
	SaObjectIter it;
	JsonbValue	key,
				val;

	check_stack_depth();
	Assert(spec->nfields <= OCPI_MAX_FIELDS);
	memset(slots, 0, sizeof(OcpiSlot) * spec->nfields);

	sa_object_iter_init(&it, cont);
	while (sa_object_iter_next(&it, &key, &val))
	{
		int			i = find_field(spec, key.val.string.val, key.val.string.len);
		bool		ok = true;

		sa_path_push_key(&c->path, key.val.string.val, key.val.string.len);
		if (i < 0)
		{
			if (!spec->open && c->version == OCPI_V221)
				ok = sa_ocpi_fail(c, ERRCODE_INVALID_PARAMETER_VALUE,
								  "is not a field of %s in OCPI 2.2.1 (unknown fields are refused in 2.2.1)",
								  spec->name);
		}
		else if (val.type == jbvNull)
		{
			if (spec->fields[i].required)
				ok = sa_ocpi_fail(c, ERRCODE_NULL_VALUE_NOT_ALLOWED, "is required and must not be null");
		}
		else
		{
			slots[i].present = true;
			slots[i].v = val;
			ok = validate_value(c, &spec->fields[i], &val, &slots[i]);
		}
		sa_path_pop(&c->path);
		if (!ok)
			return false;
	}

	for (int i = 0; i < spec->nfields; i++)
	{
		if (spec->fields[i].required && !slots[i].present)
		{
			bool		ok;

			sa_path_push_key(&c->path, spec->fields[i].name, strlen(spec->fields[i].name));
			ok = sa_ocpi_fail(c, ERRCODE_NULL_VALUE_NOT_ALLOWED, "is required");
			sa_path_pop(&c->path);
			if (!ok)
				return false;
		}
	}

	return spec->post ? spec->post(c, spec, slots) : true;
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

	for (int i = 0; signed_types[i]; i++)
		may_be_negative |= sa_jsonb_str_eq(type, signed_types[i]);

	sa_path_push_key(&c->path, "volume", 6);
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

	if (slots[OCPI_S_END].present && slots[OCPI_S_END].ts < slots[OCPI_S_START].ts)
	{
		sa_path_push_key(&c->path, "end_date_time", 13);
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

	sa_jsonb_root(doc, &root);
	if (!sa_jsonb_is_object(&root))
		return sa_ocpi_fail(c, ERRCODE_INVALID_PARAMETER_VALUE, "must be a JSON object, not %s",
							sa_jsonb_kind(&root));
	return validate_object(c, spec, root.val.binary.data, slots);
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

/* A text argument as an error message may echo it (bounded, see jsonb_access.h). */
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
 *		request (CiString: case-insensitive).
 */
void
sa_ocpi_check_url_keys(OcpiCheck *c, OcpiSlot *s, text *cc, text *pid, text *sid)
{
	static const char *const names[] = {"country_code", "party_id", "id"};
	text	   *url[3] = {cc, pid, sid};
	const int	slot[3] = {OCPI_S_COUNTRY_CODE, OCPI_S_PARTY_ID, OCPI_S_ID};

	for (int i = 0; i < 3; i++)
	{
		const JsonbValue *v = &s[slot[i]].v;

		if (!sa_ascii_equal_ci(v->val.string.val, v->val.string.len,
							   VARDATA_ANY(url[i]), VARSIZE_ANY_EXHDR(url[i])))
		{
			sa_path_push_key(&c->path, names[i], strlen(names[i]));
			sa_ocpi_fail(c, ERRCODE_INVALID_PARAMETER_VALUE,
						 "%s does not match the %s of the request", sa_jsonb_brief(v), names[i]);
			sa_ocpi_raise_check(c);
		}
	}
}

/*
 * sa_ocpi_session_kwh
 *		The validated kwh as float8, the store's column type. A finite
 *		number beyond float8 (1e400) passes ocpi_validate() but cannot be
 *		stored; it is refused here, on the write paths only.
 */
double
sa_ocpi_session_kwh(OcpiCheck *c, OcpiSlot *s)
{
	double		kwh = sa_jsonb_float8(&s[OCPI_S_KWH].v);

	if (isinf(kwh))
	{
		sa_path_push_key(&c->path, "kwh", 3);
		sa_ocpi_fail(c, ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE, "is out of range");
		sa_ocpi_raise_check(c);
	}
	return kwh;
}

/* The one status transition OCPI forbids. */
void
sa_ocpi_raise_completed_to_active(void)
{
	ereport(ERROR,
			(errcode(ERRCODE_CHECK_VIOLATION),
			 errmsg("invalid OCPI Session: status cannot change from COMPLETED back to ACTIVE"),
			 errdetail("OCPI status code 2001 (Invalid or missing parameters)."),
			 errhint("Nothing was stored.")));
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
 * sa_ocpi_validate(session jsonb, version text) RETURNS boolean
 *		True for a valid Session, else the error naming the first problem.
 */
Datum
sa_ocpi_validate(PG_FUNCTION_ARGS)
{
	Jsonb	   *doc = PG_GETARG_JSONB_P(0);
	OcpiCheck	c;
	OcpiSlot	slots[OCPI_MAX_FIELDS];

	sa_ocpi_check_init(&c, sa_ocpi_parse_version(PG_GETARG_TEXT_PP(1)), "Session");
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
