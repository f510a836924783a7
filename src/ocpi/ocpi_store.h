/*
 * ocpi/ocpi_store.h
 *		The OCPI write paths (ocpi/ocpi_store.c): the SQL functions only. Nothing
 *		in the module calls them from C but the 0.1.0 / 0.2.0 symbols of
 *		compat_symbols.c.
 */
#ifndef OCPI_STORE_H
#define OCPI_STORE_H

#include "postgres.h"

#include "fmgr.h"

/* SQL-callable: sessions.ocpi_put, sessions.ocpi_put_many, sessions.ocpi_patch. */
extern Datum sa_ocpi_put(PG_FUNCTION_ARGS);
extern Datum sa_ocpi_put_many(PG_FUNCTION_ARGS);
extern Datum sa_ocpi_patch(PG_FUNCTION_ARGS);

#endif							/* OCPI_STORE_H */
