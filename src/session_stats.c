/*
 * session_stats.c
 */
#include "postgres.h"
