/*
 * ocpi/jsonb_access.h
 *		Small helpers for reading jsonb documents from C: member and element
 *		iteration without descending, typed access to scalars, string checks,
 *		RFC 3339 timestamps, and JSON paths for error messages.
 */
#ifndef JSONB_ACCESS_H
#define JSONB_ACCESS_H

#include "postgres.h"

#include "utils/jsonb.h"
#include "utils/timestamp.h"

/*
 * Iterates over the members of one object, in the container's (key) order;
 * nested values stay jbvBinary. Reads the container's entries in place.
 */
typedef struct SaObjectIter
{
	JsonbContainer *c;
	int			i;				/* next member */
	int			n;				/* members */
	uint32		koff;			/* data offset of key i */
	uint32		voff;			/* data offset of value i */
} SaObjectIter;

extern void sa_object_iter_init(SaObjectIter *oi, JsonbContainer *c);
extern bool sa_object_iter_next(SaObjectIter *oi, JsonbValue *key, JsonbValue *val);

/* Containers and value kinds. */
extern bool sa_jsonb_is_object(const JsonbValue *v);
extern bool sa_jsonb_is_array(const JsonbValue *v);
extern const char *sa_jsonb_kind(const JsonbValue *v);
extern int	sa_jsonb_array_size(const JsonbValue *v);
extern bool sa_jsonb_array_elem(const JsonbValue *v, int i, JsonbValue *out);
extern bool sa_jsonb_get(JsonbContainer *c, const char *key, JsonbValue *out);
extern void sa_jsonb_root(Jsonb *jb, JsonbValue *out);

/* Scalars. */
extern bool sa_jsonb_str_eq(const JsonbValue *v, const char *s);
extern char *sa_jsonb_cstring(const JsonbValue *v);
extern double sa_jsonb_float8(const JsonbValue *v);
extern int	sa_jsonb_numeric_sign(const JsonbValue *v);
extern int	sa_jsonb_numeric_cmp_int(const JsonbValue *v, int64 bound);

/* Strings. */
extern bool sa_printable_ascii(const char *s, int len);
extern int	sa_printable_utf8_chars(const char *s, int len);
extern char *sa_ascii_upper(const char *s, int len);
extern bool sa_ascii_equal_ci(const char *a, int alen, const char *b, int blen);

/* Timestamps: RFC 3339 in UTC ('Z' or no designator), optional fraction. */
extern bool sa_parse_rfc3339_utc(const char *s, int len, TimestampTz *out);

/*
 * A JSON path such as charging_periods[1].dimensions[0].type, kept as a
 * stack of steps and rendered only when an error names it.
 */
#define SA_JSON_PATH_MAX 16

typedef struct SaJsonPath
{
	int			depth;
	struct
	{
		const char *key;		/* NULL for an array index */
		int			keylen;
		int			index;
	}			step[SA_JSON_PATH_MAX];
} SaJsonPath;

extern void sa_path_push_key(SaJsonPath *p, const char *key, int keylen);
extern void sa_path_push_index(SaJsonPath *p, int index);
extern void sa_path_pop(SaJsonPath *p);
extern char *sa_path_string(const SaJsonPath *p);

/*
 * User values in error messages are cut: keys of a path after 64
 * characters, quoted values after 40, other echoed text (URL keys, version
 * names) after 64, always on a character boundary and ending in "...".
 */
#define SA_MESSAGE_KEY_CHARS 64
#define SA_MESSAGE_VALUE_CHARS 40
#define SA_MESSAGE_TEXT_CHARS 64

extern char *sa_jsonb_brief(const JsonbValue *v);
extern char *sa_clip_for_message(const char *s, int len, int maxchars);

#endif							/* JSONB_ACCESS_H */
