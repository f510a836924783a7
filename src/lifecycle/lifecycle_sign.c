/*
 * lifecycle/lifecycle_sign.c
 *		State documents and continuation tokens of invoice-style sessions:
 *		signed and verified by the server only (docs/lifecycle.md).
 *
 * Signatures are HMAC-SHA256 (PostgreSQL's common/hmac.h) under one key per
 * database: 32 bytes from pg_strong_random, kept in the table lifecycle_key
 * of the extension's schema, on which no role has a grant. This file reads
 * the table with a plain table scan (no ACL or row-level security check
 * applies to that), so no tenant ever sees the key, and keeps it per backend
 * until a relcache invalidation of the table (rotate_lifecycle_key() sends
 * one; dropping the extension does too).
 *
 * On a Citus cluster (after sessions.distribute()) the table is a reference
 * table: the row is read from this node's placement of its shard (found in
 * the Citus metadata), whose trigger invalidates the node's backends, and
 * the row's node_databases binds the key to every node's database; the
 * framing carries the coordinator's database OID on every node (lc_key).
 *
 * Nothing here signs caller-supplied data: session_state() reads the
 * session under the caller's row-level security and signs what it read;
 * continuation_token() signs the position of a row it re-reads under the
 * caller's row-level security. Every signed message is framed with a
 * domain, the purpose ("state" or "page") and the database OID, so a
 * signature of one kind never verifies as another, nor in a database cloned
 * from this one (same key, other OID; on a cluster the copy refuses to use
 * the key at all). Verification checks the shape of
 * every field, then the signature (constant-time), then every field's
 * value; every refusal is 22023 (an unsupported state format_version
 * 0A000) with a message naming the field.
 */
#include "postgres.h"

#include <errno.h>

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/skey.h"
#include "access/stratnum.h"
#include "access/table.h"
#include "access/tableam.h"
#include "catalog/dependency.h"
#include "catalog/pg_class.h"
#include "catalog/pg_extension.h"
#include "catalog/pg_namespace.h"
#include "catalog/pg_type.h"
#include "commands/extension.h"
#include "commands/trigger.h"
#include "common/hmac.h"
#include "common/int.h"
#include "common/jsonapi.h"
#include "common/sha2.h"
#include "executor/spi.h"
#include "executor/tuptable.h"
#include "fmgr.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/datetime.h"
#include "utils/fmgroids.h"
#include "utils/inval.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/numeric.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"
#include "utils/uuid.h"

#include "lifecycle/lifecycle_sign.h"
#include "session_analytics.h"

PG_FUNCTION_INFO_V1(sa_rotate_lifecycle_key);
PG_FUNCTION_INFO_V1(sa_lifecycle_key_changed);
PG_FUNCTION_INFO_V1(sa_session_state);
PG_FUNCTION_INFO_V1(sa_resume_session);
PG_FUNCTION_INFO_V1(sa_continuation_token);
PG_FUNCTION_INFO_V1(sa_continuation_cursor);

#define LC_KEY_TABLE	"lifecycle_key"
#define LC_KEY_COLUMN	"hmac_key"
#define LC_BIND_COLUMN	"node_databases"
#define LC_KEY_LEN		32
#define LC_MAC_LEN		PG_SHA256_DIGEST_LENGTH
#define LC_MAC_HEX		(2 * LC_MAC_LEN)
#define LC_DOMAIN		"session_analytics lifecycle"
#define LC_STATE_VERSION 2
#define LC_TOKEN_VERSION 2
#define LC_TOKEN_MAX	1024	/* longest token accepted, in bytes */
#define LC_ECHO_MAX		64		/* longest input echoed in a message */
#define LC_Q_LEN		32		/* md5 hex of the query's filters */

/*
 * The key, cached per backend until the key table is invalidated, with the
 * database OID (as text) its messages are framed with.
 */
static bool lc_key_valid = false;
static Oid	lc_key_relid = InvalidOid;	/* the relation read: table or placement */
static Oid	lc_key_shell = InvalidOid;	/* the extension's table */
static uint8 lc_key_bytes[LC_KEY_LEN];
static char lc_key_db[16];
static bool lc_callback_registered = false;

/* One field of a signed message; isnull marks a JSON null. */
typedef struct LcPart
{
	const char *data;
	int			len;
	bool		isnull;
} LcPart;

#define STATE_MALFORMED(...) \
	ereport(ERROR, \
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE), \
			 errmsg("state document is malformed"), \
			 errdetail(__VA_ARGS__), \
			 errhint("Pass the document from sessions.session_state() unchanged.")))

#define STATE_FORGED(...) \
	ereport(ERROR, \
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE), \
			 errmsg("state document signature does not match: it was altered or not issued by this database"), \
			 errdetail(__VA_ARGS__), \
			 errhint("Get a new state document with sessions.session_state(); a document is valid only in the database that issued it, until its key is rotated.")))

#define TOKEN_MALFORMED(...) \
	ereport(ERROR, \
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE), \
			 errmsg("continuation token is malformed or was altered"), \
			 errdetail(__VA_ARGS__), \
			 errhint("Pass the token returned by the previous page unchanged, or NULL for the first page.")))

/*
 * lc_clip
 *		Input for an error message: at most LC_ECHO_MAX bytes, cut on a
 *		character boundary, "..." when cut.
 */
static char *
lc_clip(const char *s, int len)
{
	int			n = len;

	if (len > LC_ECHO_MAX)
		n = pg_mbcliplen(s, len, LC_ECHO_MAX);
	return psprintf("%.*s%s", n, s, n < len ? "..." : "");
}

/* Drops the cached key. */
static void
lc_key_forget(void)
{
	lc_key_valid = false;
	explicit_bzero(lc_key_bytes, sizeof(lc_key_bytes));
}

/*
 * lc_key_invalidate
 *		Relcache callback: forget the key when its table changes (or on a
 *		reset of the whole cache).
 */
static void
lc_key_invalidate(Datum arg, Oid relid)
{
	if (!OidIsValid(relid) || relid == lc_key_relid || relid == lc_key_shell)
		lc_key_forget();
}

/*
 * lc_key_table
 *		OID of the key table: lifecycle_key in the extension's schema, found
 *		by the extension's OID (never by search_path) and required to be a
 *		table that belongs to the extension.
 */
static Oid
lc_key_table(void)
{
	Oid			ext;
	Oid			nsp = sa_extension_schema(&ext, false);

	return sa_extension_relation(ext, nsp, LC_KEY_TABLE, RELKIND_RELATION);
}

/* The attribute named name in desc, of type typid; InvalidAttrNumber if none. */
static AttrNumber
lc_attnum(TupleDesc desc, const char *name, Oid typid)
{
	for (int i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);

		if (!att->attisdropped && strcmp(NameStr(att->attname), name) == 0 &&
			(typid == InvalidOid || att->atttypid == typid))
			return att->attnum;
	}
	return InvalidAttrNumber;
}

/* Owner of a relation (InvalidOid if there is none). */
static Oid
lc_rel_owner(Oid relid)
{
	HeapTuple	tup = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
	Oid			owner = InvalidOid;

	if (HeapTupleIsValid(tup))
	{
		owner = ((Form_pg_class) GETSTRUCT(tup))->relowner;
		ReleaseSysCache(tup);
	}
	return owner;
}

