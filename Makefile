# tokq: token-quota service for LLM chat bots.
#   make          build build/tokqd and build/tokq (installing build deps if missing)
#   make check    unit + integration tests
#   make demo     a real daemon and a short bot session
PREFIX	?= /usr/local
DESTDIR	?=
B	:= build
# One spelling per build tree: the tests pass B as an absolute path, and an
# object named both ways would miss the header dependencies of its .d file.
override B := $(patsubst $(CURDIR)/%,%,$(abspath $(B)))

# Debian packages the build and the tests need; `make deps` installs the missing ones.
DEB_BUILD	:= pkg-config libsystemd-dev libsqlite3-dev libmsgpack-dev libjansson-dev \
		   libpq-dev
DEB_TEST	:= libcmocka-dev jq systemd perl util-linux sqlite3 python3 clang \
		   groff-base man-db bsdextrautils nodejs strace
PC_LIBS		:= libsystemd sqlite3 libpq msgpack jansson

CC	?= cc
WARN	:= -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wno-unused-parameter -Wno-missing-field-initializers
CFLAGS	?= -O2 -g
override CFLAGS += -std=gnu11 $(WARN) -MMD -MP -Iinclude -Idaemon -D_GNU_SOURCE
# Recursively expanded: pkg-config runs when a recipe needs it, after `deps`.
D_CFLAGS = $(shell pkg-config --cflags $(PC_LIBS))
D_LIBS	 = $(shell pkg-config --libs $(PC_LIBS)) -lm
C_LIBS	 = $(shell pkg-config --libs msgpack jansson)
# Every bot call spawns tokq: linked static-pie it maps no shared object and
# relocates no symbol at start (it uses no NSS, dlopen or iconv, which a
# static glibc cannot serve).  Sanitizer builds link it dynamically.
CLIENT_LDFLAGS ?= -static-pie
T_LIBS	 = $(shell pkg-config --libs cmocka)

