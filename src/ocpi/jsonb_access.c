/*
 * ocpi/jsonb_access.c
 *		Helpers for reading jsonb documents from C without detours through
 *		text: member iteration, typed scalars, string checks, RFC 3339
 *		timestamps and JSON paths for error messages.
 */
#include "postgres.h"

#include "lib/stringinfo.h"
#include "mb/pg_wchar.h"
#include "utils/builtins.h"
#include "utils/datetime.h"
#include "utils/fmgrprotos.h"
#include "utils/numeric.h"

#include "ocpi/jsonb_access.h"

/*
 * entry_value
 *		Child idx of container c, whose data starts *off bytes into the
 *		container's data, as a JsonbValue (what jsonb's own fillJsonbValue
 *		makes of it); *off moves past it. Reading the entries in place
 *		spares the per-member work and allocations of a JsonbIterator:
 *		the validation walks every member of every document.
 */
static void
entry_value(JsonbContainer *c, int idx, uint32 *off, JsonbValue *v)
{
	JEntry		e = c->children[idx];
	char	   *base = (char *) &c->children[JsonContainerSize(c) * 2];
	uint32		start = *off;
	uint32		len = JBE_HAS_OFF(e) ? JBE_OFFLENFLD(e) - start : JBE_OFFLENFLD(e);

	*off = start + len;
	if (JBE_ISNULL(e))
		v->type = jbvNull;
	else if (JBE_ISSTRING(e))
	{
		v->type = jbvString;
		v->val.string.val = base + start;
		v->val.string.len = len;
	}
	else if (JBE_ISNUMERIC(e))
	{
		v->type = jbvNumeric;
		v->val.numeric = (Numeric) (base + INTALIGN(start));
	}
	else if (JBE_ISBOOL_TRUE(e))
	{
		v->type = jbvBool;
		v->val.boolean = true;
	}
	else if (JBE_ISBOOL_FALSE(e))
	{
		v->type = jbvBool;
		v->val.boolean = false;
	}
	else
	{
		Assert(JBE_ISCONTAINER(e));
		v->type = jbvBinary;
		v->val.binary.data = (JsonbContainer *) (base + INTALIGN(start));
		v->val.binary.len = len - (INTALIGN(start) - start);
	}
}

/*
 * sa_object_iter_init / sa_object_iter_next
 *		Walk the members of one object container. Nested objects and arrays
 *		come back as jbvBinary values, so a walk never descends by itself.
 *		An object's n keys are its first n children and their values the
 *		next n, each side's data in child order, so one offset per side
 *		walks both.
 */
void
sa_object_iter_init(SaObjectIter *oi, JsonbContainer *c)
{
	Assert(JsonContainerIsObject(c));
	oi->c = c;
	oi->i = 0;
	oi->n = JsonContainerSize(c);
	oi->koff = 0;
	oi->voff = oi->n > 0 ? getJsonbOffset(c, oi->n) : 0;
}

bool
sa_object_iter_next(SaObjectIter *oi, JsonbValue *key, JsonbValue *val)
{
	if (oi->i >= oi->n)
		return false;
	entry_value(oi->c, oi->i, &oi->koff, key);
	Assert(key->type == jbvString);
	entry_value(oi->c, oi->n + oi->i, &oi->voff, val);
	oi->i++;
	return true;
}

/*
 * sa_jsonb_is_object / sa_jsonb_is_array
 *		Whether a value is a (non-scalar) object or array container.
 */
bool
sa_jsonb_is_object(const JsonbValue *v)
{
	return v->type == jbvBinary && JsonContainerIsObject(v->val.binary.data);
}

bool
sa_jsonb_is_array(const JsonbValue *v)
{
	return v->type == jbvBinary && JsonContainerIsArray(v->val.binary.data) &&
		!JsonContainerIsScalar(v->val.binary.data);
}

/*
 * sa_jsonb_kind
 *		JSON type name of a value, as jsonb_typeof spells it.
 */
const char *
sa_jsonb_kind(const JsonbValue *v)
{
	switch (v->type)
	{
		case jbvNull:
			return "null";
		case jbvString:
			return "string";
		case jbvNumeric:
			return "number";
		case jbvBool:
			return "boolean";
		case jbvBinary:
			return JsonContainerIsObject(v->val.binary.data) ? "object" : "array";
		default:
			return "unknown";
	}
}