/*
 * lc_citus_lookup
 *		From the Citus metadata table relname (in pg_catalog), the value of
 *		column outcol (a pass-by-value type: "char", int4, int8) in the first
 *		of the rows whose column keycol (oid or regclass) equals key, every
 *		row when keycol is NULL. Returns the number of such rows, -1 when
 *		the table does not exist (no Citus in this database). A plain scan
 *		with a fresh snapshot: no ACL or policy applies and nothing is
 *		planned, so tenants' calls read it as the owner's would.
 */
static int
lc_citus_lookup(const char *relname, const char *keycol, Oid key, const char *outcol, Datum *out)
{
	Oid			relid = get_relname_relid(relname, PG_CATALOG_NAMESPACE);
	Relation	rel;
	TupleDesc	desc;
	AttrNumber	keyatt = InvalidAttrNumber;
	AttrNumber	outatt;
	ScanKeyData sk;
	Snapshot	snap;
	SysScanDesc scan;
	HeapTuple	tup;
	int			n = 0;

	if (!OidIsValid(relid))
		return -1;
	rel = table_open(relid, AccessShareLock);
	desc = RelationGetDescr(rel);
	outatt = lc_attnum(desc, outcol, InvalidOid);
	if (keycol)
		keyatt = lc_attnum(desc, keycol, InvalidOid);
	if (outatt == InvalidAttrNumber || (keycol && keyatt == InvalidAttrNumber))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("the Citus metadata table pg_catalog.%s has no column \"%s\"", relname,
						outatt == InvalidAttrNumber ? outcol : keycol),
				 errhint("This version of %s reads the metadata of Citus 11 to 13.", SA_EXTENSION)));
	if (keycol)
		ScanKeyInit(&sk, keyatt, BTEqualStrategyNumber, F_OIDEQ, ObjectIdGetDatum(key));
	snap = RegisterSnapshot(GetLatestSnapshot());
	scan = systable_beginscan(rel, InvalidOid, false, snap, keycol ? 1 : 0, &sk);
	while (HeapTupleIsValid(tup = systable_getnext(scan)))
	{
		bool		isnull;
		Datum		d = heap_getattr(tup, outatt, desc, &isnull);

		if (n++ == 0)
			*out = isnull ? (Datum) 0 : d;
	}
	systable_endscan(scan);
	UnregisterSnapshot(snap);
	table_close(rel, AccessShareLock);
	return n;
}

/*
 * lc_is_placement
 *		Whether relid is named as a placement of the key table shell is
 *		(the shell's name, "_", digits: a Citus shard), beside it, a table
 *		of the same owner. By name, not by the Citus metadata, which a
 *		worker receives only after the placement is filled.
 */
static bool
lc_is_placement(Oid shell, Oid relid)
{
	char	   *name = get_rel_name(relid);
	const char *shellname = get_rel_name(shell);
	size_t		len = strlen(shellname);

	if (name == NULL || get_rel_namespace(relid) != get_rel_namespace(shell) ||
		get_rel_relkind(relid) != RELKIND_RELATION || lc_rel_owner(relid) != lc_rel_owner(shell) ||
		strncmp(name, shellname, len) != 0 || name[len] != '_' || name[len + 1] == '\0')
		return false;
	for (const char *c = name + len + 1; *c; c++)
		if (*c < '0' || *c > '9')
			return false;
	return true;
}

/*
 * lc_key_source
 *		The relation that holds the key's row on this node. One node: the
 *		extension's table shell. On a Citus cluster, once distribute() made
 *		it a reference table, the shell is empty on every node and the row
 *		is in the node's placement of the table's one shard: the table
 *		<name>_<shard id> beside it (the coordinator has one too when it is
 *		registered, as distribute() needs). *cluster says which.
 */
static Oid
lc_key_source(Oid shell, bool *cluster)
{
	Datum		method = (Datum) 0;
	Datum		shard = (Datum) 0;
	char	   *name;
	Oid			relid;

	*cluster = false;
	if (lc_citus_lookup("pg_dist_partition", "logicalrelid", shell, "partmethod", &method) <= 0)
		return shell;
	if (DatumGetChar(method) != 'n' ||
		lc_citus_lookup("pg_dist_shard", "logicalrelid", shell, "shardid", &shard) != 1)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("the signing key table of extension \"%s\" is distributed but not a Citus reference table", SA_EXTENSION),
				 errdetail("On a cluster its one row must be on every node."),
				 errhint("Undistribute it (undistribute_table('%s.%s')) and run SELECT * FROM sessions.distribute() on the coordinator.",
						 get_namespace_name(get_rel_namespace(shell)), LC_KEY_TABLE)));
	name = psprintf("%s_" INT64_FORMAT, get_rel_name(shell), DatumGetInt64(shard));
	relid = get_relname_relid(name, get_rel_namespace(shell));
	if (!OidIsValid(relid) || !lc_is_placement(shell, relid))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("this node has no copy of the signing key of extension \"%s\"", SA_EXTENSION),
				 errdetail("The key table is a Citus reference table; its placement %s.%s is not on this node.",
						   get_namespace_name(get_rel_namespace(shell)), name),
				 errhint("Register the coordinator (citus_set_coordinator_host) if it is not, then run SELECT * FROM sessions.distribute() on the coordinator: it copies the reference tables to every node.")));
	*cluster = true;
	return relid;
}

/* This node's Citus group: 0 on the coordinator and without Citus. */
static int32
lc_local_group(void)
{
	Datum		g = (Datum) 0;

	return lc_citus_lookup("pg_dist_local_group", NULL, InvalidOid, "groupid", &g) > 0 ? DatumGetInt32(g) : 0;
}

/*
 * lc_bound_oid
 *		The database OID the key row's binding (node_databases, an object
 *		{"<Citus group>": <database OID>, ...}) records for group; false
 *		when it records none, or something that is not an OID.
 */
static bool
lc_bound_oid(Jsonb *binding, int32 group, Oid *out)
{
	char		buf[16];
	JsonbValue	k;
	JsonbValue *v;
	char	   *s;
	char	   *end;
	unsigned long x;

	if (!JB_ROOT_IS_OBJECT(binding))
		return false;
	snprintf(buf, sizeof(buf), "%d", group);
	k.type = jbvString;
	k.val.string.val = buf;
	k.val.string.len = strlen(buf);
	v = findJsonbValueFromContainer(&binding->root, JB_FOBJECT, &k);
	if (v == NULL || v->type != jbvNumeric)
		return false;
	s = DatumGetCString(DirectFunctionCall1(numeric_out, NumericGetDatum(v->val.numeric)));
	errno = 0;
	x = strtoul(s, &end, 10);
	if (*s < '1' || *s > '9' || *end != '\0' || errno != 0 || x > OID_MAX)
		return false;
	*out = (Oid) x;
	return true;
}

