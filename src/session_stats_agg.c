/*
 * session_stats_agg.c
 */
#include "postgres.h"