/*
 * sa_jsonb_array_size / sa_jsonb_array_elem
 *		Size of an array value and its i-th element (nested stay binary).
 */
int
sa_jsonb_array_size(const JsonbValue *v)
{
	Assert(sa_jsonb_is_array(v));
	return JsonContainerSize(v->val.binary.data);
}

bool
sa_jsonb_array_elem(const JsonbValue *v, int i, JsonbValue *out)
{
	JsonbValue *e = getIthJsonbValueFromContainer(v->val.binary.data, i);

	if (e == NULL)
		return false;
	*out = *e;
	pfree(e);
	return true;
}

/*
 * sa_jsonb_get
 *		Look up one key of an object container.
 */
bool
sa_jsonb_get(JsonbContainer *c, const char *key, JsonbValue *out)
{
	if (!JsonContainerIsObject(c))
		return false;
	return getKeyJsonValueFromContainer(c, key, strlen(key), out) != NULL;
}

/*
 * sa_jsonb_root
 *		The top-level value of a document: a scalar for a scalar document,
 *		else a jbvBinary pointing at the root container.
 */
void
sa_jsonb_root(Jsonb *jb, JsonbValue *out)
{
	if (JB_ROOT_IS_SCALAR(jb))
	{
		if (!JsonbExtractScalar(&jb->root, out))
			elog(ERROR, "could not extract a scalar from a scalar jsonb");
		return;
	}
	out->type = jbvBinary;
	out->val.binary.data = &jb->root;
	out->val.binary.len = VARSIZE(jb) - VARHDRSZ;
}

/*
 * sa_jsonb_str_eq
 *		Whether a value is the string s (exact bytes).
 */
bool
sa_jsonb_str_eq(const JsonbValue *v, const char *s)
{
	int			len = strlen(s);

	return v->type == jbvString && v->val.string.len == len &&
		memcmp(v->val.string.val, s, len) == 0;
}

/*
 * sa_jsonb_cstring
 *		A string value as a palloc'd NUL-terminated C string.
 */
char *
sa_jsonb_cstring(const JsonbValue *v)
{
	Assert(v->type == jbvString);
	return pnstrdup(v->val.string.val, v->val.string.len);
}

/*
 * sa_jsonb_float8
 *		A number as float8; out-of-range values become +-Infinity or 0 so
 *		callers can name the field instead of failing inside the cast.
 */
double
sa_jsonb_float8(const JsonbValue *v)
{
	Assert(v->type == jbvNumeric);
	return DatumGetFloat8(DirectFunctionCall1(numeric_float8_no_overflow,
											  NumericGetDatum(v->val.numeric)));
}

/*
 * sa_jsonb_numeric_cmp_int
 *		Compare a number with an integer bound exactly (-1, 0, 1).
 */
int
sa_jsonb_numeric_cmp_int(const JsonbValue *v, int64 bound)
{
	Assert(v->type == jbvNumeric);
	return DatumGetInt32(DirectFunctionCall2(numeric_cmp,
											 NumericGetDatum(v->val.numeric),
											 NumericGetDatum(int64_to_numeric(bound))));
}

/* Sign of a number: -1, 0 or 1. */
int
sa_jsonb_numeric_sign(const JsonbValue *v)
{
	return sa_jsonb_numeric_cmp_int(v, 0);
}

/*
 * sa_printable_ascii
 *		Only characters 0x20..0x7E (OCPI CiString).
 */
bool
sa_printable_ascii(const char *s, int len)
{
	for (int i = 0; i < len; i++)
	{
		unsigned char c = (unsigned char) s[i];

		if (c < 0x20 || c > 0x7E)
			return false;
	}
	return true;
}

/*
 * sa_printable_utf8_chars
 *		Number of characters of a UTF-8 string, or -1 when it holds a control
 *		character (C0, DEL or C1). jsonb strings are valid UTF-8 already.
 */
int
sa_printable_utf8_chars(const char *s, int len)
{
	int			n = 0;
	int			i = 0;

	while (i < len)
	{
		unsigned char c = (unsigned char) s[i];
		int			l;

		if (c < 0x80)
		{
			if (c < 0x20 || c == 0x7F)
				return -1;
			l = 1;
		}
		else
		{
			l = pg_utf_mblen((const unsigned char *) s + i);
			/* U+0080..U+009F are encoded as C2 80..C2 9F */
			if (c == 0xC2 && i + 1 < len && (unsigned char) s[i + 1] < 0xA0)
				return -1;
		}
		i += l;
		n++;
	}
	return n;
}