/*
 * lc_key
 *		The database's signing key, and in lc_key_db the database OID its
 *		messages are framed with. Read with a fresh snapshot after the
 *		table is locked, so a rotation committed before (or made earlier in
 *		this transaction) is seen; cached until lc_key_invalidate.
 *
 *		One node (the row's node_databases is NULL): this database's OID,
 *		as ever. A Citus cluster: the row is bound to the database of each
 *		node, {"<group>": <OID>, ...} (written by distribute() and
 *		rotate_lifecycle_key()); this node signs and verifies only when the
 *		binding names this database for its group, and frames with the
 *		coordinator's (group 0), so every node signs alike, as the
 *		coordinator did before distribute(). A copy of the cluster's
 *		database (other OIDs, same row) signs and verifies nothing until its
 *		owner rotates the key (docs/lifecycle.md, "On a Citus cluster").
 */
static const uint8 *
lc_key(void)
{
	Oid			shell;
	Oid			relid;
	bool		cluster;
	Relation	rel;
	TupleDesc	desc;
	AttrNumber	attnum;
	AttrNumber	bindatt;
	Snapshot	snap;
	TableScanDesc scan;
	TupleTableSlot *slot;
	uint8		key[LC_KEY_LEN];
	int			rows = 0;
	bool		ok = true;
	bool		bound = false;
	bool		mine_ok = false;
	bool		coord_ok = false;
	Oid			mine = InvalidOid;
	Oid			coord = InvalidOid;
	int32		group = 0;

	if (lc_key_valid)
		return lc_key_bytes;
	if (!lc_callback_registered)
	{
		CacheRegisterRelcacheCallback(lc_key_invalidate, (Datum) 0);
		lc_callback_registered = true;
	}

	shell = lc_key_table();
	relid = lc_key_source(shell, &cluster);
	rel = table_open(relid, AccessShareLock);
	desc = RelationGetDescr(rel);
	attnum = lc_attnum(desc, LC_KEY_COLUMN, BYTEAOID);
	bindatt = lc_attnum(desc, LC_BIND_COLUMN, JSONBOID);	/* none before 0.3.0 */
	if (attnum == InvalidAttrNumber)
		ok = false;
	else
	{
		group = lc_local_group();
		snap = RegisterSnapshot(GetLatestSnapshot());
		scan = table_beginscan(rel, snap, 0, NULL);
		slot = table_slot_create(rel, NULL);
		while (table_scan_getnextslot(scan, ForwardScanDirection, slot))
		{
			bool		isnull;
			Datum		d = slot_getattr(slot, attnum, &isnull);
			bytea	   *b;

			if (++rows > 1 || isnull)
			{
				ok = false;
				continue;
			}
			b = DatumGetByteaPP(d);
			if (VARSIZE_ANY_EXHDR(b) != LC_KEY_LEN)
				ok = false;
			else
				memcpy(key, VARDATA_ANY(b), LC_KEY_LEN);
			if (bindatt != InvalidAttrNumber)
			{
				d = slot_getattr(slot, bindatt, &isnull);
				if (!isnull)
				{
					Jsonb	   *binding = DatumGetJsonbP(d);

					bound = true;
					mine_ok = lc_bound_oid(binding, group, &mine);
					coord_ok = lc_bound_oid(binding, 0, &coord);
				}
			}
		}
		ExecDropSingleTupleTableSlot(slot);
		table_endscan(scan);
		UnregisterSnapshot(snap);
	}
	table_close(rel, AccessShareLock);

	if (!ok || rows != 1)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("the signing key of extension \"%s\" is missing or invalid", SA_EXTENSION),
				 errhint("As the extension owner, run SELECT sessions.rotate_lifecycle_key()%s.",
						 cluster ? " on the coordinator" : "")));
	if (cluster && !bound)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("the signing key of extension \"%s\" is not bound to the databases of the cluster", SA_EXTENSION),
				 errdetail("The key table is a Citus reference table whose row has no node_databases."),
				 errhint("Run SELECT * FROM sessions.distribute() on the coordinator.")));
	if (bound && !mine_ok)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("the signing key of extension \"%s\" is not bound to this node", SA_EXTENSION),
				 errdetail("Its row's node_databases names no database for Citus group %d.", group),
				 errhint("After adding a node, run SELECT * FROM sessions.distribute() on the coordinator.")));
	if (bound && mine != MyDatabaseId)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("the signing key of extension \"%s\" was made for another database", SA_EXTENSION),
				 errdetail("Its row's node_databases names database OID %u for Citus group %d; this database is %u. A copy of a database signs and verifies nothing with the key of the original.",
						   mine, group, MyDatabaseId),
				 errhint("As the extension owner, run SELECT sessions.rotate_lifecycle_key() on the coordinator; documents and tokens issued before are refused afterwards.")));
	if (bound && !coord_ok)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("the signing key of extension \"%s\" is not bound to the coordinator's database", SA_EXTENSION),
				 errdetail("Its row's node_databases names no database for Citus group 0."),
				 errhint("As the extension owner, run SELECT sessions.rotate_lifecycle_key() on the coordinator.")));
	memcpy(lc_key_bytes, key, LC_KEY_LEN);
	explicit_bzero(key, sizeof(key));
	snprintf(lc_key_db, sizeof(lc_key_db), "%u", bound ? coord : MyDatabaseId);
	lc_key_relid = relid;
	lc_key_shell = shell;
	lc_key_valid = true;
	return lc_key_bytes;
}

/*
 * lc_sign
 *		HMAC-SHA256 of domain NUL purpose NUL database-OID NUL, then per part
 *		's' value NUL (or 'n' NUL for a JSON null). Text has no NUL bytes, so
 *		the framing is unambiguous. The database OID is this database's on
 *		one node, the coordinator's on a Citus cluster (lc_key).
 */
static void
lc_sign(const char *purpose, const LcPart *parts, int nparts, uint8 *mac)
{
	const uint8 *key = lc_key();
	const char *db = lc_key_db;
	int			dblen = strlen(db);
	pg_hmac_ctx *ctx;
	static const uint8 nul = 0;
	bool		ok;

	ctx = pg_hmac_create(PG_SHA256);
	if (ctx == NULL)
		ereport(ERROR, (errcode(ERRCODE_OUT_OF_MEMORY), errmsg("out of memory")));
	ok = pg_hmac_init(ctx, key, LC_KEY_LEN) == 0 &&
		pg_hmac_update(ctx, (const uint8 *) LC_DOMAIN, strlen(LC_DOMAIN) + 1) == 0 &&
		pg_hmac_update(ctx, (const uint8 *) purpose, strlen(purpose) + 1) == 0 &&
		pg_hmac_update(ctx, (const uint8 *) db, dblen + 1) == 0;
	for (int i = 0; ok && i < nparts; i++)
	{
		uint8		tag = parts[i].isnull ? 'n' : 's';

		ok = pg_hmac_update(ctx, &tag, 1) == 0 &&
			(parts[i].isnull ||
			 pg_hmac_update(ctx, (const uint8 *) parts[i].data, parts[i].len) == 0) &&
			pg_hmac_update(ctx, &nul, 1) == 0;
	}
	ok = ok && pg_hmac_final(ctx, mac, LC_MAC_LEN) == 0;
	if (!ok)
	{
		char	   *err = pstrdup(pg_hmac_error(ctx));

		pg_hmac_free(ctx);
		ereport(ERROR,
				(errcode(ERRCODE_SYSTEM_ERROR),
				 errmsg("could not compute HMAC-SHA256: %s", err)));
	}
	pg_hmac_free(ctx);
}

