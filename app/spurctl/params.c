/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Turning "--name value" arguments into a typed params object.
 *
 * With the method's schema each value gets its declared type, integers are
 * parsed strictly and checked against the type's range and the declared
 * bounds, and unknown or repeated names are refused, all before anything is
 * sent. Without a schema (a method the daemon does not describe) values are
 * guessed: integer, true/false, a JSON object or array, else a string.
 * '-' and '_' in names are interchangeable.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "spurctl.h"

#define MAX_STDIN_BYTES (1024UL * 1024 * 1024)

const char *
spurctl_str(json_t *o, const char *key, const char *dflt)
{
	const char *s = json_string_value(json_object_get(o, key));

	return s ? s : dflt;
}

/* Names match when equal with '-' and '_' treated alike. */
static bool
name_eq(const char *a, const char *b)
{
	for (; *a && *b; a++, b++) {
		if (*a != *b && !((*a == '-' || *a == '_') && (*b == '-' || *b == '_'))) {
			return false;
		}
	}
	return *a == *b;
}

/* True when method is the schema's name or one of its aliases. */
static bool
schema_has_name(json_t *schema, const char *method)
{
	json_t *aliases = json_object_get(schema, "aliases");
	const char *name = json_string_value(json_object_get(schema, "name"));
	size_t i;

	if (name != NULL && strcmp(name, method) == 0) {
		return true;
	}
	for (i = 0; i < json_array_size(aliases); i++) {
		name = json_string_value(json_array_get(aliases, i));
		if (name != NULL && strcmp(name, method) == 0) {
			return true;
		}
	}
	return false;
}

/*
 * The schema of method as the daemon describes it (new reference), or NULL
 * when the daemon does not know it or cannot describe methods. A transport
 * failure is fatal.
 */
json_t *
spurctl_fetch_schema(struct spurctl_client *c, const char *method)
{
	json_t *params = json_pack("{s:s}", "name", method), *reply, *result, *found = NULL;
	const char *message;
	json_int_t code;
	char err[512];
	size_t i;

	reply = spurctl_call(c, "spur_get_method_schemas", params, err, sizeof(err));
	json_decref(params);
	if (reply == NULL) {
		spurctl_err("%s", err);
		exit(SPURCTL_EXIT_FAILED);
	}
	if (spurctl_reply_unpack(reply, &result, &code, &message) == 0 && json_is_array(result)) {
		for (i = 0; i < json_array_size(result); i++) {
			json_t *m = json_array_get(result, i);

			if (json_is_object(m) && (json_array_size(result) == 1 ||
						  schema_has_name(m, method))) {
				found = json_incref(m);
				break;
			}
		}
	}
	json_decref(reply);
	return found;
}

static json_t *
schema_param(json_t *schema, const char *name)
{
	json_t *params = json_object_get(schema, "params");
	size_t i;

	for (i = 0; i < json_array_size(params); i++) {
		json_t *p = json_array_get(params, i);
		const char *n = json_string_value(json_object_get(p, "name"));

		if (n != NULL && name_eq(n, name)) {
			return p;
		}
	}
	return NULL;
}

/* ---- typing values ---------------------------------------------------------- */

/*
 * Strict integer: optional sign, decimal or 0x hex, nothing else. Magnitudes
 * past 2^64 saturate so the caller reports them as out of range.
 */
static bool
parse_integer(const char *s, __int128 *out)
{
	const __int128 cap = (__int128)1 << 66;
	bool neg = false;
	unsigned base = 10;
	__int128 v = 0;

	if (*s == '-' || *s == '+') {
		neg = *s++ == '-';
	}
	if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
		base = 16;
		s += 2;
	}
	if (*s == '\0') {
		return false;
	}
	for (; *s != '\0'; s++) {
		unsigned d;

		if (*s >= '0' && *s <= '9') {
			d = (unsigned)(*s - '0');
		} else if (base == 16 && ((*s | 0x20) >= 'a' && (*s | 0x20) <= 'f')) {
			d = (unsigned)((*s | 0x20) - 'a' + 10);
		} else {
			return false;
		}
		v = v < cap ? v * base + d : cap;
	}
	*out = neg ? -v : v;
	return true;
}

static json_t *
parse_json_value(const char *s)
{
	json_error_t jerr;

	return json_loads(s, JSON_DECODE_ANY, &jerr);
}

/* Guessing for methods without a schema: integer, bool, object/array, string. */
static json_t *
guess_value(const char *s)
{
	__int128 v;

	if (parse_integer(s, &v) && v >= INT64_MIN && v <= INT64_MAX) {
		return json_integer((json_int_t)v);
	}
	if (strcmp(s, "true") == 0 || strcmp(s, "false") == 0) {
		return json_boolean(s[0] == 't');
	}
	if (s[0] == '{' || s[0] == '[') {
		json_t *j = parse_json_value(s);

		if (j != NULL) {
			return j;
		}
	}
	return json_string(s);
}

