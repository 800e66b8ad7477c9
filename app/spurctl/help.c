/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * spurctl's help output: one method with its parameters (METHOD -h) and the
 * list of the daemon's methods (-h), both built from the daemon's schemas.
 * Against a daemon without spur_get_method_schemas (SPDK's) the list falls
 * back to rpc_get_methods, names only.
 */
#include <stdlib.h>
#include <string.h>

#include "spurctl.h"

/* Prints the JSON array of strings at key as "a, b" (nothing when empty). */
static void
print_list(const char *label, json_t *o, const char *key)
{
	json_t *a = json_object_get(o, key);
	size_t i;

	if (json_array_size(a) == 0) {
		return;
	}
	printf("  %s: ", label);
	for (i = 0; i < json_array_size(a); i++) {
		printf("%s%s", i ? ", " : "", json_string_value(json_array_get(a, i)) ?: "?");
	}
	printf("\n");
}

void
spurctl_print_method_help(json_t *m)
{
	json_t *params = json_object_get(m, "params");
	bool raw = json_is_true(json_object_get(m, "raw_params"));
	int width = 0;
	size_t i;

	printf("%s - %s\n", spurctl_str(m, "name", "?"), spurctl_str(m, "help", ""));
	print_list("aliases", m, "aliases");
	print_list("allowed", m, "states");
	if (raw) {
		printf("  params: one JSON value, from stdin or -j\n");
	}
	if (json_array_size(params) == 0) {
		if (!raw) {
			printf("  no parameters\n");
		}
		return;
	}
	for (i = 0; i < json_array_size(params); i++) {
		json_t *p = json_array_get(params, i);
		size_t w = strlen(spurctl_str(p, "name", "?")) + 3 +
			   strlen(spurctl_str(p, "type", "?"));

		width = (int)w > width ? (int)w : width;
	}
	printf("\nparameters ('-' and '_' are interchangeable):\n");
	for (i = 0; i < json_array_size(params); i++) {
		json_t *p = json_array_get(params, i);
		const char *type = spurctl_str(p, "type", "?");
		char opt[256], *c;
		__int128 lo, hi;

		snprintf(opt, sizeof(opt), "--%s %s", spurctl_str(p, "name", "?"), type);
		for (c = opt + 2; *c != ' ' && *c != '\0'; c++) {
			*c = *c == '_' ? '-' : *c;
		}
		printf("  %-*s  %-8s  %s", width, opt,
		       json_is_true(json_object_get(p, "required")) ? "required" : "optional",
		       spurctl_str(p, "help", ""));
		if (spurctl_schema_bound(p, "min", &lo) && spurctl_schema_bound(p, "max", &hi)) {
			fputs(strcmp(type, "string") == 0 ? " (length " : " (", stdout);
			spurctl_print_i128(stdout, lo);
			fputs("..", stdout);
			spurctl_print_i128(stdout, hi);
			fputs(")", stdout);
		}
		fputs("\n", stdout);
	}
}

struct entry {
	const char *name;
	const char *help;
};

static int
cmp_entry(const void *a, const void *b)
{
	return strcmp(((const struct entry *)a)->name, ((const struct entry *)b)->name);
}

void
spurctl_print_method_list(struct spurctl_client *c)
{
	json_t *reply, *result = NULL;
	struct entry *entries;
	const char *message;
	json_int_t code;
	char err[512];
	size_t i, n;
	int width = 0;

	reply = spurctl_call(c, "spur_get_method_schemas", NULL, err, sizeof(err));
	if (reply != NULL && spurctl_reply_unpack(reply, &result, &code, &message) != 0) {
		/* Not a spur daemon: SPDK's rpc_get_methods gives the names only. */
		json_decref(reply);
		reply = spurctl_call(c, "rpc_get_methods", NULL, err, sizeof(err));
		if (reply != NULL && spurctl_reply_unpack(reply, &result, &code, &message) != 0) {
			snprintf(err, sizeof(err), "%s", message);
			json_decref(reply);
			reply = NULL;
		}
	}
	if (reply == NULL) {
		printf("\n(cannot list the daemon's methods: %s)\n", err);
		return;
	}
	n = json_array_size(result);
	entries = calloc(n ? n : 1, sizeof(*entries));
	if (entries == NULL) {
		json_decref(reply);
		return;
	}
	for (i = 0; i < n; i++) {
		json_t *m = json_array_get(result, i);

		/* A schema object, or just a name from rpc_get_methods. */
		entries[i].name =
			json_is_string(m) ? json_string_value(m) : spurctl_str(m, "name", "?");
		entries[i].help = spurctl_str(m, "help", "");
		width = (int)strlen(entries[i].name) > width ? (int)strlen(entries[i].name) : width;
	}
	qsort(entries, n, sizeof(*entries), cmp_entry);
	printf("\nmethods (%s METHOD -h for parameters):\n", spurctl_prog);
	for (i = 0; i < n; i++) {
		if (entries[i].help[0] == '\0') {
			printf("  %s\n", entries[i].name);
		} else {
			printf("  %-*s  %.*s\n", width, entries[i].name,
			       (int)strcspn(entries[i].help, "\n"), entries[i].help);
		}
	}
	free(entries);
	json_decref(reply);
}