/*
 * lc_mac_equal
 *		Constant-time comparison of two MACs.
 */
static bool
lc_mac_equal(const uint8 *a, const uint8 *b)
{
	volatile uint8 diff = 0;

	for (int i = 0; i < LC_MAC_LEN; i++)
		diff |= a[i] ^ b[i];
	return diff == 0;
}

/*
 * lc_digit
 *		Position of c in alphabet (the digits of a base, in order), -1 for a
 *		character that is not one of them. Serves the hex and base64url
 *		decoders alike.
 */
static int
lc_digit(const char *alphabet, char c)
{
	const char *p = c == '\0' ? NULL : strchr(alphabet, c);

	return p ? (int) (p - alphabet) : -1;
}

static const char lc_hexchars[] = "0123456789abcdef";

/*
 * lc_unhex
 *		Decodes exactly 2 * n lower-case hexadecimal digits; false for any
 *		other length or character.
 */
static bool
lc_unhex(const char *s, int len, uint8 *out, int n)
{
	if (len != 2 * n)
		return false;
	for (int i = 0; i < n; i++)
	{
		int			hi = lc_digit(lc_hexchars, s[2 * i]);
		int			lo = lc_digit(lc_hexchars, s[2 * i + 1]);

		if (hi < 0 || lo < 0)
			return false;
		out[i] = (uint8) (hi << 4 | lo);
	}
	return true;
}

/* Lower-case hex of a MAC, NUL-terminated. */
static void
lc_hex(const uint8 *mac, char *out)
{
	hex_encode((const char *) mac, LC_MAC_LEN, out);
	out[LC_MAC_HEX] = '\0';
}

/*
 * lc_parse_uuid
 *		A UUID in the canonical form uuid_out writes (36 characters, lower
 *		case, hyphens at 8, 13, 18, 23); false for anything else.
 */
static bool
lc_parse_uuid(const char *s, int len, pg_uuid_t *out)
{
	int			j = 0;
	int			i = 0;

	if (len != 36)
		return false;
	while (i < 36)
	{
		int			hi,
					lo;

		if (i == 8 || i == 13 || i == 18 || i == 23)
		{
			if (s[i++] != '-')
				return false;
			continue;
		}
		hi = lc_digit(lc_hexchars, s[i]);
		lo = lc_digit(lc_hexchars, s[i + 1]);
		if (hi < 0 || lo < 0)
			return false;
		out->data[j++] = (unsigned char) (hi << 4 | lo);
		i += 2;
	}
	return j == UUID_LEN;
}

/*
 * lc_render_ts
 *		A timestamp as the JSON text the documents carry, always in UTC, so
 *		a document reads the same whatever the session's TimeZone.
 */
static char *
lc_render_ts(TimestampTz ts)
{
	char		buf[MAXDATELEN + 1];
	const int	utc = 0;

	JsonEncodeDateTime(buf, TimestampTzGetDatum(ts), TIMESTAMPTZOID, &utc);
	return pstrdup(buf);
}

static const char lc_b64chars[] =
"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* Unpadded base64url of src, appended to out. */
static void
lc_b64url_encode(StringInfo out, const uint8 *src, int len)
{
	uint32		acc = 0;
	int			bits = 0;

	for (int i = 0; i < len; i++)
	{
		acc = (acc << 8) | src[i];
		bits += 8;
		while (bits >= 6)
		{
			bits -= 6;
			appendStringInfoChar(out, lc_b64chars[(acc >> bits) & 0x3F]);
		}
		acc &= (1U << bits) - 1;
	}
	if (bits > 0)
		appendStringInfoChar(out, lc_b64chars[(acc << (6 - bits)) & 0x3F]);
}

/*
 * lc_b64url_decode
 *		Decodes unpadded base64url into dst (room for len * 3 / 4 bytes);
 *		false for other characters, an impossible length or non-zero
 *		trailing bits (only the canonical encoding is accepted).
 */
static bool
lc_b64url_decode(const char *src, int len, uint8 *dst, int *dstlen)
{
	uint32		acc = 0;
	int			bits = 0;
	int			n = 0;

	if (len % 4 == 1)
		return false;
	for (int i = 0; i < len; i++)
	{
		int			v = lc_digit(lc_b64chars, src[i]);

		if (v < 0)
			return false;
		acc = (acc << 6) | (uint32) v;
		bits += 6;
		if (bits >= 8)
		{
			bits -= 8;
			dst[n++] = (uint8) (acc >> bits);
		}
		acc &= (1U << bits) - 1;
	}
	if (acc != 0)
		return false;
	*dstlen = n;
	return true;
}

/*
 * lc_prepare
 *		A plan kept for the backend's life; names in sql are qualified and
 *		the calling functions pin search_path, so it never binds elsewhere.
 */
static SPIPlanPtr
lc_prepare(SPIPlanPtr *cache, const char *sql, int nargs, Oid *types)
{
	if (*cache == NULL)
	{
		SPIPlanPtr	p = SPI_prepare(sql, nargs, types);

		if (p == NULL || SPI_keepplan(p) != 0)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("could not prepare a session look-up: %s", SPI_result_code_string(SPI_result))));
		*cache = p;
	}
	return *cache;
}

/*
 * lc_select
 *		Runs a kept plan that only reads; raises unless it ran as a SELECT.
 *		fresh: read with a new snapshot after a command counter increment
 *		(what SPI does outside read-only mode), as the VOLATILE look-ups by
 *		reference need to see a session opened earlier in the same statement;
 *		otherwise the caller's snapshot (STABLE functions).
 */
static void
lc_select(SPIPlanPtr plan, Datum *values, long limit, bool fresh)
{
	int			rc = SPI_execute_plan(plan, values, NULL, !fresh, limit);

	if (rc != SPI_OK_SELECT)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("session look-up failed: %s", SPI_result_code_string(rc))));
}

/*
 * sa_rotate_lifecycle_key
 *		sessions.rotate_lifecycle_key(): a new random key for the database.
 *		Every state document and continuation token issued before is refused
 *		from then on. Only the owner of the key table (the extension owner)
 *		may run it; the install script runs it once.
 */
