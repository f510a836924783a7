/*
 * ocpi_validate.c
 */
#include "postgres.h"
