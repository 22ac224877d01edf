#define _GNU_SOURCE
#include "ccleanup.h"

#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SLOTS 64

/* Each slot holds a heap copy of a path, published atomically; the handler only reads them. */
static _Atomic(char *) slots[SLOTS];
static atomic_int installed;

void lt_cleanup_remove_slot(int slot) {
    if (slot < 0 || slot >= SLOTS) return;
    char *path = atomic_load(&slots[slot]);
    if (path) unlink(path);
}

static void handler(int sig) {
    for (int i = 0; i < SLOTS; i++) {
        char *path = atomic_load(&slots[i]);
        if (path) unlink(path);
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
