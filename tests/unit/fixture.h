/*
 * fixture.h: for unit tests of the store and of what sits on it, a fresh
 * database in a temporary directory per test, removed afterwards.
 */
#include <stdio.h>
#include <stdlib.h>

struct fixture {
	char	 dir[64];
	char	 path[128];
};

static inline void
rm_rf(const char *dir)
{
	char	 cmd[256];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", dir);
}

/* The store open on a new database under /tmp/NAME.XXXXXX; NULL on failure. */
static inline struct fixture *
fixture_open(const char *name)
{
	struct fixture	*f = calloc(1, sizeof(*f));

	if (f == NULL)
		return NULL;
	snprintf(f->dir, sizeof(f->dir), "/tmp/%s.XXXXXX", name);
	if (mkdtemp(f->dir) == NULL) {
		free(f);
		return NULL;
	}
	snprintf(f->path, sizeof(f->path), "%s/tokq.db", f->dir);
	if (store_open(f->path) != 0) {
		rm_rf(f->dir);
		free(f);
		return NULL;
	}
	return f;
}

/* Close the store and remove the fixture's directory. */
static inline void
fixture_close(struct fixture *f)
{
	store_close();
	rm_rf(f->dir);
	free(f);
}