Datum
sa_rotate_lifecycle_key(PG_FUNCTION_ARGS)
{
	Oid			relid = lc_key_table();
	Oid			source;
	bool		cluster;
	const char *nsp;
	uint8		key[LC_KEY_LEN];
	bytea	   *b;
	char	   *sql;
	Oid			types[2] = {BYTEAOID, JSONBOID};
	Datum		values[2];
	int			rc;

	if (!pg_class_ownercheck(relid, GetUserId()))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("only the owner of extension \"%s\" may rotate the signing key", SA_EXTENSION)));
	source = lc_key_source(relid, &cluster);
	nsp = quote_identifier(get_namespace_name(get_rel_namespace(relid)));
	SPI_connect();
	if (cluster)
	{
		bool		isnull;

		/* The binding: this database's OID on every node, asked now. */
		rc = SPI_execute(psprintf("SELECT %s.lifecycle_key_nodes()", nsp), false, 1);
		if (rc != SPI_OK_SELECT || SPI_processed != 1)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("could not read the databases of the cluster's nodes: %s", SPI_result_code_string(rc))));
		values[1] = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
		if (isnull)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("could not read the databases of the cluster's nodes")));
	}
	if (!pg_strong_random(key, LC_KEY_LEN))
		ereport(ERROR,
				(errcode(ERRCODE_SYSTEM_ERROR),
				 errmsg("could not generate a random signing key")));
	b = (bytea *) palloc(VARHDRSZ + LC_KEY_LEN);
	SET_VARSIZE(b, VARHDRSZ + LC_KEY_LEN);
	memcpy(VARDATA(b), key, LC_KEY_LEN);
	explicit_bzero(key, sizeof(key));
	values[0] = PointerGetDatum(b);

	/* One node: the statement of every version (node_databases stays NULL). */
	if (cluster)
		sql = psprintf("INSERT INTO %s.%s (id, " LC_KEY_COLUMN ", rotated_at, " LC_BIND_COLUMN ") "
					   "VALUES (1, $1, pg_catalog.now(), $2) "
					   "ON CONFLICT (id) DO UPDATE SET " LC_KEY_COLUMN " = excluded." LC_KEY_COLUMN
					   ", rotated_at = excluded.rotated_at, " LC_BIND_COLUMN " = excluded." LC_BIND_COLUMN,
					   nsp, quote_identifier(LC_KEY_TABLE));
	else
		sql = psprintf("INSERT INTO %s.%s (id, " LC_KEY_COLUMN ", rotated_at) "
					   "VALUES (1, $1, pg_catalog.now()) "
					   "ON CONFLICT (id) DO UPDATE SET " LC_KEY_COLUMN " = excluded." LC_KEY_COLUMN
					   ", rotated_at = excluded.rotated_at",
					   nsp, quote_identifier(LC_KEY_TABLE));
	rc = SPI_execute_with_args(sql, cluster ? 2 : 1, types, values, NULL, false, 0);
	if (rc != SPI_OK_INSERT)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("could not store the signing key: %s", SPI_result_code_string(rc))));
	explicit_bzero(VARDATA(b), LC_KEY_LEN);
	SPI_finish();

	/*
	 * Every backend (this one at once) reads the new key on its next use;
	 * on a cluster the trigger on each node's placement tells that node's.
	 */
	CacheInvalidateRelcacheByRelid(relid);
	if (source != relid)
		CacheInvalidateRelcacheByRelid(source);
	lc_key_forget();
	PG_RETURN_VOID();
}

/*
 * sa_lifecycle_key_changed
 *		Statement trigger on the key table: any change to it (a rotation, a
 *		key put back from a backup, a delete) reaches the cached key of every
 *		backend at commit, and this one's at once. Runs on no other table
 *		but, on a Citus cluster, the key table's placement on each node
 *		(Citus creates the trigger there and the rows are there).
 */
Datum
sa_lifecycle_key_changed(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;
	Oid			shell;
	Oid			relid;

	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("sessions.lifecycle_key_changed() must be called as a trigger")));
	shell = lc_key_table();
	relid = RelationGetRelid(trigdata->tg_relation);
	if (relid != shell && !lc_is_placement(shell, relid))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("sessions.lifecycle_key_changed() fires only on the extension's table %s", LC_KEY_TABLE)));
	CacheInvalidateRelcacheByRelid(relid);
	if (relid != shell)
		CacheInvalidateRelcacheByRelid(shell);
	lc_key_forget();
	return PointerGetDatum(NULL);
}

/*
 * sa_session_state
 *		sessions.session_state(reference): the signed state document of a
 *		session the caller can see (read under its row-level security):
 *		{format_version 2, reference, type, session_key, date_created,
 *		valid_until (UTC), signature}. Unknown and invisible references give
 *		the same P0002.
 */
Datum
sa_session_state(PG_FUNCTION_ARGS)
{
	static SPIPlanPtr plan = NULL;
	Oid			types[1] = {TEXTOID};
	Datum		values[1];
	text	   *reft;
	MemoryContext caller = CurrentMemoryContext;
	MemoryContext spi;
	HeapTuple	tup;
	TupleDesc	desc;
	bool		isnull;
	Datum		d;
	LcPart		parts[5];
	char	   *ref,
			   *type,
			   *key,
			   *dc = NULL,
			   *vu = NULL;
	uint8		mac[LC_MAC_LEN];
	char		hex[LC_MAC_HEX + 1];
	StringInfoData doc;

	if (PG_ARGISNULL(0) || VARSIZE_ANY_EXHDR(PG_GETARG_TEXT_PP(0)) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("reference must not be empty")));
	reft = PG_GETARG_TEXT_PP(0);

	values[0] = PointerGetDatum(reft);
	SPI_connect();
	lc_select(lc_prepare(&plan,
						 "SELECT s.external_id, s.namespace, s.session_key, s.started_at, s.valid_until"
						 "  FROM sessions.store s"
						 " WHERE s.kind OPERATOR(pg_catalog.=) 'invoice'::pg_catalog.text"
						 "   AND s.external_id OPERATOR(pg_catalog.=) $1"
						 " LIMIT 2", 1, types),
			  values, 2, true);
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_NO_DATA_FOUND),
				 errmsg("session \"%s\" does not exist",
						lc_clip(VARDATA_ANY(reft), VARSIZE_ANY_EXHDR(reft)))));
	if (SPI_processed > 1)
		ereport(ERROR,
				(errcode(ERRCODE_CARDINALITY_VIOLATION),
				 errmsg("reference \"%s\" names more than one session",
						lc_clip(VARDATA_ANY(reft), VARSIZE_ANY_EXHDR(reft)))));
	tup = SPI_tuptable->vals[0];
	desc = SPI_tuptable->tupdesc;
	spi = MemoryContextSwitchTo(caller);
	ref = SPI_getvalue(tup, desc, 1);
	type = SPI_getvalue(tup, desc, 2);
	key = SPI_getvalue(tup, desc, 3);
	d = SPI_getbinval(tup, desc, 4, &isnull);
	if (!isnull)
		dc = lc_render_ts(DatumGetTimestampTz(d));
	d = SPI_getbinval(tup, desc, 5, &isnull);
	if (!isnull)
		vu = lc_render_ts(DatumGetTimestampTz(d));
	MemoryContextSwitchTo(spi);
	SPI_finish();

	parts[0] = (LcPart) {ref, strlen(ref), false};
	parts[1] = (LcPart) {type, strlen(type), false};
	parts[2] = (LcPart) {key, strlen(key), false};
	parts[3] = (LcPart) {dc, dc ? strlen(dc) : 0, dc == NULL};
	parts[4] = (LcPart) {vu, vu ? strlen(vu) : 0, vu == NULL};
	lc_sign("state", parts, 5, mac);
	lc_hex(mac, hex);

	initStringInfo(&doc);
	appendStringInfo(&doc, "{\"format_version\": %d, \"reference\": ", LC_STATE_VERSION);
	escape_json(&doc, ref);
	appendStringInfoString(&doc, ", \"type\": ");
	escape_json(&doc, type);
	appendStringInfo(&doc, ", \"session_key\": \"%s\", \"date_created\": ", key);
	if (dc)
		escape_json(&doc, dc);
	else
		appendStringInfoString(&doc, "null");
	appendStringInfoString(&doc, ", \"valid_until\": ");
	if (vu)
		escape_json(&doc, vu);
	else
		appendStringInfoString(&doc, "null");
	appendStringInfo(&doc, ", \"signature\": \"%s\"}", hex);
	PG_RETURN_DATUM(DirectFunctionCall1(jsonb_in, CStringGetDatum(doc.data)));
}

