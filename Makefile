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
OBJS = \
	src/pulsar_pg.o \
	src/message_id.o \
	src/topic_name.o \
	src/catalog.o \
	src/read_position.o \
	src/publish.o \
	src/reader.o \
	src/admin.o \
	src/segment_worker.o \
	src/subscription.o \
	src/cursor.o \
	src/dispatch.o \
	src/stats.o \
	src/launcher.o \
	src/worker.o \
	src/murmur3.o

DATA = $(wildcard sql/pulsar_pg--*.sql)

REGRESS = $(patsubst sql/%.sql,%,$(sort $(filter-out sql/pulsar_pg--%,$(wildcard sql/*.sql))))
REGRESS_OPTS = --inputdir=.

ISOLATION = $(patsubst test/isolation/specs/%.spec,%,$(sort $(wildcard test/isolation/specs/*.spec)))
ISOLATION_OPTS = --inputdir=test/isolation

TAP_TESTS = 1
PROVE_TESTS = $(sort $(wildcard test/t/*.pl))

PG_CFLAGS = -Wall -Werror -Wmissing-prototypes

PG_CONFIG ?= pg_config
PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

# PGXS tracks no header dependencies: rebuild everything when one changes
$(OBJS): $(wildcard src/*.h)

# The pulsar-pg client (cli/) has its own PGXS makefile.
all: cli-all
install: cli-install
uninstall: cli-uninstall
clean: cli-clean

cli-all cli-install cli-uninstall cli-clean:
	$(MAKE) -C cli $(patsubst cli-%,%,$@) PG_CONFIG='$(PG_CONFIG)'

.PHONY: cli-all cli-install cli-uninstall cli-clean
