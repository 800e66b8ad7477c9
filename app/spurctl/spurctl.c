/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * spurctl: the command-line JSON-RPC client; this file owns the command
 * line and the output.
 *
 *   spurctl [-s SOCKET] [-t TIMEOUT_S] METHOD [--name value | --name=value ...]
 *   spurctl [-s SOCKET] METHOD -j '{"name": ...}'
 *   spurctl METHOD < params.json        (raw_params methods: load_config)
 *
 * Arguments are typed with the method's parameter table, which the daemon
 * publishes through spur_get_method_schemas (params.c); a method the daemon
 * does not describe (or a daemon without that method, like SPDK's) still
 * gets the call, with guessed types, so the daemon gives the answer.
 *
 * Output: the result as indented JSON on stdout (so save_config > f.json
 * gives a file load_config accepts); an error reply as one line on stderr.
 * Exit status: 0 success; 1 the call failed, a parameter was refused or the
 * daemon was unreachable; 2 the command line itself is malformed.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "spurctl.h"

#define DEFAULT_SOCKET "/var/tmp/spur.sock"
#define DEFAULT_TIMEOUT_S 60.0

const char *spurctl_prog = "spurctl";
const char *spurctl_method;

void
spurctl_err(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", spurctl_prog);
	if (spurctl_method != NULL) {
		fprintf(stderr, "%s: ", spurctl_method);
	}
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static void __attribute__((noreturn, format(printf, 1, 2)))
usage_error(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", spurctl_prog);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nusage: %s [-s SOCKET] [-t TIMEOUT_S] METHOD [--param value ...]"
			" (%s -h for more)\n", spurctl_prog, spurctl_prog);
	exit(SPURCTL_EXIT_USAGE);
}

static void
usage(FILE *out)
{
	fprintf(out,
		"usage: %s [-s SOCKET] [-t TIMEOUT_S] METHOD [--param value ...]\n"
		"       %s [-s SOCKET] [-t TIMEOUT_S] METHOD -j '{\"param\": value, ...}'\n"
		"       %s [-s SOCKET] METHOD -h     describe METHOD and its parameters\n"
		"\n"
		"  -s SOCKET     daemon socket (default $SPUR_RPC_SOCKET, else %s)\n"
		"  -t TIMEOUT_S  seconds to wait for each reply (default %.0f)\n"
		"  -j, --json    the whole params object as JSON\n"
		"  -h, --help    this help, and the daemon's methods\n"
		"\n"
		"Parameters are --name value or --name=value; '-' and '_' in names are the\n"
		"same. A bool given alone (--flag) is true. Methods that take a whole\n"
		"configuration read it from stdin: %s load_config < config.json\n",
		spurctl_prog, spurctl_prog, spurctl_prog, DEFAULT_SOCKET, DEFAULT_TIMEOUT_S,
		spurctl_prog);
}

static int
parse_timeout(const char *s)
{
	char *end;
	double t;

	errno = 0;
	t = strtod(s, &end);
	if (s[0] == '\0' || *end != '\0' || errno != 0 || !(t > 0 && t <= 1e6)) {
		usage_error("bad timeout '%s' (seconds, > 0)", s);
	}
	return (int)(t * 1000);
}

/* METHOD -h */
static int
describe(struct spurctl_client *c)
{
	json_t *schema = spurctl_fetch_schema(c, spurctl_method);

	if (schema == NULL) {
		spurctl_err("unknown method (the daemon does not describe it)");
		return SPURCTL_EXIT_FAILED;
	}
	spurctl_print_method_help(schema);
	json_decref(schema);
	return 0;
}

/* Params from -j, the arguments or stdin; NULL with *status set on error. */
static json_t *
make_params(struct spurctl_client *c, const char *json_text, int nparams, char **args,
	    int *status)
{
	json_t *schema, *params = NULL;

	*status = SPURCTL_EXIT_FAILED;
	if (json_text != NULL) {
		json_error_t jerr;

		params = json_loads(json_text, 0, &jerr);
		if (params == NULL) {
			spurctl_err("-j: %s", jerr.text);
		} else {
			*status = 0;
		}
		return params;
	}
	schema = spurctl_fetch_schema(c, spurctl_method);
	if (nparams > 0) {
		params = spurctl_build_params(schema, nparams, args, status);
		if (params == NULL) {
			json_decref(schema);
			return NULL;
		}
	} else if (json_is_true(json_object_get(schema, "raw_params"))) {
		params = spurctl_params_from_stdin();
	}
	*status = 0;
	json_decref(schema);
	return params;
}

/* Calls the method and prints the result or the error. */
static int
call(struct spurctl_client *c, const char *json_text, int nparams, char **args)
{
	json_t *params, *reply, *result;
	const char *message;
	json_int_t code;
	char err[512], *out;
	int status;

	params = make_params(c, json_text, nparams, args, &status);
	if (status != 0) {
		return status;
	}
	reply = spurctl_call(c, spurctl_method, params, err, sizeof(err));
	json_decref(params);
	if (reply == NULL) {
		spurctl_err("%s", err);
		return SPURCTL_EXIT_FAILED;
	}
	if (spurctl_reply_unpack(reply, &result, &code, &message) != 0) {
		spurctl_err("%s (code %lld)", message, (long long)code);
		json_decref(reply);
		return SPURCTL_EXIT_FAILED;
	}
	out = json_dumps(result, JSON_INDENT(2) | JSON_ENCODE_ANY);
	json_decref(reply);
	if (out == NULL) {
		spurctl_err("out of memory");
		return SPURCTL_EXIT_FAILED;
	}
	fputs(out, stdout);
	fputc('\n', stdout);
	free(out);
	if (fflush(stdout) != 0 || ferror(stdout)) {
		spurctl_err("writing the result: %s", strerror(errno));
		return SPURCTL_EXIT_FAILED;
	}
	return 0;
}

int
main(int argc, char **argv)
{
	struct spurctl_client c = {.fd = -1, .timeout_ms = (int)(DEFAULT_TIMEOUT_S * 1000)};
	const char *json_text = NULL;
	bool help = false;
	char err[512];
	int nparams = 0, status;

	c.path = getenv("SPUR_RPC_SOCKET");
	if (c.path == NULL || c.path[0] == '\0') {
		c.path = DEFAULT_SOCKET;
	}

	/*
	 * Options are recognised before and after METHOD (a parameter value
	 * such as "-h" needs --name=-h); what follows METHOD and is not an
	 * option is "--name value" params, compacted into argv[1..nparams].
	 */
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];

		if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
			help = true;
		} else if (strcmp(a, "-s") == 0 || strcmp(a, "-t") == 0 || strcmp(a, "-j") == 0 ||
			   strcmp(a, "--json") == 0) {
			if (i + 1 >= argc) {
				usage_error("%s needs a value", a);
			}
			if (a[1] == 's') {
				c.path = argv[++i];
			} else if (a[1] == 't') {
				c.timeout_ms = parse_timeout(argv[++i]);
			} else {
				json_text = argv[++i];
			}
		} else if (strncmp(a, "--json=", 7) == 0) {
			json_text = a + 7;
		} else if (spurctl_method != NULL) {
			argv[1 + nparams++] = argv[i];
		} else if (a[0] != '-') {
			spurctl_method = a;
		} else {
			usage_error("unknown option '%s'", a);
		}
	}

	if (spurctl_method == NULL) {
		if (!help) {
			usage_error("no method given");
		}
		usage(stdout);
		if (spurctl_connect(&c, err, sizeof(err)) != 0) {
			printf("\n(cannot list the daemon's methods: %s)\n", err);
		} else {
			spurctl_print_method_list(&c);
			spurctl_close(&c);
		}
		return 0;
	}
	if (json_text != NULL && nparams > 0 && !help) {
		usage_error("-j cannot be combined with --param arguments");
	}

	if (spurctl_connect(&c, err, sizeof(err)) != 0) {
		spurctl_method = NULL;
		spurctl_err("%s", err);
		return SPURCTL_EXIT_FAILED;
	}
	status = help ? describe(&c) : call(&c, json_text, nparams, argv + 1);
	spurctl_close(&c);
	return status;
}