/* The fields of a state document, in the order they are signed. */
enum
{
	SF_VERSION, SF_REFERENCE, SF_TYPE, SF_KEY, SF_CREATED, SF_VALID, SF_SIGNATURE, SF_COUNT
};
static const char *const lc_state_fields[SF_COUNT] = {
	"format_version", "reference", "type", "session_key", "date_created", "valid_until", "signature"
};

/*
 * lc_state_string
 *		A required string field of a state document (nullable: a JSON null
 *		is accepted too, as isnull); raises 22023 otherwise.
 */
static LcPart
lc_state_string(const JsonbValue *vals, const bool *seen, int f, bool nullable)
{
	LcPart		p = {NULL, 0, false};

	if (!seen[f])
		STATE_MALFORMED("Field \"%s\" is missing.", lc_state_fields[f]);
	if (vals[f].type == jbvNull && nullable)
		p.isnull = true;
	else if (vals[f].type != jbvString)
		STATE_MALFORMED("Field \"%s\" must be a %s.", lc_state_fields[f],
						nullable ? "string or null" : "string");
	else
	{
		p.data = vals[f].val.string.val;
		p.len = vals[f].val.string.len;
	}
	return p;
}

/*
 * sa_resume_session
 *		sessions.resume_session(state): checks a state document and returns
 *		the live session_status() document. Refuses (22023) a document that
 *		is not an object, has missing, ill-typed or extra fields, a bad
 *		signature, or no longer matches its session; 0A000 for a
 *		format_version other than 2; P0002 for a session the caller cannot
 *		see (deleted, re-opened, another namespace); 55000 for a session
 *		that is expired, closed or final.
 */
Datum
sa_resume_session(PG_FUNCTION_ARGS)
{
	static SPIPlanPtr plan = NULL;
	Oid			types[3] = {TEXTOID, UUIDOID, TEXTOID};
	Datum		values[3];
	Jsonb	   *jb;
	JsonbIterator *it;
	JsonbValue	v,
				vals[SF_COUNT];
	bool		seen[SF_COUNT] = {false};
	JsonbIteratorToken r;
	StringInfoData extra;
	int			nextra = 0;
	char	   *version;
	LcPart		parts[SF_COUNT - 1];
	pg_uuid_t  *key;
	uint8		mac[LC_MAC_LEN],
				given[LC_MAC_LEN];
	char	   *ref;
	MemoryContext caller = CurrentMemoryContext;
	MemoryContext spi;
	HeapTuple	tup;
	TupleDesc	desc;
	bool		isnull;
	Datum		d;
	Jsonb	   *status;
	char	   *name;
	bool		code_null;
	int32		code;
	char	   *row_created = NULL;
	char	   *row_valid = NULL;

	if (PG_ARGISNULL(0) || !JB_ROOT_IS_OBJECT(jb = PG_GETARG_JSONB_P(0)) || JB_ROOT_IS_SCALAR(jb))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("state must be a JSON object from sessions.session_state()"),
				 errhint("Pass the document from sessions.session_state() unchanged.")));

	initStringInfo(&extra);
	it = JsonbIteratorInit(&jb->root);
	while ((r = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		int			f;

		if (r != WJB_KEY)
			continue;
		for (f = 0; f < SF_COUNT; f++)
			if (v.val.string.len == (int) strlen(lc_state_fields[f]) &&
				memcmp(v.val.string.val, lc_state_fields[f], v.val.string.len) == 0)
				break;
		if (f == SF_COUNT && nextra++ < 5)
			appendStringInfo(&extra, "%s\"%s\"", extra.len ? ", " : "",
							 lc_clip(v.val.string.val, v.val.string.len));
		r = JsonbIteratorNext(&it, &v, true);
		if (f < SF_COUNT)
		{
			vals[f] = v;
			seen[f] = true;
		}
	}

	if (!seen[SF_VERSION] || vals[SF_VERSION].type != jbvNumeric)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("state document has no format_version"),
				 errhint("Pass the document from sessions.session_state() unchanged.")));
	version = DatumGetCString(DirectFunctionCall1(numeric_out,
												  NumericGetDatum(vals[SF_VERSION].val.numeric)));
	if (strcmp(version, CppAsString2(LC_STATE_VERSION)) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("state document format_version %s is not supported", lc_clip(version, strlen(version))),
				 errhint("This version reads format_version %d only; get a new document with sessions.session_state().",
						 LC_STATE_VERSION)));
	if (nextra > 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("state document has unexpected keys: %s%s", extra.data, nextra > 5 ? ", ..." : ""),
				 errhint("A state document holds only format_version, reference, type, session_key, date_created, valid_until and signature.")));

	parts[0] = lc_state_string(vals, seen, SF_REFERENCE, false);
	parts[1] = lc_state_string(vals, seen, SF_TYPE, false);
	parts[2] = lc_state_string(vals, seen, SF_KEY, false);
	parts[3] = lc_state_string(vals, seen, SF_CREATED, true);
	parts[4] = lc_state_string(vals, seen, SF_VALID, true);
	(void) lc_state_string(vals, seen, SF_SIGNATURE, false);
	if (parts[0].len == 0)
		STATE_MALFORMED("Field \"reference\" must not be empty.");
	if (!((parts[1].len == 6 && memcmp(parts[1].data, "online", 6) == 0) ||
		  (parts[1].len == 5 && memcmp(parts[1].data, "batch", 5) == 0)))
		STATE_MALFORMED("Field \"type\" must be \"online\" or \"batch\".");
	key = (pg_uuid_t *) palloc(sizeof(pg_uuid_t));
	if (!lc_parse_uuid(parts[2].data, parts[2].len, key))
		STATE_MALFORMED("Field \"session_key\" must be a UUID in canonical form (36 lower-case characters).");
	for (int i = 3; i <= 4; i++)
		if (!parts[i].isnull && (parts[i].len == 0 || parts[i].len > MAXDATELEN))
			STATE_MALFORMED("Field \"%s\" must be a timestamp as session_state() writes it.",
							lc_state_fields[SF_CREATED + i - 3]);
	if (!lc_unhex(vals[SF_SIGNATURE].val.string.val, vals[SF_SIGNATURE].val.string.len, given, LC_MAC_LEN))
		STATE_FORGED("The signature must be %d lower-case hexadecimal digits.", LC_MAC_HEX);

	lc_sign("state", parts, 5, mac);
	if (!lc_mac_equal(mac, given))
		STATE_FORGED("The signature does not match the other fields.");

	/* Genuine: now the session, under the caller's row-level security. */
	ref = pnstrdup(parts[0].data, parts[0].len);
	values[0] = PointerGetDatum(cstring_to_text_with_len(parts[0].data, parts[0].len));
	values[1] = UUIDPGetDatum(key);
	values[2] = PointerGetDatum(cstring_to_text_with_len(parts[1].data, parts[1].len));
	SPI_connect();
	lc_select(lc_prepare(&plan,
						 "SELECT v.status_doc, v.name, v.code, v.date_created, v.valid_until"
						 "  FROM sessions.invoice_sessions v"
						 " WHERE v.reference OPERATOR(pg_catalog.=) $1"
						 "   AND v.session_key OPERATOR(pg_catalog.=) $2"
						 "   AND v.type OPERATOR(pg_catalog.=) $3", 3, types),
			  values, 1, true);
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_NO_DATA_FOUND),
				 errmsg("session \"%s\" does not exist", lc_clip(ref, strlen(ref)))));
	tup = SPI_tuptable->vals[0];
	desc = SPI_tuptable->tupdesc;
	spi = MemoryContextSwitchTo(caller);
	d = SPI_getbinval(tup, desc, 1, &isnull);
	status = isnull ? NULL : DatumGetJsonbPCopy(d);
	name = SPI_getvalue(tup, desc, 2);
	code = DatumGetInt32(SPI_getbinval(tup, desc, 3, &code_null));
	d = SPI_getbinval(tup, desc, 4, &isnull);
	if (!isnull)
		row_created = lc_render_ts(DatumGetTimestampTz(d));
	d = SPI_getbinval(tup, desc, 5, &isnull);
	if (!isnull)
		row_valid = DatumGetCString(DirectFunctionCall1(timestamptz_out, d));
	MemoryContextSwitchTo(spi);
	SPI_finish();

	/* The creation time is immutable: a change means another session. */
	if (parts[3].isnull != (row_created == NULL) ||
		(row_created && (strlen(row_created) != (size_t) parts[3].len ||
						 memcmp(row_created, parts[3].data, parts[3].len) != 0)))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("state document does not match session \"%s\"", lc_clip(ref, strlen(ref))),
				 errdetail("Its date_created differs from the session's."),
				 errhint("Get a new state document with sessions.session_state().")));
	if (name && strcmp(name, "EXPIRED") == 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("session \"%s\" expired at %s", lc_clip(ref, strlen(ref)), row_valid ? row_valid : "?"),
				 errhint("Open a new session.")));
	if (code_null || (code != 100 && code != 150))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("session \"%s\" is %s (%s) and cannot be resumed", lc_clip(ref, strlen(ref)),
						name ? name : "without a status", code_null ? "NULL" : psprintf("%d", code)),
				 errhint("Open a new session.")));
	if (status == NULL)
		PG_RETURN_NULL();
	PG_RETURN_JSONB_P(status);
}

