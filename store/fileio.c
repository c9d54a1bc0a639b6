/* fileio.c: see fileio.h. */
#include "fileio.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

int lsc_pread_full(int fd, void *buf, size_t n, uint64_t off)
{
    unsigned char *p = buf;
    while (n > 0) {
        ssize_t r = pread(fd, p, n, (off_t)off);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        if (r == 0)
            return 1;
        p += r;
        n -= (size_t)r;
        off += (uint64_t)r;
    }
    return 0;
}

int lsc_write_full(int fd, const void *buf, size_t n)
{
    const unsigned char *p = buf;
    while (n > 0) {
        ssize_t r = write(fd, p, n);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        p += r;
        n -= (size_t)r;
    }
    return 0;
}

/* ---- writing a path a user named ------------------------------------------------------------------- */

char *lsc_path_join(const char *dir, const char *name)
{
    size_t n = strlen(dir) + strlen(name) + 2;
    char *p = malloc(n);
    if (p)
        snprintf(p, n, "%s/%s", dir, name);
    return p;
}

int lsc_is_dir(const char *p)
{
    struct stat sb;
    return stat(p, &sb) == 0 && S_ISDIR(sb.st_mode);
}

int lsc_is_file(const char *p)
{
    struct stat sb;
    return stat(p, &sb) == 0 && S_ISREG(sb.st_mode);
}

/* A path quoted for a message (control bytes escaped, as every message here does); four rotating
 * per-thread buffers, so one message can quote up to four paths. */
static const char *qp(const char *p)
{
    static _Thread_local char buf[4][1024];
    static _Thread_local unsigned k;
    return lsc_escape_name(buf[k++ & 3], sizeof buf[0], p);
}

/* dirname of p into a new string ("." when p has no slash, "/" for "/x"). */
static char *dir_of(const char *p)
{
    const char *slash = strrchr(p, '/');
    if (!slash)
        return strdup(".");
    return strndup(p, slash == p ? 1 : (size_t)(slash - p));
}

static const char *base_of(const char *p)
{
    const char *slash = strrchr(p, '/');
    return slash ? slash + 1 : p;
}

/* `path` with trailing slashes removed (a lone "/" stays). */
static char *strip_slashes(const char *path)
{
    char *p = strdup(path);
    if (!p)
        return NULL;
    size_t n = strlen(p);
    while (n > 1 && p[n - 1] == '/')
        p[--n] = '\0';
    return p;
}

/* Follow the symbolic links of the last part of `path` (a chain, at most 40): the path the data really
 * goes to, which need not exist. NULL with errno set (ELOOP, ENOMEM). */
static char *follow_links(const char *path)
{
    char *p = strip_slashes(path);
    for (int hop = 0; p; hop++) {
        struct stat sb;
        if (lstat(p, &sb) != 0 || !S_ISLNK(sb.st_mode))
            return p;
        if (hop == 40) {
            free(p);
            errno = ELOOP;
            return NULL;
        }
        char target[PATH_MAX];
        ssize_t n = readlink(p, target, sizeof target - 1);
        if (n < 0) {
            free(p);
            return NULL;
        }
        target[n] = '\0';
        char *next;
        if (target[0] == '/') {
            next = strip_slashes(target);
        } else {
            char *dir = dir_of(p);
            next = dir ? malloc(strlen(dir) + strlen(target) + 2) : NULL;
            if (next)
                sprintf(next, "%s/%s", dir, target);
            free(dir);
            char *s = next ? strip_slashes(next) : NULL;
            free(next);
            next = s;
        }
        free(p);
        p = next;
    }
    errno = ENOMEM;
    return NULL;
}

/* realpath of the folder holding p, plus p's last part. NULL with errno set. */
static char *canonical(const char *p)
{
    char *dir = dir_of(p);
    char *rdir = dir ? realpath(dir, NULL) : NULL;
    int e = errno;
    free(dir);
    if (!rdir) {
        errno = e;
        return NULL;
    }
    const char *base = base_of(p);
    char *out = malloc(strlen(rdir) + strlen(base) + 2);
    if (out)
        sprintf(out, "%s%s%s", rdir, strcmp(rdir, "/") == 0 ? "" : "/", base);
    free(rdir);
    return out;
}