/*
 * sa_ascii_upper
 *		ASCII-only upper case (locale-independent, as CiString comparison).
 */
char *
sa_ascii_upper(const char *s, int len)
{
	char	   *r = palloc(len + 1);

	for (int i = 0; i < len; i++)
		r[i] = pg_ascii_toupper((unsigned char) s[i]);
	r[len] = '\0';
	return r;
}

/* CiString equality: ASCII case-insensitive. */
bool
sa_ascii_equal_ci(const char *a, int alen, const char *b, int blen)
{
	if (alen != blen)
		return false;
	for (int i = 0; i < alen; i++)
		if (pg_ascii_toupper((unsigned char) a[i]) != pg_ascii_toupper((unsigned char) b[i]))
			return false;
	return true;
}

/* Reads exactly n decimal digits at s. */
static bool
read_digits(const char *s, int n, int *out)
{
	int			v = 0;

	for (int i = 0; i < n; i++)
	{
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (s[i] - '0');
	}
	*out = v;
	return true;
}

/*
 * sa_parse_rfc3339_utc
 *		YYYY-MM-DDThh:mm:ss[.f+][Z]: an RFC 3339 date-time in UTC, where an
 *		absent designator also means UTC (OCPI DateTime). Offsets other than
 *		'Z' are refused. Digits beyond microseconds are truncated.
 */
bool
sa_parse_rfc3339_utc(const char *s, int len, TimestampTz *out)
{
	int			y,
				mo,
				d,
				h,
				mi,
				sec;
	int64		usec = 0;
	int			i;

	if (len < 19 ||
		!read_digits(s, 4, &y) || s[4] != '-' ||
		!read_digits(s + 5, 2, &mo) || s[7] != '-' ||
		!read_digits(s + 8, 2, &d) || s[10] != 'T' ||
		!read_digits(s + 11, 2, &h) || s[13] != ':' ||
		!read_digits(s + 14, 2, &mi) || s[16] != ':' ||
		!read_digits(s + 17, 2, &sec))
		return false;
	i = 19;
	if (i < len && s[i] == '.')
	{
		int			ndig = 0;
		int64		scale = 100000;

		i++;
		while (i < len && s[i] >= '0' && s[i] <= '9')
		{
			if (ndig < 6)
			{
				usec += (s[i] - '0') * scale;
				scale /= 10;
			}
			ndig++;
			i++;
		}
		if (ndig == 0)
			return false;
	}
	if (i < len && s[i] == 'Z')
		i++;
	if (i != len)
		return false;

	if (y < 1 || mo < 1 || mo > 12 || d < 1 ||
		d > day_tab[isleap(y)][mo - 1] || h > 23 || mi > 59 || sec > 59)
		return false;

	*out = (TimestampTz) (date2j(y, mo, d) - POSTGRES_EPOCH_JDATE) * USECS_PER_DAY +
		((int64) h * 3600 + mi * 60 + sec) * USECS_PER_SEC + usec;
	return true;
}

/*
 * sa_path_push_key / sa_path_push_index / sa_path_pop
 *		Maintain the path of the value being looked at. Steps past the limit
 *		are counted but not kept (rendered as "...").
 */
void
sa_path_push_key(SaJsonPath *p, const char *key, int keylen)
{
	if (p->depth < SA_JSON_PATH_MAX)
	{
		p->step[p->depth].key = key;
		p->step[p->depth].keylen = keylen;
		p->step[p->depth].index = -1;
	}
	p->depth++;
}

void
sa_path_push_index(SaJsonPath *p, int index)
{
	if (p->depth < SA_JSON_PATH_MAX)
	{
		p->step[p->depth].key = NULL;
		p->step[p->depth].keylen = 0;
		p->step[p->depth].index = index;
	}
	p->depth++;
}

void
sa_path_pop(SaJsonPath *p)
{
	Assert(p->depth > 0);
	p->depth--;
}