/*
 * lc_check_q
 *		q as the page function computes it: md5 hex of the query's filters.
 */
static void
lc_check_q(const text *q)
{
	uint8		buf[LC_Q_LEN / 2];

	if (!lc_unhex(VARDATA_ANY(q), VARSIZE_ANY_EXHDR(q), buf, LC_Q_LEN / 2))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("q must be %d lower-case hexadecimal digits (the hash of the query's filters)", LC_Q_LEN),
				 errhint("Page with sessions.list_sessions(), which computes q.")));
}

/*
 * sa_continuation_token
 *		sessions.continuation_token(q, type, session_key): the token that
 *		continues a listing after the given row. The row's date created is
 *		re-read under the caller's row-level security, so the token only
 *		ever names a position the caller was shown. Token:
 *		base64url(payload) "." hex HMAC, payload {"v":2,"q":..,"c":..,"k":..}.
 */
Datum
sa_continuation_token(PG_FUNCTION_ARGS)
{
	static SPIPlanPtr plan = NULL;
	Oid			types[2] = {UUIDOID, TEXTOID};
	Datum		values[2];
	text	   *q,
			   *type;
	char	   *qs,
			   *keys;
	bool		isnull = true;
	TimestampTz c = 0;
	char	   *payload;
	LcPart		part;
	uint8		mac[LC_MAC_LEN];
	char		hex[LC_MAC_HEX + 1];
	StringInfoData tok;

	for (int i = 0; i < 3; i++)
		if (PG_ARGISNULL(i))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("%s must not be NULL", i == 0 ? "q" : i == 1 ? "type" : "session_key"),
					 errhint("Page with sessions.list_sessions(), which makes the tokens.")));
	q = PG_GETARG_TEXT_PP(0);
	type = PG_GETARG_TEXT_PP(1);
	lc_check_q(q);
	qs = text_to_cstring(q);
	if (strcmp(text_to_cstring(type), "online") != 0 && strcmp(text_to_cstring(type), "batch") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("type must be 'online' or 'batch'")));
	keys = DatumGetCString(DirectFunctionCall1(uuid_out, PG_GETARG_DATUM(2)));

	values[0] = PG_GETARG_DATUM(2);
	values[1] = PointerGetDatum(type);
	SPI_connect();
	lc_select(lc_prepare(&plan,
						 "SELECT s.started_at FROM sessions.store s"
						 " WHERE s.session_key OPERATOR(pg_catalog.=) $1"
						 "   AND s.namespace OPERATOR(pg_catalog.=) $2"
						 "   AND s.kind OPERATOR(pg_catalog.=) 'invoice'::pg_catalog.text", 2, types),
			  values, 1, false);
	if (SPI_processed == 1)
		c = DatumGetTimestampTz(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	SPI_finish();
	if (isnull)
		ereport(ERROR,
				(errcode(ERRCODE_NO_DATA_FOUND),
				 errmsg("session with key %s does not exist", keys),
				 errhint("A continuation token continues after a row the listing returned.")));

	payload = psprintf("{\"v\":%d,\"q\":\"%s\",\"c\":" INT64_FORMAT ",\"k\":\"%s\"}",
					   LC_TOKEN_VERSION, qs, (int64) c, keys);
	part = (LcPart) {payload, strlen(payload), false};
	lc_sign("page", &part, 1, mac);
	lc_hex(mac, hex);
	initStringInfo(&tok);
	lc_b64url_encode(&tok, (const uint8 *) payload, part.len);
	appendStringInfo(&tok, ".%s", hex);
	PG_RETURN_TEXT_P(cstring_to_text_with_len(tok.data, tok.len));
}

/* The fields of a token payload. */
enum
{
	TF_V, TF_Q, TF_C, TF_K, TF_COUNT
};
static const char *const lc_token_fields[TF_COUNT] = {"v", "q", "c", "k"};

/* What the JSON parser saw in a token payload. */
typedef struct LcTokenParse
{
	int			depth;
	bool		nested;			/* an array, a nested object or a bare scalar */
	bool		duplicate;
	int			field;			/* index of the field being read, -1 none */
	char	   *extra;			/* first unexpected key */
	char	   *val[TF_COUNT];
	JsonTokenType type[TF_COUNT];
} LcTokenParse;

static void
lc_tok_object_start(void *state)
{
	LcTokenParse *p = state;

	if (++p->depth > 1)
		p->nested = true;
}

static void
lc_tok_object_end(void *state)
{
	((LcTokenParse *) state)->depth--;
}

static void
lc_tok_array_start(void *state)
{
	((LcTokenParse *) state)->nested = true;
}