/* Is the resolved target one of the catalog's files? Returns the suffix matched ("" for the catalog). */
static const char *catalog_part(const char *target, const char *protect)
{
    static const char *const suffix[] = {"", "-wal", "-shm", "-journal", "-pack"};
    char *cat = canonical(protect);
    if (!cat)
        return NULL;
    const char *hit = NULL;
    struct stat ts, cs;
    int t_exists = stat(target, &ts) == 0;
    size_t cl = strlen(cat);
    char *name = malloc(cl + 16);
    for (size_t i = 0; name && !hit && i < sizeof suffix / sizeof *suffix; i++) {
        sprintf(name, "%s%s", cat, suffix[i]);
        if (strcmp(name, target) == 0 ||
            (t_exists && stat(name, &cs) == 0 && cs.st_dev == ts.st_dev && cs.st_ino == ts.st_ino))
            hit = suffix[i];
    }
    free(name);
    free(cat);
    return hit;
}

/* Does folder `target` hold the catalog (at any depth)? */
static int holds_catalog(const char *target, const char *protect)
{
    char *cat = canonical(protect);
    size_t n = strlen(target);
    int in = cat && strncmp(cat, target, n) == 0 && (cat[n] == '/' || strcmp(target, "/") == 0);
    free(cat);
    return in;
}

/* The policy checks on a target whose path `r` is canonical; the messages name what the user typed, `q`. */
static lsc_status judge_target(const char *q, const char *r, lsc_target_kind kind, int force, const char *protect,
                               lsc_error *err)
{
    const char *part = protect ? catalog_part(r, protect) : NULL;
    if (part)
        return lsc_error_set(err, LSC_ERR_INVALID, "cannot export to '%s': that is the catalog%s%s%s", qp(q),
                             *part ? "'s " : "", part, *part ? " file" : "");
    if (protect && kind == LSC_TARGET_FOLDER && holds_catalog(r, protect))
        return lsc_error_set(err, LSC_ERR_INVALID, "cannot export to '%s': that folder holds the catalog", qp(q));
    struct stat sb;
    if (lstat(r, &sb) != 0) {
        if (errno == ENOENT)
            return LSC_OK;
        return lsc_error_set(err, LSC_ERR_IO, "cannot export to '%s': %s", qp(q), strerror(errno));
    }
    if (kind == LSC_TARGET_FILE && !S_ISREG(sb.st_mode))
        return lsc_error_set(err, LSC_ERR_INVALID, "cannot export to '%s': %s", qp(q),
                             S_ISDIR(sb.st_mode) ? "it is a folder" : "it exists and is not a regular file");
    if (kind == LSC_TARGET_FOLDER && !S_ISDIR(sb.st_mode))
        return lsc_error_set(err, LSC_ERR_INVALID, "cannot export to '%s': it exists and is not a folder", qp(q));
    if (!force)
        return lsc_error_set(err, LSC_ERR_EXISTS, "cannot export to '%s': it exists (--force replaces it)", qp(q));
    return LSC_OK;
}