/* Bound "min"/"max" of a parameter as a 128-bit integer; false if absent. */
bool
spurctl_schema_bound(json_t *p, const char *key, __int128 *out)
{
	json_t *b = json_object_get(p, key);

	if (json_is_integer(b)) {
		*out = json_integer_value(b);
	} else if (json_is_real(b)) {
		double d = json_real_value(b);

		/* Reals stand for uint64 bounds beyond json_int_t. */
		*out = d >= 1.8446744073709552e19 ? (__int128)UINT64_MAX : (__int128)d;
	} else {
		return false;
	}
	return true;
}

static const struct {
	const char *type;
	__int128 min, max;
} g_int_types[] = {
	{"int32", INT32_MIN, INT32_MAX},
	{"uint32", 0, UINT32_MAX},
	{"int64", INT64_MIN, INT64_MAX},
	/* JSON integers travel as json_int_t (int64) in jansson on both ends. */
	{"uint64", 0, INT64_MAX},
};

void
spurctl_print_i128(FILE *f, __int128 v)
{
	if (v < 0) {
		fprintf(f, "-%llu", (unsigned long long)-v);
	} else {
		fprintf(f, "%llu", (unsigned long long)v);
	}
}

/*
 * Converts the text of --name into the JSON value its schema entry p asks
 * for. Returns a new reference, or NULL after printing why.
 */
static json_t *
typed_value(json_t *p, const char *opt, const char *s)
{
	const char *type = json_string_value(json_object_get(p, "type")) ?: "any";
	__int128 v, lo, hi, b;
	json_t *j;

	/* "string", "bool", "number" and the integers first, then JSON values. */
	for (size_t i = 0; i < sizeof(g_int_types) / sizeof(g_int_types[0]); i++) {
		if (strcmp(type, g_int_types[i].type) != 0) {
			continue;
		}
		if (!parse_integer(s, &v)) {
			spurctl_err("--%s: '%s' is not an integer", opt, s);
			return NULL;
		}
		/* The tighter of the type's range and the declared bounds. */
		lo = g_int_types[i].min;
		hi = g_int_types[i].max;
		if (spurctl_schema_bound(p, "min", &b) && b > lo) {
			lo = b;
		}
		if (spurctl_schema_bound(p, "max", &b) && b < hi) {
			hi = b;
		}
		if (v < lo || v > hi) {
			fprintf(stderr, "%s: %s: --%s: %s is out of range for %s (", spurctl_prog,
				spurctl_method, opt, s, type);
			spurctl_print_i128(stderr, lo);
			fputs("..", stderr);
			spurctl_print_i128(stderr, hi);
			fputs(")\n", stderr);
			return NULL;
		}
		return json_integer((json_int_t)v);
	}
	if (strcmp(type, "bool") == 0) {
		if (strcmp(s, "true") != 0 && strcmp(s, "false") != 0) {
			spurctl_err("--%s: '%s' is not true or false", opt, s);
			return NULL;
		}
		return json_boolean(s[0] == 't');
	}
	if (strcmp(type, "number") == 0) {
		char *end;
		double d;

		if (parse_integer(s, &v) && v >= INT64_MIN && v <= INT64_MAX) {
			return json_integer((json_int_t)v);
		}
		errno = 0;
		d = strtod(s, &end);
		if (s[0] == '\0' || *end != '\0' || errno != 0 || !isfinite(d) ||
		    s[0] == ' ' || s[0] == '\t') {
			spurctl_err("--%s: '%s' is not a number", opt, s);
			return NULL;
		}
		return json_real(d);
	}
	if (strcmp(type, "string") == 0) {
		size_t n = strlen(s);

		lo = 0;
		hi = SIZE_MAX;
		spurctl_schema_bound(p, "min", &lo);
		spurctl_schema_bound(p, "max", &hi);
		if ((__int128)n < lo || (__int128)n > hi) {
			spurctl_err("--%s: length %zu is not in %lld..%llu", opt, n, (long long)lo,
				    (unsigned long long)hi);
			return NULL;
		}
		return json_string(s);
	}
	if (strcmp(type, "object") == 0 || strcmp(type, "array") == 0) {
		j = parse_json_value(s);
		if (type[0] == 'o' ? !json_is_object(j) : !json_is_array(j)) {
			json_decref(j);
			spurctl_err("--%s: expects a JSON %s", opt, type);
			return NULL;
		}
		return j;
	}
	if (strcmp(type, "any") == 0) {
		j = parse_json_value(s);
		return j ? j : json_string(s);
	}
	/* A type newer than this client: let the daemon judge a guess. */
	return guess_value(s);
}