COMMON	:= $(patsubst %.c,$(B)/%.o,$(wildcard common/*.c))
DAEMON	:= $(patsubst %.c,$(B)/%.o,$(filter-out daemon/main.c,$(wildcard daemon/*.c)))
CLIENT	:= $(patsubst %.c,$(B)/%.o,$(wildcard client/*.c))
UNIT	:= $(patsubst tests/unit/%.c,$(B)/tests/%,$(wildcard tests/unit/test_*.c))
export TOKQ_BUILD := $(abspath $(B))

# The PostgreSQL pass (integration-pg): a server; ip for the network namespace
# test, pgrep for the server's processes.
DEB_TEST	+= postgresql iproute2 procps

BENCH	:= $(if $(wildcard bench/*.c),$(B)/tokq-bench $(B)/tokq-preload)
all: $(B)/tokqd $(B)/tokq $(BENCH)

deps:
	@missing=""; \
	pkg-config --exists $(PC_LIBS) cmocka 2>/dev/null || missing=1; \
	for c in jq systemd-socket-activate prove setpriv sqlite3 python3 clang \
		groff col node strace ip pgrep; do \
		PATH=$$PATH:/usr/sbin:/sbin command -v $$c >/dev/null 2>&1 || missing=1; done; \
	ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing=1; \
	if [ -n "$$missing" ]; then \
		SUDO=; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
		echo "installing build and test dependencies with apt-get"; \
		$$SUDO apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq \
			$(DEB_BUILD) $(DEB_TEST) >/dev/null; \
	fi

$(B)/%.o: %.c | deps
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(D_CFLAGS) -c -o $@ $<

$(B)/tokqd: $(B)/daemon/main.o $(DAEMON) $(COMMON)
	$(CC) $(CFLAGS) -o $@ $^ $(D_LIBS) $(LDFLAGS)

$(B)/tokq: $(CLIENT) $(COMMON)
	$(CC) $(CFLAGS) $(CLIENT_LDFLAGS) -o $@ $^ $(C_LIBS) $(LDFLAGS)

# The load generator speaks the protocol itself (bench/*.c).
$(B)/tokq-bench: $(patsubst %.c,$(B)/%.o,$(wildcard bench/*.c)) $(COMMON)
	$(CC) $(CFLAGS) -o $@ $^ $(C_LIBS) -lpthread -lm $(LDFLAGS)

# History for the scale bench, written offline with the daemon's own store.c.
$(B)/tokq-preload: $(B)/bench/preload/tokq-preload.o $(B)/libtokqd.a
	$(CC) $(CFLAGS) -o $@ $^ $(D_LIBS) $(LDFLAGS)

# The daemon's modules but main, as an archive: a unit test pulls in only what it uses.
$(B)/libtokqd.a: $(DAEMON) $(COMMON)
	rm -f $@; ar rcs $@ $^

$(B)/tests/%: tests/unit/%.c $(B)/libtokqd.a | deps
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(D_CFLAGS) -o $@ $< $(filter %.a,$^) $(D_LIBS) $(T_LIBS) $(LDFLAGS)

unit: $(UNIT)
	@set -e; for t in $(UNIT); do echo "== $$t"; $$t; done

integration: all
	prove -f tests/integration/t*.sh

# The same scripts again on the PostgreSQL store: a throw-away cluster
# (tests/pg/cluster.sh), a database per script (and the store's own unit
# tests, which skip without a cluster in `make unit`); the cluster is stopped
# whatever the outcome.  Two scripts at a time: most of a script's time is
# spent waiting on the server.
integration-pg: all $(B)/tests/test_store_pg
	@ldd $(B)/tokqd | grep -q libpq || \
		{ echo "integration-pg: $(B)/tokqd is built without libpq"; exit 1; }; \
	dir=$$(mktemp -d "$${TMPDIR:-/tmp}/tokq-pg.XXXXXX"); \
	trap 'tests/pg/cluster.sh stop "$$dir"; rm -rf "$$dir"' EXIT; \
	tests/pg/cluster.sh start "$$dir" && \
	TOKQ_TEST_PG=$$dir $(B)/tests/test_store_pg && \
	TOKQ_TEST_PG=$$dir prove -j2 -f tests/integration/t*.sh

# The Python and Node libraries (bindings/) against a real tokqd from $(B).
bindings-test: all
	PYTHONPATH=bindings/python python3 -m unittest discover -s bindings/python/tests
	node --test bindings/node/test/

check: all $(UNIT)
	@$(MAKE) --no-print-directory unit
	@$(MAKE) --no-print-directory integration
	@$(MAKE) --no-print-directory integration-pg
	@$(MAKE) --no-print-directory bindings-test
	@$(MAKE) --no-print-directory fuzz FUZZ_SECONDS=11

# The same tests with AddressSanitizer and UBSan, in a build tree of their own.
# A small quarantine keeps ASan's own memory out of the tests' memory bounds.
check-asan:
	ASAN_OPTIONS=quarantine_size_mb=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 $(MAKE) B=build-asan CFLAGS="-O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer" \
		LDFLAGS="-fsanitize=address,undefined" CLIENT_LDFLAGS= check

# The frame decoder and the usage JSON normaliser under libFuzzer (clang),
# FUZZ_SECONDS each; FUZZ_SECONDS=600 for a long run.
FUZZ_SECONDS ?= 60
$(B)/fuzz_frame: tests/fuzz/fuzz_frame.c common/proto.c | deps
	@command -v clang >/dev/null || { SUDO=; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
		$$SUDO apt-get install -y -qq clang >/dev/null; }
	@mkdir -p $(dir $@)
	clang -g -O1 -fsanitize=fuzzer,address,undefined -Iinclude -o $@ $^ \
		$$(pkg-config --cflags --libs msgpack)

# normalize.c needs only jansson (tokqd.h wants the other headers); built
# after fuzz_frame, whose recipe installs clang.
$(B)/fuzz_usage: tests/fuzz/fuzz_usage.c daemon/normalize.c | $(B)/fuzz_frame
	@mkdir -p $(dir $@)
	clang -g -O1 -fsanitize=fuzzer,address,undefined -Iinclude -Idaemon -D_GNU_SOURCE \
		-o $@ $^ $$(pkg-config --cflags msgpack libsystemd) \
		$$(pkg-config --cflags --libs jansson) -lm

fuzz: $(B)/fuzz_frame $(B)/fuzz_usage
	@mkdir -p $(B)/fuzz-corpus $(B)/fuzz-corpus-usage
	$(B)/fuzz_frame -max_total_time=$(FUZZ_SECONDS) $(B)/fuzz-corpus tests/fuzz/corpus
	$(B)/fuzz_usage -max_total_time=$(FUZZ_SECONDS) -dict=tests/fuzz/usage.dict \
		$(B)/fuzz-corpus-usage tests/fuzz/corpus_usage tests/data/usage

# Regenerate the golden human screens of tests/golden after a deliberate change.
golden: all
	@tests/golden/regen.sh

demo: all
	@tests/demo.sh

bench: all
	@bench/run.sh

# Everything lands under $(DESTDIR)$(PREFIX): nothing in /etc, nothing run.
# Then, as root: systemd-sysusers; systemctl daemon-reload;
# systemctl enable --now tokqd.socket (see docs/install.md).
install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/sbin \
		$(DESTDIR)$(PREFIX)/lib/systemd/system $(DESTDIR)$(PREFIX)/lib/sysusers.d \
		$(DESTDIR)$(PREFIX)/share/man/man1 $(DESTDIR)$(PREFIX)/share/man/man5 \
		$(DESTDIR)$(PREFIX)/share/man/man8 \
		$(DESTDIR)$(PREFIX)/share/bash-completion/completions \
		$(DESTDIR)$(PREFIX)/share/doc/tokq/examples
	install -m 755 $(B)/tokq $(DESTDIR)$(PREFIX)/bin/tokq
	install -m 755 $(B)/tokqd $(DESTDIR)$(PREFIX)/sbin/tokqd
	sed 's|@SBINDIR@|$(PREFIX)/sbin|g' systemd/tokqd.service \
		> $(DESTDIR)$(PREFIX)/lib/systemd/system/tokqd.service
	chmod 644 $(DESTDIR)$(PREFIX)/lib/systemd/system/tokqd.service
	install -m 644 systemd/tokqd.socket $(DESTDIR)$(PREFIX)/lib/systemd/system/tokqd.socket
	install -m 644 systemd/tokq.sysusers $(DESTDIR)$(PREFIX)/lib/sysusers.d/tokq.conf
	install -m 644 man/tokq.1 $(DESTDIR)$(PREFIX)/share/man/man1/tokq.1
	install -m 644 man/tokqd.conf.5 $(DESTDIR)$(PREFIX)/share/man/man5/tokqd.conf.5
	install -m 644 man/tokqd.8 $(DESTDIR)$(PREFIX)/share/man/man8/tokqd.8
	install -m 644 completion/tokq.bash $(DESTDIR)$(PREFIX)/share/bash-completion/completions/tokq
	install -m 644 etc/tokqd.conf.example $(DESTDIR)$(PREFIX)/share/doc/tokq/tokqd.conf.example
	install -m 644 examples/python_bot.py examples/node_bot.js \
		$(DESTDIR)$(PREFIX)/share/doc/tokq/examples/

# Removes exactly what install put there, and the doc directory it made;
# the database (/var/lib/tokq) and /etc/tokq stay.
.PHONY: uninstall
uninstall:
	rm -f $(DESTDIR)$(PREFIX)/bin/tokq $(DESTDIR)$(PREFIX)/sbin/tokqd \
		$(DESTDIR)$(PREFIX)/lib/systemd/system/tokqd.service \
		$(DESTDIR)$(PREFIX)/lib/systemd/system/tokqd.socket \
		$(DESTDIR)$(PREFIX)/lib/sysusers.d/tokq.conf \
		$(DESTDIR)$(PREFIX)/share/man/man1/tokq.1 \
		$(DESTDIR)$(PREFIX)/share/man/man5/tokqd.conf.5 \
		$(DESTDIR)$(PREFIX)/share/man/man8/tokqd.8 \
		$(DESTDIR)$(PREFIX)/share/bash-completion/completions/tokq \
		$(DESTDIR)$(PREFIX)/share/doc/tokq/tokqd.conf.example \
		$(DESTDIR)$(PREFIX)/share/doc/tokq/examples/python_bot.py \
		$(DESTDIR)$(PREFIX)/share/doc/tokq/examples/node_bot.js
	-rmdir $(DESTDIR)$(PREFIX)/share/doc/tokq/examples $(DESTDIR)$(PREFIX)/share/doc/tokq \
		2>/dev/null

clean:
	rm -rf build build-asan

.PHONY: all deps unit integration integration-pg bindings-test check check-asan fuzz golden demo bench install clean
-include $(shell find build build-asan -name '*.d' 2>/dev/null)
