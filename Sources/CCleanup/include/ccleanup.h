#ifndef CCLEANUP_H
#define CCLEANUP_H

/// Async-signal-safe removal of temporary output files when SIGINT, SIGTERM or SIGHUP arrives.
///
/// Registered paths are removed by the signal handler; then the signal is re-raised with its
/// default action.

/// Installs the handlers once, for the signals whose disposition is the default (an ignored
/// SIGHUP under `nohup` stays ignored). Safe to call repeatedly.
void lt_cleanup_install(void);

/// Registers a temporary file; returns a slot for `lt_cleanup_unregister`, or -1 if all are in use.
int lt_cleanup_register(const char *path);

/// Forgets a slot (after the file was renamed into place or removed).
void lt_cleanup_unregister(int slot);

/// Removes one slot's file as the handler would, without a signal (for tests).
void lt_cleanup_remove_slot(int slot);

#endif
