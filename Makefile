# session_analytics — PGXS build.
#
#   make / make install      build and install the extension and its tools
#   make test                every suite on a throwaway cluster; ends "N passed, N failed"
#   make test-citus          test/citus/*.t on a throwaway 3-node Citus cluster; same last line
#   make demo                throwaway cluster under ./.demo, sample data, the report
#   make bench               benchmarks (bench/), prints ratios
#   make installcheck        the pg_regress suites against the server the PG*
#                            variables name (after make install), as for contrib
#   make dist                session_analytics-VERSION.zip for PGXN, from git HEAD
#   make fuzz                the fuzzers for longer (FUZZ_CASES, default 100000; FUZZ_SEED)

EXTENSION  = session_analytics
EXTVERSION = $(shell sed -n "s/^default_version = '\(.*\)'/\1/p" $(EXTENSION).control)

MODULE_big = $(EXTENSION)
OBJS = \
	src/session_analytics.o \
	src/store/namespace_visible.o \
	src/store/session_key.o \
	src/ocpi/jsonb_access.o \
	src/ocpi/ocpi_validate.o \
	src/ocpi/ocpi_store.o \
	src/powerflex/powerflex_check.o \
	src/powerflex/import_memory.o \
	src/analytics/analytics_params.o \
	src/analytics/session_math.o \
	src/analytics/session_stats.o \
	src/analytics/session_stats_agg.o \
	src/analytics/chart_svg.o \
	src/workers/worker_common.o \
	src/workers/expiry_worker.o \
	src/events/notify_handoff.o \
	src/events/event_log.o \
	src/events/event_payload.o \
	src/events/event_xact.o \
	src/events/store_events.o \
	src/events/event_prune.o \
	src/workers/notify_worker.o \
	src/events/event_relay.o \
	src/workers/relay_worker.o \
	src/lifecycle/lifecycle_sign.o \
	src/summaries/summary_capture.o \
	src/compat_symbols.o