static bool
is_bool_text(const char *s)
{
	return strcmp(s, "true") == 0 || strcmp(s, "false") == 0;
}

/*
 * Builds the params object from the --name value arguments in argv[0..argc)
 * typed with schema (NULL: guess). Returns NULL after printing the error;
 * *status is the exit code to use then.
 */
json_t *
spurctl_build_params(json_t *schema, int argc, char **argv, int *status)
{
	bool raw = json_is_true(json_object_get(schema, "raw_params"));
	json_t *params = json_object();
	int i;

	*status = SPURCTL_EXIT_FAILED;
	for (i = 0; params != NULL && i < argc; i++) {
		const char *tok = argv[i], *eq, *value;
		char name[256], key[256];
		json_t *p = NULL, *v;
		size_t len;

		if (strncmp(tok, "--", 2) != 0 || tok[2] == '\0' || tok[2] == '=') {
			fprintf(stderr, "%s: unexpected argument '%s'\n", spurctl_prog, tok);
			*status = SPURCTL_EXIT_USAGE;
			goto fail;
		}
		eq = strchr(tok, '=');
		len = eq ? (size_t)(eq - tok - 2) : strlen(tok + 2);
		if (len >= sizeof(name)) {
			spurctl_err("parameter name too long");
			goto fail;
		}
		memcpy(name, tok + 2, len);
		name[len] = '\0';
		if (schema != NULL) {
			p = schema_param(schema, name);
			if (p == NULL && !raw) {
				spurctl_err("unknown parameter --%s (see %s %s -h)", name,
					    spurctl_prog, spurctl_method);
				goto fail;
			}
		}
		/* A bool (or, unknown, a name followed by another name) alone is true. */
		if (eq != NULL) {
			value = eq + 1;
		} else if (p != NULL && strcmp(spurctl_str(p, "type", ""), "bool") == 0) {
			value = i + 1 < argc && is_bool_text(argv[i + 1]) ? argv[++i] : "true";
		} else if (p == NULL) {
			bool next_is_value = i + 1 < argc && strncmp(argv[i + 1], "--", 2) != 0;

			value = next_is_value ? argv[++i] : "true";
		} else if (i + 1 < argc) {
			value = argv[++i];
		} else {
			fprintf(stderr, "%s: --%s needs a value\n", spurctl_prog, name);
			*status = SPURCTL_EXIT_USAGE;
			goto fail;
		}

		/* The daemon's spelling, else dashes become underscores. */
		snprintf(key, sizeof(key), "%s", p ? spurctl_str(p, "name", name) : name);
		for (char *c = key; p == NULL && *c != '\0'; c++) {
			*c = *c == '-' ? '_' : *c;
		}
		if (json_object_get(params, key) != NULL) {
			spurctl_err("--%s given more than once", name);
			goto fail;
		}
		v = p != NULL ? typed_value(p, name, value) : guess_value(value);
		if (v == NULL || json_object_set_new(params, key, v) != 0) {
			goto fail;
		}
	}
	if (params == NULL) {
		spurctl_err("out of memory");
	}
	return params;
fail:
	json_decref(params);
	return NULL;
}

json_t *
spurctl_params_from_stdin(void)
{
	size_t len = 0, cap = 0, i;
	json_error_t jerr;
	char *buf = NULL;
	json_t *v;

	if (isatty(STDIN_FILENO)) {
		return NULL;
	}
	for (;;) {
		if (cap - len < 65536) {
			size_t ncap = cap ? cap * 2 : 65536;
			char *b = ncap <= MAX_STDIN_BYTES ? realloc(buf, ncap) : NULL;

			if (b == NULL) {
				spurctl_err("stdin: too large");
				exit(SPURCTL_EXIT_FAILED);
			}
			buf = b;
			cap = ncap;
		}
		i = fread(buf + len, 1, cap - len, stdin);
		len += i;
		if (i == 0) {
			break;
		}
	}
	if (ferror(stdin)) {
		spurctl_err("stdin: %s", strerror(errno));
		exit(SPURCTL_EXIT_FAILED);
	}
	for (i = 0; i < len && buf[i] != '\0' && strchr(" \t\r\n", buf[i]) != NULL; i++) {
	}
	if (i == len) {
		free(buf);
		return NULL;
	}
	v = json_loadb(buf, len, JSON_DECODE_ANY, &jerr);
	free(buf);
	if (v == NULL) {
		spurctl_err("stdin: %s (line %d)", jerr.text, jerr.line);
		exit(SPURCTL_EXIT_FAILED);
	}
	return v;
}
