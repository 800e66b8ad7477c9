/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Internal interface between spurctl's files: the connection (client.c),
 * turning arguments into typed params with the daemon's schemas (params.c),
 * help output (help.c) and the command line (spurctl.c).
 *
 * Schemas are the JSON objects spur_get_method_schemas returns, used as is:
 * {"name","help","aliases","states","raw_params","changes_config","params"}.
 */
#ifndef SPURCTL_H
#define SPURCTL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

#define SPURCTL_EXIT_FAILED 1
#define SPURCTL_EXIT_USAGE 2

/* Program name and the method being called (NULL before), for messages. */
extern const char *spurctl_prog;
extern const char *spurctl_method;

/* Prints "spurctl: METHOD: message" on stderr. */
void spurctl_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* ---- client.c ---- */
struct spurctl_client {
	int fd;
	const char *path;
	int timeout_ms;
	char *buf; /* bytes received and not yet consumed */
	size_t len, cap;
	/* Scanner state over buf[0..scan): the reply ends when depth is 0 again. */
	size_t scan;
	int depth;
	bool in_str, esc;
};

/* Connects c->path; 0, or -1 with "cannot connect to PATH: reason" in err. */
int spurctl_connect(struct spurctl_client *c, char *err, size_t errlen);
/*
 * Sends one request (params borrowed, NULL to omit them) and waits up to
 * c->timeout_ms for its reply. Returns the reply object (new reference) or
 * NULL with the reason in err.
 */
json_t *spurctl_call(struct spurctl_client *c, const char *method, json_t *params, char *err,
		     size_t errlen);
/*
 * Returns 0 with *result borrowed from reply, or 1 for an error reply with
 * *code and *message (borrowed) set.
 */
int spurctl_reply_unpack(json_t *reply, json_t **result, json_int_t *code,
			 const char **message);
void spurctl_close(struct spurctl_client *c);

/* ---- params.c ---- */
/*
 * The daemon's schema of method, matched by name or alias (new reference),
 * or NULL when the daemon does not describe it. Exits on transport failure.
 */
json_t *spurctl_fetch_schema(struct spurctl_client *c, const char *method);
/*
 * The params object for "--name value" arguments argv[0..argc), typed with
 * schema (NULL: guessed). NULL after printing why; *status is the exit code.
 */
json_t *spurctl_build_params(json_t *schema, int argc, char **argv, int *status);
/* A raw method's params from stdin; NULL for empty input or a terminal. */
json_t *spurctl_params_from_stdin(void);
/* The string at key in o, or dflt. */
const char *spurctl_str(json_t *o, const char *key, const char *dflt);
/* A parameter's "min" or "max" bound; false when it has none. */
bool spurctl_schema_bound(json_t *param, const char *key, __int128 *out);
void spurctl_print_i128(FILE *f, __int128 v);

/* ---- help.c ---- */
void spurctl_print_method_help(json_t *schema);
/* Lists the daemon's methods on stdout, or says why it cannot. */
void spurctl_print_method_list(struct spurctl_client *c);

#endif
