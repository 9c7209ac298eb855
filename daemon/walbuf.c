/*
 * walbuf.c: an SQLite VFS, "tokq-walbuf", that gathers the writes to a WAL
 * file in memory and hands them to the kernel in pwrites of up to 128 KiB.
 *
 * SQLite writes each WAL frame with two pwrites (its 24-byte header, then
 * the page), and a group commit of ~35 records dirties ~400 pages: 26
 * pwrites per record at ~4 us each were a third of tokqd's CPU time.  In
 * runs of 31 frames they are one pwrite for ~3 records.
 *
 * A write that continues the buffered run is appended to it, up to
 * WALBUF_CAP; any other write first writes the run out.  The run is also
 * written out before xSync, before an xRead of a range it covers, and
 * before xFileControl and xClose; xFileSize and xTruncate answer for the
 * file as it will be, without writing.  Only files opened with
 * SQLITE_OPEN_WAL are wrapped: the database file, journals and temporary
 * files are the default VFS's own objects with its own methods.  SQLite
 * maps and locks only the database file (xShm* and xFetch are called on
 * it, never on the WAL: wal.c, pager.c), so the WAL's methods are of
 * version 1: nothing can read the file behind the run's back.
 *
 * Why nothing acknowledged is lost (SQLite 3.40, sqlite3WalFrames() in
 * wal.c).  With synchronous=FULL or EXTRA, after writing a commit's frames
 * sqlite3WalFrames() calls xSync on the WAL ("if( isCommit &&
 * WAL_SYNC_FLAGS(sync_flags)!=0 )"), and only after that adds the frames
 * to the wal-index and publishes the commit with walIndexWriteHdr(); when
 * xSync fails it returns first, the commit fails and SQLite rolls the
 * transaction back.  Our xSync writes the run out before syncing and
 * returns that write's error.  So a commit is published, and acknowledged,
 * only once all its frames are written and fsynced, and the run only ever
 * holds frames nobody can see: those of the transaction under way, or of
 * one rolled back.  Other processes, which read the WAL through their own
 * descriptors, find every frame the wal-index names.
 *
 * When writing the run out fails:
 * - in xSync or xWrite, the run is dropped.  Every WAL xWrite happens in
 *   sqlite3WalFrames(), and its failure, like xSync's, makes SQLite give
 *   up the whole transaction (pagerStress() puts the pager in its error
 *   state; a failed COMMIT rolls back), so those frames will be neither
 *   read nor published.  They must not be written later either: a refused
 *   commit's frames, commit mark included, would come back in the recovery
 *   after a crash.
 * - in xRead and xFileControl, the run is kept and the call fails.  The
 *   transaction may go on (SQLite may undo only the statement) and commit
 *   later, and then its frames must be there.
 * - in xClose, the run goes with the file.  No transaction is open then,
 *   so the run holds at most a rolled back one's frames, which recovery
 *   ignores (they have no commit mark: a commit's run was written out or
 *   dropped at its xSync).
 *
 * Below synchronous=FULL (tokq-preload's bulk mode) commits are not
 * fsynced, and the run may hold published frames until it is next written
 * out: other processes do not see them until then, and a failed write out
 * loses them as a crash would.  A checkpoint reads frames with xRead, so a
 * frame is in the WAL file before it is copied into the database.  Only a
 * process alone with its database that stops at the first error
 * (tokq-preload) may use the VFS so.
 *
 * All of this rests on SQLite's internals as they are in the versions in
 * [WALBUF_SQLITE_MIN, WALBUF_SQLITE_END): read in the 3.40 sources, and
 * tested (tests/unit/test_walbuf.c, make check, make bench) against 3.40.1,
 * Debian 12's.  With any other SQLite, found at run time, or with
 * `wal_buffer = off` in tokqd.conf, WALBUF_VFS names the default VFS
 * itself, unchanged; one log line says why.  To widen the range, read
 * sqlite3WalFrames() in wal.c and seekAndWriteFd() in os_unix.c of the new
 * version against the paragraphs above, and run the tests on it.
 */
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "tokqd.h"

/*
 * The unix VFS writes at most 128 KiB - 1 bytes at once: seekAndWriteFd()
 * keeps the low 17 bits of the length (nBuf &= 0x1ffff, SQLite 3.40), and
 * a longer write fails with SQLITE_FULL.  A run is so ~31 frames of 4 KiB.
 */
