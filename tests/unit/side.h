/*
 * side.h: for unit tests of the store, one integer from a query on a second
 * connection to the database, which sees only what committed; and a count
 * of the pwrites the unix VFS makes.
 */
#include <sqlite3.h>

static int64_t
side_int(const char *path, const char *sql)
{
	sqlite3		*s;
	sqlite3_stmt	*st;
	int64_t		 v = -1;

	assert_int_equal(sqlite3_open(path, &s), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(s, sql, -1, &st, NULL), SQLITE_OK);
	if (sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(s);
	return v;
}

/* pwrite(2) as the unix VFS calls it ("pwrite64" or "pwrite"), counted. */
static sqlite3_syscall_ptr	 side_real_pwrite;
static int			 side_npwrite;

static inline ssize_t
side_counting_pwrite(int fd, const void *buf, size_t n, off_t off)
{
	side_npwrite++;
	return ((ssize_t (*)(int, const void *, size_t, off_t))side_real_pwrite)(fd,
	    buf, n, off);
}

/* Count the unix VFS's pwrites from now (side_npwrite) until side_pwrite_stop. */
static inline void
side_pwrite_count(void)
{
	sqlite3_vfs	*unix_vfs = sqlite3_vfs_find("unix");
	const char	*name = "pwrite64";

	assert_non_null(unix_vfs);
	if ((side_real_pwrite = unix_vfs->xGetSystemCall(unix_vfs, name)) == NULL)
		side_real_pwrite = unix_vfs->xGetSystemCall(unix_vfs, name = "pwrite");
	assert_non_null(side_real_pwrite);
	assert_int_equal(unix_vfs->xSetSystemCall(unix_vfs, name,
	    (sqlite3_syscall_ptr)side_counting_pwrite), SQLITE_OK);
	side_npwrite = 0;
}

/* The unix VFS's own system calls again. */
static inline void
side_pwrite_stop(void)
{
	sqlite3_vfs	*unix_vfs = sqlite3_vfs_find("unix");

	unix_vfs->xSetSystemCall(unix_vfs, NULL, NULL);
}
