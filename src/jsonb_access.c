/*
 * jsonb_access.c
 */
#include "postgres.h"