#define WALBUF_CAP	0x1ffff

/* The SQLite versions walbuf.c was checked against: 3.40.0 to 3.40.x. */
#define WALBUF_SQLITE_MIN	3040000
#define WALBUF_SQLITE_END	3041000

struct walfile {
	sqlite3_file	 base;
	sqlite3_file	*real;		/* the default VFS's file, after this */
	char		*buf;		/* WALBUF_CAP bytes, from 1st write */
	size_t		 len;		/* bytes in the run */
	sqlite3_int64	 off;		/* where the run goes in the file */
};

static sqlite3_vfs	*real_vfs;
static sqlite3_vfs	 walbuf_vfs;
static int		 walbuf_mode = WALBUF_AUTO;
static bool		 buffering;

#define REAL(f)		(((struct walfile *)(f))->real)
#define RM(f)		(REAL(f)->pMethods)

/* Write the run out; it is kept when that fails. */
static int
flush(struct walfile *w)
{
	int	 rc;

	if (w->len == 0)
		return SQLITE_OK;
	rc = w->real->pMethods->xWrite(w->real, w->buf, (int)w->len, w->off);
	if (rc == SQLITE_OK)
		w->len = 0;
	return rc;
}

/* Write the run out; it is dropped when that fails (see above). */
static int
flush_or_drop(struct walfile *w)
{
	int	 rc;

	if ((rc = flush(w)) != SQLITE_OK)
		w->len = 0;
	return rc;
}

/*
 * A write that continues the run joins it.  Any other, or one that would
 * take the run past WALBUF_CAP, writes the run out first and starts a new
 * one; one that does not fit at all (or finds no memory) goes straight to
 * the file.
 */
static int
wb_write(sqlite3_file *f, const void *data, int n, sqlite3_int64 off)
{
	struct walfile	*w = (struct walfile *)f;
	int		 rc;

	if (w->len > 0 && (off != w->off + (sqlite3_int64)w->len ||
	    w->len + n > WALBUF_CAP) && (rc = flush_or_drop(w)) != SQLITE_OK)
		return rc;
	/* Here the run is empty, or the write fits. */
	if (n > WALBUF_CAP ||
	    (w->buf == NULL && (w->buf = malloc(WALBUF_CAP)) == NULL))
		return RM(f)->xWrite(REAL(f), data, n, off);
	if (w->len == 0)
		w->off = off;
	memcpy(w->buf + w->len, data, n);
	w->len += n;
	return SQLITE_OK;
}

static int
wb_sync(sqlite3_file *f, int flags)
{
	int	 rc;

	if ((rc = flush_or_drop((struct walfile *)f)) != SQLITE_OK)
		return rc;
	return RM(f)->xSync(REAL(f), flags);
}

static int
wb_read(sqlite3_file *f, void *data, int n, sqlite3_int64 off)
{
	struct walfile	*w = (struct walfile *)f;
	int		 rc;

	if (w->len > 0 && off < w->off + (sqlite3_int64)w->len &&
	    off + n > w->off && (rc = flush(w)) != SQLITE_OK)
		return rc;
	return RM(f)->xRead(REAL(f), data, n, off);
}

/* What lies past size is gone: of the run too. */
static int
wb_truncate(sqlite3_file *f, sqlite3_int64 size)
{
	struct walfile	*w = (struct walfile *)f;

	if (size <= w->off)
		w->len = 0;
	else if (size < w->off + (sqlite3_int64)w->len)
		w->len = size - w->off;
	return RM(f)->xTruncate(REAL(f), size);
}

/* The file's size counts the run, as if written. */
static int
wb_file_size(sqlite3_file *f, sqlite3_int64 *size)
{
	struct walfile	*w = (struct walfile *)f;
	int		 rc;

	if ((rc = RM(f)->xFileSize(REAL(f), size)) != SQLITE_OK)
		return rc;
	if (w->len > 0 && *size < w->off + (sqlite3_int64)w->len)
		*size = w->off + w->len;
	return SQLITE_OK;
}

static int
wb_file_control(sqlite3_file *f, int op, void *arg)
{
	int	 rc;

	if ((rc = flush((struct walfile *)f)) != SQLITE_OK)
		return rc;
	return RM(f)->xFileControl(REAL(f), op, arg);
}

