#define _GNU_SOURCE
#include "ccleanup.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#define SLOTS 64

/* Each slot holds a heap copy of a path, published atomically; the handler only reads them. */
static _Atomic(char *) slots[SLOTS];
static atomic_int installed;

struct linux_dirent64 {
    uint64_t d_ino;
    int64_t d_off;
    unsigned short d_reclen;
    unsigned char d_type;
    char d_name[];
};

/* Removes `path` and, in its directory, every entry named `<basename>.<anything>`. Signal-safe. */
static void remove_with_siblings(const char *path) {
    unlink(path);
    const char *slash = strrchr(path, '/');
    char dir[4096];
    const char *base = path;
    if (slash) {
        size_t n = (size_t)(slash - path);
        if (n == 0) n = 1;
        if (n >= sizeof dir) return;
        memcpy(dir, path, n);
        dir[n] = 0;
        base = slash + 1;
    } else {
        dir[0] = '.';
        dir[1] = 0;
    }
    size_t baselen = strlen(base);
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return;
    char buffer[8192];
    for (;;) {
        long got = syscall(SYS_getdents64, fd, buffer, sizeof buffer);
        if (got <= 0) break;
        for (long offset = 0; offset < got;) {
            struct linux_dirent64 *entry = (struct linux_dirent64 *)(buffer + offset);
            if (strncmp(entry->d_name, base, baselen) == 0 && entry->d_name[baselen] == '.') {
                unlinkat(fd, entry->d_name, 0);
            }
            offset += entry->d_reclen;
        }
    }
    close(fd);
}

void lt_cleanup_remove_slot(int slot) {
    if (slot < 0 || slot >= SLOTS) return;
    char *path = atomic_load(&slots[slot]);
    if (path) remove_with_siblings(path);
}

static void handler(int sig) {
    for (int i = 0; i < SLOTS; i++) {
        char *path = atomic_load(&slots[i]);
        if (path) remove_with_siblings(path);
    }
    signal(sig, SIG_DFL);
    raise(sig);
}

void lt_cleanup_install(void) {
    int expected = 0;
    if (!atomic_compare_exchange_strong(&installed, &expected, 1)) return;
    int signals[] = {SIGINT, SIGTERM, SIGHUP};
    for (int i = 0; i < 3; i++) {
        struct sigaction old;
        if (sigaction(signals[i], NULL, &old) != 0 || old.sa_handler != SIG_DFL) continue;
        struct sigaction action;
        memset(&action, 0, sizeof action);
        action.sa_handler = handler;
        sigemptyset(&action.sa_mask);
        sigaddset(&action.sa_mask, SIGINT);
        sigaddset(&action.sa_mask, SIGTERM);
        sigaddset(&action.sa_mask, SIGHUP);
        sigaction(signals[i], &action, NULL);
    }
}

int lt_cleanup_register(const char *path) {
    char *copy = strdup(path);
    if (!copy) return -1;
    for (int i = 0; i < SLOTS; i++) {
        char *expected = NULL;
        if (atomic_compare_exchange_strong(&slots[i], &expected, copy)) return i;
    }
    free(copy);
    return -1;
}

void lt_cleanup_unregister(int slot) {
    if (slot < 0 || slot >= SLOTS) return;
    char *path = atomic_exchange(&slots[slot], NULL);
    /* A handler running right now may still read it; the process then ends, so leaking is harmless. */
    (void)path;
}
