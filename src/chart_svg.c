/*
 * chart_svg.c
 */
#include "postgres.h"