/*
 * append_clipped
 *		Append at most maxchars characters of s (database encoding) for an
 *		error message. Control characters (C0, DEL and, in UTF-8, C1) become
 *		'?'; with quote, '"' and '\' are escaped as in JSON. A longer value
 *		ends in "..." after the last whole character, so a hostile value can
 *		neither flood a message nor leave half a character in it.
 */
static void
append_clipped(StringInfo buf, const char *s, int len, int maxchars, bool quote)
{
	bool		utf8 = (GetDatabaseEncoding() == PG_UTF8);
	int			i = 0;
	int			n = 0;

	while (i < len && n < maxchars)
	{
		unsigned char c = (unsigned char) s[i];
		int			l = (c < 0x80) ? 1 : pg_mblen(s + i);

		if (l < 1 || l > len - i)
			l = len - i;		/* never read past the value */
		if (c < 0x20 || c == 0x7F ||
			(utf8 && c == 0xC2 && l == 2 && (unsigned char) s[i + 1] < 0xA0))
			appendStringInfoChar(buf, '?');
		else if (quote && (c == '"' || c == '\\'))
		{
			appendStringInfoChar(buf, '\\');
			appendStringInfoChar(buf, (char) c);
		}
		else
			appendBinaryStringInfo(buf, s + i, l);
		i += l;
		n++;
	}
	if (i < len)
		appendStringInfoString(buf, "...");
}

/*
 * sa_clip_for_message
 *		A user value as an error message may echo it: at most maxchars
 *		characters, control characters as '?', "..." when cut.
 */
char *
sa_clip_for_message(const char *s, int len, int maxchars)
{
	StringInfoData buf;

	initStringInfo(&buf);
	append_clipped(&buf, s, len, maxchars, false);
	return buf.data;
}

/* Whether a key can be shown bare in a path: [A-Za-z_][A-Za-z0-9_]*. */
static bool
plain_key(const char *key, int len)
{
	if (len == 0 || !((key[0] >= 'A' && key[0] <= 'Z') || (key[0] >= 'a' && key[0] <= 'z') || key[0] == '_'))
		return false;
	for (int i = 1; i < len; i++)
		if (!((key[i] >= 'A' && key[i] <= 'Z') || (key[i] >= 'a' && key[i] <= 'z') ||
			  (key[i] >= '0' && key[i] <= '9') || key[i] == '_'))
			return false;
	return true;
}

/*
 * sa_path_string
 *		Render the path as a.b[1].c. A key that is not a plain name (empty,
 *		spaces, dots, quotes, non-ASCII) is shown quoted, ["a b"] or [""],
 *		so every step is visible and unambiguous; keys are cut after
 *		SA_MESSAGE_KEY_CHARS characters so a hostile key cannot flood a
 *		message.
 */
char *
sa_path_string(const SaJsonPath *p)
{
	StringInfoData buf;

	initStringInfo(&buf);
	for (int i = 0; i < p->depth && i < SA_JSON_PATH_MAX; i++)
	{
		if (p->step[i].key == NULL)
			appendStringInfo(&buf, "[%d]", p->step[i].index);
		else if (plain_key(p->step[i].key, p->step[i].keylen))
		{
			if (i > 0)
				appendStringInfoChar(&buf, '.');
			append_clipped(&buf, p->step[i].key, p->step[i].keylen, SA_MESSAGE_KEY_CHARS, false);
		}
		else
		{
			appendStringInfoString(&buf, "[\"");
			append_clipped(&buf, p->step[i].key, p->step[i].keylen, SA_MESSAGE_KEY_CHARS, true);
			appendStringInfoString(&buf, "\"]");
		}
	}
	if (p->depth > SA_JSON_PATH_MAX)
		appendStringInfoString(&buf, "...");
	return buf.data;
}

/*
 * sa_jsonb_brief
 *		A short rendering of a value for an error message: strings quoted
 *		and cut after SA_MESSAGE_VALUE_CHARS characters, other values by
 *		their JSON type.
 */
char *
sa_jsonb_brief(const JsonbValue *v)
{
	StringInfoData buf;

	if (v->type != jbvString)
		return pstrdup(sa_jsonb_kind(v));

	initStringInfo(&buf);
	appendStringInfoChar(&buf, '"');
	append_clipped(&buf, v->val.string.val, v->val.string.len, SA_MESSAGE_VALUE_CHARS, true);
	appendStringInfoChar(&buf, '"');
	return buf.data;
}
