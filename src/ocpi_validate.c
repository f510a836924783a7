/*
 * ocpi_validate.c
 *		OCPI 2.2.1 / 2.3.0 Sessions: validation of Session and
 *		ChargingPreferences objects on jsonb, and the write paths
 *		sessions.ocpi_put / sessions.ocpi_patch.
 *
 * Validation walks each object once, member by member, against a static
 * table of its fields, and stops at the first problem. The problem is kept
 * (SQLSTATE, JSON path, text) rather than raised at once, so PATCH can try
 * a document against more than one version before reporting.
 */
#include "postgres.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/numeric.h"

#include "jsonb_access.h"

typedef enum OcpiVersion
{
	OCPI_V221,
	OCPI_V230
} OcpiVersion;

static const char *const version_names[] = {"2.2.1", "2.3.0"};

/* The first problem found, raised later by raise_check(). */
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

/* What validation found for one field of an object. */
typedef struct Slot
{
	bool		present;		/* present and not null */
	JsonbValue	v;
	TimestampTz ts;				/* F_DATETIME */
} Slot;

#define MAX_FIELDS 24

struct ObjectSpec
{
	const char *name;
	const FieldSpec *fields;
	int			nfields;
	bool		open;			/* unknown members allowed in every version */
	bool		(*post) (OcpiCheck *c, const ObjectSpec *spec, Slot *slots);
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

static bool dimension_post(OcpiCheck *c, const ObjectSpec *spec, Slot *slots);
static bool session_post(OcpiCheck *c, const ObjectSpec *spec, Slot *slots);

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

/* CdrDimension */
static const FieldSpec dimension_fields[] = {
	ENUM("type", true, "CdrDimensionType", dimension_type_values, false),
	NUMBER("volume", true, false),
};
enum
{
	D_TYPE, D_VOLUME
};
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

/* Session; the enum below indexes its slots. */
#define SESSION_FIELDS(token_spec, price_spec) { \
	KEYSTR("country_code", 2), \
	KEYSTR("party_id", 3), \
	KEYSTR("id", 36), \
	DATETIME("start_date_time", true), \
	DATETIME("end_date_time", false), \
	NUMBER("kwh", true, true), \
	OBJECT("cdr_token", true, token_spec), \
	ENUM("auth_method", true, "AuthMethod", auth_method_values, false), \
	CISTR("authorization_reference", 36, false), \
	CISTR("location_id", 36, true), \
	CISTR("evse_uid", 36, true), \
	CISTR("connector_id", 36, true), \
	STR("meter_id", 255, false), \
	STR("currency", 3, true), \
	ARRAY("charging_periods", false, &period_spec, 0), \
	OBJECT("total_cost", false, price_spec), \
	ENUM("status", true, "SessionStatus", session_status_values, false), \
	DATETIME("last_updated", true), \
}
enum
{
	S_COUNTRY_CODE, S_PARTY_ID, S_ID, S_START, S_END, S_KWH, S_CDR_TOKEN,
	S_AUTH_METHOD, S_AUTH_REF, S_LOCATION, S_EVSE, S_CONNECTOR, S_METER,
	S_CURRENCY, S_PERIODS, S_TOTAL_COST, S_STATUS, S_LAST_UPDATED
};
static const FieldSpec session_fields_221[] = SESSION_FIELDS(&token_spec_221, &price_spec_221);
static const FieldSpec session_fields_230[] = SESSION_FIELDS(&token_spec_230, &price_spec_230);
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

/* ---- problems ----------------------------------------------------------- */

/*
 * fail
 *		Record the first problem: SQLSTATE and a message naming the JSON path
 *		being looked at. Returns false so checks can "return fail(...)".
 */
static bool
fail(OcpiCheck *c, int sqlstate, const char *fmt,...)
pg_attribute_printf(3, 4);

static bool
fail(OcpiCheck *c, int sqlstate, const char *fmt,...)
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
 * raise_check
 *		Raise the recorded problem. The detail carries the OCPI status code a
 *		backend should answer with.
 */