lsc_status lsc_target_check(const char *path, lsc_target_kind kind, int force, const char *protect, char **resolved,
                            lsc_error *err)
{
    *resolved = NULL;
    size_t n = strlen(path);
    if (n == 0 || (kind == LSC_TARGET_FILE && path[n - 1] == '/'))
        return lsc_error_set(err, LSC_ERR_INVALID, "cannot export to '%s': not a file name", qp(path));
    char *p = follow_links(path);
    if (!p)
        return lsc_error_set(err, errno == ENOMEM ? LSC_ERR_NOMEM : LSC_ERR_INVALID, "cannot export to '%s': %s",
                             qp(path),
                             strerror(errno));
    lsc_status st = LSC_OK;
    const char *base = base_of(p);
    char *dir = dir_of(p);
    struct stat sb;
    if (!dir) {
        st = lsc_error_set(err, LSC_ERR_NOMEM, "out of memory");
    } else if (!*base || strcmp(base, ".") == 0 || strcmp(base, "..") == 0) {
        st = lsc_error_set(err, LSC_ERR_INVALID, "cannot export to '%s': not a file name", qp(path));
    } else if (stat(dir, &sb) != 0) {
        st = lsc_error_set(err, errno == ENOENT ? LSC_ERR_NOTFOUND : LSC_ERR_IO,
                           errno == ENOENT ? "cannot export to '%s': folder '%s' does not exist"
                                           : "cannot export to '%s': folder '%s': %s",
                           qp(path), qp(dir), strerror(errno));
    } else if (!S_ISDIR(sb.st_mode)) {
        st = lsc_error_set(err, LSC_ERR_INVALID, "cannot export to '%s': '%s' is not a folder", qp(path), qp(dir));
    } else if (!(*resolved = canonical(p))) {
        st = lsc_error_set(err, LSC_ERR_IO, "cannot export to '%s': %s", qp(path), strerror(errno));
    } else if ((st = judge_target(path, *resolved, kind, force, protect, err))) {
        free(*resolved);
        *resolved = NULL;
    }
    free(dir);
    free(p);
    return st;
}

/* fsync a folder; file systems that cannot (EINVAL, EROFS) are not an error. 0 or an errno value. */
static int sync_dir(const char *dir)
{
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0)
        return errno;
    int e = fsync(dfd) != 0 && errno != EINVAL && errno != EROFS ? errno : 0;
    close(dfd);
    return e;
}

/* ---- temporaries: named for their writer, swept once the writer is gone -------------------------------
 *
 * A write's temporary next to target DIR/BASE is "DIR/.BASE.tmp-PID-XXXXXX" (PID: the writer's process
 * id in decimal, the X's for mkstemp/mkdtemp), and the writer holds an exclusive flock on it (on the open
 * file, or on the folder) from its creation until it is renamed into place or removed. A writer killed
 * with SIGKILL (or a machine that lost power) leaves it behind; the next atomic write to the same target
 * removes such strays. A stray is removed only when all of these hold:
 *  - its name is exactly that pattern for this very target (so nothing of another target's, no file of
 *    the user's, and no old-style ".BASE.tmp-XXXXXX" of an older binary, which may be running now);
 *  - it is what this write makes: a regular file for a file, a folder for a folder (never a symbolic link);
 *  - its PID is not this process's and names no process here (kill(pid, 0) fails with ESRCH: a PID that
 *    was reused since keeps the stray until that process is gone too, which is the safe side);
 *  - its lock is free (flock LOCK_NB succeeds): a PID is only meaningful in one PID namespace, so a writer
 *    in a container, or on another NFS client, sharing the folder, may look dead by its PID; it still
 *    holds its lock, and the kernel drops a lock only when the holder is gone.
 * Anything that fails on the way leaves the entry as it is; sweeping never fails a write. Folder writes
 * move the replaced folder aside under ".BASE.old-PID-XXXXXX" (only without RENAME_EXCHANGE), a name the
 * sweep never matches: after a kill at the wrong moment it may be the only copy of the user's folder. */

/* A fresh hidden name next to `path`: "DIR/.BASE.<what>-PID-XXXXXX" (what: "tmp", or "old" for a folder
 * moved aside). */
static char *tmp_name_as(const char *path, const char *what)
{
    char *dir = dir_of(path);
    const char *base = base_of(path);
    size_t n = dir ? strlen(dir) + strlen(base) + strlen(what) + 40 : 0;
    char *t = dir ? malloc(n) : NULL;
    if (t)
        snprintf(t, n, "%s/.%s.%s-%ld-XXXXXX", dir, base, what, (long)getpid());
    free(dir);
    return t;
}

static char *tmp_name(const char *path)
{
    return tmp_name_as(path, "tmp");
}

/* Is `name` exactly ".BASE.tmp-PID-XXXXXX" (PID decimal without leading zeros, 1 .. INT_MAX; six of
 * mkstemp's letters [A-Za-z0-9])? The PID into *pid. */