static void
lc_tok_field_start(void *state, char *fname, bool isnull)
{
	LcTokenParse *p = state;

	p->field = -1;
	if (p->depth != 1)
		return;
	for (int f = 0; f < TF_COUNT; f++)
		if (strcmp(fname, lc_token_fields[f]) == 0)
			p->field = f;
	if (p->field < 0)
	{
		if (p->extra == NULL)
			p->extra = fname;
	}
	else if (p->val[p->field] != NULL)
		p->duplicate = true;
}

static void
lc_tok_scalar(void *state, char *token, JsonTokenType tokentype)
{
	LcTokenParse *p = state;

	if (p->depth == 0)
		p->nested = true;
	else if (p->depth == 1 && p->field >= 0)
	{
		p->val[p->field] = token;
		p->type[p->field] = tokentype;
	}
}

/*
 * lc_parse_int64
 *		A JSON number that is a plain integer (optional '-', digits), with
 *		overflow checks; false for anything else.
 */
static bool
lc_parse_int64(const char *s, int64 *out)
{
	bool		neg = (*s == '-');
	int64		v = 0;

	if (neg)
		s++;
	if (*s == '\0')
		return false;
	for (; *s; s++)
	{
		if (*s < '0' || *s > '9' ||
			pg_mul_s64_overflow(v, 10, &v) ||
			pg_sub_s64_overflow(v, *s - '0', &v))	/* accumulate negative */
			return false;
	}
	if (!neg && pg_sub_s64_overflow(0, v, &v))
		return false;
	*out = v;
	return true;
}

/*
 * sa_continuation_cursor
 *		sessions.continuation_cursor(token, q): the (date created, key)
 *		position a token continues after, for the query whose filter hash
 *		is q. Checked in order: shape (base64url "." 64 hex digits), the
 *		signature, a flat JSON object of exactly v, q, c, k; v = 2; q present
 *		and equal to the query's; c an integer timestamp in range; k a
 *		canonical UUID. Every refusal is 22023.
 */
Datum
sa_continuation_cursor(PG_FUNCTION_ARGS)
{
	text	   *tokt,
			   *q;
	const char *tok,
			   *dot;
	int			len,
				plen,
				dlen;
	uint8	   *payload;
	uint8		mac[LC_MAC_LEN],
				given[LC_MAC_LEN];
	LcPart		part;
	LcTokenParse p;
	JsonSemAction sem;
	JsonLexContext *lex;
	JsonParseErrorType rc;
	int64		c;
	pg_uuid_t  *k;
	TupleDesc	tupdesc;
	Datum		values[2];
	bool		nulls[2] = {false, false};

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("continuation token must not be NULL"),
				 errhint("Pass NULL as continuation to list_sessions() for the first page.")));
	if (PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("q must not be NULL"),
				 errhint("Page with sessions.list_sessions(), which computes q.")));
	tokt = PG_GETARG_TEXT_PP(0);
	q = PG_GETARG_TEXT_PP(1);
	lc_check_q(q);
	tok = VARDATA_ANY(tokt);
	len = VARSIZE_ANY_EXHDR(tokt);

	/* Shape: base64url payload, one dot, the signature in hex. */
	if (len > LC_TOKEN_MAX)
		TOKEN_MALFORMED("The token is longer than %d bytes.", LC_TOKEN_MAX);
	dot = memchr(tok, '.', len);
	if (dot == NULL || dot == tok)
		TOKEN_MALFORMED("A token is a base64url payload, \".\" and %d hexadecimal digits.", LC_MAC_HEX);
	plen = dot - tok;
	if (!lc_unhex(dot + 1, len - plen - 1, given, LC_MAC_LEN))
		TOKEN_MALFORMED("The signature after \".\" must be %d lower-case hexadecimal digits.", LC_MAC_HEX);
	payload = palloc(plen * 3 / 4 + 3);
	if (!lc_b64url_decode(tok, plen, payload, &dlen))
		TOKEN_MALFORMED("The payload before \".\" is not unpadded base64url.");

	/* The signature, before anything in the payload is believed. */
	part = (LcPart) {(const char *) payload, dlen, false};
	lc_sign("page", &part, 1, mac);
	if (!lc_mac_equal(mac, given))
		TOKEN_MALFORMED("The signature does not match: the token was changed, or issued by another database or before the signing key was rotated.");

	/* Every field, even though only this server can have made it. */
	for (int i = 0; i < dlen; i++)
		if (payload[i] < 0x20 || payload[i] > 0x7E)
			TOKEN_MALFORMED("The payload must be printable ASCII.");
	payload[dlen] = '\0';
	memset(&p, 0, sizeof(p));
	p.field = -1;
	memset(&sem, 0, sizeof(sem));
	sem.semstate = &p;
	sem.object_start = lc_tok_object_start;
	sem.object_end = lc_tok_object_end;
	sem.array_start = lc_tok_array_start;
	sem.object_field_start = lc_tok_field_start;
	sem.scalar = lc_tok_scalar;
	lex = makeJsonLexContextCstringLen((char *) payload, dlen, PG_UTF8, true);
	rc = pg_parse_json(lex, &sem);
	if (rc != JSON_SUCCESS || p.nested)
		TOKEN_MALFORMED("The payload must be a JSON object of scalar fields v, q, c and k.");
	if (p.duplicate)
		TOKEN_MALFORMED("The payload repeats a field.");
	if (p.extra)
		TOKEN_MALFORMED("The payload has an unexpected field \"%s\".", lc_clip(p.extra, strlen(p.extra)));
	for (int f = 0; f < TF_COUNT; f++)
		if (p.val[f] == NULL)
			TOKEN_MALFORMED("Field \"%s\" is missing.", lc_token_fields[f]);
	if (p.type[TF_V] != JSON_TOKEN_NUMBER || strcmp(p.val[TF_V], CppAsString2(LC_TOKEN_VERSION)) != 0)
		TOKEN_MALFORMED("Field \"v\" must be the number %d (the token version this server reads).",
						LC_TOKEN_VERSION);
	if (p.type[TF_Q] != JSON_TOKEN_STRING)
		TOKEN_MALFORMED("Field \"q\" must be a string.");
	if (strlen(p.val[TF_Q]) != (size_t) VARSIZE_ANY_EXHDR(q) ||
		memcmp(p.val[TF_Q], VARDATA_ANY(q), VARSIZE_ANY_EXHDR(q)) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("continuation token belongs to a different query"),
				 errhint("Keep type, statuses, created_from and created_to the same while paging.")));
	/* In range, or -infinity / infinity (a row may carry either). */
	if (p.type[TF_C] != JSON_TOKEN_NUMBER || !lc_parse_int64(p.val[TF_C], &c) ||
		!(IS_VALID_TIMESTAMP(c) || TIMESTAMP_NOT_FINITE(c)))
		TOKEN_MALFORMED("Field \"c\" must be an integer timestamp in range.");
	k = (pg_uuid_t *) palloc(sizeof(pg_uuid_t));
	if (p.type[TF_K] != JSON_TOKEN_STRING || !lc_parse_uuid(p.val[TF_K], strlen(p.val[TF_K]), k))
		TOKEN_MALFORMED("Field \"k\" must be a UUID in canonical form.");

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("sessions.continuation_cursor() must be called where a record is expected")));
	tupdesc = BlessTupleDesc(tupdesc);
	values[0] = TimestampTzGetDatum((TimestampTz) c);
	values[1] = UUIDPGetDatum(k);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls)));
}
