# pulsar_pg: Apache Pulsar's messaging model as a PostgreSQL extension.
#
#   make && make install            build and install into pg_config's tree:
#                                   the extension, and the pulsar-pg client
#                                   (cli/) into pg_config --bindir
#   make installcheck               pg_regress, isolation and TAP suites
#                                   (the first two against the running
#                                   server named by PGHOST/PGPORT)
#   scripts/test.sh                 all of the above on a throw-away server

EXTENSION = pulsar_pg
MODULE_big = pulsar_pg
# src/ is layered, lowest first; a file calls only its own layer or lower
# (docs/design.md; scripts/check-layers.sh enforces it on includes).
OBJS = \
	src/1_value/argument.o \
	src/1_value/message_id.o \
	src/1_value/murmur3.o \
	src/1_value/topic_name.o \
	src/1_value/subxact_items.o \
	src/2_shmem/read_position.o \
	src/2_shmem/dispatch_state.o \
	src/2_shmem/worker_signal.o \
	src/2_shmem/consumer_liveness.o \
	src/2_shmem/rate_limit.o \
	src/3_catalog/catalog.o \
	src/3_catalog/policy.o \
	src/3_catalog/authz.o \
	src/4_storage/publish.o \
	src/4_storage/reader.o \
	src/4_storage/compaction.o \
	src/4_storage/cursor.o \
	src/4_storage/subscription.o \
	src/4_storage/pending.o \
	src/4_storage/trim.o \
	src/4_storage/expiry.o \
	src/4_storage/backlog_quota.o \
	src/4_storage/inactive_topic.o \
	src/5_dispatch/dispatch.o \
	src/6_entry/admin.o \
	src/6_entry/ack.o \
	src/6_entry/subscribe.o \
	src/6_entry/access.o \
	src/6_entry/compact.o \
	src/6_entry/policies.o \
	src/6_entry/expire.o \
	src/6_entry/read.o \
	src/6_entry/receive.o \
	src/6_entry/send.o \
	src/6_entry/stats.o \
	src/6_entry/segment_worker.o \
	src/6_entry/launcher.o \
	src/6_entry/maintenance.o \
	src/6_entry/worker.o \
	src/6_entry/pulsar_pg.o

DATA = $(wildcard sql/pulsar_pg--*.sql)

REGRESS = $(patsubst test/sql/%.sql,%,$(sort $(wildcard test/sql/*.sql)))
REGRESS_OPTS = --inputdir=test

ISOLATION = $(patsubst test/isolation/specs/%.spec,%,$(sort $(wildcard test/isolation/specs/*.spec)))
ISOLATION_OPTS = --inputdir=test/isolation

TAP_TESTS = 1
PROVE_TESTS = $(sort $(wildcard test/t/*.pl))

PG_CPPFLAGS = -I$(srcdir)/src
PG_CFLAGS = -Wall -Werror -Wmissing-prototypes

PG_CONFIG ?= pg_config
PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

# PGXS tracks no header dependencies: rebuild everything when one changes
$(OBJS): $(wildcard src/*/*.h)

# The pulsar-pg client (cli/) has its own PGXS makefile.
all: cli-all
install: cli-install
uninstall: cli-uninstall
clean: cli-clean

cli-all cli-install cli-uninstall cli-clean:
	$(MAKE) -C cli $(patsubst cli-%,%,$@) PG_CONFIG='$(PG_CONFIG)'

.PHONY: cli-all cli-install cli-uninstall cli-clean
