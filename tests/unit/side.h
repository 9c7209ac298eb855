/*
 * side.h: for unit tests of the store, one integer from a query on a second
 * connection to the database, which sees only what committed.
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