static void
raise_check(OcpiCheck *c)
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
static void
check_init(OcpiCheck *c, OcpiVersion version, const char *object)
{
	memset(c, 0, sizeof(*c));
	c->version = version;
	c->object = object;
	c->versioned = true;
}

/* ---- field checks ------------------------------------------------------- */

static bool validate_object(OcpiCheck *c, const ObjectSpec *spec,
							JsonbContainer *cont, Slot *slots);

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

static bool
wrong_type(OcpiCheck *c, const char *want, const JsonbValue *v)
{
	return fail(c, ERRCODE_INVALID_PARAMETER_VALUE, "must be %s, not %s", want, sa_jsonb_kind(v));
}

/*
 * validate_value
 *		Check one present, non-null member against its field specification.
 */
static bool
validate_value(OcpiCheck *c, const FieldSpec *f, const JsonbValue *v, Slot *slot)
{
	switch (f->kind)
	{
		case F_CISTRING:
			if (v->type != jbvString)
				return wrong_type(c, "a string", v);
			if (f->maxlen > 0 && v->val.string.len > f->maxlen)
				return fail(c, ERRCODE_STRING_DATA_RIGHT_TRUNCATION,
							"is longer than %d characters (CiString(%d))", f->maxlen, f->maxlen);
			if (!sa_printable_ascii(v->val.string.val, v->val.string.len))
				return fail(c, ERRCODE_CHARACTER_NOT_IN_REPERTOIRE,
							"must hold printable ASCII characters only (CiString)");
			if (f->nonempty && v->val.string.len == 0)
				return fail(c, ERRCODE_INVALID_PARAMETER_VALUE, "must not be empty");
			break;

		case F_STRING:
			{
				int			n;

				if (v->type != jbvString)
					return wrong_type(c, "a string", v);
				n = sa_printable_utf8_chars(v->val.string.val, v->val.string.len);
				if (n < 0)
					return fail(c, ERRCODE_CHARACTER_NOT_IN_REPERTOIRE,
								"must not hold control characters (string)");
				if (f->maxlen > 0 && n > f->maxlen)
					return fail(c, ERRCODE_STRING_DATA_RIGHT_TRUNCATION,
								"is longer than %d characters (string(%d))", f->maxlen, f->maxlen);
				break;
			}

		case F_DATETIME:
			if (v->type != jbvString)
				return wrong_type(c, "a DateTime string", v);
			if (v->val.string.len > 25 ||
				!sa_parse_rfc3339_utc(v->val.string.val, v->val.string.len, &slot->ts))
				return fail(c, ERRCODE_INVALID_DATETIME_FORMAT,
							"%s is not an OCPI DateTime (RFC 3339 in UTC, at most 25 characters, e.g. 2015-06-29T20:39:09Z)",
							sa_jsonb_brief(v));
			break;

		case F_NUMBER:
			if (v->type != jbvNumeric)
				return wrong_type(c, "a number", v);
			if (numeric_is_nan(v->val.numeric) || numeric_is_inf(v->val.numeric))
				return fail(c, ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE, "must be a finite number");
			if (f->nonneg && sa_jsonb_numeric_sign(v) < 0)
				return fail(c, ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE, "must not be negative");
			break;

		case F_ENUM:
			if (v->type != jbvString)
				return wrong_type(c, "a string", v);
			for (int i = 0; f->values[i]; i++)
				if (v->val.string.len == (int) strlen(f->values[i]) &&
					memcmp(v->val.string.val, f->values[i], v->val.string.len) == 0)
					return true;
			if (f->open_enum && enum_shaped(v->val.string.val, v->val.string.len))
				return true;
			return fail(c, ERRCODE_INVALID_PARAMETER_VALUE, "%s is not a valid %s (%s%s)",
						sa_jsonb_brief(v), f->enum_name, enum_list(f->values),
						f->open_enum ? ", or another upper-case enum value" : "");

		case F_BOOL:
			if (v->type != jbvBool)
				return wrong_type(c, "a boolean", v);
			break;

		case F_OBJECT:
			{
				Slot		sub[MAX_FIELDS];

				if (!sa_jsonb_is_object(v))
					return wrong_type(c, "an object", v);
				return validate_object(c, f->sub, v->val.binary.data, sub);
			}

		case F_ARRAY:
			{
				int			n;

				if (!sa_jsonb_is_array(v))
					return wrong_type(c, "an array", v);
				n = sa_jsonb_array_size(v);
				if (n < f->min_items)
					return fail(c, ERRCODE_INVALID_PARAMETER_VALUE,
								"must hold at least %d element%s", f->min_items,
								f->min_items == 1 ? "" : "s");
				for (int i = 0; i < n; i++)
				{
					JsonbValue	e;
					Slot		sub[MAX_FIELDS];
					bool		ok;

					sa_path_push_index(&c->path, i);
					if (!sa_jsonb_array_elem(v, i, &e))
						elog(ERROR, "array element %d missing", i);
					if (!sa_jsonb_is_object(&e))
						ok = fail(c, ERRCODE_INVALID_PARAMETER_VALUE,
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
validate_object(OcpiCheck *c, const ObjectSpec *spec, JsonbContainer *cont, Slot *slots)
{
	SaObjectIter it;
	JsonbValue	key,
				val;

	check_stack_depth();
	Assert(spec->nfields <= MAX_FIELDS);
	memset(slots, 0, sizeof(Slot) * spec->nfields);

	sa_object_iter_init(&it, cont);
	while (sa_object_iter_next(&it, &key, &val))
	{
		int			i = find_field(spec, key.val.string.val, key.val.string.len);
		bool		ok = true;

		sa_path_push_key(&c->path, key.val.string.val, key.val.string.len);
		if (i < 0)
		{
			if (!spec->open && c->version == OCPI_V221)
				ok = fail(c, ERRCODE_INVALID_PARAMETER_VALUE,
						  "is not a field of %s in OCPI 2.2.1 (unknown fields are refused in 2.2.1)",
						  spec->name);
		}
		else if (val.type == jbvNull)
		{
			if (spec->fields[i].required)
				ok = fail(c, ERRCODE_NULL_VALUE_NOT_ALLOWED, "is required and must not be null");
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
			ok = fail(c, ERRCODE_NULL_VALUE_NOT_ALLOWED, "is required");
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
dimension_post(OcpiCheck *c, const ObjectSpec *spec, Slot *slots)
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
		ok = fail(c, ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE,
				  "must not be negative for dimension type %s", sa_jsonb_brief(type));
	else if (sa_jsonb_str_eq(type, "STATE_OF_CHARGE") && sa_jsonb_numeric_cmp_int(vol, 100) > 0)
		ok = fail(c, ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE,
				  "must be a percentage (0 to 100) for STATE_OF_CHARGE");
	sa_path_pop(&c->path);
	return ok;
}

/*
 * session_post
 *		A session cannot end before it starts.
 */
static bool
session_post(OcpiCheck *c, const ObjectSpec *spec, Slot *slots)
{
	bool		ok = true;

	if (slots[S_END].present && slots[S_END].ts < slots[S_START].ts)
	{
		sa_path_push_key(&c->path, "end_date_time", 13);
		ok = fail(c, ERRCODE_CHECK_VIOLATION, "is before start_date_time");
		sa_path_pop(&c->path);
	}
	return ok;
}

/*
 * validate_document
 *		Check a whole document against an object specification.
 */
static bool
validate_document(OcpiCheck *c, const ObjectSpec *spec, Jsonb *doc, Slot *slots)
{
	JsonbValue	root;

	sa_jsonb_root(doc, &root);
	if (!sa_jsonb_is_object(&root))
		return fail(c, ERRCODE_INVALID_PARAMETER_VALUE, "must be a JSON object, not %s",
					sa_jsonb_kind(&root));
	return validate_object(c, spec, root.val.binary.data, slots);
}

/* The Session specification of a version. */
static const ObjectSpec *
session_spec(OcpiVersion v)
{
	return v == OCPI_V221 ? &session_spec_221 : &session_spec_230;
}

/* ---- arguments ---------------------------------------------------------- */

/* A text argument as an error message may echo it (bounded, see jsonb_access.h). */
static char *
clip_text(text *t)
{
	return sa_clip_for_message(VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t), SA_MESSAGE_TEXT_CHARS);
}

/* The version argument: '2.2.1' or '2.3.0', else OCPI 3002. */
static OcpiVersion
parse_version(text *t)
{
	char	   *s = text_to_cstring(t);

	if (strcmp(s, "2.2.1") == 0)
		return OCPI_V221;
	if (strcmp(s, "2.3.0") == 0)
		return OCPI_V230;
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("unsupported OCPI version \"%s\"", clip_text(t)),
			 errdetail("OCPI status code 3002 (Unsupported version)."),
			 errhint("Use '2.2.1' or '2.3.0'.")));
	return OCPI_V221;			/* keep compiler quiet */
}

/* Arguments of the write functions must not be NULL; name the one that is. */
static void
require_args(FunctionCallInfo fcinfo, const char *const *names, int n)
{
	for (int i = 0; i < n; i++)
		if (PG_ARGISNULL(i))
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("argument %s of %s must not be NULL", names[i],
							get_func_name(fcinfo->flinfo->fn_oid)),
					 errdetail("OCPI status code 2001 (Invalid or missing parameters).")));
}

/* ---- typed columns ------------------------------------------------------ */

/* The store's typed columns for one OCPI session (the brief's convention). */
typedef struct OcpiRow
{
	Datum		values[12];
	bool		nulls[12];
} OcpiRow;

enum
{
	R_NAMESPACE, R_EXTERNAL_ID, R_STATUS, R_STARTED, R_ENDED, R_KWH, R_USER_REF,
	R_SITE, R_EVSE, R_CONNECTOR, R_LAST_UPDATED, R_DOC
};

static const Oid row_types[12] = {
	TEXTOID, TEXTOID, TEXTOID, TIMESTAMPTZOID, TIMESTAMPTZOID, FLOAT8OID,
	TEXTOID, TEXTOID, TEXTOID, TEXTOID, TIMESTAMPTZOID, JSONBOID
};

/* SPI's null flags ('n' = null, ' ' = not). */
static char *
row_nulls(OcpiRow *row)
{
	char	   *n = palloc(lengthof(row->nulls) + 1);

	for (int i = 0; i < (int) lengthof(row->nulls); i++)
		n[i] = row->nulls[i] ? 'n' : ' ';
	n[lengthof(row->nulls)] = '\0';
	return n;
}

static Datum
string_datum(const JsonbValue *v)
{
	return PointerGetDatum(cstring_to_text_with_len(v->val.string.val, v->val.string.len));
}

/* The store namespace of an OCPI party: upper(country_code)-upper(party_id). */
static Datum
ocpi_namespace(const char *cc, int cclen, const char *pid, int pidlen)
{
	return CStringGetTextDatum(psprintf("%s-%s", sa_ascii_upper(cc, cclen),
										sa_ascii_upper(pid, pidlen)));
}

/*
 * session_row
 *		Typed columns from a validated Session's slots.
 */
static void
session_row(OcpiCheck *c, Slot *s, Jsonb *doc, OcpiRow *row)
{
	JsonbValue	contract;
	double		kwh;

	memset(row->nulls, 0, sizeof(row->nulls));

	row->values[R_NAMESPACE] = ocpi_namespace(s[S_COUNTRY_CODE].v.val.string.val,
											  s[S_COUNTRY_CODE].v.val.string.len,
											  s[S_PARTY_ID].v.val.string.val,
											  s[S_PARTY_ID].v.val.string.len);
	row->values[R_EXTERNAL_ID] =
		CStringGetTextDatum(sa_ascii_upper(s[S_ID].v.val.string.val, s[S_ID].v.val.string.len));
	row->values[R_STATUS] = string_datum(&s[S_STATUS].v);
	row->values[R_STARTED] = TimestampTzGetDatum(s[S_START].ts);
	if (s[S_END].present)
		row->values[R_ENDED] = TimestampTzGetDatum(s[S_END].ts);
	else
		row->nulls[R_ENDED] = true;

	kwh = sa_jsonb_float8(&s[S_KWH].v);
	if (isinf(kwh))
	{
		sa_path_push_key(&c->path, "kwh", 3);
		fail(c, ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE, "is out of range");
		raise_check(c);
	}
	row->values[R_KWH] = Float8GetDatum(kwh);

	if (sa_jsonb_get(s[S_CDR_TOKEN].v.val.binary.data, "contract_id", &contract))
		row->values[R_USER_REF] = string_datum(&contract);
	else
		row->nulls[R_USER_REF] = true;
	row->values[R_SITE] = string_datum(&s[S_LOCATION].v);
	row->values[R_EVSE] = string_datum(&s[S_EVSE].v);
	row->values[R_CONNECTOR] = string_datum(&s[S_CONNECTOR].v);
	row->values[R_LAST_UPDATED] = TimestampTzGetDatum(s[S_LAST_UPDATED].ts);
	row->values[R_DOC] = JsonbPGetDatum(doc);
}

/*
 * check_url_keys
 *		The object's country_code, party_id and id must equal the keys of the
 *		request (CiString: case-insensitive).
 */
static void
check_url_keys(OcpiCheck *c, Slot *s, text *cc, text *pid, text *sid)
{
	static const char *const names[] = {"country_code", "party_id", "id"};
	text	   *url[3] = {cc, pid, sid};
	const int	slot[3] = {S_COUNTRY_CODE, S_PARTY_ID, S_ID};

	for (int i = 0; i < 3; i++)
	{
		const JsonbValue *v = &s[slot[i]].v;

		if (!sa_ascii_equal_ci(v->val.string.val, v->val.string.len,
							   VARDATA_ANY(url[i]), VARSIZE_ANY_EXHDR(url[i])))
		{
			sa_path_push_key(&c->path, names[i], strlen(names[i]));
			fail(c, ERRCODE_INVALID_PARAMETER_VALUE,
				 "%s does not match the %s of the request", sa_jsonb_brief(v), names[i]);
			raise_check(c);
		}
	}
}

/* The one status transition OCPI forbids. */
static void
raise_completed_to_active(void)
{
	ereport(ERROR,
			(errcode(ERRCODE_CHECK_VIOLATION),
			 errmsg("invalid OCPI Session: status cannot change from COMPLETED back to ACTIVE"),
			 errdetail("OCPI status code 2001 (Invalid or missing parameters)."),
			 errhint("Nothing was stored.")));
}

/* ---- SQL functions ------------------------------------------------------ */

PG_FUNCTION_INFO_V1(ocpi_validate);
PG_FUNCTION_INFO_V1(ocpi_validate_charging_preferences);
PG_FUNCTION_INFO_V1(ocpi_put);
PG_FUNCTION_INFO_V1(ocpi_patch);

/*
 * ocpi_validate(session jsonb, version text) RETURNS boolean
 *		True for a valid Session, else the error naming the first problem.
 */
Datum
ocpi_validate(PG_FUNCTION_ARGS)
{
	Jsonb	   *doc = PG_GETARG_JSONB_P(0);
	OcpiCheck	c;
	Slot		slots[MAX_FIELDS];

	check_init(&c, parse_version(PG_GETARG_TEXT_PP(1)), "Session");
	if (!validate_document(&c, session_spec(c.version), doc, slots))
		raise_check(&c);
	PG_RETURN_BOOL(true);
}

/*
 * ocpi_validate_charging_preferences(preferences jsonb) RETURNS boolean
 *		True for a well-formed ChargingPreferences object; whether its
 *		profile type is supported is the caller's policy.
 */
Datum
ocpi_validate_charging_preferences(PG_FUNCTION_ARGS)
{
	Jsonb	   *doc = PG_GETARG_JSONB_P(0);
	OcpiCheck	c;
	Slot		slots[MAX_FIELDS];

	check_init(&c, OCPI_V230, "ChargingPreferences");
	c.versioned = false;		/* the same object in both versions */
	if (!validate_document(&c, &preferences_spec, doc, slots))
		raise_check(&c);
	PG_RETURN_BOOL(true);
}

/* Plans kept for the backend's life; re-planned by the plan cache as needed. */
static SPIPlanPtr put_plan = NULL;
static SPIPlanPtr lock_plan = NULL;
static SPIPlanPtr update_plan = NULL;

/* Prepare a statement once per backend and keep its plan. */
static SPIPlanPtr
keep_plan(SPIPlanPtr *cache, const char *sql, int nargs, const Oid *types)
{
	if (*cache == NULL)
	{
		SPIPlanPtr	p = SPI_prepare(sql, nargs, (Oid *) types);

		if (p == NULL)
			elog(ERROR, "SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
		SPI_keepplan(p);
		*cache = p;
	}
	return *cache;
}

/*
 * ocpi_put(country_code, party_id, session_id, session jsonb, version)
 *		Validate the whole Session and create or replace it. One statement
 *		writes it: the upsert's WHERE refuses COMPLETED -> ACTIVE, and a
 *		refused upsert (no row processed) is raised as a conflict.
 */
Datum
ocpi_put(PG_FUNCTION_ARGS)
{
	static const char *const names[] = {"country_code", "party_id", "session_id", "session", "version"};
	Jsonb	   *doc;
	OcpiCheck	c;
	Slot		slots[MAX_FIELDS];
	OcpiRow		row;
	SPIPlanPtr	plan;
	int			rc;

	require_args(fcinfo, names, 5);
	doc = PG_GETARG_JSONB_P(3);
	check_init(&c, parse_version(PG_GETARG_TEXT_PP(4)), "Session");
	if (!validate_document(&c, session_spec(c.version), doc, slots))
		raise_check(&c);
	check_url_keys(&c, slots, PG_GETARG_TEXT_PP(0), PG_GETARG_TEXT_PP(1), PG_GETARG_TEXT_PP(2));
	session_row(&c, slots, doc, &row);

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	plan = keep_plan(&put_plan,
					 "INSERT INTO sessions.store AS s (kind, namespace, external_id, status, started_at,"
					 " ended_at, kwh, user_ref, site, evse, connector, last_updated, doc)"
					 " VALUES ('ocpi', $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"
					 " ON CONFLICT (namespace, kind, external_id) DO UPDATE SET"
					 " status = excluded.status, started_at = excluded.started_at,"
					 " ended_at = excluded.ended_at, kwh = excluded.kwh, user_ref = excluded.user_ref,"
					 " site = excluded.site, evse = excluded.evse, connector = excluded.connector,"
					 " last_updated = excluded.last_updated, doc = excluded.doc"
					 " WHERE NOT (s.status OPERATOR(pg_catalog.=) 'COMPLETED'::pg_catalog.text"
					 " AND excluded.status OPERATOR(pg_catalog.=) 'ACTIVE'::pg_catalog.text)",
					 12, row_types);
	rc = SPI_execute_plan(plan, row.values, row_nulls(&row), false, 0);
	if (rc != SPI_OK_INSERT)
		elog(ERROR, "SPI_execute_plan failed: %s", SPI_result_code_string(rc));
	if (SPI_processed == 0)
		raise_completed_to_active();
	SPI_finish();
	PG_RETURN_JSONB_P(doc);
}

/*
 * merge_patch
 *		The stored Session with a PATCH applied: members of the patch replace
 *		the stored ones whole, except charging_periods, whose elements are
 *		appended (an empty list changes nothing).
 */
static Jsonb *
merge_patch(OcpiCheck *c, Jsonb *old, Jsonb *patch)
{
	JsonbParseState *st = NULL;
	JsonbValue	k,
				v,
				old_periods,
				new_periods;
	SaObjectIter it;
	bool		have_old = false,
				have_new = false;

	pushJsonbValue(&st, WJB_BEGIN_OBJECT, NULL);

	if (!JB_ROOT_IS_SCALAR(old) && JB_ROOT_IS_OBJECT(old))
	{
		sa_object_iter_init(&it, &old->root);
		while (sa_object_iter_next(&it, &k, &v))
		{
			if (sa_jsonb_str_eq(&k, "charging_periods"))
			{
				old_periods = v;
				have_old = true;
				continue;
			}
			if (getKeyJsonValueFromContainer(&patch->root, k.val.string.val,
											 k.val.string.len, NULL) != NULL)
				continue;
			pushJsonbValue(&st, WJB_KEY, &k);
			pushJsonbValue(&st, WJB_VALUE, &v);
		}
	}

	sa_object_iter_init(&it, &patch->root);
	while (sa_object_iter_next(&it, &k, &v))
	{
		if (sa_jsonb_str_eq(&k, "charging_periods"))
		{
			if (v.type != jbvNull && !sa_jsonb_is_array(&v))
			{
				sa_path_push_key(&c->path, "charging_periods", 16);
				wrong_type(c, "an array", &v);
				raise_check(c);
			}
			if (v.type != jbvNull && sa_jsonb_array_size(&v) > 0)
			{
				new_periods = v;
				have_new = true;
			}
			continue;
		}
		pushJsonbValue(&st, WJB_KEY, &k);
		pushJsonbValue(&st, WJB_VALUE, &v);
	}

	if (have_old || have_new)
	{
		k.type = jbvString;
		k.val.string.val = "charging_periods";
		k.val.string.len = 16;
		pushJsonbValue(&st, WJB_KEY, &k);
		if (!have_new)
			pushJsonbValue(&st, WJB_VALUE, &old_periods);
		else if (!have_old || !sa_jsonb_is_array(&old_periods))
			pushJsonbValue(&st, WJB_VALUE, &new_periods);
		else
		{
			JsonbValue	e;
			int			n;

			pushJsonbValue(&st, WJB_BEGIN_ARRAY, NULL);
			n = sa_jsonb_array_size(&old_periods);
			for (int i = 0; i < n; i++)
				if (sa_jsonb_array_elem(&old_periods, i, &e))
					pushJsonbValue(&st, WJB_ELEM, &e);
			n = sa_jsonb_array_size(&new_periods);
			for (int i = 0; i < n; i++)
				if (sa_jsonb_array_elem(&new_periods, i, &e))
					pushJsonbValue(&st, WJB_ELEM, &e);
			pushJsonbValue(&st, WJB_END_ARRAY, NULL);
		}
	}

	return JsonbValueToJsonb(pushJsonbValue(&st, WJB_END_OBJECT, NULL));
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
 * ocpi_patch(country_code, party_id, session_id, patch jsonb)
 *		Lock the stored session, apply the patch, validate the result and
 *		write it. The row lock serialises concurrent PATCHes, and each one
 *		merges into the latest committed version, so no appended charging
 *		period is lost (READ COMMITTED).
 *
 *		The PATCH call names no version: the result must be valid under a
 *		version the stored object is valid under (2.2.1 and 2.3.0 differ in
 *		Price, TokenType and unknown fields, so the stored object shows it).
 */
Datum
ocpi_patch(PG_FUNCTION_ARGS)
{
	static const char *const names[] = {"country_code", "party_id", "session_id", "patch"};
	static const Oid lock_types[2] = {TEXTOID, TEXTOID};
	text	   *cc,
			   *pid,
			   *sid;
	Jsonb	   *patch,
			   *old,
			   *merged,
			   *result;
	JsonbValue	root,
				lu;
	OcpiCheck	c,
				c221,
				c230;
	Slot		slots[MAX_FIELDS];
	OcpiRow		row;
	Datum		key[2];
	bool		isnull;
	char	   *old_status;
	bool		ok221,
				ok230,
				valid;
	int			rc;

	require_args(fcinfo, names, 4);
	cc = PG_GETARG_TEXT_PP(0);
	pid = PG_GETARG_TEXT_PP(1);
	sid = PG_GETARG_TEXT_PP(2);
	patch = PG_GETARG_JSONB_P(3);

	check_init(&c, OCPI_V221, "Session PATCH");
	c.versioned = false;
	sa_jsonb_root(patch, &root);
	if (!sa_jsonb_is_object(&root))
	{
		fail(&c, ERRCODE_INVALID_PARAMETER_VALUE, "must be a JSON object, not %s", sa_jsonb_kind(&root));
		raise_check(&c);
	}
	if (!sa_jsonb_get(&patch->root, "last_updated", &lu) || lu.type == jbvNull)
	{
		sa_path_push_key(&c.path, "last_updated", 12);
		fail(&c, ERRCODE_NULL_VALUE_NOT_ALLOWED, "is required in every PATCH");
		raise_check(&c);
	}

	key[0] = ocpi_namespace(VARDATA_ANY(cc), VARSIZE_ANY_EXHDR(cc),
							VARDATA_ANY(pid), VARSIZE_ANY_EXHDR(pid));
	key[1] = CStringGetTextDatum(sa_ascii_upper(VARDATA_ANY(sid), VARSIZE_ANY_EXHDR(sid)));

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	rc = SPI_execute_plan(keep_plan(&lock_plan,
									"SELECT doc, status FROM sessions.store"
									" WHERE namespace OPERATOR(pg_catalog.=) $1"
									" AND kind OPERATOR(pg_catalog.=) 'ocpi'::pg_catalog.text"
									" AND external_id OPERATOR(pg_catalog.=) $2 FOR UPDATE",
									2, lock_types),
						  key, NULL, false, 1);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "SPI_execute_plan failed: %s", SPI_result_code_string(rc));
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_NO_DATA_FOUND),
				 errmsg("OCPI session %s/%s/%s not found",
						clip_text(cc), clip_text(pid), clip_text(sid)),
				 errdetail("OCPI status code 2000 (Generic client error), HTTP 404."),
				 errhint("Create the session with a PUT first.")));
	old = DatumGetJsonbP(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	old_status = TextDatumGetCString(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull));

	merged = merge_patch(&c, old, patch);

	/* The versions the stored object is valid under (both if neither). */
	check_init(&c221, OCPI_V221, "Session");
	check_init(&c230, OCPI_V230, "Session");
	ok221 = validate_document(&c221, &session_spec_221, old, slots);
	ok230 = validate_document(&c230, &session_spec_230, old, slots);
	if (!ok221 && !ok230)
		ok221 = ok230 = true;

	valid = false;
	if (ok221)
	{
		check_init(&c221, OCPI_V221, "Session");
		valid = validate_document(&c221, &session_spec_221, merged, slots);
	}
	if (!valid && ok230)
	{
		check_init(&c230, OCPI_V230, "Session");
		valid = validate_document(&c230, &session_spec_230, merged, slots);
	}
	if (!valid)
		raise_check(ok221 && (!ok230 || !has_230_price(merged)) ? &c221 : &c230);

	check_url_keys(&c, slots, cc, pid, sid);
	if (strcmp(old_status, "COMPLETED") == 0 && sa_jsonb_str_eq(&slots[S_STATUS].v, "ACTIVE"))
		raise_completed_to_active();
	session_row(&c, slots, merged, &row);

	rc = SPI_execute_plan(keep_plan(&update_plan,
									"UPDATE sessions.store SET status = $3, started_at = $4, ended_at = $5,"
									" kwh = $6, user_ref = $7, site = $8, evse = $9, connector = $10,"
									" last_updated = $11, doc = $12"
									" WHERE namespace OPERATOR(pg_catalog.=) $1"
									" AND kind OPERATOR(pg_catalog.=) 'ocpi'::pg_catalog.text"
									" AND external_id OPERATOR(pg_catalog.=) $2",
									12, row_types),
						  row.values, row_nulls(&row), false, 0);
	if (rc != SPI_OK_UPDATE || SPI_processed != 1)
		elog(ERROR, "OCPI session update failed: %s", SPI_result_code_string(rc));

	result = SPI_palloc(VARSIZE(merged));
	memcpy(result, merged, VARSIZE(merged));
	SPI_finish();
	PG_RETURN_JSONB_P(result);
}