# The install script of the current version is built from the master SQL,
# kept as one file per concern under src/sql/ and joined in name order.
# Install scripts of earlier releases are kept frozen as shipped
# (src/session_analytics--0.1.0.sql, never regenerated), beside the
# hand-written upgrade scripts src/session_analytics--A--B.sql; both are
# installed as they are (docs/upgrading.md).
SQL_PARTS  = $(sort $(wildcard src/sql/*.sql))
DATA_built = $(EXTENSION)--$(EXTVERSION).sql
DATA       = $(filter-out src/$(EXTENSION)--$(EXTVERSION).sql,$(wildcard src/$(EXTENSION)--*.sql))

# pg_regress suites (sql/ + expected/): make installcheck runs them against a
# running server, make test against its throwaway cluster.
REGRESS      = $(patsubst sql/%.sql,%,$(sort $(wildcard sql/*.sql)))
REGRESS_OPTS = --load-extension=$(EXTENSION)

# Isolation specs (specs/ + expected/, PostgreSQL's isolation tester): the
# interleavings of concurrent sessions, step by step. make installcheck runs
# them after the pg_regress suites, in their own database.
ISOLATION      = $(patsubst specs/%.spec,%,$(sort $(wildcard specs/*.spec)))
ISOLATION_OPTS = --load-extension=$(EXTENSION)

PG_CPPFLAGS = -I$(srcdir)/src
# The Citus event relay (src/events/event_relay.c) connects to the workers with libpq.
SHLIB_LINK_INTERNAL = -L$(shell $(PG_CONFIG) --libdir) -lpq
PG_CFLAGS   = -Wall -Wextra -Werror -Wno-unused-parameter -Wno-missing-field-initializers -Wno-cast-function-type

# Command-line tools (libpq clients), built beside the module.
TOOLS = $(strip $(if $(wildcard src/tools/report_main.c),session-report) \
        $(if $(wildcard src/tools/session_listen.c),session-listen))
EXTRA_CLEAN = session-report session-listen $(EXTENSION)--$(EXTVERSION).sql

# No LLVM bitcode: JIT inlining of these functions is not worth a clang
# build dependency, and a staged install must not write into the system tree.
override with_llvm = no

PG_CONFIG ?= pg_config
PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

# The objects' header dependencies: PGXS tracks none unless the server was
# configured with --enable-depend, and an object built against a changed
# struct fails at run time, not at build time.
$(OBJS): $(wildcard src/*.h src/*/*.h)

$(EXTENSION)--$(EXTVERSION).sql: $(SQL_PARTS) $(EXTENSION).control
	cat $(SQL_PARTS) > $@

LIBPQ_CFLAGS = -I$(shell $(PG_CONFIG) --includedir)
LIBPQ_LIBS   = -L$(shell $(PG_CONFIG) --libdir) -lpq
# libpq's header for the relay only, after the server's (its own pg_config.h must not win).
src/events/event_relay.o: override CPPFLAGS += $(LIBPQ_CFLAGS)
TOOL_CFLAGS  = -O2 -g -std=gnu11 -Wall -Wextra -Werror -Wno-unused-parameter -DSA_VERSION='"$(EXTVERSION)"' -DSA_PG_BINDIR='"$(shell $(PG_CONFIG) --bindir)"' $(TOOL_EXTRA_CFLAGS)
# Packagers add their flags here (debian/rules: dpkg-buildflags).
TOOL_EXTRA_CFLAGS ?=
TOOL_LDFLAGS ?=

# session-report is split by concern (src/tools/session_report.h shows the
# layers); it is compiled in one command, so no object lands beside PGXS's.
SESSION_REPORT_SRCS = $(addprefix src/tools/,report_main.c report_args.c report_import.c \
                      json_split.c report_chart.c report_embedded.c report_queries.c report_print.c tool_common.c)
SESSION_REPORT_HDRS = $(addprefix src/tools/,session_report.h json_split.h tool_common.h)

session-report: $(SESSION_REPORT_SRCS) $(SESSION_REPORT_HDRS)
	$(CC) $(TOOL_CFLAGS) $(LIBPQ_CFLAGS) -o $@ $(SESSION_REPORT_SRCS) $(TOOL_LDFLAGS) $(LIBPQ_LIBS) -lm

session-listen: src/tools/session_listen.c src/tools/tool_common.c src/tools/tool_common.h
	$(CC) $(TOOL_CFLAGS) $(LIBPQ_CFLAGS) -o $@ src/tools/session_listen.c src/tools/tool_common.c $(TOOL_LDFLAGS) $(LIBPQ_LIBS)

all: $(TOOLS)

# The tools go on PATH: /usr/local/bin unless toolsdir is given.
toolsdir ?= /usr/local/bin
install: install-tools
install-tools: $(TOOLS)
	$(if $(TOOLS),$(MKDIR_P) '$(DESTDIR)$(toolsdir)')
	$(if $(TOOLS),$(INSTALL_PROGRAM) $(TOOLS) '$(DESTDIR)$(toolsdir)/')

uninstall: uninstall-tools
uninstall-tools:
	rm -f $(addprefix '$(DESTDIR)$(toolsdir)'/, $(TOOLS))

# PGXN distribution: the committed tree (git archive HEAD, so nothing
# uncommitted or ignored slips in) under one top directory NAME-VERSION/.
DIST ?= $(EXTENSION)-$(EXTVERSION).zip
dist:
	git archive --format=zip --prefix=$(EXTENSION)-$(EXTVERSION)/ -o $(DIST) HEAD

test-citus:
	tools/test-citus.sh

.PHONY: test test-citus demo bench fuzz valgrind deps install-tools uninstall-tools dist print-regress
test:
	tools/test.sh
demo:
	tools/demo.sh
bench:
	tools/bench.sh
fuzz:
	tools/fuzz.sh
deps:
	tools/deps.sh
valgrind:
	tools/valgrind.sh
print-regress:
	@echo $(REGRESS)
.PHONY: print-isolation
print-isolation:
	@echo $(ISOLATION)
