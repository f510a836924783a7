/*
 * lifecycle_sign.h
 *		State documents, continuation tokens and the signing key of
 *		invoice-style sessions (lifecycle_sign.c): the SQL functions only.
 *		Nothing in the module calls them from C but the 0.1.0 / 0.2.0
 *		symbols of compat_symbols.c.
 */
#ifndef LIFECYCLE_SIGN_H
#define LIFECYCLE_SIGN_H

#include "postgres.h"

#include "fmgr.h"

/* SQL-callable: sessions.<name without the sa_ prefix>. */
extern Datum sa_rotate_lifecycle_key(PG_FUNCTION_ARGS);
extern Datum sa_lifecycle_key_changed(PG_FUNCTION_ARGS);
extern Datum sa_session_state(PG_FUNCTION_ARGS);
extern Datum sa_resume_session(PG_FUNCTION_ARGS);
extern Datum sa_continuation_token(PG_FUNCTION_ARGS);
extern Datum sa_continuation_cursor(PG_FUNCTION_ARGS);

#endif							/* LIFECYCLE_SIGN_H */