static int stray_of(const char *name, const char *base, pid_t *pid)
{
    size_t bl = strlen(base);
    if (name[0] != '.' || strncmp(name + 1, base, bl) != 0 || strncmp(name + 1 + bl, ".tmp-", 5) != 0)
        return 0;
    const char *p = name + 1 + bl + 5;
    if (*p < '1' || *p > '9')
        return 0;
    long long v = 0;
    for (; *p >= '0' && *p <= '9'; p++)
        if ((v = v * 10 + (*p - '0')) > INT_MAX)
            return 0;
    if (*p++ != '-')
        return 0;
    for (int i = 0; i < 6; i++, p++)
        if (!((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9')))
            return 0;
    *pid = (pid_t)v;
    return *p == '\0';
}

static int remove_tree_at(int dfd, const char *name);

/* Remove stray `name` in folder dfd if it is of the kind a write makes (folders or regular files) and
 * nobody holds its lock; the lock is held across the removal, and the name must still be the entry that
 * was locked. */
static void remove_stray(int dfd, const char *name, int folders)
{
    struct stat sb, fs, again;
    if (fstatat(dfd, name, &sb, AT_SYMLINK_NOFOLLOW) != 0 || (folders ? !S_ISDIR(sb.st_mode) : !S_ISREG(sb.st_mode)))
        return;
    int fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | (folders ? O_DIRECTORY : 0));
    if (fd < 0)
        return;
    if (fstat(fd, &fs) == 0 && fs.st_dev == sb.st_dev && fs.st_ino == sb.st_ino && flock(fd, LOCK_EX | LOCK_NB) == 0 &&
        fstatat(dfd, name, &again, AT_SYMLINK_NOFOLLOW) == 0 && again.st_dev == fs.st_dev && again.st_ino == fs.st_ino) {
        if (folders)
            remove_tree_at(dfd, name);
        else
            unlinkat(dfd, name, 0);
    }
    close(fd);
}

/* Remove the strays of target `path` (see the head of this section). The names are gathered first, then
 * judged and removed, so the listing is not read while it changes. */
static void sweep_strays(const char *path, int folders)
{
    char *dir = dir_of(path);
    const char *base = base_of(path);
    int dfd = dir ? open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC) : -1;
    free(dir);
    int lfd = dfd >= 0 ? dup(dfd) : -1;
    DIR *d = lfd >= 0 ? fdopendir(lfd) : NULL;
    if (!d && lfd >= 0)
        close(lfd);
    char **names = NULL;
    size_t n = 0, cap = 0;
    struct dirent *de;
    pid_t pid;
    while (d && (de = readdir(d))) {
        if (!stray_of(de->d_name, base, &pid))
            continue;
        char **g = n == cap ? realloc(names, (cap = cap ? 2 * cap : 8) * sizeof *names) : names;
        if (!g)
            break;
        names = g;
        if ((names[n] = strdup(de->d_name)))
            n++;
    }
    if (d)
        closedir(d);
    for (size_t i = 0; i < n; i++) {
        stray_of(names[i], base, &pid);
        if (pid != getpid() && kill(pid, 0) != 0 && errno == ESRCH)
            remove_stray(dfd, names[i], folders);
        free(names[i]);
    }
    free(names);
    if (dfd >= 0)
        close(dfd);
}

lsc_status lsc_atomic_begin(lsc_atomic_file *f, const char *path, lsc_error *err)
{
    f->fd = -1;
    f->tmp = NULL;
    f->path = follow_links(path);
    if (!f->path)
        return lsc_error_set(err, LSC_ERR_INVALID, "cannot write '%s': %s", qp(path), strerror(errno));
    lsc_status st = LSC_OK;
    struct stat sb;
    int exists = lstat(f->path, &sb) == 0;
    if (!*base_of(f->path) || (exists && !S_ISREG(sb.st_mode))) {
        st = lsc_error_set(err, LSC_ERR_INVALID, "cannot write '%s': %s", qp(path),
                           !exists ? "not a file name" : S_ISDIR(sb.st_mode) ? "it is a folder" : "not a regular file");
        goto fail;
    }
    sweep_strays(f->path, 0);
    if (!(f->tmp = tmp_name(f->path))) {
        st = lsc_error_set(err, LSC_ERR_NOMEM, "out of memory");
        goto fail;
    }
    f->fd = mkostemp(f->tmp, O_CLOEXEC);
    if (f->fd < 0) {
        st = lsc_error_set(err, LSC_ERR_IO, "cannot write '%s': cannot create a file beside it: %s", qp(path),
                           strerror(errno));
        free(f->tmp);
        f->tmp = NULL;
        goto fail;
    }
    flock(f->fd, LOCK_EX | LOCK_NB); /* ours while we live (a file system without locks: the PID alone) */
    /* mkstemp makes 0600: a replaced file keeps its mode, a new one gets the usual 0644 */
    if (fchmod(f->fd, exists ? (sb.st_mode & 07777) : 0644) != 0) {
        st = lsc_error_set(err, LSC_ERR_IO, "cannot write '%s': %s", qp(path), strerror(errno));
        goto fail;
    }
    return LSC_OK;
fail:
    lsc_atomic_abort(f);
    return st;
}

lsc_status lsc_atomic_commit(lsc_atomic_file *f, lsc_error *err)
{
    lsc_status st = LSC_OK;
    int fd = f->fd;
    f->fd = -1;
    int hold = dup(fd); /* the same open file: its lock lasts until the rename is done */
    struct stat sb;
    if (fsync(fd) != 0) {
        st = lsc_error_set(err, LSC_ERR_IO, "cannot write '%s': %s", qp(f->path), strerror(errno));
        close(fd);
    } else if (close(fd) != 0) {
        st = lsc_error_set(err, LSC_ERR_IO, "cannot write '%s': %s", qp(f->path), strerror(errno));
    } else if (lstat(f->path, &sb) == 0 && !S_ISREG(sb.st_mode)) {
        st = lsc_error_set(err, LSC_ERR_INVALID, "cannot write '%s': not a regular file", qp(f->path));
    } else if (rename(f->tmp, f->path) != 0) {
        st = lsc_error_set(err, LSC_ERR_IO, "cannot rename into '%s': %s", qp(f->path), strerror(errno));
    } else {
        free(f->tmp);
        f->tmp = NULL; /* in place: nothing left to remove */
        char *dir = dir_of(f->path);
        int e = dir ? sync_dir(dir) : ENOMEM;
        free(dir);
        if (e)
            st = lsc_error_set(err, LSC_ERR_IO, "cannot sync the folder of '%s': %s", qp(f->path), strerror(e));
    }
    lsc_atomic_abort(f);
    if (hold >= 0)
        close(hold);
    return st;
}

void lsc_atomic_abort(lsc_atomic_file *f)
{
    if (f->fd >= 0)
        close(f->fd);
    f->fd = -1;
    if (f->tmp)
        unlink(f->tmp);
    free(f->tmp);
    free(f->path);
    f->tmp = f->path = NULL;
}

/* rm -rf of entry `name` in folder dfd, never following a symbolic link. 0 or an errno value. */
static int remove_tree_at(int dfd, const char *name)
{
    struct stat sb;
    if (fstatat(dfd, name, &sb, AT_SYMLINK_NOFOLLOW) != 0)
        return errno == ENOENT ? 0 : errno;
    if (!S_ISDIR(sb.st_mode))
        return unlinkat(dfd, name, 0) == 0 ? 0 : errno;
    int fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return errno;
    DIR *d = fdopendir(fd);
    if (!d) {
        int e = errno;
        close(fd);
        return e;
    }
    int rc = 0;
    struct dirent *de;
    while (!rc && (de = readdir(d)))
        if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
            rc = remove_tree_at(fd, de->d_name);
    closedir(d);
    if (!rc && unlinkat(dfd, name, AT_REMOVEDIR) != 0)
        rc = errno;
    return rc;
}

static void remove_tree(const char *path)
{
    char *dir = dir_of(path);
    int dfd = dir ? open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC) : -1;
    if (dfd >= 0) {
        remove_tree_at(dfd, base_of(path));
        close(dfd);
    }
    free(dir);
}