static int
wb_close(sqlite3_file *f)
{
	struct walfile	*w = (struct walfile *)f;
	int		 rc, rc2;

	rc = flush(w);
	rc2 = RM(f)->xClose(REAL(f));
	free(w->buf);
	w->buf = NULL;
	w->len = 0;
	return rc != SQLITE_OK ? rc : rc2;
}

static int
wb_lock(sqlite3_file *f, int lock)
{
	return RM(f)->xLock(REAL(f), lock);
}

static int
wb_unlock(sqlite3_file *f, int lock)
{
	return RM(f)->xUnlock(REAL(f), lock);
}

static int
wb_check_reserved_lock(sqlite3_file *f, int *out)
{
	return RM(f)->xCheckReservedLock(REAL(f), out);
}

static int
wb_sector_size(sqlite3_file *f)
{
	return RM(f)->xSectorSize(REAL(f));
}

static int
wb_device_characteristics(sqlite3_file *f)
{
	return RM(f)->xDeviceCharacteristics(REAL(f));
}

static const sqlite3_io_methods walbuf_io = {
	.iVersion = 1,
	.xClose = wb_close,
	.xRead = wb_read,
	.xWrite = wb_write,
	.xTruncate = wb_truncate,
	.xSync = wb_sync,
	.xFileSize = wb_file_size,
	.xLock = wb_lock,
	.xUnlock = wb_unlock,
	.xCheckReservedLock = wb_check_reserved_lock,
	.xFileControl = wb_file_control,
	.xSectorSize = wb_sector_size,
	.xDeviceCharacteristics = wb_device_characteristics,
};

/*
 * A WAL file is a struct walfile with the default VFS's file after it;
 * any other file is the default VFS's file itself.
 */
static int
wb_open(sqlite3_vfs *vfs, const char *name, sqlite3_file *f, int flags,
    int *outflags)
{
	struct walfile	*w = (struct walfile *)f;
	int		 rc;

	if ((flags & SQLITE_OPEN_WAL) == 0)
		return real_vfs->xOpen(real_vfs, name, f, flags, outflags);
	memset(w, 0, sizeof(*w));
	w->real = (sqlite3_file *)(w + 1);
	if ((rc = real_vfs->xOpen(real_vfs, name, w->real, flags, outflags)) !=
	    SQLITE_OK)
		return rc;
	w->base.pMethods = &walbuf_io;
	return SQLITE_OK;
}

/* WALBUF_AUTO (buffer when SQLite is a version checked) or WALBUF_OFF. */
void
walbuf_configure(int mode)
{
	walbuf_mode = mode;
}

/*
 * Register the VFS named WALBUF_VFS over the default one, not as the
 * default; once.  Its other methods are the default VFS's own, called with
 * this copy of its struct (the unix VFS reads only its pAppData and
 * mxPathname, which the copy keeps).  Switched off, or on an SQLite not
 * checked, the copy keeps the default's xOpen and file size too: the name
 * then stands for the default VFS, and the store need not know.  Returns
 * 0 or -1.
 */
int
walbuf_register(void)
{
	int	 v = sqlite3_libversion_number();

	if (real_vfs != NULL)
		return 0;
	if ((real_vfs = sqlite3_vfs_find(NULL)) == NULL)
		return -1;
	walbuf_vfs = *real_vfs;
	walbuf_vfs.pNext = NULL;
	walbuf_vfs.zName = WALBUF_VFS;
	buffering = walbuf_mode != WALBUF_OFF && v >= WALBUF_SQLITE_MIN &&
	    v < WALBUF_SQLITE_END;
	if (buffering) {
		walbuf_vfs.szOsFile = sizeof(struct walfile) + real_vfs->szOsFile;
		walbuf_vfs.xOpen = wb_open;
	} else if (walbuf_mode == WALBUF_OFF)
		log_info("wal_buffer = off: the WAL is written as SQLite writes it");
	else
		log_info("SQLite %s: the WAL is written as SQLite writes it "
		    "(WAL buffering was checked against 3.40 only)",
		    sqlite3_libversion());
	if (sqlite3_vfs_register(&walbuf_vfs, 0) != SQLITE_OK) {
		real_vfs = NULL;
		return -1;
	}
	return 0;
}
