/*
 * powerflex/import_memory.h
 *		The import's allocator policy (session_analytics.import_memory_retain).
 */
#ifndef SA_IMPORT_MEMORY_H
#define SA_IMPORT_MEMORY_H

/* Keep freed memory for reuse until this transaction ends (once per transaction). */
extern void sa_import_memory_begin(void);

#endif							/* SA_IMPORT_MEMORY_H */