/* Give folder new_fd every entry of folder old_fd it does not have: files (and links, FIFOs...) as hard
 * links, folders created and filled the same way; where both have a folder, recurse into it. Entries the
 * new folder has win. Then fsync new_fd. 0 or an errno value, *what naming the entry that failed. */
static int keep_entries(int old_fd, int new_fd, char *what, size_t cap)
{
    int dup_fd = dup(old_fd);
    DIR *d = dup_fd >= 0 ? fdopendir(dup_fd) : NULL;
    if (!d) {
        int e = errno;
        if (dup_fd >= 0)
            close(dup_fd);
        return e;
    }
    int rc = 0;
    struct dirent *de;
    while (!rc && (de = readdir(d))) {
        const char *n = de->d_name;
        if (!strcmp(n, ".") || !strcmp(n, ".."))
            continue;
        struct stat os, ns;
        if (fstatat(old_fd, n, &os, AT_SYMLINK_NOFOLLOW) != 0) {
            rc = errno;
        } else if (fstatat(new_fd, n, &ns, AT_SYMLINK_NOFOLLOW) == 0) {
            if (S_ISDIR(os.st_mode) && S_ISDIR(ns.st_mode)) {
                int o = openat(old_fd, n, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                int w = openat(new_fd, n, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                rc = o < 0 || w < 0 ? errno : keep_entries(o, w, what, cap);
                if (o >= 0)
                    close(o);
                if (w >= 0)
                    close(w);
            }
        } else if (S_ISDIR(os.st_mode)) {
            if (mkdirat(new_fd, n, os.st_mode & 07777) != 0) {
                rc = errno;
            } else {
                int o = openat(old_fd, n, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                int w = openat(new_fd, n, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                rc = o < 0 || w < 0 ? errno : keep_entries(o, w, what, cap);
                if (o >= 0)
                    close(o);
                if (w >= 0)
                    close(w);
            }
        } else if (linkat(old_fd, n, new_fd, n, 0) != 0) {
            rc = errno;
        }
        if (rc && !*what)
            snprintf(what, cap, "%s", n);
    }
    closedir(d);
    if (!rc && fsync(new_fd) != 0 && errno != EINVAL && errno != EROFS)
        rc = errno;
    return rc;
}

lsc_status lsc_atomic_folder_begin(lsc_atomic_folder *tx, const char *path, lsc_error *err)
{
    tx->tmp = NULL;
    tx->lock = -1;
    tx->path = follow_links(path);
    if (!tx->path)
        return lsc_error_set(err, LSC_ERR_INVALID, "cannot write '%s': %s", qp(path), strerror(errno));
    lsc_status st = LSC_OK;
    struct stat sb;
    const char *base = base_of(tx->path);
    int exists = lstat(tx->path, &sb) == 0;
    if (!*base || !strcmp(base, ".") || !strcmp(base, "..")) {
        st = lsc_error_set(err, LSC_ERR_INVALID, "cannot write '%s': not a folder name", qp(path));
    } else if (exists && !S_ISDIR(sb.st_mode)) {
        st = lsc_error_set(err, LSC_ERR_INVALID, "cannot write '%s': it exists and is not a folder", qp(path));
    } else if ((sweep_strays(tx->path, 1), !(tx->tmp = tmp_name(tx->path)))) {
        st = lsc_error_set(err, LSC_ERR_NOMEM, "out of memory");
    } else if (!mkdtemp(tx->tmp)) {
        st = lsc_error_set(err, LSC_ERR_IO, "cannot create a folder next to '%s': %s", qp(path), strerror(errno));
        free(tx->tmp);
        tx->tmp = NULL; /* nothing was created */
    } else if (chmod(tx->tmp, exists ? (sb.st_mode & 07777) : 0755) != 0) {
        /* mkdtemp makes 0700: a replaced folder keeps its mode, a new one gets the usual 0755 */
        st = lsc_error_set(err, LSC_ERR_IO, "cannot create a folder next to '%s': %s", qp(path), strerror(errno));
    } else if ((tx->lock = open(tx->tmp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) >= 0) {
        flock(tx->lock, LOCK_EX | LOCK_NB); /* ours while we live (see the sweep above) */
    }
    if (st)
        lsc_atomic_folder_abort(tx);
    return st;
}

/* Swap the filled folder tx->tmp with the existing folder tx->path: after it, tx->tmp names the old one.
 * Without RENAME_EXCHANGE (old kernels, some file systems): old aside to a reserved name, new in place,
 * and the old one back if that fails. 0 or an errno value. */
int lsc_fileio_test_no_exchange;

static int swap_in(lsc_atomic_folder *tx)
{
    if (lsc_fileio_test_no_exchange)
        errno = EINVAL;
    else if (renameat2(AT_FDCWD, tx->tmp, AT_FDCWD, tx->path, RENAME_EXCHANGE) == 0)
        return 0;
    if (errno != EINVAL && errno != ENOSYS && errno != EOPNOTSUPP)
        return errno;
    char *aside = tmp_name_as(tx->path, "old"); /* never swept: it may be the user's only copy */
    if (!aside)
        return ENOMEM;
    int e = 0;
    if (!mkdtemp(aside) || rename(tx->path, aside) != 0) {
        e = errno;
        rmdir(aside);
    } else if (rename(tx->tmp, tx->path) != 0) {
        e = errno;
        rename(aside, tx->path);
    } else {
        free(tx->tmp);
        tx->tmp = aside;
        return 0;
    }
    free(aside);
    return e;
}

lsc_status lsc_atomic_folder_commit(lsc_atomic_folder *tx, lsc_error *err)
{
    lsc_status st = LSC_OK;
    char what[256] = "";
    int e = 0;
    struct stat sb;
    int exists = lstat(tx->path, &sb) == 0;
    int nfd = open(tx->tmp, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    int ofd = exists ? open(tx->path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC) : -1;
    if (nfd < 0 || (exists && ofd < 0))
        e = errno;
    else if (exists && (e = keep_entries(ofd, nfd, what, sizeof what)))
        st = lsc_error_set(err, LSC_ERR_IO, "cannot keep '%s/%s' in the new folder: %s", qp(tx->path), qp(what),
                           strerror(e));
    else if (!exists && fsync(nfd) != 0 && errno != EINVAL && errno != EROFS)
        e = errno;
    if (nfd >= 0)
        close(nfd);
    if (ofd >= 0)
        close(ofd);
    if (!st && !e) {
        if (exists)
            e = swap_in(tx);
        else if (renameat2(AT_FDCWD, tx->tmp, AT_FDCWD, tx->path, RENAME_NOREPLACE) != 0)
            e = (errno == EINVAL || errno == ENOSYS) && rename(tx->tmp, tx->path) == 0 ? 0 : errno;
        if (!e && !exists) {
            free(tx->tmp);
            tx->tmp = NULL;
        }
    }
    if (!st && e)
        st = lsc_error_set(err, LSC_ERR_IO, "cannot write '%s': %s", qp(tx->path), strerror(e));
    if (!st) {
        char *dir = dir_of(tx->path);
        int se = dir ? sync_dir(dir) : ENOMEM;
        free(dir);
        if (se)
            st = lsc_error_set(err, LSC_ERR_IO, "cannot sync the folder of '%s': %s", qp(tx->path), strerror(se));
    }
    lsc_atomic_folder_abort(tx); /* on success tx->tmp is the old folder (or NULL) */
    return st;
}

void lsc_atomic_folder_abort(lsc_atomic_folder *tx)
{
    if (tx->tmp)
        remove_tree(tx->tmp);
    if (tx->lock > 0) /* 0: a zeroed tx (never a lock of ours unless stdin was closed: then it stays open) */
        close(tx->lock);
    free(tx->tmp);
    free(tx->path);
    tx->tmp = tx->path = NULL;
    tx->lock = -1;
}
